package gvisor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/gvisor/runner"
)

// runGrace is how long past the wall limit the host waits for the
// runner, which enforces the wall limit itself, before it gives the
// sandbox up.
const runGrace = 5 * time.Second

// errExecTimeout marks a runner command that did not end in its time.
var errExecTimeout = errors.New("no answer in time")

// Run runs one program through the runner, in a `runsc exec`.
func (s *sandbox) Run(ctx context.Context, spec backends.RunSpec) (backends.RunResult, error) {
	if len(spec.Args) == 0 {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: no command", s.id)
	}
	c, err := s.current()
	if err != nil {
		return backends.RunResult{}, fmt.Errorf("run: %w", err)
	}
	lim := spec.Limits.WithDefaults()
	req, err := json.Marshal(runner.RunRequest{
		Args: spec.Args, Env: spec.Env, UID: s.backend.opts.UID,
		CPU: lim.CPU, Wall: lim.Wall, Memory: lim.MemoryBytes, Processes: lim.Processes,
		Output: lim.OutputBytes, FileSize: lim.FileBytes, OpenFiles: lim.OpenFiles, Stack: lim.StackBytes,
	})
	if err != nil {
		return backends.RunResult{}, err
	}
	var in io.Reader = bytes.NewReader(spec.Stdin)
	if spec.StdinFrom != nil {
		in = spec.StdinFrom
	}
	oomBefore := c.oomKills()
	var frames frameReader
	frames.limit = lim.OutputBytes
	start := time.Now()
	execErr := s.exec(ctx, c, lim.Wall+runGrace, runner.CmdRun, req, in, frames.read)
	wall := time.Since(start)
	if frames.result == nil {
		return s.noResult(ctx, c, lim, oomBefore, wall, execErr)
	}
	r := frames.result
	if r.Error != "" {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %s", s.id, r.Error)
	}
	out := backends.RunResult{
		ExitCode:       r.ExitCode,
		Signal:         r.Signal,
		CPU:            r.CPU,
		Wall:           r.Wall,
		MemoryPeak:     r.MemoryPeak,
		OOM:            r.MemoryExceeded,
		CPUExceeded:    r.CPUExceeded || r.Signal == int(syscall.SIGXCPU),
		OutputExceeded: r.OutputExceeded || frames.exceeded,
		Stdout:         frames.stdout.Bytes(),
		Stderr:         frames.stderr.Bytes(),
	}
	out.WallExceeded = r.WallExceeded && !out.CPUExceeded && !out.OutputExceeded && !out.OOM
	if out.WallExceeded || out.CPUExceeded || out.OutputExceeded || out.OOM {
		out.Signal = int(syscall.SIGKILL)
		out.ExitCode = 0
	}
	return out, nil
}

// noResult explains a run whose runner sent no result: the sandbox's
// kernel was killed by the host's OOM killer at the sandbox's memory
// bound (the program's memory limit exceeded), or the sandbox failed.
func (s *sandbox) noResult(ctx context.Context, c *gcontainer, lim backends.Limits, oomBefore int, wall time.Duration, execErr error) (backends.RunResult, error) {
	if c.oomKills() > oomBefore {
		s.markBroken(errors.New("gVisor sandbox killed by the host's OOM killer"))
		return backends.RunResult{Signal: int(syscall.SIGKILL), OOM: true, MemoryPeak: lim.MemoryBytes, Wall: wall}, nil
	}
	if ctx.Err() != nil {
		s.markBroken(ctx.Err())
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w", s.id, ctx.Err())
	}
	if errors.Is(execErr, errExecTimeout) {
		// The runner did not answer long past the wall limit: the
		// program has kept gVisor's kernel too busy for it (a fork bomb
		// on a loaded host). It was over its wall time all the same; the
		// sandbox, in an unknown state, is replaced.
		s.markBroken(execErr)
		return backends.RunResult{Signal: int(syscall.SIGKILL), WallExceeded: true, Wall: wall}, nil
	}
	if c.dead(time.Second) {
		// gVisor's kernel died under the program (a fork bomb can bring
		// it down on a loaded host). The program did it: retrying the
		// job elsewhere would only kill more sandboxes. It is a run
		// killed by the system, and the sandbox is replaced.
		s.markBroken(fmt.Errorf("gVisor sandbox %s died during a run: %v", c.id, execErr))
		s.backend.logger.WithField("sandbox", s.id).WithError(execErr).Warn("gVisor's kernel died during a run; the run is reported killed")
		return backends.RunResult{Signal: int(syscall.SIGKILL), Wall: wall}, nil
	}
	err := fmt.Errorf("run in sandbox %s: %w: no result from the runner: %v", s.id, backends.ErrBroken, execErr)
	s.markBroken(err)
	return backends.RunResult{}, err
}

// frameReader takes the runner's frames apart.
type frameReader struct {
	limit          int64
	stdout, stderr bytes.Buffer
	exceeded       bool
	result         *runner.RunResult
}

func (f *frameReader) read(r io.Reader) error {
	buf := make([]byte, runner.MaxFrame)
	for {
		kind, n, err := runner.ReadFrame(r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("runner output: %w", err)
		}
		p := buf[:n]
		if _, err := io.ReadFull(r, p); err != nil {
			return fmt.Errorf("runner output: %w", err)
		}
		switch kind {
		case runner.FrameStdout:
			f.keep(&f.stdout, p)
		case runner.FrameStderr:
			f.keep(&f.stderr, p)
		case runner.FrameResult:
			var res runner.RunResult
			if err := json.Unmarshal(p, &res); err != nil {
				return fmt.Errorf("runner result: %w", err)
			}
			f.result = &res
		default:
			return fmt.Errorf("runner output: frame kind %q", kind)
		}
	}
}

// keep appends p to b up to the output limit, which the runner enforces
// too.
func (f *frameReader) keep(b *bytes.Buffer, p []byte) {
	room := f.limit - int64(b.Len())
	if int64(len(p)) > room {
		p = p[:max(room, 0)]
		f.exceeded = true
	}
	b.Write(p)
}

// exec runs one runner command in the sandbox c with stdin from in and
// its stdout handed to out, and waits for it at most timeout.
func (s *sandbox) exec(parent context.Context, c *gcontainer, timeout time.Duration, cmd string, req []byte, in io.Reader, out func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	x := s.backend.runsc(ctx, "exec", "--cwd", WorkDir, c.id, runnerPath, cmd, string(req))
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("stdin pipe: %w", err)
	}
	defer stdinR.Close()
	x.Stdin = stdinR
	stdout, err := x.StdoutPipe()
	if err != nil {
		stdinW.Close()
		return err
	}
	var stderr limitedBuffer
	stderr.max = 16 << 10
	x.Stderr = &stderr
	if err := x.Start(); err != nil {
		stdinW.Close()
		return fmt.Errorf("runsc exec: %w", err)
	}
	stdinR.Close()
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		// A program that does not read its input ends the copy when it
		// exits and the pipe closes.
		_, _ = io.Copy(stdinW, in)
		stdinW.Close()
	}()
	outErr := out(stdout)
	if outErr != nil {
		cancel()
	}
	_, _ = io.Copy(io.Discard, stdout)
	waitErr := x.Wait()
	stdinW.Close()
	<-copied
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil {
		return fmt.Errorf("runsc exec %s: %w after %s", cmd, errExecTimeout, timeout)
	}
	if outErr != nil {
		return outErr
	}
	if waitErr != nil {
		return fmt.Errorf("runsc exec %s: %w: %s", cmd, waitErr, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// oomKills is how many processes the host's OOM killer killed in the
// sandbox's memory cgroup (cgroup v1's memory.oom_control, v2's
// memory.events).
func (c *gcontainer) oomKills() int {
	for _, f := range []string{
		filepath.Join("/sys/fs/cgroup/memory", c.cgroup, "memory.oom_control"),
		filepath.Join("/sys/fs/cgroup", c.cgroup, "memory.events"),
	} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				return n
			}
		}
	}
	return 0
}
