package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/pecan-judge/pecan/internal/proctable"
)

// chaos drives load against a running server while killing its sandbox
// processes from outside, then reports what the clients saw and how long
// the pool took to heal.
func chaos(args []string) error {
	fs := pflag.NewFlagSet("chaos", pflag.ContinueOnError)
	server := fs.String("server", "http://127.0.0.1:8080", "URL of the running server")
	pid := fs.Int("server-pid", 0, "pid of the server whose sandboxes to kill (default: every pecan server on this host)")
	jobs := fs.Int("jobs", 300, "requests to send")
	conc := fs.Int("concurrency", 8, "requests in flight")
	every := fs.Duration("kill-every", 200*time.Millisecond, "how often to SIGKILL a sandbox")
	timeout := fs.Duration("timeout", 2*time.Minute, "per-request client timeout")
	token := fs.String("token", os.Getenv("PECAN_TOKEN"), "API token (an admin token when the server has admin tokens); default $PECAN_TOKEN")
	if err := fs.Parse(args); err != nil {
		return err
	}
	base := strings.TrimRight(*server, "/")
	client := tokenClient(*timeout, *token)
	before, err := fetchStatus(client, base)
	if err != nil {
		return fmt.Errorf("server status: %w", err)
	}

	stopKiller := make(chan struct{})
	kills := make(chan killReport, 1)
	go func() { kills <- killLoop(*pid, *every, stopKiller) }()

	res := drive(client, base, *jobs, *conc)
	close(stopKiller)
	kr := <-kills
	since := time.Now()
	if !kr.last.IsZero() {
		since = kr.last
	}

	_, rerr := waitFullStrength(client, base, before.size(), time.Minute)
	recovery := time.Since(since)
	after, _ := fetchStatus(client, base)

	fmt.Printf("requests sent      %d\n", res.sent)
	fmt.Printf("answered 200       %d (accepted %d)\n", res.ok, res.accepted)
	fmt.Printf("answered error     %d (well-formed JSON error bodies: %d)\n", res.errors, res.wellFormedErrors)
	fmt.Printf("lost               %d\n", res.lost)
	fmt.Printf("duplicate answers  %d\n", res.duplicates)
	fmt.Printf("latency p50 / p99  %v / %v\n", res.percentile(50), res.percentile(99))
	fmt.Printf("sandboxes killed   %d\n", kr.killed)
	fmt.Printf("restarts           %d\n", after.Restarts-before.Restarts)
	if rerr != nil {
		fmt.Printf("recovery           not back to %d idle sandboxes: %v\n", before.size(), rerr)
		return rerr
	}
	fmt.Printf("recovery           %v from the last kill (or the end of the load) to every sandbox idle\n", recovery.Round(time.Millisecond))
	if res.lost > 0 {
		return fmt.Errorf("%d requests lost", res.lost)
	}
	return nil
}

type poolStatus struct {
	Idle     int   `json:"idle_sandboxes"`
	Running  int   `json:"running_sandboxes"`
	Error    int   `json:"error_sandboxes"`
	Starting int   `json:"starting_sandboxes"`
	Restarts int64 `json:"restarts"`
}

func (s poolStatus) size() int { return s.Idle + s.Running + s.Error + s.Starting }

func fetchStatus(client *http.Client, base string) (poolStatus, error) {
	var st poolStatus
	resp, err := client.Get(base + "/v1/manager/sandbox-status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("sandbox-status: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// waitFullStrength polls until every sandbox is idle again.
func waitFullStrength(client *http.Client, base string, size int, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		st, err := fetchStatus(client, base)
		if err == nil && st.Idle == size && st.Error == 0 && st.Starting == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			return 0, fmt.Errorf("after %v: %+v (err %v)", limit, st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type loadResult struct {
	sent, ok, accepted, errors, wellFormedErrors, lost, duplicates int
	latencies                                                      []time.Duration
}

func (r loadResult) percentile(p int) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), r.latencies...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, len(s)*p/100)].Round(time.Millisecond)
}

// chaosJob is a fast job whose right answer is known.
var chaosJob = map[string]any{
	"language": "python", "code": "a, b = map(int, input().split())\nprint(a + b)\n",
	"stdin": "1 2\n", "desired_stdout": "3\n", "time_limit": 1, "memory_limit": 65536,
}

func drive(client *http.Client, base string, n, conc int) loadResult {
	body, _ := json.Marshal(chaosJob)
	var (
		mu  sync.Mutex
		res loadResult
		ids = map[string]bool{}
		wg  sync.WaitGroup
	)
	work := make(chan struct{})
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				start := time.Now()
				resp, err := client.Post(base+"/v1/judge/judge-single", "application/json", bytes.NewReader(body))
				var data []byte
				if err == nil {
					data, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				lat := time.Since(start)
				mu.Lock()
				res.sent++
				if err == nil {
					res.latencies = append(res.latencies, lat)
				}
				switch {
				case err != nil:
					res.lost++
				case resp.StatusCode == http.StatusOK:
					var r struct {
						Status    string `json:"status"`
						RequestID string `json:"request_id"`
					}
					if json.Unmarshal(data, &r) != nil {
						res.lost++ // an answer nobody can read is as good as none
						break
					}
					res.ok++
					if r.Status == "Accepted" {
						res.accepted++
					}
					if ids[r.RequestID] {
						res.duplicates++
					}
					ids[r.RequestID] = true
				default:
					res.errors++
					var e struct {
						Error string `json:"error"`
					}
					if json.Unmarshal(data, &e) == nil && e.Error != "" {
						res.wellFormedErrors++
					}
				}
				mu.Unlock()
			}
		}()
	}
	for range n {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	return res
}

type killReport struct {
	killed int
	last   time.Time
}

// killLoop SIGKILLs one random sandbox init every interval until stop.
func killLoop(serverPID int, every time.Duration, stop <-chan struct{}) killReport {
	t := time.NewTicker(every)
	defer t.Stop()
	var r killReport
	for {
		select {
		case <-stop:
			return r
		case <-t.C:
			pids := sandboxInits(serverPID)
			if len(pids) == 0 {
				continue
			}
			if syscall.Kill(pids[rand.IntN(len(pids))], syscall.SIGKILL) == nil {
				r.killed++
				r.last = time.Now()
			}
		}
	}
}

// sandboxInits lists container init processes: children of serverPID, or
// of any process when serverPID is 0.
func sandboxInits(serverPID int) []int {
	var out []int
	for _, p := range proctable.List() {
		if p.IsSandboxInit() && (serverPID == 0 || p.PPID == serverPID) {
			out = append(out, p.PID)
		}
	}
	return out
}
