package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/criyle/go-sandbox/container"
	"github.com/criyle/go-sandbox/pkg/memfd"
	"github.com/criyle/go-sandbox/pkg/rlimit"
	"github.com/criyle/go-sandbox/runner"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/internal/output"
)

// cpuPoll is how often the CPU watchdog reads the cgroup. RLIMIT_CPU only
// has whole seconds and counts one process, so the cgroup is the real limit.
const cpuPoll = 5 * time.Millisecond

// Run runs one program in the container under a fresh cgroup.
func (s *sandbox) Run(ctx context.Context, spec backends.RunSpec) (backends.RunResult, error) {
	if len(spec.Args) == 0 {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: no command", s.id)
	}
	env, err := s.current()
	if err != nil {
		return backends.RunResult{}, fmt.Errorf("run: %w", err)
	}
	lim := spec.Limits.WithDefaults()
	cg, err := s.backend.cgroups.newRun(lim.MemoryBytes, lim.Processes)
	if err != nil {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w", s.id, err)
	}
	defer cg.destroy()

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

	// The clock starts before the wall limit's timer: a run killed at
	// that limit has a wall time no shorter than it.
	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, lim.Wall)
	defer cancel()
	var (
		outputExceeded atomic.Bool
		cpuExceeded    atomic.Bool
	)
	killForOutput := func() { outputExceeded.Store(true); cancel() }
	stdout := output.Start(outR, lim.OutputBytes, killForOutput)
	stderr := output.Start(errR, lim.OutputBytes, killForOutput)

	watchDone := make(chan struct{})
	watchStopped := make(chan struct{})
	go func() {
		defer close(watchStopped)
		watchCPU(cg, lim.CPU, watchDone, func() { cpuExceeded.Store(true); cancel() })
	}()

	param := container.ExecveParam{
		Args:    spec.Args,
		Env:     spec.Env,
		Files:   []uintptr{stdin.Fd(), outW.Fd(), errW.Fd()},
		RLimits: rlimits(lim),
		Seccomp: s.backend.seccomp,
	}
	cg.placement(&param)
	res := env.Execve(runCtx, param)
	wall := time.Since(start)
	close(watchDone)
	<-watchStopped
	// The container holds its own copies of the write ends until the run's
	// processes are gone; closing ours lets the readers see EOF.
	outW.Close()
	errW.Close()
	outBuf, _ := stdout.Wait()
	errBuf, _ := stderr.Wait()

	if stoppedChild(res) {
		// A program that stopped itself under the init (a trace request
		// through a foreign ABI did) was killed with the rest of the
		// run: the program failed, not the sandbox.
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
	peak := cg.peak()
	out := backends.RunResult{
		CPU:            time.Duration(cpuNs),
		Wall:           wall,
		MemoryPeak:     peak,
		Stdout:         outBuf,
		Stderr:         errBuf,
		OutputExceeded: outputExceeded.Load(),
	}
	switch res.Status {
	case runner.StatusNonzeroExitStatus:
		out.ExitCode = res.ExitStatus
	case runner.StatusSignalled, runner.StatusDisallowedSyscall:
		// A seccomp kill is SIGSYS, the program's own failure.
		out.Signal = res.ExitStatus
	case runner.StatusTimeLimitExceeded, runner.StatusMemoryLimitExceeded, runner.StatusOutputLimitExceeded:
		out.Signal = int(syscall.SIGKILL)
	}
	out.CPUExceeded = cpuExceeded.Load() || out.CPU > lim.CPU || out.Signal == int(syscall.SIGXCPU)
	out.WallExceeded = !out.CPUExceeded && !out.OutputExceeded && errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	out.OOM = cg.oomKilled() || (out.Signal != 0 && cg.reachedLimit(peak, lim.MemoryBytes))
	if out.WallExceeded || out.CPUExceeded || out.OutputExceeded {
		out.Signal = int(syscall.SIGKILL)
	}
	return out, nil
}

// stoppedChild reports the container init's answer for a child that
// stopped instead of exiting (go-sandbox reports the wait status as an
// error); the init has killed every process of the run by then.
func stoppedChild(res runner.Result) bool {
	return res.Status == runner.StatusRunnerError && strings.Contains(res.Error, "execve: unknown status")
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
