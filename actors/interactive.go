package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/exec"
	"github.com/pecan-judge/pecan/judge"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
	"github.com/pecan-judge/pecan/plan"
)

// interactive judges the tests of an interactive problem: the problem's
// validator (compiled once, as any custom validator) runs at the same time
// as the program, each reading what the other writes. The validator runs
// in the sandbox's Beside sandbox, so the program can see neither the
// test's answer, nor the validator, nor its feedback directory: only the
// pipes connect them.
type interactive struct{ *customValidator }

// errInteractiveJudged: an interactive test is run and judged in one step
// (runTest), never judged after a run of the program alone.
var errInteractiveJudged = errors.New("an interactive test is judged while it runs")

func (iv *interactive) judgeTest(context.Context, testEnv, testCase, judge.Run, []byte) (testVerdict, error) {
	return testVerdict{}, errInteractiveJudged
}

// runTest runs the program and the validator on one test, connected by
// pipes, each in a fresh sandbox with its own limits, and judges it by
// judge.DecideInteractive.
func (iv *interactive) runTest(ctx context.Context, env testEnv, lang *languages.Language, req *messages.ExecuteRequest, art exec.Artifact, t testCase) (*messages.TestResult, error) {
	tr := &messages.TestResult{Name: t.name, Group: t.group}
	if iv.broken != "" {
		return judged(tr, testVerdict{verdict: judge.InternalError, feedback: iv.broken})
	}
	vsb, err := env.sb.Beside(ctx)
	if errors.Is(err, backends.ErrUnsupported) {
		return judged(tr, testVerdict{verdict: judge.InternalError, feedback: fmt.Sprintf("interactive problems cannot be judged here: %v", err)})
	}
	if err != nil {
		return nil, fmt.Errorf("the validator's sandbox: %w", err)
	}
	args, err := iv.setUpBeside(ctx, vsb, t)
	if err != nil {
		return nil, err
	}
	if err := exec.Put(ctx, env.sb, art); err != nil {
		return nil, fmt.Errorf("put the program: %w", err)
	}
	spec := plan.Test(lang, req, env.cfg.Limits, env.problem)
	vspec := plan.Interact(iv.lang, iv.sources, env.cfg.Limits, env.problem, args, spec.Limits)
	got, err := exec.Interact(ctx, [2]exec.Side{{Sandbox: env.sb, Spec: spec}, {Sandbox: vsb, Spec: vspec}})
	if err != nil {
		return nil, err
	}
	res, vres := got.Results[0], got.Results[1]
	tr.Time, tr.WallTime, tr.MemoryKib = res.CPU.Seconds(), res.Wall.Seconds(), int64(res.MemoryPeak/1024)
	tr.ExitCode, tr.Signal = int32(res.ExitCode), int32(res.Signal)

	vr := judge.ValidatorRun{
		ExitCode: vres.ExitCode, Signal: vres.Signal,
		TimedOut: vres.CPUExceeded || vres.WallExceeded, OutOfMemory: vres.OOM,
		Feedback: string(vres.Stderr),
	}
	if iv.protocol == judge.ProtocolKattis {
		fb, err := exec.Collect(ctx, vsb, validatorFeedback, feedbackMaxFiles, feedbackMaxBytes)
		if err != nil {
			return judged(tr, testVerdict{verdict: judge.InternalError, feedback: fmt.Sprintf("the validator's feedback: %v", err)})
		}
		vr.Feedback = fileText(fb, validatorFeedback+"/judgemessage.txt")
	}
	v, _, _, reason := judge.ValidatorOutcome(iv.protocol, vr)
	out := testVerdict{
		verdict:  judge.DecideInteractive(measured(lang, spec.Limits, res), v, got.First == 1),
		feedback: vr.Feedback,
	}
	if reason != "" {
		out.feedback = reason
	}
	return judged(tr, out)
}

// setUpBeside gives the validator's sandbox the validator, the test's
// input and (Kattis) answer and a feedback directory, and returns the
// validator's arguments: `input answer feedback/ [flags]` (Kattis) or
// `input output` (a testlib interactor, which writes output for a checker
// Pecan does not run).
func (iv *interactive) setUpBeside(ctx context.Context, sb backends.Sandbox, t testCase) ([]string, error) {
	files := append(exec.Artifact(nil), iv.compiled...)
	if iv.protocol == judge.ProtocolTestlib {
		if err := exec.Put(ctx, sb, files); err != nil {
			return nil, fmt.Errorf("put the validator: %w", err)
		}
		if err := exec.PutFrom(ctx, sb, validatorInput, 0o644, t.input); err != nil {
			return nil, err
		}
		return []string{validatorInput, validatorOutput}, nil
	}
	files = append(files, exec.File{Path: validatorFeedback + "/.pecan", Mode: 0o644})
	if err := exec.Put(ctx, sb, files); err != nil {
		return nil, fmt.Errorf("put the validator: %w", err)
	}
	if err := exec.PutFrom(ctx, sb, validatorInput, 0o644, t.input); err != nil {
		return nil, err
	}
	if err := exec.PutFrom(ctx, sb, validatorAnswer, 0o644, t.answer); err != nil {
		return nil, err
	}
	return append([]string{validatorInput, validatorAnswer, validatorFeedback + "/"}, iv.problem.ValidatorFlags...), nil
}

// judged fills tr with v.
func judged(tr *messages.TestResult, v testVerdict) (*messages.TestResult, error) {
	tr.Code, tr.Status = int32(v.verdict), v.verdict.String()
	tr.Feedback = cut([]byte(v.feedback), feedbackMax)
	tr.Score, tr.HasScore = v.score, v.hasScore
	return tr, nil
}
