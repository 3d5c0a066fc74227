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

// reserved reports the ranges refused besides what netip classifies
// (loopback, private, link-local, multicast, unspecified): special-purpose
// ranges of the IANA registries that are not meant to be reached on the
// public Internet, where a webhook's receiver is. A documentation range
// need not be unused on a real network: the host this guard was first
// attacked on had a TEST-NET address on its own interface.
func reserved(ip netip.Addr) bool {
	for _, p := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // carrier-grade NAT
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // TEST-NET-1
		"192.88.99.0/24",  // deprecated 6to4 relay anycast
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // TEST-NET-2
		"203.0.113.0/24",  // TEST-NET-3
		"240.0.0.0/4",     // reserved (old class E), broadcast included
		"::/96",           // IPv4-compatible (deprecated), :: and ::1 included
		"::ffff:0:0/96",   // IPv4-mapped: the IPv4 address in disguise
		"::ffff:0:0:0/96", // IPv4-translated (SIIT)
		"64:ff9b::/96",    // NAT64, which a gateway turns into IPv4
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard-only
		"2001::/23",       // IETF protocol assignments, Teredo and benchmarking included
		"2001:db8::/32",   // documentation
		"2002::/16",       // 6to4, which embeds an IPv4 address
		"3fff::/20",       // documentation
		"5f00::/16",       // SRv6 segment identifiers
		"fec0::/10",       // deprecated site-local
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
// make Pecan send requests there. Addresses of the host's own interfaces
// are refused at dial time (localReason).
func refusedReason(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "invalid address"
	case ip.Is4In6():
		// Refused whatever it maps to: a form that names an IPv4
		// address in IPv6 clothing has no use in a webhook URL but to
		// slip past checks of the IPv4 form.
		return "IPv4-mapped address"
	case ip.Zone() != "":
		return "address with a zone (link-local scope)"
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

// localAddrs lists the addresses of this host's network interfaces.
type localAddrs func() ([]netip.Addr, error)

// interfaceAddrs is the real localAddrs: asked at each dial, so an address
// added to an interface after start is refused too.
func interfaceAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list interface addresses: %w", err)
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		var ip net.IP
		switch a := a.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		}
		if addr, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, addr.Unmap())
		}
	}
	return out, nil
}

// localReason says why ip may not be dialled as one of this host's own
// addresses, or "" when it is none of them. A service bound to 0.0.0.0
// answers on every one, whatever range it is in.
func localReason(ip netip.Addr, local localAddrs) string {
	addrs, err := local()
	if err != nil {
		// Unknown is not known to be safe.
		return err.Error()
	}
	ip = ip.Unmap().WithZone("")
	for _, a := range addrs {
		if a.WithZone("") == ip {
			return "an address of this host"
		}
	}
	return ""
}

// dialGuard is a net.Dialer Control function: it runs after name
// resolution, on the very address about to be connected, so a host name
// that resolves (or re-resolves, DNS rebinding) to an internal address is
// refused too. Checking only the URL string would miss both.
func dialGuard(allowPrivate bool, local localAddrs) func(network, address string, _ syscall.RawConn) error {
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
		why := refusedReason(ip)
		if why == "" {
			why = localReason(ip, local)
		}
		if why != "" {
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
		// Checked again at each dial; refusing now tells the client.
		if why := localReason(ip, interfaceAddrs); why != "" {
			return fmt.Errorf("%w: %s is %s (private webhook targets are not allowed)", ErrBadWebhook, u.Hostname(), why)
		}
	}
	if strings.EqualFold(u.Hostname(), "localhost") || strings.HasSuffix(strings.ToLower(u.Hostname()), ".localhost") {
		return fmt.Errorf("%w: %s is a loopback name (private webhook targets are not allowed)", ErrBadWebhook, u.Hostname())
	}
	return nil
}
