// Package toolrun runs one command of a sandbox tool (isolate --run, an
// nsjail) the way every wrapping backend needs: in a cgroup of its own
// (runcg), stdin from a memory file and stdout captured, or both given
// (ends of pipes to another program), stderr captured up to the output
// limit, CPU time watched over every process of the run, and the
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
	Argv  []string
	Stdin io.Reader
	// Stdio, when set, is the tool's stdin and stdout instead of Stdin and
	// a captured stdout (Result.Stdout stays empty). The run owns its
	// files: they are closed once the tool has exited (the tool holds its
	// own copies until then anyway), or when the run fails to start.
	Stdio  *backends.Stdio
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

// Run runs spec under cgroups' new run cgroup and waits for it.
func Run(ctx context.Context, cgroups *runcg.Root, spec Spec) (Result, error) {
	r, err := start(ctx, cgroups, spec)
	if err != nil {
		return Result{}, err
	}
	return r.wait(), nil
}

// Process is a command Start started: its result, read by the backend,
// is ready once the tool has exited and its cgroup is gone.
type Process struct {
	done chan struct{}
	res  backends.RunResult
	err  error
}

// Wait implements backends.Process.
func (p *Process) Wait() (backends.RunResult, error) {
	<-p.done
	return p.res, p.err
}

// Start starts spec (its Stdio set) under cgroups' new run cgroup and
// returns at once. The run is waited for in the background, whether or
// not anyone calls Wait, and read hands the backend's reading of its
// result to Wait.
func Start(ctx context.Context, cgroups *runcg.Root, spec Spec, read func(Result) (backends.RunResult, error)) (*Process, error) {
	r, err := start(ctx, cgroups, spec)
	if err != nil {
		return nil, err
	}
	p := &Process{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		res := r.wait()
		p.res, p.err = read(res)
		// Read before the host released its ends of the pipes: a
		// program conversing with this one cannot see this one's end
		// (end of file) before then, so of two programs the one whose
		// end caused the other's always has the earlier Ended, however
		// late the host is woken.
		p.res.Ended = r.ended
	}()
	return p, nil
}

// running is a started command.
type running struct {
	cmd                                       *exec.Cmd
	cg                                        *runcg.Run
	start                                     time.Time
	stdout, stderr                            *output.Capture // stdout nil with Stdio
	st                                        *stopper
	done, watched                             chan struct{}
	closeStdio                                func() // nil without Stdio
	ended                                     time.Time
	outputExceeded, cpuExceeded, wallExceeded atomic.Bool
}

// start starts the tool in a new run cgroup, with its watchdog.
func start(ctx context.Context, cgroups *runcg.Root, spec Spec) (*running, error) {
	var closeStdio func()
	if spec.Stdio != nil {
		closeStdio = func() {
			for _, f := range []*os.File{spec.Stdio.Stdin, spec.Stdio.Stdout} {
				if f != nil {
					f.Close()
				}
			}
		}
		if spec.Stdio.Stdin == nil || spec.Stdio.Stdout == nil {
			closeStdio()
			return nil, errors.New("stdin and stdout must both be given")
		}
	}
	lim := spec.Limits
	cg, err := cgroups.NewRun(lim.MemoryBytes, lim.Processes+spec.ToolProcesses)
	if err != nil {
		if closeStdio != nil {
			closeStdio()
		}
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			cg.Destroy()
			if closeStdio != nil {
				closeStdio()
			}
		}
	}()
	// The host's copies of stdio are kept until the tool has exited and
	// its end is stamped (running.wait): the tool holds its own as long,
	// so the other program sees end of file no sooner than without them,
	// and never before this one's end is recorded.
	r := &running{cg: cg, closeStdio: closeStdio, done: make(chan struct{}), watched: make(chan struct{})}
	argv := cg.Wrap(spec.Argv)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{}
	// The tool kills its program on SIGTERM; it gets one if the server
	// dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	r.cmd = cmd
	r.st = &stopper{cmd: cmd}
	onOutput := func() { r.outputExceeded.Store(true); r.st.stop() }

	var outW *os.File
	if spec.Stdio != nil {
		cmd.Stdin, cmd.Stdout = spec.Stdio.Stdin, spec.Stdio.Stdout
	} else {
		in := spec.Stdin
		if in == nil {
			in = bytes.NewReader(nil)
		}
		stdin, err := memfd.DupToMemfd("stdin", in)
		if err != nil {
			return nil, fmt.Errorf("stdin: %w", err)
		}
		defer stdin.Close()
		outR, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("stdout pipe: %w", err)
		}
		outW = w
		cmd.Stdin, cmd.Stdout = stdin, outW
		r.stdout = output.Start(outR, lim.OutputBytes, onOutput)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		if outW != nil {
			outW.Close()
			r.stdout.Wait()
		}
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	cmd.Stderr = errW
	r.stderr = output.Start(errR, lim.OutputBytes, onOutput)

	r.start = time.Now()
	err = cmd.Start()
	if outW != nil {
		outW.Close()
	}
	errW.Close()
	if err != nil {
		if r.stdout != nil {
			r.stdout.Wait()
		}
		r.stderr.Wait()
		return nil, fmt.Errorf("start %s: %w", spec.Argv[0], err)
	}
	ok = true
	r.st.started()
	go func() {
		defer close(r.watched)
		wall := lim.Wall + StopGrace
		if spec.EnforceWall {
			wall = lim.Wall
		}
		watch(ctx, cg, lim.CPU, wall, r.done, r.st, &r.cpuExceeded, &r.wallExceeded)
	}()
	return r, nil
}

// wait waits for the tool, measures the run and removes its cgroup (and
// whatever was left in it).
func (r *running) wait() Result {
	defer r.cg.Destroy()
	waitErr := r.cmd.Wait()
	r.ended = time.Now()
	wall := r.ended.Sub(r.start)
	if r.closeStdio != nil {
		r.closeStdio()
	}
	close(r.done)
	<-r.watched
	res := Result{ExitStatus: exitStatus(waitErr), Wall: wall}
	if r.stdout != nil {
		res.Stdout, _ = r.stdout.Wait()
	}
	res.Stderr, _ = r.stderr.Wait()
	res.WrapFailed = res.ExitStatus == runcg.WrapFailed
	res.CPU, _ = r.cg.CPU()
	res.Peak = r.cg.Peak()
	res.OOMKilled = r.cg.OOMKilled()
	res.CPUExceeded = r.cpuExceeded.Load()
	res.OutputExceeded = r.outputExceeded.Load()
	res.WallExceeded = r.wallExceeded.Load()
	res.Stopped = r.st.fired()
	return res
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
