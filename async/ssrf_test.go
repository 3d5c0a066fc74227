package async

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// noLocalAddrs is a host without addresses, for tests of the ranges alone.
func noLocalAddrs() ([]netip.Addr, error) { return nil, nil }

func TestGuardRefusesSpecialRanges(t *testing.T) {
	deny := dialGuard(false, noLocalAddrs)
	for _, addr := range []string{
		"192.0.2.2:8080", "198.51.100.7:80", "203.0.113.200:443", // TEST-NET-1, -2, -3
		"192.88.99.1:80",                                     // 6to4 relay anycast
		"[::ffff:93.184.216.34]:80", "[::ffff:192.0.2.2]:80", // IPv4-mapped, even of a public address
		"[::ffff:0:5db8:d822]:80",            // IPv4-translated
		"[::5db8:d822]:80", "[::1.2.3.4]:80", // IPv4-compatible
		"[2001::5db8:d822]:80", "[2001:2::1]:80", // Teredo, benchmarking
		"[2001:db8::1]:80", "[3fff::1]:80", // documentation
		"[5f00::1]:80",                 // SRv6
		"[2606:2800:220:1::1%eth0]:80", // a zone makes it link-scoped
	} {
		if err := deny("tcp", addr, nil); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: %v, want refused", addr, err)
		}
	}
	for _, raw := range []string{"http://192.0.2.2:8080/", "http://[::ffff:93.184.216.34]/", "http://[::ffff:7f00:1]/", "https://[2001:db8::5]/"} {
		if err := CheckWebhookURL(raw, false); !errors.Is(err, ErrBadWebhook) {
			t.Errorf("submission of %s: %v, want ErrBadWebhook", raw, err)
		}
	}
	// Neighbours of the refused ranges stay allowed.
	for _, ip := range []string{"192.0.1.255", "192.0.3.1", "198.51.99.1", "203.0.114.1", "2001:200::1", "2001:dc8::1", "3fff:1000::1"} {
		if why := refusedReason(netip.MustParseAddr(ip)); why != "" {
			t.Errorf("public address %s refused: %s", ip, why)
		}
	}
}

// Any address the host has is refused at dial time, whatever its range:
// a service bound to 0.0.0.0 answers there.
func TestGuardRefusesLocalAddresses(t *testing.T) {
	public := netip.MustParseAddr("93.184.216.34")
	local := func() ([]netip.Addr, error) {
		return []netip.Addr{public, netip.MustParseAddr("2606:2800:220:1::1")}, nil
	}
	deny := dialGuard(false, local)
	for _, addr := range []string{"93.184.216.34:80", "[2606:2800:220:1::1]:443"} {
		if err := deny("tcp", addr, nil); err == nil || !strings.Contains(err.Error(), "an address of this host") {
			t.Errorf("%s: %v, want refused as this host's", addr, err)
		}
	}
	if err := deny("tcp", "93.184.216.35:80", nil); err != nil {
		t.Errorf("another public address: %v", err)
	}
	if err := dialGuard(true, local)("tcp", "93.184.216.34:80", nil); err != nil {
		t.Errorf("with private targets allowed: %v", err)
	}
	// When the host's addresses cannot be listed, nothing is known safe.
	broken := dialGuard(false, func() ([]netip.Addr, error) { return nil, errors.New("netlink: no") })
	if err := broken("tcp", "93.184.216.35:80", nil); err == nil || !strings.Contains(err.Error(), "netlink") {
		t.Errorf("with the interface list failing: %v, want refused", err)
	}
}

// Every address of this machine's real interfaces, found now, is one the
// real lister (used by the webhook client) reports as local, so a dial
// there is refused even if its range were not.
func TestInterfaceAddrsAreLocal(t *testing.T) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) == 0 {
		t.Fatal("no interface addresses on this host (not even loopback)")
	}
	deny := dialGuard(false, interfaceAddrs)
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.(*net.IPNet).IP)
		if why := localReason(ip.Unmap(), interfaceAddrs); why != "an address of this host" {
			t.Errorf("%s (on an interface here): %q, want it known as this host's", ip, why)
		}
		if err := deny("tcp", netip.AddrPortFrom(ip.Unmap(), 80).String(), nil); err == nil {
			t.Errorf("%s: dial allowed", ip)
		}
	}
}

// The finding reproduced: an address on one of the host's interfaces, in
// no refused range, with a server listening on it. In a network namespace
// of its own (so the host is untouched), a plain dial reaches the server;
// the guarded dial is refused; once the address is removed the guard no
// longer objects, which shows it asks the interfaces at each dial.
func TestGuardRefusesAddressAddedToInterface(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace (CI runs as root)")
	}
	ipTool, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("iproute2's ip is needed to configure the namespace: %v", err)
	}
	const addr = "93.184.216.34"
	errc := make(chan error, 1)
	go func() {
		// The namespace belongs to this thread only, which is never
		// given back to the scheduler: it ends with the goroutine.
		runtime.LockOSThread()
		errc <- inFreshNetns(t, ipTool, addr)
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func inFreshNetns(t *testing.T, ipTool, addr string) error {
	if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
		return err
	}
	// Children forked from this locked thread start in its namespace.
	ip := func(args ...string) error {
		if out, err := exec.Command(ipTool, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	// A dummy interface, or a bridge without ports where the kernel has
	// no dummy module: either holds an address like a real NIC.
	if err := ip("link", "add", "pecan0", "type", "dummy"); err != nil {
		if err2 := ip("link", "add", "pecan0", "type", "bridge"); err2 != nil {
			return errors.Join(err, err2)
		}
	}
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"link", "set", "pecan0", "up"}, {"addr", "add", addr + "/32", "dev", "pecan0"}} {
		if err := ip(args...); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	accepted := make(chan struct{}, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	target := net.JoinHostPort(addr, port)

	// The address is reachable: the guard is what stops the webhook.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", target)
	if err != nil {
		return fmt.Errorf("unguarded dial of the interface address failed, so the test would prove nothing: %w", err)
	}
	c.Close()
	select {
	case <-accepted:
	case <-ctx.Done():
		return errors.New("the unguarded dial connected elsewhere than the namespace's listener")
	}

	guarded := &net.Dialer{Control: dialGuard(false, interfaceAddrs)}
	if c, err := guarded.DialContext(ctx, "tcp", target); err == nil {
		c.Close()
		t.Errorf("guarded dial of %s (an address of this host) connected", target)
	} else if !strings.Contains(err.Error(), "an address of this host") {
		t.Errorf("guarded dial of %s: %v, want refused as this host's address", target, err)
	}
	// Its IPv4-mapped form is refused too.
	if err := dialGuard(false, interfaceAddrs)("tcp", "[::ffff:"+addr+"]:"+port, nil); err == nil {
		t.Errorf("IPv4-mapped form of %s allowed", addr)
	}

	if err := ip("addr", "del", addr+"/32", "dev", "pecan0"); err != nil {
		return err
	}
	if err := dialGuard(false, interfaceAddrs)("tcp", target, nil); err != nil {
		t.Errorf("after the address was removed the guard still refuses %s: %v", target, err)
	}
	select {
	case <-accepted:
		t.Error("the guarded dial reached the server")
	default:
	}
	return nil
}
