package container

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

// cgroupRoot is this server's own cgroup; each run gets a child of it.
// The name carries the server's pid so that several servers (tests run a
// few at once) never share or remove each other's cgroups.
type cgroupRoot struct {
	cg     cgroup.Cgroup
	prefix string
	v2     bool
	seq    atomic.Uint64
}

var controllers = &cgroup.Controllers{CPUAcct: true, Memory: true, Pids: true}

func newCgroupRoot(prefix string) (*cgroupRoot, error) {
	prefix = fmt.Sprintf("%s-%d", prefix, os.Getpid())
	v2 := cgroup.DetectType() == cgroup.TypeV2
	ct := controllers
	if v2 {
		// cgroup v2 has no cpuacct: CPU time is in cpu.stat.
		ct = &cgroup.Controllers{CPU: true, Memory: true, Pids: true}
	}
	cg, err := cgroup.New(prefix, ct)
	if err != nil {
		return nil, fmt.Errorf("create cgroup %s (%s): %w", prefix, cgroup.DetectType(), err)
	}
	return &cgroupRoot{cg: cg, prefix: prefix, v2: v2}, nil
}

func (r *cgroupRoot) destroy() error {
	if err := r.cg.Destroy(); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", r.prefix, err)
	}
	return nil
}

// runCgroup is one run's cgroup.
type runCgroup struct {
	cgroup.Cgroup
	// memPath is the directory of the memory controller, where the OOM
	// counters live.
	memPath string
	v2      bool
}

func (r *cgroupRoot) newRun(memory, procs uint64) (*runCgroup, error) {
	name := fmt.Sprintf("run-%d", r.seq.Add(1))
	cg, err := r.cg.New(name)
	if err != nil {
		return nil, fmt.Errorf("create run cgroup %s/%s: %w", r.prefix, name, err)
	}
	rc := &runCgroup{Cgroup: cg, v2: r.v2}
	if r.v2 {
		rc.memPath = filepath.Join("/sys/fs/cgroup", r.prefix, name)
	} else {
		rc.memPath = filepath.Join("/sys/fs/cgroup/memory", r.prefix, name)
	}
	if err := cg.SetMemoryLimit(memory); err != nil {
		rc.destroy()
		return nil, fmt.Errorf("set memory limit: %w", err)
	}
	if r.v2 {
		// Swap would let a program exceed its memory limit unnoticed.
		_ = os.WriteFile(filepath.Join(rc.memPath, "memory.swap.max"), []byte("0"), 0o644)
	}
	if err := cg.SetProcLimit(procs); err != nil {
		rc.destroy()
		return nil, fmt.Errorf("set pids limit: %w", err)
	}
	return rc, nil
}

// oomKilled reports whether the kernel's OOM killer acted in this cgroup.
func (rc *runCgroup) oomKilled() bool {
	file := "memory.oom_control"
	if rc.v2 {
		file = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(rc.memPath, file))
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

// peak is the run's peak memory in bytes.
func (rc *runCgroup) peak() uint64 {
	if p, err := rc.MemoryMaxUsage(); err == nil && p > 0 {
		return p
	}
	p, _ := rc.MemoryUsage()
	return p
}

// destroy removes the cgroup. The container has already killed every
// process of the run, but the kernel may take a moment to release them, so
// an EBUSY is retried briefly.
func (rc *runCgroup) destroy() error {
	var err error
	for i := 0; i < 50; i++ {
		if err = rc.Destroy(); err == nil || !errors.Is(err, syscall.EBUSY) {
			return err
		}
		if procs, _ := rc.Processes(); len(procs) > 0 {
			for _, p := range procs {
				// go-sandbox's list ends with a 0 for the file's last
				// newline, and kill(0) would signal our own process group.
				if p > 0 {
					_ = syscall.Kill(p, syscall.SIGKILL)
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return err
}
