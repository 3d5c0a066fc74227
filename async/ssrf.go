package async

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrBadWebhook marks a webhook URL refused at submission.
var ErrBadWebhook = errors.New("invalid webhook_url")

// reserved reports the ranges refused besides what netip classifies:
// "this network", carrier-grade NAT, IETF protocol assignments,
// benchmarking, the old class E (with broadcast), discard-only, and the
// IPv6 prefixes that embed an IPv4 address a gateway may translate to an
// internal one (NAT64, 6to4) or are deprecated site-local.
func reserved(ip netip.Addr) bool {
	for _, p := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4",
		"64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "fec0::/10", "100::/64",
	} {
		if netip.MustParsePrefix(p).Contains(ip) {
			return true
		}
	}
	return false
}

// refusedReason says why a webhook may not connect to ip, or "" when it
// may. Loopback, private, link-local, unspecified and multicast addresses
// reach the server's own host or network (metadata services on
// 169.254.169.254, admin ports on 127.0.0.1): a client must not be able to
// make Pecan send requests there.
func refusedReason(ip netip.Addr) string {
	ip = ip.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	switch {
	case !ip.IsValid():
		return "invalid address"
	case ip.IsLoopback():
		return "loopback address"
	case ip.IsPrivate():
		return "private address"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local address"
	case ip.IsUnspecified():
		return "unspecified address"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast address"
	case reserved(ip):
		return "reserved address"
	}
	return ""
}

// dialGuard is a net.Dialer Control function: it runs after name
// resolution, on the very address about to be connected, so a host name
// that resolves (or re-resolves, DNS rebinding) to an internal address is
// refused too. Checking only the URL string would miss both.
func dialGuard(allowPrivate bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if allowPrivate {
			return nil
		}
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("webhook dial %s: %w", address, err)
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("webhook dial %s: not an IP address: %w", address, err)
		}
		if why := refusedReason(ip); why != "" {
			return fmt.Errorf("webhook to %s refused: %s (set [async] allow_private_webhooks to allow)", address, why)
		}
		return nil
	}
}

// CheckWebhookURL validates a webhook URL at submission: absolute http or
// https with a host, and, unless private targets are allowed, not an IP
// literal in a refused range. Host names are checked when dialled.
func CheckWebhookURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadWebhook, err)
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return fmt.Errorf("%w: scheme must be http or https, got %q", ErrBadWebhook, u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%w: no host in %q", ErrBadWebhook, raw)
	}
	if allowPrivate {
		return nil
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		if why := refusedReason(ip); why != "" {
			return fmt.Errorf("%w: %s is a %s (private webhook targets are not allowed)", ErrBadWebhook, u.Hostname(), why)
		}
	}
	if strings.EqualFold(u.Hostname(), "localhost") || strings.HasSuffix(strings.ToLower(u.Hostname()), ".localhost") {
		return fmt.Errorf("%w: %s is a loopback name (private webhook targets are not allowed)", ErrBadWebhook, u.Hostname())
	}
	return nil
}
