package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/criyle/go-sandbox/container"
	"github.com/criyle/go-sandbox/runner"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/internal/output"
)

// process is a program Start started; done closes when its run is over.
type process struct {
	done chan struct{}
	res  backends.RunResult
	err  error
}

func (p *process) Wait() (backends.RunResult, error) {
	<-p.done
	return p.res, p.err
}

// Start runs one program as Run does, with the given stdin and stdout
// instead of a memfd and a captured pipe, and returns without waiting for
// it. Its cgroup, CPU watchdog and wall limit are its own.
func (s *sandbox) Start(ctx context.Context, spec backends.RunSpec, stdio backends.Stdio) (backends.Process, error) {
	var once sync.Once
	release := func() {
		once.Do(func() {
			// Ours are the host's copies: once the container's init holds
			// its own, the program's end of each pipe is the only one left
			// open, and the other program sees EOF when this one is gone.
			stdio.Stdin.Close()
			stdio.Stdout.Close()
		})
	}
	if stdio.Stdin == nil || stdio.Stdout == nil {
		release()
		return nil, fmt.Errorf("start in sandbox %s: stdin and stdout must be given", s.id)
	}
	if len(spec.Args) == 0 {
		release()
		return nil, fmt.Errorf("start in sandbox %s: no command", s.id)
	}
	env, err := s.current()
	if err != nil {
		release()
		return nil, fmt.Errorf("start: %w", err)
	}
	lim := spec.Limits.WithDefaults()
	cg, err := s.backend.cgroups.newRun(lim.MemoryBytes, lim.Processes)
	if err != nil {
		release()
		return nil, fmt.Errorf("start in sandbox %s: %w", s.id, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		release()
		cg.destroy()
		return nil, fmt.Errorf("start in sandbox %s: stderr pipe: %w", s.id, err)
	}
	p := &process{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer cg.destroy()
		defer release()
		p.res, p.err = s.execute(ctx, env, spec, lim, cg, stdio, errR, errW, release)
	}()
	return p, nil
}

// execute is the body of a started run: it waits for the program and
// measures it, as Run does.
func (s *sandbox) execute(ctx context.Context, env container.Environment, spec backends.RunSpec, lim backends.Limits, cg *runCgroup, stdio backends.Stdio, errR, errW *os.File, release func()) (backends.RunResult, error) {
	// The clock starts before the wall limit's timer: a run killed at
	// that limit has a wall time no shorter than it.
	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, lim.Wall)
	defer cancel()
	// killed is when the host first decided to stop the program: its end,
	// for ordering it against the program it talks to, which can only
	// see that end after it.
	var killed atomic.Int64
	kill := func() {
		killed.CompareAndSwap(0, time.Now().UnixNano())
		cancel()
	}
	var outputExceeded, cpuExceeded atomic.Bool
	stderr := output.Start(errR, lim.OutputBytes, func() { outputExceeded.Store(true); kill() })

	watchDone := make(chan struct{})
	watchStopped := make(chan struct{})
	go func() {
		defer close(watchStopped)
		watchCPU(cg, lim.CPU, watchDone, func() { cpuExceeded.Store(true); kill() })
	}()

	res := env.Execve(runCtx, container.ExecveParam{
		Args:    spec.Args,
		Env:     spec.Env,
		Files:   []uintptr{stdio.Stdin.Fd(), stdio.Stdout.Fd(), errW.Fd()},
		RLimits: rlimits(lim),
		Seccomp: s.backend.seccomp,
		SyncFunc: func(pid int) error {
			// The init has received the descriptors by now.
			release()
			return cg.AddProc(pid)
		},
	})
	ended := time.Now()
	wall := ended.Sub(start)
	if d, ok := runCtx.Deadline(); ok && errors.Is(runCtx.Err(), context.DeadlineExceeded) && d.Before(ended) {
		ended = d // killed at its wall limit
	}
	if k := killed.Load(); k != 0 && time.Unix(0, k).Before(ended) {
		ended = time.Unix(0, k)
	}
	close(watchDone)
	<-watchStopped
	release()
	errW.Close()
	errBuf, _ := stderr.Wait()

	if stoppedChild(res) {
		res = runner.Result{Status: runner.StatusSignalled, ExitStatus: int(syscall.SIGKILL)}
	}
	if res.Status == runner.StatusRunnerError {
		if pingErr := env.Ping(); pingErr != nil {
			return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w: %s (ping: %v)", s.id, backends.ErrBroken, res.Error, pingErr)
		}
		if ctx.Err() != nil {
			return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w", s.id, ctx.Err())
		}
		if !cpuExceeded.Load() && !outputExceeded.Load() && !errors.Is(runCtx.Err(), context.DeadlineExceeded) {
			return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %s", s.id, res.Error)
		}
	}
	cpuNs, _ := cg.CPUUsage()
	out := backends.RunResult{
		CPU:            time.Duration(cpuNs),
		Wall:           wall,
		MemoryPeak:     cg.peak(),
		Stderr:         errBuf,
		OutputExceeded: outputExceeded.Load(),
		Ended:          ended,
	}
	classify(&out, res, lim, cg, cpuExceeded.Load(), errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil)
	return out, nil
}

// classify sets the exit status and the limits a run hit, from the
// init's report and the cgroup.
func classify(out *backends.RunResult, res runner.Result, lim backends.Limits, cg *runCgroup, cpuKilled, wallOver bool) {
	switch res.Status {
	case runner.StatusNonzeroExitStatus:
		out.ExitCode = res.ExitStatus
	case runner.StatusSignalled, runner.StatusDisallowedSyscall:
		out.Signal = res.ExitStatus
	case runner.StatusTimeLimitExceeded, runner.StatusMemoryLimitExceeded, runner.StatusOutputLimitExceeded:
		out.Signal = int(syscall.SIGKILL)
	}
	out.CPUExceeded = cpuKilled || out.CPU > lim.CPU || out.Signal == int(syscall.SIGXCPU)
	out.WallExceeded = !out.CPUExceeded && !out.OutputExceeded && wallOver
	out.OOM = cg.oomKilled() || (out.Signal != 0 && out.MemoryPeak >= lim.MemoryBytes)
	if out.WallExceeded || out.CPUExceeded || out.OutputExceeded {
		out.Signal = int(syscall.SIGKILL)
	}
}
