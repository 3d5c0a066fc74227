package cluster

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// startEtcd runs a one-member etcd (Debian's etcd-server, which `make
// test` installs) on free loopback ports and returns its client address.
// It is stopped and its data removed when the test ends.
func startEtcd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("etcd not installed (make deps installs Debian's etcd-server): %v", err)
	}
	ports := make([]int, 2)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	client := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	dir := t.TempDir()
	log, err := os.Create(filepath.Join(env.Tmp, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(bin,
		"--name", "pecan-test", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "pecan-test="+peer)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	waitFor(t, 30*time.Second, "etcd healthy", func() (bool, string) {
		resp, err := http.Get(client + "/health")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return strings.TrimPrefix(client, "http://")
}

func TestClusterThroughEtcd(t *testing.T) {
	needServer(t)
	endpoint := startEtcd(t)
	binds, err := testserver.ClusterAddrs(2)
	if err != nil {
		t.Fatal(err)
	}
	var members []*node
	for i, bind := range binds {
		n, err := newNode(fmt.Sprintf("etcd-node%d", i+1), bind, nil,
			"--cluster-provider", "etcd", "--cluster-etcd", endpoint)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.start(); err != nil {
			t.Fatal(err)
		}
		members = append(members, n)
		defer func() {
			if err := n.stop(); err != nil {
				t.Error(err)
			}
		}()
	}
	base := members[0].srv.URL()
	waitMembers(t, base, binds, 30*time.Second)

	results, took := burst(t, base, 4, nil)
	ran := tally(t, results)
	t.Logf("4 jobs through an etcd-formed cluster: %s, ran on %v", took.Round(time.Millisecond), ran)
	for _, b := range binds {
		if ran[b] == 0 {
			t.Errorf("no job ran on %s: %v", b, ran)
		}
	}
}
