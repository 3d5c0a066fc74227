// Package runcg gives each run of a wrapped sandbox tool (isolate,
// nsjail) a cgroup of Pecan's own: memory and process limits, CPU time
// over every process of the run, peak memory and the OOM count, on cgroup
// v1 and v2 hosts alike. The tool's process enters the cgroup before it
// starts anything (Wrap), so whatever it forks is counted from the start.
package runcg

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/criyle/go-sandbox/pkg/cgroup"
)

const mountPoint = "/sys/fs/cgroup"

// Root is one server's cgroup, named <prefix>-<pid> so that servers
// running side by side never share or remove each other's.
type Root struct {
	cg   cgroup.Cgroup
	name string
	v2   bool
	seq  atomic.Uint64
}

// v1Controllers are the hierarchies a run joins on a cgroup v1 host.
var v1Controllers = []string{"cpuacct", "memory", "pids"}

// NewRoot creates this server's cgroup.
func NewRoot(prefix string) (*Root, error) {
	name := fmt.Sprintf("%s-%d", prefix, os.Getpid())
	v2 := cgroup.DetectType() == cgroup.TypeV2
	ct := &cgroup.Controllers{CPUAcct: true, Memory: true, Pids: true}
	if v2 {
		ct = &cgroup.Controllers{CPU: true, Memory: true, Pids: true}
	}
	cg, err := cgroup.New(name, ct)
	if err != nil {
		return nil, fmt.Errorf("create cgroup %s (%s): %w", name, cgroup.DetectType(), err)
	}
	return &Root{cg: cg, name: name, v2: v2}, nil
}

// Name is the root's name below each hierarchy.
func (r *Root) Name() string { return r.name }

// Destroy removes the root; its runs must be gone.
func (r *Root) Destroy() error {
	if err := r.cg.Destroy(); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", r.name, err)
	}
	return nil
}

// Run is one run's cgroup.
type Run struct {
	cg   cgroup.Cgroup
	rel  string   // <root>/<run>, below each hierarchy
	dirs []string // its directory in each hierarchy
	mem  string   // the directory of the memory controller
	v2   bool
}

// NewRun creates a run's cgroup limited to memory bytes (no swap) and
// procs processes.
func (r *Root) NewRun(memory, procs uint64) (*Run, error) {
	name := fmt.Sprintf("run-%d", r.seq.Add(1))
	cg, err := r.cg.New(name)
	if err != nil {
		return nil, fmt.Errorf("create run cgroup %s/%s: %w", r.name, name, err)
	}
	rc := &Run{cg: cg, rel: filepath.Join(r.name, name), v2: r.v2}
	if r.v2 {
		rc.dirs = []string{filepath.Join(mountPoint, rc.rel)}
		rc.mem = rc.dirs[0]
	} else {
		for _, c := range v1Controllers {
			rc.dirs = append(rc.dirs, filepath.Join(mountPoint, c, rc.rel))
		}
		rc.mem = filepath.Join(mountPoint, "memory", rc.rel)
	}
	if err := cg.SetMemoryLimit(memory); err != nil {
		rc.Destroy()
		return nil, fmt.Errorf("set memory limit: %w", err)
	}
	// Swap would let a program pass its memory limit unnoticed.
	if r.v2 {
		_ = os.WriteFile(filepath.Join(rc.mem, "memory.swap.max"), []byte("0"), 0o644)
	} else {
		_ = os.WriteFile(filepath.Join(rc.mem, "memory.memsw.limit_in_bytes"), []byte(strconv.FormatUint(memory, 10)), 0o644)
	}
	if err := cg.SetProcLimit(procs); err != nil {
		rc.Destroy()
		return nil, fmt.Errorf("set pids limit: %w", err)
	}
	return rc, nil
}

// Rel is the run's path below each hierarchy's mount point.
func (rc *Run) Rel() string { return rc.rel }

// Wrap returns a command line that puts its own process into the run's
// cgroup, in every hierarchy, and then executes args: the tool and all it
// forks are in the cgroup from their first instruction. It fails (exit
// status 125) before executing anything if a cgroup cannot be joined.
func (rc *Run) Wrap(args []string) []string {
	const script = `while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"`
	out := []string{"/bin/sh", "-c", script, "pecan-cg"}
	for _, d := range rc.dirs {
		out = append(out, filepath.Join(d, "cgroup.procs"))
	}
	out = append(out, "--")
	return append(out, args...)
}

// WrapFailed is the exit status of a wrapper that could not join the
// cgroup.
const WrapFailed = 125

// CPU is the CPU time of every process that ran in the cgroup.
func (rc *Run) CPU() (time.Duration, error) {
	ns, err := rc.cg.CPUUsage()
	return time.Duration(ns), err
}

// Peak is the cgroup's peak memory in bytes.
func (rc *Run) Peak() uint64 {
	if p, err := rc.cg.MemoryMaxUsage(); err == nil && p > 0 {
		return p
	}
	p, _ := rc.cg.MemoryUsage()
	return p
}

// OOMKilled reports whether the kernel's OOM killer acted in the cgroup.
func (rc *Run) OOMKilled() bool {
	file := "memory.oom_control"
	if rc.v2 {
		file = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(rc.mem, file))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == "oom_kill" {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n > 0
		}
	}
	return false
}

// Processes lists the processes still in the cgroup.
func (rc *Run) Processes() []int {
	procs, _ := rc.cg.Processes()
	var out []int
	for _, p := range procs {
		if p > 0 { // go-sandbox's list ends with a 0 for the last newline
			out = append(out, p)
		}
	}
	return out
}

// Destroy kills whatever is left in the cgroup and removes it; the kernel
// may take a moment to release dying processes, so EBUSY is retried.
func (rc *Run) Destroy() error {
	var err error
	for i := 0; i < 250; i++ {
		if err = rc.cg.Destroy(); err == nil || !errors.Is(err, syscall.EBUSY) {
			return err
		}
		for _, p := range rc.Processes() {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("remove run cgroup %s: %w", rc.rel, err)
}
