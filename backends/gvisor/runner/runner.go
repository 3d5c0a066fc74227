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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// poll is how often the watchdog reads the program's CPU time and
// resident set from the sandbox's /proc.
const poll = 5 * time.Millisecond

// IsCommand reports whether args (os.Args) start one of the runner's
// commands.
func IsCommand(args []string) bool {
	if len(args) < 2 {
		return false
	}
	switch args[1] {
	case CmdInit, CmdRun, CmdPut, CmdCollect, cmdExec:
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
	case cmdExec:
		err = execProgram(args)
		// The program did not start: the exit status the runner reports.
		fmt.Fprintln(os.Stderr, err)
		return 127
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

// applyRlimits sets the limits on the calling process (the exec stage,
// already the program's uid), to be inherited by the program.
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

// execProgram is the exec stage: started by the runner as the program's
// uid, it applies the limits and becomes the program. Go runs no code
// between fork and exec, and the limits must not hold the runner itself:
// RLIMIT_NPROC would count the runner's threads.
func execProgram(args []string) error {
	if len(args) < 4 {
		return errors.New("exec: no program")
	}
	var req RunRequest
	if err := json.Unmarshal([]byte(args[2]), &req); err != nil {
		return fmt.Errorf("exec: request: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("exec: no_new_privs: %w", err)
	}
	if err := applyRlimits(req); err != nil {
		return err
	}
	err := syscall.Exec(args[3], args[3:], req.Env)
	return fmt.Errorf("exec %s: %w", args[3], err)
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
	limits, err := json.Marshal(RunRequest{Env: req.Env, Processes: req.Processes, FileSize: req.FileSize, OpenFiles: req.OpenFiles, Stack: req.Stack})
	if err != nil {
		return RunResult{Error: err.Error()}
	}
	self, err := os.Executable()
	if err != nil {
		return RunResult{Error: err.Error()}
	}
	cmd := &exec.Cmd{
		Path:   self,
		Args:   append([]string{self, cmdExec, string(limits)}, req.Args...),
		Env:    []string{},
		Dir:    WorkDir,
		Stdin:  os.Stdin,
		Stdout: outW,
		Stderr: errW,
		SysProcAttr: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(req.UID), Gid: uint32(req.UID), NoSetGroups: false, Groups: []uint32{}},
			Setpgid:    true,
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
	if err := cmd.Start(); err != nil {
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
	var watch watchdog
	watchStopped := make(chan struct{})
	go func() {
		defer close(watchStopped)
		watch.run(cmd.Process.Pid, req, start, done, kill)
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
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		res.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		res.MemoryPeak = uint64(ru.Maxrss) << 10
	}
	res.CPU = max(res.CPU, watch.cpu)
	res.MemoryPeak = max(res.MemoryPeak, watch.rss)
	res.CPUExceeded = watch.cpuExceeded || res.CPU > req.CPU
	res.MemoryExceeded = watch.memExceeded || res.MemoryPeak > req.Memory
	res.WallExceeded = watch.wallExceeded
	res.OutputExceeded = exceeded.Load()
	return res
}

// watchdog enforces the limits that no rlimit gives: CPU time with more
// than whole seconds, resident memory, wall time.
type watchdog struct {
	cpu                                    time.Duration
	rss                                    uint64
	cpuExceeded, memExceeded, wallExceeded bool
}

func (w *watchdog) run(pid int, req RunRequest, start time.Time, done <-chan struct{}, kill func()) {
	t := time.NewTicker(poll)
	defer t.Stop()
	wall := time.NewTimer(time.Until(start.Add(req.Wall)))
	defer wall.Stop()
	for {
		select {
		case <-done:
			return
		case <-wall.C:
			w.wallExceeded = true
			kill()
			return
		case <-t.C:
			if cpu, ok := procCPU(pid); ok {
				w.cpu = max(w.cpu, cpu)
				if cpu > req.CPU {
					w.cpuExceeded = true
					kill()
					return
				}
			}
			if rss, ok := procRSS(pid); ok {
				w.rss = max(w.rss, rss)
				if rss > req.Memory {
					w.memExceeded = true
					kill()
					return
				}
			}
		}
	}
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

// procRSS is the resident set of process pid in bytes.
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
