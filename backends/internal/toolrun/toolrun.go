// Package toolrun runs one command of a sandbox tool (isolate --run, an
// nsjail) the way every wrapping backend needs: in a cgroup of its own
// (runcg), stdin from a memory file, stdout and stderr captured up to the
// output limit, CPU time watched over every process of the run, and the
// tool asked to stop (SIGTERM, then SIGKILL) when a limit is passed or the
// caller gives up. What the tool says of the program is the backend's to
// read.
package toolrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/criyle/go-sandbox/pkg/memfd"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/internal/output"
	"github.com/pecan-judge/pecan/backends/internal/runcg"
)

// cpuPoll is how often the CPU watchdog reads the run's cgroup.
const cpuPoll = 5 * time.Millisecond

// StopGrace is how long the tool has to kill its program and report
// after SIGTERM before it is killed too.
const StopGrace = 2 * time.Second

// Spec is one command of the tool.
type Spec struct {
	Argv   []string
	Stdin  io.Reader
	Limits backends.Limits // with defaults filled
	// ToolProcesses is how many processes the tool itself keeps in the
	// run's cgroup besides the program's.
	ToolProcesses uint64
	// EnforceWall stops the run when its wall limit passes, for a tool
	// whose own wall limit is coarser (nsjail counts whole seconds);
	// otherwise the limit is the tool's, with a backstop StopGrace later.
	EnforceWall bool
}

// Result is what was measured of the command.
type Result struct {
	// ExitStatus is the tool's exit status, -1 when it was killed.
	ExitStatus int
	// WrapFailed is set when the cgroup could not be joined; nothing ran.
	WrapFailed bool
	CPU, Wall  time.Duration
	Peak       uint64
	OOMKilled  bool
	// CPUExceeded, WallExceeded and OutputExceeded are set when the run
	// was stopped for that limit; Stopped when it was stopped for any
	// reason (those, or the wall limit passing StopGrace without the tool
	// acting).
	CPUExceeded, WallExceeded, OutputExceeded, Stopped bool
	Stdout, Stderr                                     []byte
}

// Run runs spec under cgroups' new run cgroup.
func Run(ctx context.Context, cgroups *runcg.Root, spec Spec) (Result, error) {
	lim := spec.Limits
	cg, err := cgroups.NewRun(lim.MemoryBytes, lim.Processes+spec.ToolProcesses)
	if err != nil {
		return Result{}, err
	}
	defer cg.Destroy()
	in := spec.Stdin
	if in == nil {
		in = bytes.NewReader(nil)
	}
	stdin, err := memfd.DupToMemfd("stdin", in)
	if err != nil {
		return Result{}, fmt.Errorf("stdin: %w", err)
	}
	defer stdin.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		return Result{}, fmt.Errorf("stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return Result{}, fmt.Errorf("stderr pipe: %w", err)
	}

	argv := cg.Wrap(spec.Argv)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, outW, errW
	cmd.Env = []string{}
	// The tool kills its program on SIGTERM; it gets one if the server
	// dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}

	var outputExceeded, cpuExceeded, wallExceeded atomic.Bool
	st := &stopper{cmd: cmd}
	onOutput := func() { outputExceeded.Store(true); st.stop() }
	stdout := output.Start(outR, lim.OutputBytes, onOutput)
	stderr := output.Start(errR, lim.OutputBytes, onOutput)

	start := time.Now()
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		stdout.Wait()
		stderr.Wait()
		return Result{}, fmt.Errorf("start %s: %w", spec.Argv[0], err)
	}
	st.started()
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		wall := lim.Wall + StopGrace
		if spec.EnforceWall {
			wall = lim.Wall
		}
		watch(ctx, cg, lim.CPU, wall, done, st, &cpuExceeded, &wallExceeded)
	}()
	waitErr := cmd.Wait()
	wall := time.Since(start)
	close(done)
	<-watched
	res := Result{ExitStatus: exitStatus(waitErr), Wall: wall}
	res.Stdout, _ = stdout.Wait()
	res.Stderr, _ = stderr.Wait()
	res.WrapFailed = res.ExitStatus == runcg.WrapFailed
	res.CPU, _ = cg.CPU()
	res.Peak = cg.Peak()
	res.OOMKilled = cg.OOMKilled()
	res.CPUExceeded = cpuExceeded.Load()
	res.OutputExceeded = outputExceeded.Load()
	res.WallExceeded = wallExceeded.Load()
	res.Stopped = st.fired()
	return res, nil
}

// watch stops the run when the cgroup's CPU time passes cpu, when wall
// passes, or when ctx ends.
func watch(ctx context.Context, cg *runcg.Run, cpu, wall time.Duration, done <-chan struct{}, st *stopper, cpuExceeded, wallExceeded *atomic.Bool) {
	t := time.NewTicker(cpuPoll)
	defer t.Stop()
	deadline := time.NewTimer(wall)
	defer deadline.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			st.stop()
			return
		case <-deadline.C:
			wallExceeded.Store(true)
			st.stop()
			return
		case <-t.C:
			if used, err := cg.CPU(); err == nil && used > cpu {
				cpuExceeded.Store(true)
				st.stop()
				return
			}
		}
	}
}

// stopper asks the tool to end the run and kills it if it does not within
// StopGrace.
type stopper struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	running bool
	pending bool // stop asked before the process started
	sent    bool
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

// signal sends SIGTERM once; the caller holds st.mu.
func (st *stopper) signal() {
	if st.sent {
		return
	}
	st.sent = true
	p := st.cmd.Process
	_ = p.Signal(syscall.SIGTERM)
	time.AfterFunc(StopGrace, func() { _ = p.Kill() })
}

func (st *stopper) fired() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.sent || st.pending
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

// WithDefaults is l.WithDefaults(), for the backends that run a tool.
func WithDefaults(l backends.Limits) backends.Limits { return l.WithDefaults() }
