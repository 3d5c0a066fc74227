package cluster

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// listeners lists the addresses the process pid listens on (TCP), from
// its open sockets and the kernel's socket tables.
func listeners(pid int) ([]string, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			const listen = "0A"
			if len(f) < 10 || f[3] != listen || !inodes[f[9]] {
				continue
			}
			addr, err := decodeAddr(f[1])
			if err != nil {
				return nil, err
			}
			out = append(out, addr)
		}
	}
	return out, nil
}

// decodeAddr turns /proc/net/tcp's HEXIP:HEXPORT (the IP as host-order
// 32-bit words) into HOST:PORT.
func decodeAddr(s string) (string, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	raw, err := hex.DecodeString(ipHex)
	if !ok || err != nil || len(raw)%4 != 0 {
		return "", fmt.Errorf("bad address %q", s)
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return "", fmt.Errorf("bad port in %q", s)
	}
	return net.JoinHostPort(net.IP(raw).String(), strconv.Itoa(int(port))), nil
}

func TestMembersListenOnlyWhereConfigured(t *testing.T) {
	needServer(t)
	for _, n := range nodes {
		u, err := url.Parse(n.srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		host, port, _ := net.SplitHostPort(n.bind)
		p, _ := strconv.Atoi(port)
		want := map[string]bool{
			u.Host: true, // HTTP
			n.bind: true, // remoting
			net.JoinHostPort(host, strconv.Itoa(p+1)): true, // automanaged membership
		}
		got, err := listeners(n.srv.PID())
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, a := range got {
			seen[a] = true
			if !want[a] {
				t.Errorf("%s listens on %s; configured: %v", n.name, a, want)
			}
		}
		if !seen[n.bind] {
			t.Errorf("%s does not listen on its bind address %s: %v", n.name, n.bind, got)
		}
	}
}
