package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// poll is how often the watchdog reads the run's CPU time and resident
// sets from the sandbox's /proc; during the program's first
// quickPolls it looks every millisecond, so that a program of a few
// milliseconds has its memory seen.
const (
	poll       = 5 * time.Millisecond
	quickPoll  = time.Millisecond
	quickPolls = 30
)

// IsCommand reports whether args (os.Args) start one of the runner's
// commands.
func IsCommand(args []string) bool {
	if len(args) < 2 {
		return false
	}
	switch args[1] {
	case CmdInit, CmdRun, CmdPut, CmdCollect:
		return true
	}
	return false
}

// Main runs the command named by args[1] and returns the exit status.
func Main(args []string) int {
	if !IsCommand(args) {
		fmt.Fprintln(os.Stderr, "runner: unknown command")
		return 2
	}
	var err error
	switch args[1] {
	case CmdInit:
		idle()
	case CmdRun:
		err = withRequest(args, func(r RunRequest) error { return run(r, os.Stdout) })
	case CmdPut:
		err = withRequest(args, func(r PutRequest) error { return put(r, os.Stdin) })
	case CmdCollect:
		err = withRequest(args, func(r CollectRequest) error { return collect(r, os.Stdout) })
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		return 1
	}
	return 0
}

func withRequest[T any](args []string, fn func(T) error) error {
	if len(args) != 3 {
		return fmt.Errorf("%s wants one JSON argument", args[1])
	}
	var req T
	if err := json.Unmarshal([]byte(args[2]), &req); err != nil {
		return fmt.Errorf("%s: request: %w", args[1], err)
	}
	return fn(req)
}

// idle is the sandbox's init: it reaps what is reparented to it and
// otherwise waits for the sandbox to be destroyed.
func idle() {
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	for {
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(-1, &ws, 0, nil); errors.Is(err, syscall.ECHILD) {
			<-chld
		}
	}
}

// killAll kills every process of the sandbox but its init and the caller
// (kill(2) with pid -1, as the sandbox's root): whatever a program left
// running, in any process group or session.
func killAll() { _ = syscall.Kill(-1, syscall.SIGKILL) }

// run runs the program with the limits applied and writes frames to out.
func run(req RunRequest, out io.Writer) error {
	if len(req.Args) == 0 {
		return errors.New("run: no command")
	}
	fw := &frameWriter{w: out}
	res := execute(req, fw)
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return fw.write(FrameResult, b)
}

// frameWriter serialises the frames of the two output streams.
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (f *frameWriter) write(kind byte, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(p) > 0 {
		n := min(len(p), MaxFrame)
		if err := WriteFrame(f.w, kind, p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// applyRlimits sets the program's limits on the runner, for the program
// to inherit.
func applyRlimits(req RunRequest) error {
	stack := ^uint64(0) // RLIM_INFINITY
	if req.Stack > 0 {
		stack = req.Stack
	}
	limits := []struct {
		res int
		val uint64
	}{
		{syscall.RLIMIT_FSIZE, req.FileSize},
		{syscall.RLIMIT_NOFILE, req.OpenFiles},
		{syscall.RLIMIT_STACK, stack},
		{syscall.RLIMIT_CORE, 0},
		{rlimitNPROC, req.Processes},
	}
	for _, l := range limits {
		if err := syscall.Setrlimit(l.res, &syscall.Rlimit{Cur: l.val, Max: l.val}); err != nil {
			return fmt.Errorf("setrlimit %d: %w", l.res, err)
		}
	}
	return nil
}

// startLocked starts cmd from a thread of its own that has
// no_new_privs set (a per-thread attribute the forked child inherits), with
// the program's limits set on the runner: Go runs no code between fork and
// exec. The runner holds CAP_SYS_RESOURCE, so RLIMIT_NPROC does not count
// its own threads against it; the program, another uid, has no capability.
func startLocked(cmd *exec.Cmd, req RunRequest) (firstRSS uint64, err error) {
	type started struct {
		rss uint64
		err error
	}
	done := make(chan started, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine.
		runtime.LockOSThread()
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			done <- started{err: fmt.Errorf("no_new_privs: %w", err)}
			return
		}
		if err := applyRlimits(req); err != nil {
			done <- started{err: err}
			return
		}
		if err := cmd.Start(); err != nil {
			done <- started{err: err}
			return
		}
		rss, err := firstLook(cmd.Process.Pid)
		done <- started{rss: rss, err: err}
	}()
	r := <-done
	return r.rss, r.err
}

// firstLook takes the program's first memory sample while it is stopped
// at its exec (it is started traced, and the exec stops it), then lets it
// run untraced. Without the stop, a program of a millisecond could end
// before a loaded runner looks at it at all. It runs on the thread that
// started the program: only the tracer may wait for the stop and detach.
func firstLook(pid int) (uint64, error) {
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, syscall.WALL, nil); err != nil {
		return 0, fmt.Errorf("wait for the exec stop: %w", err)
	}
	if !ws.Stopped() {
		return 0, fmt.Errorf("program not stopped at its exec (status %#x)", ws)
	}
	rss, _ := procRSS(pid)
	if err := syscall.PtraceDetach(pid); err != nil {
		return 0, fmt.Errorf("detach: %w", err)
	}
	return rss, nil
}

const rlimitNPROC = 6

func execute(req RunRequest, fw *frameWriter) RunResult {
	outR, outW, err := os.Pipe()
	if err != nil {
		return RunResult{Error: err.Error()}
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return RunResult{Error: err.Error()}
	}
	cmd := &exec.Cmd{
		Path:   req.Args[0],
		Args:   req.Args,
		Env:    req.Env,
		Dir:    WorkDir,
		Stdin:  os.Stdin,
		Stdout: outW,
		Stderr: errW,
		SysProcAttr: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(req.UID), Gid: uint32(req.UID), NoSetGroups: false, Groups: []uint32{}},
			Setpgid:    true,
			Ptrace:     true, // stopped at its exec for the first sample
		},
	}
	if !strings.Contains(req.Args[0], "/") {
		cmd.Err = fmt.Errorf("%s: command must be a path", req.Args[0])
	}
	var (
		res      RunResult
		exceeded atomic.Bool
		kill     = func() { killAll() }
	)
	capture := func(r *os.File, kind byte, wg *sync.WaitGroup) {
		defer wg.Done()
		defer r.Close()
		buf := make([]byte, 32<<10)
		room := req.Output
		for {
			n, err := r.Read(buf)
			if n > 0 {
				if int64(n) > room {
					n = int(room)
					if !exceeded.Swap(true) {
						kill()
					}
				}
				room -= int64(n)
				_ = fw.write(kind, buf[:n])
			}
			if err != nil {
				return
			}
		}
	}
	start := time.Now()
	firstRSS, err := startLocked(cmd, req)
	if err != nil {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		outW.Close()
		errW.Close()
		outR.Close()
		errR.Close()
		return RunResult{Error: fmt.Sprintf("start %s: %v", req.Args[0], err)}
	}
	outW.Close()
	errW.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go capture(outR, FrameStdout, &wg)
	go capture(errR, FrameStderr, &wg)

	done := make(chan struct{})
	watch := watchdog{peak: firstRSS}
	watchStopped := make(chan struct{})
	go func() {
		defer close(watchStopped)
		watch.run(req, start, done, kill)
	}()
	waitErr := cmd.Wait()
	res.Wall = time.Since(start)
	close(done)
	<-watchStopped
	// What the program left running holds the pipes open; kill it so the
	// readers see the end of its output.
	killAll()
	wg.Wait()

	st := cmd.ProcessState
	if st == nil {
		return RunResult{Error: fmt.Sprintf("wait: %v", waitErr)}
	}
	ws := st.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		res.Signal = int(ws.Signal())
	default:
		res.ExitCode = ws.ExitStatus()
	}
	res.MemoryPeak = watch.peak
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		res.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		// The program's ru_maxrss counts the runner's resident set too
		// (exec keeps the high-water mark of the memory it replaces, here
		// the runner's, shared until the exec): above the runner's own
		// peak, read now, it is the program's true peak; below it says
		// nothing.
		if maxrss := uint64(ru.Maxrss) << 10; maxrss > selfMaxRSS() {
			res.MemoryPeak = max(res.MemoryPeak, maxrss)
		}
	}
	res.CPU = max(res.CPU, watch.cpu)
	// gVisor counts a task's time while it is runnable, which on a
	// loaded host is more than it ran; no run can use more than every
	// CPU for its whole wall time.
	res.CPU = min(res.CPU, res.Wall*time.Duration(runtime.NumCPU()))
	res.CPUExceeded = watch.cpuExceeded || res.CPU > req.CPU
	res.MemoryExceeded = watch.memExceeded || res.MemoryPeak > req.Memory
	res.WallExceeded = watch.wallExceeded
	res.OutputExceeded = exceeded.Load()
	return res
}

// watchdog enforces the limits that no rlimit gives: CPU time with more
// than whole seconds, resident memory, wall time.
type watchdog struct {
	cpu time.Duration
	// peak is the largest resident set of the program seen.
	peak                                   uint64
	cpuExceeded, memExceeded, wallExceeded bool
}

func (w *watchdog) run(req RunRequest, start time.Time, done <-chan struct{}, kill func()) {
	wall := time.NewTimer(time.Until(start.Add(req.Wall)))
	defer wall.Stop()
	// The first look comes at once: a short program may be gone by the
	// next.
	next := time.NewTimer(0)
	defer next.Stop()
	for n := 0; ; n++ {
		select {
		case <-done:
			return
		case <-wall.C:
			w.wallExceeded = true
			kill()
			return
		case <-next.C:
			if w.check(req) {
				kill()
				return
			}
			if n < quickPolls {
				next.Reset(quickPoll)
			} else {
				next.Reset(poll)
			}
		}
	}
}

// check samples the run's CPU time and memory, and reports whether a
// limit is passed.
// The watchdog starts once cmd.Start has returned, which is after the
// exec: what it samples is the program, never the runner's copy.
func (w *watchdog) check(req RunRequest) bool {
	cpu, rss := jobUsage()
	w.cpu = max(w.cpu, cpu)
	w.peak = max(w.peak, rss)
	switch {
	case cpu > req.CPU:
		w.cpuExceeded = true
		return true
	case rss > req.Memory:
		w.memExceeded = true
		return true
	}
	return false
}

// jobUsage is the CPU time and the resident memory of every process of
// the run: all the sandbox's processes but its init and the runner (the
// sandbox runs one thing at a time). Like a cgroup's, the figures cover
// every process a program starts, so a fork bomb's spinning children
// spend the CPU limit together; memory shared between processes is
// counted once for each.
func jobUsage() (time.Duration, uint64) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0
	}
	self := os.Getpid()
	var cpu time.Duration
	var rss uint64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 || pid == self {
			continue
		}
		if c, ok := procCPU(pid); ok {
			cpu += c
		}
		if r, ok := procRSS(pid); ok {
			rss += r
		}
	}
	return cpu, rss
}

// selfMaxRSS is the runner's own peak resident set in bytes.
func selfMaxRSS() uint64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return ^uint64(0) // unknown: trust no ru_maxrss
	}
	return uint64(ru.Maxrss) << 10
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's times.
const clockTick = 10 * time.Millisecond

// procCPU is the CPU time of process pid and of the children it waited
// for.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: count fields
	// from its end.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// utime, stime, cutime and cstime are fields 14 to 17; f[0] is
	// field 3.
	if len(f) < 15 {
		return 0, false
	}
	var ticks int64
	for _, s := range f[11:15] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += v
	}
	return time.Duration(ticks) * clockTick, true
}

// procRSS is the resident set of process pid in bytes. gVisor's /proc
// has no VmHWM, so the peak is the largest sample.
func procRSS(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kib << 10, err == nil
		}
	}
	return 0, false
}
