package isolate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/criyle/go-sandbox/pkg/memfd"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/internal/output"
	"github.com/pecan-judge/pecan/backends/internal/runcg"
)

// Defaults for limits a caller left at zero, as the container backend's.
const (
	defaultCPU       = 2 * time.Second
	defaultMemory    = 256 << 20
	defaultProcesses = 64
	defaultOutput    = 64 << 20
	defaultFileSize  = 64 << 20
	defaultOpenFiles = 256
)

// cpuPoll is how often the CPU watchdog reads the run's cgroup: isolate
// without --cg counts only the processes its proxy reaped, and checks its
// own limit ten times a second.
const cpuPoll = 5 * time.Millisecond

// stopGrace is how long isolate has to kill its box and write its meta
// file after SIGTERM before it is killed too.
const stopGrace = 2 * time.Second

func withDefaults(l backends.Limits) backends.Limits {
	if l.CPU <= 0 {
		l.CPU = defaultCPU
	}
	if l.Wall <= 0 {
		l.Wall = 3*l.CPU + time.Second
	}
	if l.MemoryBytes == 0 {
		l.MemoryBytes = defaultMemory
	}
	if l.Processes == 0 {
		l.Processes = defaultProcesses
	}
	if l.OutputBytes <= 0 {
		l.OutputBytes = defaultOutput
	}
	if l.FileBytes == 0 {
		l.FileBytes = defaultFileSize
	}
	if l.OpenFiles == 0 {
		l.OpenFiles = defaultOpenFiles
	}
	return l
}

// runArgs is the isolate --run command line of spec under lim.
func (s *sandbox) runArgs(spec backends.RunSpec, lim backends.Limits, meta string) []string {
	secs := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }
	args := []string{
		s.backend.binary, "--box-id=" + strconv.Itoa(s.box), "--silent", "--meta=" + meta,
		// The CPU limit is the cgroup watchdog's; isolate's own, a little
		// later, is a backstop.
		"--time=" + secs(lim.CPU+200*time.Millisecond), "--wall-time=" + secs(lim.Wall),
		"--processes=" + strconv.FormatUint(lim.Processes, 10),
		"--fsize=" + strconv.FormatUint(lim.FileBytes/1024, 10),
		"--open-files=" + strconv.FormatUint(lim.OpenFiles, 10),
		"--core=0",
	}
	if lim.StackBytes > 0 {
		args = append(args, "--stack="+strconv.FormatUint(lim.StackBytes/1024, 10))
	}
	for _, d := range s.backend.dirs {
		args = append(args, "--dir="+d+":maybe")
	}
	for _, e := range spec.Env {
		args = append(args, "--env="+e)
	}
	return append(append(args, "--run", "--"), spec.Args...)
}

// Run runs one program in the box under a cgroup of its own.
func (s *sandbox) Run(ctx context.Context, spec backends.RunSpec) (backends.RunResult, error) {
	if len(spec.Args) == 0 {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: no command", s.id)
	}
	if _, err := s.workDir(ctx); err != nil {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w", s.id, err)
	}
	lim := withDefaults(spec.Limits)
	cg, err := s.backend.cgroups.NewRun(lim.MemoryBytes, lim.Processes+4) // isolate's keeper and proxy
	if err != nil {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w", s.id, err)
	}
	defer cg.Destroy()
	meta := filepath.Join(s.backend.opts.LockDir, fmt.Sprintf("box-%d.meta", s.box))
	_ = os.Remove(meta)
	defer os.Remove(meta)

	var in io.Reader = bytes.NewReader(spec.Stdin)
	if spec.StdinFrom != nil {
		in = spec.StdinFrom
	}
	stdin, err := memfd.DupToMemfd("stdin", in)
	if err != nil {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: stdin: %w", s.id, err)
	}
	defer stdin.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: stdout pipe: %w", s.id, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: stderr pipe: %w", s.id, err)
	}

	argv := cg.Wrap(s.runArgs(spec, lim, meta))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, outW, errW
	cmd.Env = []string{}
	// isolate kills its box on SIGTERM; it gets one if the server dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}

	var outputExceeded, cpuExceeded atomic.Bool
	st := &stopper{cmd: cmd}
	stdout := output.Start(outR, lim.OutputBytes, func() { outputExceeded.Store(true); st.stop() })
	stderr := output.Start(errR, lim.OutputBytes, func() { outputExceeded.Store(true); st.stop() })

	start := time.Now()
	if err := cmd.Start(); err != nil {
		outW.Close()
		errW.Close()
		stdout.Wait()
		stderr.Wait()
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: start isolate: %w", s.id, err)
	}
	outW.Close()
	errW.Close()
	st.started()

	done := make(chan struct{})
	var watchers sync.WaitGroup
	watchers.Add(1)
	go func() {
		defer watchers.Done()
		watch(ctx, cg, lim, done, st, &cpuExceeded)
	}()
	waitErr := cmd.Wait()
	wall := time.Since(start)
	close(done)
	watchers.Wait()
	outBuf, _ := stdout.Wait()
	errBuf, _ := stderr.Wait()

	m, metaErr := readMeta(meta)
	if err := ctx.Err(); err != nil {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w", s.id, err)
	}
	stopped := outputExceeded.Load() || cpuExceeded.Load()
	if code := exitStatus(waitErr); code == runcg.WrapFailed || (!stopped && code > 1) || (metaErr != nil && !stopped) {
		// Exit status 0 and 1 are the program's; anything else is
		// isolate's own failure (status XX), or the cgroup could not be
		// joined.
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w: isolate failed (%v): %s %s", s.id, backends.ErrBroken, waitErr, m.message, clipLog(errBuf))
	}

	cpu, _ := cg.CPU()
	peak := cg.Peak()
	res := backends.RunResult{
		ExitCode:       m.exitCode,
		Signal:         m.exitSig,
		CPU:            cpu,
		Wall:           wall,
		MemoryPeak:     peak,
		Stdout:         outBuf,
		Stderr:         errBuf,
		OutputExceeded: outputExceeded.Load(),
	}
	if m.wall > 0 {
		res.Wall = m.wall
	}
	timedOut := m.status == "TO"
	res.CPUExceeded = cpuExceeded.Load() || res.CPU > lim.CPU || (timedOut && !m.wallClock)
	res.WallExceeded = !res.CPUExceeded && !res.OutputExceeded && timedOut && m.wallClock
	res.OOM = cg.OOMKilled() || (res.Signal != 0 && peak >= lim.MemoryBytes)
	if res.CPUExceeded || res.WallExceeded || res.OutputExceeded || (stopped && res.Signal == 0 && res.ExitCode == 0) {
		res.Signal, res.ExitCode = int(syscall.SIGKILL), 0
	}
	return res, nil
}

// watch stops the run when the cgroup's CPU time passes the limit, or
// when the wall limit plus a grace passed without isolate's own wall
// limit acting, or ctx ends.
func watch(ctx context.Context, cg *runcg.Run, lim backends.Limits, done <-chan struct{}, st *stopper, cpuExceeded *atomic.Bool) {
	t := time.NewTicker(cpuPoll)
	defer t.Stop()
	backstop := time.NewTimer(lim.Wall + stopGrace)
	defer backstop.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			st.stop()
			return
		case <-backstop.C:
			st.stop()
			return
		case <-t.C:
			if cpu, err := cg.CPU(); err == nil && cpu > lim.CPU {
				cpuExceeded.Store(true)
				st.stop()
				return
			}
		}
	}
}

// stopper asks isolate to end the run (SIGTERM: it kills the box and
// writes its meta file) and kills it if it does not within stopGrace.
type stopper struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	running bool
	pending bool // stop asked before the process started
	once    sync.Once
}

func (st *stopper) started() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.running = true
	if st.pending {
		st.signal()
	}
}

func (st *stopper) stop() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.running {
		st.pending = true
		return
	}
	st.signal()
}

func (st *stopper) signal() {
	st.once.Do(func() {
		p := st.cmd.Process
		_ = p.Signal(syscall.SIGTERM)
		time.AfterFunc(stopGrace, func() { _ = p.Kill() })
	})
}

func exitStatus(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// meta is what isolate's meta file says of a run.
type meta struct {
	status    string // "", RE, SG, TO, XX
	message   string
	exitCode  int
	exitSig   int
	wall      time.Duration
	wallClock bool // the time-out was of the wall clock
}

func readMeta(path string) (meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return meta{}, fmt.Errorf("meta file: %w", err)
	}
	defer f.Close()
	var m meta
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch k {
		case "status":
			m.status = v
		case "message":
			m.message = v
			m.wallClock = strings.Contains(v, "wall clock")
		case "exitcode":
			m.exitCode, _ = strconv.Atoi(v)
		case "exitsig":
			m.exitSig, _ = strconv.Atoi(v)
		case "time-wall":
			if secs, err := strconv.ParseFloat(v, 64); err == nil {
				m.wall = time.Duration(secs * float64(time.Second))
			}
		}
	}
	return m, sc.Err()
}

func clipLog(b []byte) string {
	if len(b) > 500 {
		b = b[:500]
	}
	return strings.TrimSpace(string(b))
}
