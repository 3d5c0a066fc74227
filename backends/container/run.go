package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/criyle/go-sandbox/pkg/memfd"
	"github.com/criyle/go-sandbox/pkg/rlimit"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/container/initproc"
	"github.com/pecan-judge/pecan/backends/internal/output"
)

// cpuPoll is how often the CPU watchdog reads the cgroup. RLIMIT_CPU only
// has whole seconds and counts one process, so the cgroup is the real limit.
const cpuPoll = 5 * time.Millisecond

// Run runs one program in the container under a fresh cgroup, its stdin
// from a memfd and its stdout captured.
func (s *sandbox) Run(ctx context.Context, spec backends.RunSpec) (backends.RunResult, error) {
	if len(spec.Args) == 0 {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: no command", s.id)
	}
	env, err := s.current()
	if err != nil {
		return backends.RunResult{}, fmt.Errorf("run: %w", err)
	}
	var in io.Reader = bytes.NewReader(spec.Stdin)
	if spec.StdinFrom != nil {
		in = spec.StdinFrom
	}
	stdin, err := memfd.DupToMemfd("stdin", in)
	if err != nil {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: stdin: %w", s.id, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		stdin.Close()
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: stdout pipe: %w", s.id, err)
	}
	defer outR.Close()
	r, err := s.newRunning(spec, backends.Stdio{Stdin: stdin, Stdout: outW})
	if err != nil {
		return backends.RunResult{}, err
	}
	return r.execute(ctx, env, outR)
}

// running is one program's run: what it was given and its cgroup.
type running struct {
	s      *sandbox
	spec   backends.RunSpec
	lim    backends.Limits
	cg     *runCgroup
	stdio  backends.Stdio
	errR   *os.File
	errW   *os.File
	closed sync.Once
}

// newRunning makes the run's cgroup and stderr pipe; it owns stdio from
// here on, and closes it whatever happens.
func (s *sandbox) newRunning(spec backends.RunSpec, stdio backends.Stdio) (*running, error) {
	r := &running{s: s, spec: spec, lim: spec.Limits.WithDefaults(), stdio: stdio}
	var err error
	if r.cg, err = s.backend.cgroups.newRun(r.lim.MemoryBytes, r.lim.Processes); err != nil {
		r.releaseStdio()
		return nil, fmt.Errorf("run in sandbox %s: %w", s.id, err)
	}
	if r.errR, r.errW, err = os.Pipe(); err != nil {
		r.releaseStdio()
		r.cg.destroy()
		return nil, fmt.Errorf("run in sandbox %s: stderr pipe: %w", s.id, err)
	}
	return r, nil
}

// releaseStdio closes the host's copies of the program's descriptors:
// once the init holds its own, the program's ends are the only ones left
// open, and whoever reads its output sees EOF when it is gone.
func (r *running) releaseStdio() {
	r.closed.Do(func() {
		closeStdio(r.stdio)
		if r.errW != nil {
			r.errW.Close()
		}
	})
}

// execute runs the program, waits for it and measures it. outR, when
// set, is the read end of its stdout, captured under the output limit.
func (r *running) execute(ctx context.Context, env *initproc.Init, outR *os.File) (backends.RunResult, error) {
	defer r.cg.destroy()
	defer r.errR.Close()
	defer r.releaseStdio()
	x := initproc.Exec{
		Args: r.spec.Args, Env: r.spec.Env, RLimits: rlimits(r.lim),
		Stdin: r.stdio.Stdin, Stdout: r.stdio.Stdout, Stderr: r.errW,
		Started: r.releaseStdio,
	}
	closePlacement, err := r.cg.place(&x)
	if err != nil {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w", r.s.id, err)
	}
	defer closePlacement()

	// The clock starts before the wall limit's timer: a run killed at
	// that limit has a wall time no shorter than it.
	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, r.lim.Wall)
	defer cancel()
	// killed is when the host first decided to stop the program: its end,
	// for ordering it against a program it talks to, which can only see
	// that end after it.
	var killed atomic.Int64
	kill := func() {
		killed.CompareAndSwap(0, time.Now().UnixNano())
		cancel()
	}
	var outputExceeded, cpuExceeded atomic.Bool
	killForOutput := func() { outputExceeded.Store(true); kill() }
	stderr := output.Start(r.errR, r.lim.OutputBytes, killForOutput)
	var stdout *output.Capture
	if outR != nil {
		stdout = output.Start(outR, r.lim.OutputBytes, killForOutput)
	}
	watchDone := make(chan struct{})
	watchStopped := make(chan struct{})
	go func() {
		defer close(watchStopped)
		watchCPU(r.cg, r.lim.CPU, watchDone, func() { cpuExceeded.Store(true); kill() })
	}()

	status, runErr := env.Run(runCtx, x)
	ended := time.Now()
	wall := ended.Sub(start)
	if status.Ended != 0 {
		ended = time.Unix(0, status.Ended)
	}
	if d, ok := runCtx.Deadline(); ok && errors.Is(runCtx.Err(), context.DeadlineExceeded) && d.Before(ended) {
		ended = d // killed at its wall limit
	}
	if k := killed.Load(); k != 0 && time.Unix(0, k).Before(ended) {
		ended = time.Unix(0, k)
	}
	close(watchDone)
	<-watchStopped
	r.releaseStdio()
	errBuf, _ := stderr.Wait()
	var outBuf []byte
	if stdout != nil {
		outBuf, _ = stdout.Wait()
	}
	if runErr != nil {
		if errors.Is(runErr, initproc.ErrInitGone) {
			return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w: %w", r.s.id, backends.ErrBroken, runErr)
		}
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w", r.s.id, runErr)
	}
	cpuNs, _ := r.cg.CPUUsage()
	out := backends.RunResult{
		CPU:            time.Duration(cpuNs),
		Wall:           wall,
		MemoryPeak:     r.cg.peak(),
		Stdout:         outBuf,
		Stderr:         errBuf,
		OutputExceeded: outputExceeded.Load(),
		Ended:          ended,
	}
	wallOver := errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	classify(&out, status, r.lim, r.cg, cpuExceeded.Load(), wallOver)
	return out, nil
}

// classify sets the exit status and the limits a run hit, from the
// init's report and the cgroup.
func classify(out *backends.RunResult, st initproc.ExitStatus, lim backends.Limits, cg *runCgroup, cpuKilled, wallOver bool) {
	out.ExitCode, out.Signal = st.Code, st.Signal
	out.CPUExceeded = cpuKilled || out.CPU > lim.CPU || out.Signal == int(syscall.SIGXCPU)
	out.WallExceeded = !out.CPUExceeded && !out.OutputExceeded && wallOver
	out.OOM = cg.oomKilled() || (out.Signal != 0 && cg.reachedLimit(out.MemoryPeak, lim.MemoryBytes))
	if out.WallExceeded || out.CPUExceeded || out.OutputExceeded {
		out.Signal = int(syscall.SIGKILL)
	}
}

// watchCPU kills the run when the cgroup's CPU time passes the limit.
func watchCPU(cg *runCgroup, limit time.Duration, done <-chan struct{}, kill func()) {
	t := time.NewTicker(cpuPoll)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if ns, err := cg.CPUUsage(); err == nil && time.Duration(ns) > limit {
				kill()
				return
			}
		}
	}
}

func rlimits(l backends.Limits) []rlimit.RLimit {
	// RLIMIT_CPU is a per-process backstop one second past the cgroup
	// watchdog, in whole seconds as the kernel counts them.
	cpuSec := uint64(math.Ceil(l.CPU.Seconds())) + 1
	r := rlimit.RLimits{
		CPU:         cpuSec,
		CPUHard:     cpuSec + 1,
		FileSize:    l.FileBytes,
		OpenFile:    l.OpenFiles,
		Stack:       l.StackBytes,
		DisableCore: true,
	}
	out := r.PrepareRLimit()
	if l.StackBytes == 0 {
		out = append(out, rlimit.RLimit{Res: syscall.RLIMIT_STACK, Rlim: syscall.Rlimit{Cur: rlimInfinity, Max: rlimInfinity}})
	}
	return out
}

const rlimInfinity = ^uint64(0)
