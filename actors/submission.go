package actors

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/blob"
	"github.com/pecan-judge/pecan/exec"
	"github.com/pecan-judge/pecan/judge"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
	"github.com/pecan-judge/pecan/plan"
)

// Bounds of what a compile may leave for the runs (the artifact): it is
// held in memory while the submission runs.
const (
	artifactMaxFiles = 4096
	artifactMaxBytes = 256 << 20
)

// testCase is one test of a submission, wherever its data lives.
type testCase struct {
	name, group   string
	input, answer exec.Opener
}

// testJudge decides a test's verdict from the program's run; it is the
// checker of inline tests or the problem's validator.
type testJudge interface {
	judgeTest(ctx context.Context, env testEnv, t testCase, run judge.Run, stdout []byte) (testVerdict, error)
}

// preparer is a testJudge with work to do before its tests (compiling a
// validator, or finding it compiled); used reports that the work took
// env's sandbox, which must then be reset before a test.
type preparer interface {
	prepare(ctx context.Context, env testEnv) (used bool, err error)
}

// testEnv is where a test is judged.
type testEnv struct {
	sb      backends.Sandbox
	cfg     JobConfig
	problem plan.Problem
}

// testVerdict is a test's verdict with the validator's say.
type testVerdict struct {
	verdict  judge.Verdict
	feedback string
	score    float64
	hasScore bool
}

// submission is what RunSubmission needs, resolved: its tests, how they
// are judged, and the problem's limits.
type submission struct {
	tests   []testCase
	judge   testJudge
	problem plan.Problem
	// grading, for a scoring problem, scores its groups and says which
	// tests need not run; nil for pass-fail judging.
	grading *judge.GroupTree
}

// needless reports that test i need not run, given the results of the
// tests before it in order: in first-failure mode, after the first
// failure (pass-fail), or once grading says it cannot count.
func (s *submission) needless(i int, all bool, before []*messages.TestResult) bool {
	if all {
		return false
	}
	if s.grading != nil {
		return judge.Skip(*s.grading)[i]
	}
	for _, r := range before {
		if r.Code != int32(judge.Accepted) {
			return true
		}
	}
	return false
}

// record tells grading a test's result.
func (s *submission) record(i int, tr *messages.TestResult) {
	if s.grading != nil {
		s.grading.Tests[i].Verdict = judge.Verdict(tr.Code)
		s.grading.Tests[i].Score, s.grading.Tests[i].HasScore = tr.Score, tr.HasScore
	}
}

// RunStep runs one step of a submission in sb, for the submission's
// coordinator: the compile step gives the program (compiled, or found in
// the compile cache) and prepares the validator; a test step runs the
// program on one test in a fresh sandbox and judges it. The error
// contract is RunJob's.
func RunStep(ctx context.Context, sb backends.Sandbox, lang *languages.Language, req *messages.ExecuteRequest, cfg JobConfig) (*messages.ExecuteResponse, error) {
	resp := &messages.ExecuteResponse{RequestId: req.GetRequestId(), Sandbox: sb.ID(), Node: cfg.Node, Submission: true}
	step := req.GetSubmission().GetStep()
	if origin := step.GetOrigin(); origin != "" {
		// Sent by another member: what this node lacks comes from there.
		cfg.Problems = memberProblems{ctx: ctx, cfg: cfg, origin: origin, manifest: blob.Digest(step.GetManifest())}
	}
	sub, err := resolveSubmission(req, cfg)
	if err != nil {
		// The request, not the sandbox, is at fault; or, on a member,
		// the problem could not be fetched.
		return notHere(internalError(resp, err.Error()), step), nil
	}
	env := testEnv{sb: sb, cfg: cfg, problem: sub.problem}
	switch step.GetKind() {
	case messages.StepKind_STEP_KIND_COMPILE:
		return compileStep(ctx, env, lang, req, sub, resp)
	case messages.StepKind_STEP_KIND_TEST:
		return testStep(ctx, env, lang, req, sub, step, resp)
	}
	return internalError(resp, fmt.Sprintf("unknown submission step %v", step.GetKind())), nil
}

func compileStep(ctx context.Context, env testEnv, lang *languages.Language, req *messages.ExecuteRequest, sub *submission, resp *messages.ExecuteResponse) (*messages.ExecuteResponse, error) {
	if env.cfg.artifacts == nil {
		return internalError(resp, "this node keeps no compiled programs (no compile cache)"), nil
	}
	prog, failed, err := compileOnce(ctx, env.sb, lang, req, env.cfg, resp)
	if err != nil {
		return internalError(resp, err.Error()), err
	}
	resp.CompileOutput = prog.output
	if failed {
		return resp, nil
	}
	// The validator is compiled here, once, rather than by the first
	// tests at once.
	if p, ok := sub.judge.(preparer); ok {
		if _, err := p.prepare(ctx, env); err != nil {
			return internalError(resp, err.Error()), err
		}
	}
	resp.Artifact = prog.digest.String()
	return resp, nil
}

func testStep(ctx context.Context, env testEnv, lang *languages.Language, req *messages.ExecuteRequest, sub *submission, step *messages.Step, resp *messages.ExecuteResponse) (*messages.ExecuteResponse, error) {
	t, err := stepTest(req, sub, step)
	if err != nil {
		return internalError(resp, err.Error()), nil
	}
	prog, err := env.cfg.program(ctx, blob.Digest(step.GetArtifact()), step.GetOrigin())
	if err != nil {
		return notHere(internalError(resp, fmt.Sprintf("test %s: %v", t.name, err)), step), nil
	}
	if p, ok := sub.judge.(preparer); ok {
		used, err := p.prepare(ctx, env)
		if err != nil {
			return internalError(resp, err.Error()), err
		}
		if used {
			if err := env.sb.Reset(ctx); err != nil {
				return internalError(resp, err.Error()), err
			}
		}
	}
	tr, err := runTest(ctx, env, lang, req, sub.judge, prog.art, t)
	if err != nil {
		return internalError(resp, fmt.Sprintf("test %s: %v", t.name, err)), err
	}
	tr.Node = env.cfg.Node
	resp.Tests = []*messages.TestResult{tr}
	return resp, nil
}

// notHere marks the answer to a member's step that this node could not
// judge for want of what it fetches (the problem, the program): the
// sending node then retries the step elsewhere, as it does when a
// member's sandbox fails.
func notHere(resp *messages.ExecuteResponse, step *messages.Step) *messages.ExecuteResponse {
	if step.GetOrigin() != "" {
		resp.Failure = messages.Failure_FAILURE_INTERNAL
	}
	return resp
}

// stepTest is the test a test step names: one of the problem's, or the
// one inline test the step's request carries.
func stepTest(req *messages.ExecuteRequest, sub *submission, step *messages.Step) (testCase, error) {
	if req.GetSubmission().GetProblemId() == "" {
		if len(sub.tests) != 1 {
			return testCase{}, fmt.Errorf("a test step carries %d inline tests, want 1", len(sub.tests))
		}
		return sub.tests[0], nil
	}
	i := int(step.GetTest())
	if i < 0 || i >= len(sub.tests) {
		return testCase{}, fmt.Errorf("test %d of a problem of %d tests", i, len(sub.tests))
	}
	return sub.tests[i], nil
}

// resolveSubmission turns the request's tests into test cases and their
// judge.
func resolveSubmission(req *messages.ExecuteRequest, cfg JobConfig) (*submission, error) {
	s := req.GetSubmission()
	if id := s.GetProblemId(); id != "" {
		return resolveProblem(id, cfg)
	}
	check, err := judge.ParseChecker(req.GetChecker())
	if err != nil {
		return nil, err
	}
	sub := &submission{judge: checkerJudge{check}}
	for i, t := range s.GetTests() {
		name := t.GetName()
		if name == "" {
			name = strconv.Itoa(i + 1)
		}
		sub.tests = append(sub.tests, testCase{name: name, input: exec.Bytes(t.GetStdin()), answer: exec.Bytes(t.GetAnswer())})
	}
	sub.problem.Tests = len(sub.tests)
	return sub, nil
}

// compileOnce gives the submission's program: from the compile cache
// when the same sources were compiled the same way before, else compiled
// in sb (when the language is compiled) and stored in the cache. failed
// reports a CompileError, which resp then carries; a failed compile is
// not cached (it may have failed on a limit under load).
func compileOnce(ctx context.Context, sb backends.Sandbox, lang *languages.Language, req *messages.ExecuteRequest, cfg JobConfig, resp *messages.ExecuteResponse) (compiled, bool, error) {
	var spec backends.RunSpec
	if lang.Compiled() {
		spec = plan.Compile(lang, req, cfg.Limits)
	}
	key := compileKey(lang, spec, plan.SourceFiles(lang, req))
	if cfg.artifacts != nil {
		if d, ok := cfg.artifacts.Get(key); ok {
			if c, err := loadArtifact(cfg.artifacts, d); err == nil {
				return c, false, nil
			}
			// Unreadable: compiled again below, and replaced.
		}
	}
	if err := writeSources(ctx, sb, lang, req); err != nil {
		return compiled{}, false, fmt.Errorf("write sources: %w", err)
	}
	var out string
	if lang.Compiled() {
		cfg.countCompile(lang.ID)
		res, err := sb.Run(ctx, spec)
		if err != nil {
			return compiled{}, false, fmt.Errorf("compile: %w", err)
		}
		if msg, ok := compileFailed(res, spec.Limits); ok {
			setOutcome(resp, judge.CompileError, res)
			return compiled{output: msg}, true, nil
		}
		out = cut(append(append([]byte(nil), res.Stdout...), res.Stderr...), compileOutputMax)
	}
	files, err := exec.Collect(ctx, sb, "", artifactMaxFiles, artifactMaxBytes)
	if err != nil {
		return compiled{}, false, fmt.Errorf("take the compiled program out: %w", err)
	}
	c := compiled{art: files, output: out}
	if cfg.artifacts != nil {
		if c.digest, err = storeArtifact(cfg.artifacts, key, files, out); err != nil {
			return compiled{}, false, fmt.Errorf("cache the compiled program: %w", err)
		}
	}
	return c, false, nil
}

// runTest runs the program on one test in env's sandbox, which must be
// fresh, and judges it: the one place a test is run.
func runTest(ctx context.Context, env testEnv, lang *languages.Language, req *messages.ExecuteRequest, tj testJudge, art exec.Artifact, t testCase) (*messages.TestResult, error) {
	if iv, ok := tj.(*interactive); ok {
		// The program runs beside its validator, not before it.
		return iv.runTest(ctx, env, lang, req, art, t)
	}
	spec := plan.Test(lang, req, env.cfg.Limits, env.problem)
	res, err := exec.Run(ctx, env.sb, art, spec, t.input)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	tr := &messages.TestResult{
		Name: t.name, Group: t.group,
		Time: res.CPU.Seconds(), WallTime: res.Wall.Seconds(), MemoryKib: int64(res.MemoryPeak / 1024),
		ExitCode: int32(res.ExitCode), Signal: int32(res.Signal),
	}
	v, err := tj.judgeTest(ctx, env, t, measured(lang, spec.Limits, res), res.Stdout)
	if err != nil {
		return nil, err
	}
	tr.Code, tr.Status = int32(v.verdict), v.verdict.String()
	tr.Feedback = cut([]byte(v.feedback), feedbackMax)
	tr.Score, tr.HasScore = v.score, v.hasScore
	return tr, nil
}

// feedbackMax caps a validator's message in a test result.
const feedbackMax = 4 << 10

func skipped(t testCase) *messages.TestResult {
	return &messages.TestResult{Name: t.name, Group: t.group, Code: int32(judge.Skipped), Status: judge.Skipped.String()}
}

// summarise sets the submission's verdict and its time and memory (the
// maxima over its tests). The verdict is the first test in order that is
// not Accepted (Accepted if none), or, for a scoring problem, what its
// grading says, with its score.
func summarise(resp *messages.ExecuteResponse, grading *judge.GroupTree) {
	verdicts := make([]judge.Verdict, len(resp.Tests))
	for i, t := range resp.Tests {
		verdicts[i] = judge.Verdict(t.Code)
		resp.Time = max(resp.Time, t.Time)
		resp.WallTime = max(resp.WallTime, t.WallTime)
		resp.MemoryKib = max(resp.MemoryKib, t.MemoryKib)
	}
	v := judge.Aggregate(verdicts)
	if grading != nil {
		v, resp.Score = judge.Grade(*grading)
		resp.HasScore = true
	}
	resp.Code, resp.Status = int32(v), v.String()
}

// checkerJudge judges inline tests with a §5 checker on the host.
type checkerJudge struct{ check judge.Checker }

func (c checkerJudge) judgeTest(_ context.Context, _ testEnv, t testCase, run judge.Run, stdout []byte) (testVerdict, error) {
	want, err := readAll(t.answer)
	if err != nil {
		return testVerdict{}, fmt.Errorf("answer: %w", err)
	}
	return testVerdict{verdict: judge.Decide(run, c.check, stdout, want)}, nil
}

func readAll(open exec.Opener) ([]byte, error) {
	r, err := open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// jobTime is the longest a job (a run, or a submission's step) may take
// in a healthy sandbox.
func jobTime(lang *languages.Language, req *messages.ExecuteRequest, cfg JobConfig, langs *languages.Registry) time.Duration {
	if req.GetSubmission() == nil {
		return plan.JobTime(lang, req, cfg.Limits)
	}
	if step := req.GetSubmission().GetStep(); step.GetOrigin() != "" {
		// A member's step: its problem (and so its validator's time) may
		// be known only to the member that sent it.
		ctx, cancel := context.WithTimeout(context.Background(), blobChunkTimeout)
		defer cancel()
		cfg.Problems = memberProblems{ctx: ctx, cfg: cfg, origin: step.GetOrigin(), manifest: blob.Digest(step.GetManifest())}
	}
	shape, vlang := submissionShape(req, cfg, langs)
	// A step compiles, or runs one test; either fits the time of a
	// submission of one test.
	shape.Tests = 1
	return plan.SubmissionTime(lang, vlang, req, cfg.Limits, shape)
}

// submissionShape is what plan needs to know of a submission's tests, and
// the language of its validator (nil for none).
func submissionShape(req *messages.ExecuteRequest, cfg JobConfig, langs *languages.Registry) (plan.Problem, *languages.Language) {
	id := req.GetSubmission().GetProblemId()
	if id == "" || cfg.Problems == nil {
		return plan.Problem{Tests: len(req.GetSubmission().GetTests())}, nil
	}
	p, err := cfg.Problems.Problem(id)
	if err != nil {
		return plan.Problem{}, nil // the submission fails at once
	}
	var vlang *languages.Language
	if p.Validator != nil {
		vlang, _ = langs.Lookup(p.Validator.Language)
	}
	return plan.FromProblem(p), vlang
}
