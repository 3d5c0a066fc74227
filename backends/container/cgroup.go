package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/criyle/go-sandbox/pkg/cgroup"

	"github.com/pecan-judge/pecan/backends/container/initproc"
)

// cgroupRoot is this server's own cgroup; each run gets a child of it.
// The name carries the server's pid so that several servers (tests run a
// few at once) never share or remove each other's cgroups.
type cgroupRoot struct {
	cg     cgroup.Cgroup
	prefix string
	v2     bool
	// cloneInto is true when a run's process can be created inside its
	// cgroup by the container's init (see placement).
	cloneInto bool
	seq       atomic.Uint64
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
	r := &cgroupRoot{cg: cg, prefix: prefix, v2: v2}
	if v2 {
		r.cloneInto = canCloneInto(prefix)
	}
	return r, nil
}

// canCloneInto reports whether a container's init may create a run's
// process directly in the cgroup prefix/run-N: clone3 with
// CLONE_INTO_CGROUP needs Linux 5.7, and where the hierarchy is mounted
// with nsdelegate (as systemd mounts it) the target must lie inside the
// init's cgroup namespace, whose root is the server's own cgroup when the
// container was built. So the server must be in the root cgroup, above
// prefix, or the hierarchy must not delegate at namespaces.
func canCloneInto(prefix string) bool {
	if !kernelAtLeast(5, 7) {
		return false
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return false
	}
	if strings.TrimSpace(string(own)) == "0::/" {
		return true
	}
	return !mountOption("/sys/fs/cgroup", "nsdelegate")
}

// kernelAtLeast compares the running kernel's release with major.minor.
func kernelAtLeast(major, minor int) bool {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return false
	}
	var release strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		release.WriteByte(byte(c))
	}
	var ma, mi int
	if _, err := fmt.Sscanf(release.String(), "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

// mountOption reports whether the filesystem mounted at dir has the
// super-block option opt (/proc/self/mountinfo's last field). Of mounts
// stacked at dir the last is the one seen.
func mountOption(dir, opt string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 10 || fields[4] != dir {
			continue
		}
		found = slices.Contains(strings.Split(fields[len(fields)-1], ","), opt)
	}
	return found
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
	// counters live; on v2 it is the run's only cgroup directory.
	memPath string
	v2      bool
	// dir is the open cgroup directory the run's process is cloned into
	// (cgroup v2 where the init may do so), nil otherwise.
	dir *os.File
	// procs are the cgroup.procs files of the run's cgroup (v2), for
	// the init to write the process's pid to.
	procs []string
	// tasks and homeTasks are the tasks files of the run's cgroups and
	// of their parent, per hierarchy of v1Hierarchies (see place).
	tasks, homeTasks []string
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
		rc.procs = []string{filepath.Join(rc.memPath, "cgroup.procs")}
	} else {
		rc.memPath = filepath.Join("/sys/fs/cgroup/memory", r.prefix, name)
		for _, c := range v1Hierarchies {
			rc.tasks = append(rc.tasks, filepath.Join("/sys/fs/cgroup", c, r.prefix, name, "tasks"))
			rc.homeTasks = append(rc.homeTasks, filepath.Join("/sys/fs/cgroup", c, r.prefix, "tasks"))
		}
		// The init's thread that creates the program stays in the pids
		// cgroup until the run ends (see place).
		procs++
	}
	if err := cg.SetMemoryLimit(memory); err != nil {
		rc.destroy()
		return nil, fmt.Errorf("set memory limit: %w", err)
	}
	if r.v2 {
		// Swap would let a program exceed its memory limit unnoticed.
		_ = os.WriteFile(filepath.Join(rc.memPath, "memory.swap.max"), []byte("0"), 0o644)
		// An OOM kill ends the whole run, not just its largest process:
		// a program's helper processes cannot go on without it.
		_ = os.WriteFile(filepath.Join(rc.memPath, "memory.oom.group"), []byte("1"), 0o644)
	}
	if err := cg.SetProcLimit(procs); err != nil {
		rc.destroy()
		return nil, fmt.Errorf("set pids limit: %w", err)
	}
	if r.cloneInto {
		if rc.dir, err = os.Open(rc.memPath); err != nil {
			rc.destroy()
			return nil, fmt.Errorf("open run cgroup: %w", err)
		}
	}
	return rc, nil
}

// v1Hierarchies are where controllers' hierarchies are mounted on v1;
// pids last (see place).
var v1Hierarchies = []string{"memory", "cpuacct", "pids"}

// place says how the run's process enters its cgroup, so that it is
// charged from its first instruction and nothing waits between fork and
// exec (the init can vfork). On cgroup v2 the init creates it in the
// open cgroup directory (clone3 with CLONE_INTO_CGROUP). On v1, where a
// thread can be moved alone, the init's forking thread joins the run's
// cgroups, creates it there, and leaves them for this server's own at
// once, but for pids, which it leaves when the run is over: the pids
// limit counts it (newRun adds one), so the program's processes are
// bounded exactly and none can be created outside the limit. Where
// neither works (a v2 hierarchy the init may not create into) the init
// writes its pid to cgroup.procs between fork and exec. The returned
// function closes what was opened.
func (rc *runCgroup) place(x *initproc.Exec) (func(), error) {
	if rc.dir != nil {
		x.CgroupDir = rc.dir
		return func() {}, nil
	}
	var opened []*os.File
	closeAll := func() {
		for _, f := range opened {
			f.Close()
		}
	}
	open := func(paths []string) ([]*os.File, error) {
		var fs []*os.File
		for _, p := range paths {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return nil, fmt.Errorf("open %s: %w", p, err)
			}
			opened = append(opened, f)
			fs = append(fs, f)
		}
		return fs, nil
	}
	if rc.v2 {
		procs, err := open(rc.procs)
		if err != nil {
			closeAll()
			return nil, err
		}
		x.CgroupProcs = procs
		return closeAll, nil
	}
	join, err := open(rc.tasks)
	if err != nil {
		closeAll()
		return nil, err
	}
	home, err := open(rc.homeTasks)
	if err != nil {
		closeAll()
		return nil, err
	}
	last := len(home) - 1
	x.Thread = &initproc.ThreadPlacement{Join: join, Leave: home[:last], LeaveAtEnd: home[last:]}
	return closeAll, nil
}

// oomKilled reports whether the kernel's OOM killer acted in this cgroup.
func (rc *runCgroup) oomKilled() bool {
	file := "memory.oom_control"
	if rc.v2 {
		file = "memory.events"
	}
	return rc.memoryCounter(file, "oom_kill") > 0
}

// reachedLimit reports whether the run's memory reached its limit. On v1
// the peak shows it. On v2 memory.peak stays below memory.max by the
// charge that was refused, so memory.events counts it instead ("max":
// times the limit stopped a charge); a program thrashing against the
// limit, whose pages the kernel keeps reclaiming instead of killing it,
// has it too.
func (rc *runCgroup) reachedLimit(peak, limit uint64) bool {
	if rc.v2 && rc.memoryCounter("memory.events", "max") > 0 {
		return true
	}
	return peak >= limit
}

// memoryCounter reads the counter key of a "key value" file of the
// memory controller; 0 when there is none.
func (rc *runCgroup) memoryCounter(file, key string) uint64 {
	b, err := os.ReadFile(filepath.Join(rc.memPath, file))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
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
	if rc.dir != nil {
		rc.dir.Close()
		rc.dir = nil
	}
	var err error
	for i := 0; i < 50; i++ {
		if err = rc.Destroy(); err == nil || !errors.Is(err, syscall.EBUSY) {
			return err
		}
		// cgroup v2 (Linux 5.14) kills every process of the cgroup at
		// once, including those forked while a list is being read.
		if rc.v2 && os.WriteFile(filepath.Join(rc.memPath, "cgroup.kill"), []byte("1"), 0o644) == nil {
			time.Sleep(2 * time.Millisecond)
			continue
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
