package isolate

import (
	"bufio"
	"bytes"
	"context"
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
	"github.com/pecan-judge/pecan/backends/internal/toolrun"
)

// runArgs is the isolate --run command line of spec under lim.
func (s *sandbox) runArgs(spec backends.RunSpec, lim backends.Limits, meta string) []string {
	secs := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }
	args := []string{
		s.backend.binary, "--box-id=" + strconv.Itoa(s.box), "--silent", "--meta=" + meta,
		// The CPU limit is the cgroup watchdog's (isolate without --cg
		// counts only the processes its proxy reaped); isolate's own, a
		// little later, is a backstop.
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

// isolateProcesses are isolate's keeper and proxy, in the run's cgroup.
const isolateProcesses = 2

// Run runs one program in the box under a cgroup of its own.
func (s *sandbox) Run(ctx context.Context, spec backends.RunSpec) (backends.RunResult, error) {
	ts, lim, meta, err := s.prepare(ctx, spec)
	if err != nil {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w", s.id, err)
	}
	defer os.Remove(meta)
	var in io.Reader = bytes.NewReader(spec.Stdin)
	if spec.StdinFrom != nil {
		in = spec.StdinFrom
	}
	ts.Stdin = in
	tr, err := toolrun.Run(ctx, s.backend.cgroups, ts)
	if err != nil {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w", s.id, err)
	}
	return s.result(ctx, tr, lim, meta)
}

// Start runs one program in the box as Run does, with the given stdin and
// stdout, and returns without waiting for it.
func (s *sandbox) Start(ctx context.Context, spec backends.RunSpec, stdio backends.Stdio) (backends.Process, error) {
	ts, lim, meta, err := s.prepare(ctx, spec)
	if err != nil {
		closeStdio(stdio)
		return nil, fmt.Errorf("start in sandbox %s: %w", s.id, err)
	}
	ts.Stdio = &stdio
	p, err := toolrun.Start(ctx, s.backend.cgroups, ts, func(tr toolrun.Result) (backends.RunResult, error) {
		defer os.Remove(meta)
		return s.result(ctx, tr, lim, meta)
	})
	if err != nil {
		os.Remove(meta)
		return nil, fmt.Errorf("start in sandbox %s: %w", s.id, err)
	}
	return p, nil
}

// closeStdio closes what Start was given when it starts nothing.
func closeStdio(stdio backends.Stdio) {
	for _, f := range []*os.File{stdio.Stdin, stdio.Stdout} {
		if f != nil {
			f.Close()
		}
	}
}

// prepare checks spec and the box and returns the isolate --run command
// (its stdin left to the caller), the limits with defaults and the path of
// the run's meta file, removed beforehand.
func (s *sandbox) prepare(ctx context.Context, spec backends.RunSpec) (toolrun.Spec, backends.Limits, string, error) {
	if len(spec.Args) == 0 {
		return toolrun.Spec{}, backends.Limits{}, "", errors.New("no command")
	}
	wd, err := s.workDir(ctx)
	if err != nil {
		return toolrun.Spec{}, backends.Limits{}, "", err
	}
	wd.Close()
	lim := toolrun.WithDefaults(spec.Limits)
	meta := filepath.Join(s.backend.opts.LockDir, fmt.Sprintf("box-%d.meta", s.box))
	_ = os.Remove(meta)
	ts := toolrun.Spec{Argv: s.runArgs(spec, lim, meta), Limits: lim, ToolProcesses: isolateProcesses}
	return ts, lim, meta, nil
}

// result reads what isolate's meta file and the run's cgroup say of a
// finished run.
func (s *sandbox) result(ctx context.Context, tr toolrun.Result, lim backends.Limits, meta string) (backends.RunResult, error) {
	if err := ctx.Err(); err != nil {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w", s.id, err)
	}
	m, metaErr := readMeta(meta)
	if leftChildren(tr, m.message) {
		// isolate 2.6 dies when it finds more than one process under the
		// box's init, which is how a program that exited at once looks
		// when it left processes of its own (orphans are the init's):
		// the program's failure, not the box's. toolrun has killed what
		// was left in the run's cgroup.
		return backends.RunResult{
			ExitCode: 1, CPU: tr.CPU, Wall: tr.Wall, MemoryPeak: tr.Peak,
			Stdout: tr.Stdout, Stderr: tr.Stderr, OutputExceeded: tr.OutputExceeded,
		}, nil
	}
	// Exit status 0 and 1 are the program's (isolate's "OK" and "failed");
	// anything else is isolate's own failure (status XX), unless the run
	// was stopped from here.
	if tr.WrapFailed || (!tr.Stopped && (tr.ExitStatus > 1 || tr.ExitStatus < 0 || metaErr != nil)) {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w: isolate exited %d: %s %s",
			s.id, backends.ErrBroken, tr.ExitStatus, m.message, clipLog(tr.Stderr))
	}
	res := backends.RunResult{
		ExitCode:       m.exitCode,
		Signal:         m.exitSig,
		CPU:            tr.CPU,
		Wall:           tr.Wall,
		MemoryPeak:     tr.Peak,
		Stdout:         tr.Stdout,
		Stderr:         tr.Stderr,
		OutputExceeded: tr.OutputExceeded,
	}
	if m.wall > 0 {
		res.Wall = m.wall
	}
	timedOut := m.status == "TO"
	res.CPUExceeded = tr.CPUExceeded || res.CPU > lim.CPU || (timedOut && !m.wallClock)
	res.WallExceeded = !res.CPUExceeded && !res.OutputExceeded && (timedOut && m.wallClock || tr.WallExceeded)
	res.OOM = tr.OOMKilled || (res.Signal != 0 && tr.Peak >= lim.MemoryBytes)
	if res.CPUExceeded || res.WallExceeded || res.OutputExceeded {
		res.Signal, res.ExitCode = int(syscall.SIGKILL), 0
	}
	return res, nil
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

// leftChildren reports isolate's death on finding the box's init with
// more than one child.
func leftChildren(tr toolrun.Result, message string) bool {
	const died = "unexpected children found"
	return !tr.WrapFailed && tr.ExitStatus == 2 && (strings.Contains(message, died) || bytes.Contains(tr.Stderr, []byte(died)))
}
