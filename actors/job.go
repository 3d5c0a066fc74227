package actors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"unicode/utf8"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/blob"
	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/exec"
	"github.com/pecan-judge/pecan/judge"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
	"github.com/pecan-judge/pecan/plan"
)

// compileOutputMax caps compile_output: a compiler drowning in template
// errors must not make the response huge.
const compileOutputMax = 64 * 1024

// JobConfig is what the pipeline needs beyond the request and language.
type JobConfig struct {
	Limits config.Limits // output, processes, open files, file size, stack
	Node   string
	// Problems gives submissions their stored problems; nil when the
	// node has no problem store.
	Problems Problems
	// OnTestResult, when set, hears of each test as it is decided.
	OnTestResult func(requestID string, t *messages.TestResult)
	// languages finds a problem's validator's language.
	languages *languages.Registry
	// validators caches compiled validators; nil caches nothing.
	validators *validatorCache
	// artifacts is the compile cache, which holds the blobs fetched from
	// members too; nil caches nothing.
	artifacts *blob.Cache
	// fetch gets blobs from other members; nil outside a cluster.
	fetch *fetcher
	// remoteProblems are the problems fetched from members.
	remoteProblems *problemCache
	// compiles counts compiles by language id (the languages known at
	// start); nil in tests that do not count.
	compiles map[string]*atomic.Int64
}

func (c JobConfig) countCompile(lang string) {
	if n := c.compiles[lang]; n != nil {
		n.Add(1)
	}
}

// RunJob judges one request in sb: write the source, compile if the
// language has a compile step, run, decide the verdict. It does not reset
// the sandbox; the caller does, whatever the outcome.
//
// The response is always usable. A non-nil error means the backend
// failed (not the program); the response is then an InternalError
// answer, and when the error wraps backends.ErrBroken the caller must not
// use sb again and should retry the job elsewhere instead of answering.
func RunJob(ctx context.Context, sb backends.Sandbox, lang *languages.Language, req *messages.ExecuteRequest, cfg JobConfig) (*messages.ExecuteResponse, error) {
	resp := &messages.ExecuteResponse{
		RequestId: req.GetRequestId(),
		Sandbox:   sb.ID(),
		Node:      cfg.Node,
	}
	internal := func(err error) (*messages.ExecuteResponse, error) {
		return internalError(resp, err.Error()), err
	}
	check, err := judge.ParseChecker(req.GetChecker())
	if err != nil {
		// Not a backend fault: answer, but with a nil error so the
		// sandbox is not suspected.
		r, _ := internal(err)
		return r, nil
	}
	if err := writeSources(ctx, sb, lang, req); err != nil {
		return internal(err)
	}

	if lang.Compiled() {
		cfg.countCompile(lang.ID)
		spec := plan.Compile(lang, req, cfg.Limits)
		res, err := sb.Run(ctx, spec)
		if err != nil {
			return internal(fmt.Errorf("compile: %w", err))
		}
		if out, ok := compileFailed(res, spec.Limits); ok {
			setOutcome(resp, judge.CompileError, res)
			resp.CompileOutput = out
			return resp, nil
		}
		// A clean compile's warnings are still worth showing.
		resp.CompileOutput = cut(append(append([]byte(nil), res.Stdout...), res.Stderr...), compileOutputMax)
		if err := freshSandboxWith(ctx, sb); err != nil {
			return internal(err)
		}
	}

	spec := plan.Run(lang, req, cfg.Limits)
	res, err := sb.Run(ctx, spec)
	if err != nil {
		return internal(fmt.Errorf("run: %w", err))
	}
	r := measured(lang, spec.Limits, res)
	// The checker sees all the output; the answer, and everything that
	// carries it on (a member's hand-over, the async store, HTTP), only
	// the first response_output_kib of each stream.
	setOutcome(resp, judge.Decide(r, check, res.Stdout, req.GetDesiredStdout()), res)
	keep := responseOutputBytes(cfg.Limits)
	resp.Stdout, resp.StdoutTruncated = cutOutput(res.Stdout, keep)
	resp.Stderr, resp.StderrTruncated = cutOutput(res.Stderr, keep)
	// A stream the backend stopped at the kill limit was cut there, even
	// when the answer could have carried more.
	if lim := spec.Limits.OutputBytes; res.OutputExceeded && lim > 0 {
		resp.StdoutTruncated = resp.StdoutTruncated || int64(len(res.Stdout)) >= lim
		resp.StderrTruncated = resp.StderrTruncated || int64(len(res.Stderr)) >= lim
	}
	return resp, nil
}

// writeSources puts req's source files into sb's work directory: its
// files as sent, or its code as the one file the language names
// (plan.SourceFiles). Every pipeline that compiles a request writes its
// sources through here.
func writeSources(ctx context.Context, sb backends.Sandbox, lang *languages.Language, req *messages.ExecuteRequest) error {
	for _, f := range plan.SourceFiles(lang, req) {
		if err := sb.PutFile(ctx, f.GetName(), bytes.NewReader(f.GetContent()), 0o644); err != nil {
			return fmt.Errorf("write source %s: %w", f.GetName(), err)
		}
	}
	return nil
}

// freshSandboxWith moves what the compile left in sb's work directory into
// a new container: nothing else of the compile (its /tmp, its IPC
// objects) reaches the run, and the files are the sandbox root's, which
// the run may read and execute, never write or map writable (their pages
// are charged to the compile, not the run).
func freshSandboxWith(ctx context.Context, sb backends.Sandbox) error {
	files, err := exec.Collect(ctx, sb, "", artifactMaxFiles, artifactMaxBytes)
	if err != nil {
		return fmt.Errorf("take the compiled program out: %w", err)
	}
	if err := sb.Reset(ctx); err != nil {
		return err
	}
	if err := exec.Put(ctx, sb, files); err != nil {
		return fmt.Errorf("put the compiled program in: %w", err)
	}
	return nil
}

// measured is what the verdict needs of a run under lim.
func measured(lang *languages.Language, lim backends.Limits, res backends.RunResult) judge.Run {
	return judge.Run{
		OOM: res.OOM || (lim.MemoryBytes > 0 && res.MemoryPeak >= lim.MemoryBytes) ||
			runtimeOutOfMemory(lang, res),
		// The backend flags a kill; a program that finished just over the
		// limit (limits are enforced by polling) is over it all the same.
		CPUExceeded:    res.CPUExceeded || (lim.CPU > 0 && res.CPU > lim.CPU),
		WallExceeded:   res.WallExceeded || (lim.Wall > 0 && res.Wall > lim.Wall),
		OutputExceeded: res.OutputExceeded,
		Signal:         res.Signal,
		ExitCode:       res.ExitCode,
	}
}

// responseOutputBytes is how much of stdout and of stderr an answer keeps;
// a zero limit (a config built in code, not loaded) means the default.
func responseOutputBytes(lim config.Limits) int {
	kib := lim.ResponseOutputKiB
	if kib <= 0 {
		kib = config.DefaultResponseOutputKiB
	}
	return int(kib) * 1024
}

// cutOutput keeps at most n bytes of b, as a copy so that the run's whole
// buffer can be freed, and reports whether it cut. A cut that would split
// a UTF-8 sequence is moved back to its start, so output that was valid
// UTF-8 stays valid.
func cutOutput(b []byte, n int) ([]byte, bool) {
	if len(b) <= n {
		return b, false
	}
	return bytes.Clone(b[:utf8Boundary(b, n)]), true
}

// utf8Boundary is n, or the start of the multi-byte sequence that b[n]
// continues when that sequence begins at most three bytes before n.
func utf8Boundary(b []byte, n int) int {
	if n >= len(b) || utf8.RuneStart(b[n]) {
		return n
	}
	for i := n - 1; i >= 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if b[i] >= utf8.RuneSelf {
				return i
			}
			break
		}
	}
	return n
}

// setOutcome fills the verdict and the measurements of the step that
// decided it (the compile for CompileError, else the run).
func setOutcome(resp *messages.ExecuteResponse, v judge.Verdict, res backends.RunResult) {
	resp.Code = int32(v)
	resp.Status = v.String()
	resp.Time = res.CPU.Seconds()
	resp.WallTime = res.Wall.Seconds()
	resp.MemoryKib = int64(res.MemoryPeak / 1024)
	resp.ExitCode = int32(res.ExitCode)
	resp.Signal = int32(res.Signal)
}

// compileFailed reports whether a compile was not clean, and the output
// to show: compiler stdout+stderr plus a note naming the limit hit.
func compileFailed(res backends.RunResult, lim backends.Limits) (string, bool) {
	var note string
	switch {
	case res.OOM:
		note = "compilation exceeded its memory limit"
	case res.CPUExceeded || (lim.CPU > 0 && res.CPU > lim.CPU):
		note = "compilation exceeded its time limit"
	case res.WallExceeded || (lim.Wall > 0 && res.Wall > lim.Wall):
		note = "compilation exceeded its wall-time limit"
	case res.OutputExceeded:
		note = "compiler output exceeded its limit"
	case res.Signal != 0:
		note = fmt.Sprintf("compiler killed by signal %d", res.Signal)
	case res.ExitCode != 0:
		// The compiler's own messages say why; no note needed.
	default:
		return "", false
	}
	out := append(append([]byte(nil), res.Stdout...), res.Stderr...)
	if note != "" {
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, note...)
		out = append(out, '\n')
	}
	return cut(out, compileOutputMax), true
}

// runtimeOutOfMemory reports a failed run whose runtime stopped at its own
// heap limit (sized from the client's limit) before the cgroup's: to the
// client that is the memory limit all the same.
func runtimeOutOfMemory(lang *languages.Language, res backends.RunResult) bool {
	if res.ExitCode == 0 && res.Signal == 0 {
		return false
	}
	for _, m := range lang.MemoryErrorMarkers {
		if m != "" && bytes.Contains(res.Stderr, []byte(m)) {
			return true
		}
	}
	return false
}

// cut keeps at most n bytes, marking the cut, which it makes on a UTF-8
// boundary.
func cut(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	const mark = "\n[output truncated]\n"
	return string(b[:utf8Boundary(b, n-len(mark))]) + mark
}

// internalError makes resp the InternalError answer with msg as its
// error: the one place that says what such an answer carries.
func internalError(resp *messages.ExecuteResponse, msg string) *messages.ExecuteResponse {
	resp.Code = int32(judge.InternalError)
	resp.Status = judge.InternalError.String()
	resp.Error = msg
	return resp
}

// isBroken reports whether err means the sandbox must not be reused.
func isBroken(err error) bool { return errors.Is(err, backends.ErrBroken) }
