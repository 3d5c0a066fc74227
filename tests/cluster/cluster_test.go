package cluster

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// sleeper takes 0.6 s of wall time and almost no CPU, so three of them
// side by side do not compete for this machine's two cores.
var sleeper = testserver.Job{
	Language:      "python",
	Code:          "import time\ntime.sleep(0.6)\nprint(input())\n",
	Stdin:         "pecan\n",
	DesiredStdout: "pecan\n",
}

// burst sends n sleepers to base at once; during runs while they are in
// flight. It returns the results (nil where the request failed) and how
// long the burst took.
func burst(t *testing.T, base string, n int, during func()) ([]*testserver.Result, time.Duration) {
	t.Helper()
	results := make([]*testserver.Result, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := testserver.Judge(client, base, sleeper)
			if err != nil {
				t.Errorf("job %d: %v", i, err)
				return
			}
			results[i] = r
		}()
	}
	if during != nil {
		during()
	}
	wg.Wait()
	return results, time.Since(start)
}

// tally fails t for every result not Accepted and counts the jobs each
// node ran.
func tally(t *testing.T, results []*testserver.Result) map[string]int {
	t.Helper()
	ran := map[string]int{}
	for i, r := range results {
		if r == nil {
			continue
		}
		if r.Status != "Accepted" {
			t.Errorf("job %d: %s", i, r)
		}
		ran[r.Node]++
	}
	return ran
}

func addrs(ns []*node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.bind)
	}
	return out
}

func TestBurstRunsOnEveryMember(t *testing.T) {
	needServer(t)
	waitMembers(t, nodes[0].srv.URL(), addrs(nodes), time.Minute)

	results, took := burst(t, nodes[0].srv.URL(), 9, nil)
	ran := tally(t, results)
	var serial float64
	for _, r := range results {
		if r != nil {
			serial += r.WallTime
		}
	}
	t.Logf("9 jobs: %s on three members (%v); one after another they took %.2fs", took.Round(time.Millisecond), ran, serial)
	for _, n := range nodes {
		if ran[n.bind] == 0 {
			t.Errorf("no job ran on %s (%s): %v", n.name, n.bind, ran)
		}
	}
	// Three sandboxes: ideally a third of the serial time. Half of it
	// leaves room for the forwarding and for a busy machine, and still
	// fails if the work was not spread.
	if took.Seconds() > serial/2 {
		t.Errorf("burst took %s, not well under the serial %.2fs", took.Round(time.Millisecond), serial)
	}
}

func TestMemberKilledMidBurst(t *testing.T) {
	needServer(t)
	base := nodes[0].srv.URL()
	victim := nodes[2]
	waitMembers(t, base, addrs(nodes), time.Minute)

	var lost, dropped time.Duration
	results, took := burst(t, base, 9, func() {
		// Kill the member while it runs a job it was handed.
		waitFor(t, 20*time.Second, victim.name+" running a job", func() (bool, string) {
			s, err := getStatus(victim.srv.URL())
			if err != nil {
				return false, err.Error()
			}
			return s.Running > 0, fmt.Sprintf("running %d", s.Running)
		})
		victim.srv.Kill()
		// The burst goes on meanwhile. Node A stops counting on the
		// member as soon as the connection breaks, and the membership
		// provider must drop it within a few seconds.
		lost = waitMembers(t, base, addrs(nodes[:2]), 10*time.Second)
		member := fmt.Sprintf(`member="%s"`, victim.bind)
		dropped = waitFor(t, 10*time.Second, "node1 logging that "+victim.name+" left", func() (bool, string) {
			b, _ := os.ReadFile(nodes[0].srv.LogPath())
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, `msg="cluster member left"`) && strings.Contains(line, member) {
					return true, ""
				}
			}
			return false, "not yet"
		}) + lost
	})
	for i, r := range results {
		if r != nil && r.Status != "Accepted" {
			t.Errorf("job %d: %s", i, r)
		}
		if r != nil && r.Node == victim.bind {
			t.Errorf("job %d answered by the killed member: %s", i, r)
		}
	}
	t.Logf("9 jobs with %s killed mid-burst: %s", victim.name, took.Round(time.Millisecond))

	t.Logf("%s out of node1's pool %s after the kill, out of the membership after %s",
		victim.name, lost.Round(time.Millisecond), dropped.Round(time.Millisecond))
	killed := victim.srv
	// Its cgroups, and the root of a container it was building when it
	// was killed, stay until the next server starts.
	swept := func(l string) bool {
		return strings.HasPrefix(l, "cgroup ") ||
			strings.HasPrefix(l, fmt.Sprintf("sandbox root %s/pecan-root-%d-", os.TempDir(), killed.PID()))
	}
	for _, l := range killed.Leftovers(victim.rootsBefore) {
		if !swept(l) {
			t.Errorf("killed member left behind: %s", l)
		}
	}

	// It comes back on the same address, sweeps what it left when it was
	// killed, and rejoins.
	rootsBefore := victim.rootsBefore
	if err := victim.start(); err != nil {
		t.Fatal(err)
	}
	for _, l := range killed.Leftovers(rootsBefore) {
		// Processes of the binary, and other roots, are the restarted
		// member's now.
		if swept(l) {
			t.Errorf("killed member's leftover not swept by its restart: %s", l)
		}
	}
	waitMembers(t, base, addrs(nodes), 30*time.Second)
	results, _ = burst(t, base, 3, nil)
	for i, r := range results {
		if r != nil && r.Status != "Accepted" {
			t.Errorf("after rejoin, job %d: %s", i, r)
		}
	}
}
