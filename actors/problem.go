package actors

import (
	"container/list"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/pecan-judge/pecan/blob"
	"github.com/pecan-judge/pecan/exec"
	"github.com/pecan-judge/pecan/judge"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
	"github.com/pecan-judge/pecan/plan"
	"github.com/pecan-judge/pecan/problems"
)

// Problems is what submissions need of the problem store.
type Problems interface {
	// Problem is a stored problem; the error wraps problems.ErrNotFound
	// when there is none.
	Problem(id string) (*problems.Problem, error)
	// Open opens a stored file by its digest.
	Open(d blob.Digest) (io.ReadCloser, error)
}

// Where a custom validator's files go in its sandbox's work directory,
// where it runs: these are its arguments too.
const (
	validatorInput    = "input"
	validatorAnswer   = "answer"
	validatorOutput   = "output" // testlib reads the program's output from a file
	validatorFeedback = "feedback"
)

// Bounds of what a validator may leave in its feedback directory.
const (
	feedbackMaxFiles = 16
	feedbackMaxBytes = 1 << 20
)

// resolveProblem is a stored problem's tests and validator.
func resolveProblem(id string, cfg JobConfig) (*submission, error) {
	if cfg.Problems == nil {
		return nil, fmt.Errorf("problem %s: no problem store on this node", id)
	}
	p, err := cfg.Problems.Problem(id)
	if err != nil {
		return nil, fmt.Errorf("problem %s: %w", id, err)
	}
	if p.Type == problems.TypeInteractive && p.Validator == nil {
		return nil, fmt.Errorf("problem %s is interactive and has no validator to converse with", id)
	}
	sub := &submission{problem: plan.FromProblem(p)}
	for _, t := range p.Tests {
		sub.tests = append(sub.tests, testCase{name: t.Name, group: t.Group,
			input: stored(cfg.Problems, t.Input), answer: stored(cfg.Problems, t.Answer)})
	}
	if p.Type == problems.TypeScoring {
		if sub.grading, err = gradingOf(p); err != nil {
			return nil, fmt.Errorf("problem %s: %w", id, err)
		}
	}
	if p.Validator == nil {
		flags, err := judge.ParseValidatorFlags(p.ValidatorFlags)
		if err != nil {
			return nil, fmt.Errorf("problem %s: validator_flags: %w", id, err)
		}
		sub.judge = defaultValidator{flags}
		return sub, nil
	}
	vlang, ok := cfg.languages.Lookup(p.Validator.Language)
	if !ok || !vlang.Available {
		return nil, fmt.Errorf("problem %s: the validator's language %q is not available on this node", id, p.Validator.Language)
	}
	proto, err := judge.ParseProtocol(p.Validator.Protocol)
	if err != nil {
		return nil, fmt.Errorf("problem %s: %w", id, err)
	}
	cv := &customValidator{problem: p, lang: vlang, protocol: proto, store: cfg.Problems}
	sub.judge = cv
	if p.Type == problems.TypeInteractive {
		sub.judge = &interactive{cv}
	}
	return sub, nil
}

// gradingOf is a scoring problem's groups with its tests, none run yet.
func gradingOf(p *problems.Problem) (*judge.GroupTree, error) {
	jp := judge.Problem{
		Draft:       p.FormatVersion == problems.VersionDraft,
		Scoring:     true,
		CustomScore: p.FormatVersion != problems.VersionDraft && p.Validation == problems.ValidationCustom,
	}
	settings := map[string]map[string]any{"": p.RootSettings}
	for _, g := range p.Groups {
		settings[g.Name] = g.Settings
	}
	gradings, err := judge.ParseGradings(jp, settings)
	if err != nil {
		return nil, err
	}
	tests := make([]judge.TestResult, len(p.Tests))
	for i, t := range p.Tests {
		tests[i] = judge.TestResult{Name: t.Name, Group: t.Group, Verdict: judge.Skipped}
	}
	tree, err := judge.NewGroupTree(gradings, tests)
	if err != nil {
		return nil, err
	}
	return &tree, nil
}

func stored(src Problems, d blob.Digest) exec.Opener {
	return func() (io.ReadCloser, error) { return src.Open(d) }
}

// defaultValidator judges with the Kattis default validator, on the host:
// it is a comparison of two byte strings, like the §5 checkers.
type defaultValidator struct{ flags judge.DefaultValidatorFlags }

func (d defaultValidator) judgeTest(_ context.Context, _ testEnv, t testCase, run judge.Run, stdout []byte) (testVerdict, error) {
	if v, decided := judge.RunVerdict(run); decided {
		return testVerdict{verdict: v}, nil
	}
	want, err := readAll(t.answer)
	if err != nil {
		return testVerdict{}, fmt.Errorf("answer: %w", err)
	}
	ok, feedback := judge.DefaultValidate(d.flags, stdout, want)
	v := judge.WrongAnswer
	if ok {
		v = judge.Accepted
	}
	return testVerdict{verdict: v, feedback: feedback}, nil
}

// customValidator runs the problem's own validator after each run, in a
// sandbox of its own (a fresh container: nothing of the program's run is
// there but its output), under its own limits.
type customValidator struct {
	problem  *problems.Problem
	lang     *languages.Language
	protocol judge.Protocol
	store    Problems

	compiled exec.Artifact
	sources  *messages.ExecuteRequest // the validator as a submission of its files
	broken   string                   // why the validator cannot judge (it does not compile)
}

// prepare compiles the validator, or takes it from the node's cache: a
// problem's validator is compiled once, whatever the submissions.
func (c *customValidator) prepare(ctx context.Context, env testEnv) (bool, error) {
	// The validator is compiled and run as a submission of its files
	// would be.
	vreq := &messages.ExecuteRequest{Language: c.lang.ID}
	for _, f := range c.problem.Validator.Files {
		b, err := readAll(stored(c.store, f.Digest))
		if err != nil {
			return false, fmt.Errorf("the validator's %s: %w", f.Name, err)
		}
		vreq.Files = append(vreq.Files, &messages.SourceFile{Name: f.Name, Content: b})
	}
	c.sources = vreq
	if v, ok := env.cfg.validators.get(c.problem.ID); ok {
		c.compiled, c.broken = v.art, v.broken
		return false, nil
	}
	if err := env.sb.Reset(ctx); err != nil {
		return true, err
	}
	if err := writeSources(ctx, env.sb, c.lang, vreq); err != nil {
		return true, fmt.Errorf("put the validator: %w", err)
	}
	if c.lang.Compiled() {
		env.cfg.countCompile(c.lang.ID)
		spec := plan.Compile(c.lang, vreq, env.cfg.Limits)
		res, err := env.sb.Run(ctx, spec)
		if err != nil {
			return true, fmt.Errorf("compile the validator: %w", err)
		}
		if msg, failed := compileFailed(res, spec.Limits); failed {
			c.broken = "the problem's validator does not compile: " + msg
			env.cfg.validators.put(c.problem.ID, compiledValidator{broken: c.broken})
			return true, nil
		}
	}
	files, err := exec.Collect(ctx, env.sb, "", artifactMaxFiles, artifactMaxBytes)
	if err != nil {
		return true, fmt.Errorf("take the compiled validator out: %w", err)
	}
	c.compiled = files
	env.cfg.validators.put(c.problem.ID, compiledValidator{art: files})
	return true, nil
}

func (c *customValidator) judgeTest(ctx context.Context, env testEnv, t testCase, run judge.Run, stdout []byte) (testVerdict, error) {
	if v, decided := judge.RunVerdict(run); decided {
		return testVerdict{verdict: v}, nil
	}
	if c.broken != "" {
		return testVerdict{verdict: judge.InternalError, feedback: c.broken}, nil
	}
	args, stdin, err := c.setUp(ctx, env, t, stdout)
	if err != nil {
		return testVerdict{}, err
	}
	spec := plan.Validate(c.lang, c.sources, env.cfg.Limits, env.problem, args)
	res, err := exec.Run(ctx, env.sb, nil, spec, stdin)
	if err != nil {
		return testVerdict{}, fmt.Errorf("run the validator: %w", err)
	}
	fb, err := exec.Collect(ctx, env.sb, validatorFeedback, feedbackMaxFiles, feedbackMaxBytes)
	if err != nil {
		return testVerdict{verdict: judge.InternalError, feedback: fmt.Sprintf("the validator's feedback: %v", err)}, nil
	}
	vr := judge.ValidatorRun{
		ExitCode: res.ExitCode, Signal: res.Signal,
		TimedOut: res.CPUExceeded || res.WallExceeded, OutOfMemory: res.OOM,
		Feedback: string(res.Stderr),
	}
	if c.protocol == judge.ProtocolKattis {
		vr.Feedback = fileText(fb, validatorFeedback+"/judgemessage.txt")
		vr.Score = fileText(fb, validatorFeedback+"/score.txt")
	}
	v, score, hasScore, reason := judge.ValidatorOutcome(c.protocol, vr)
	out := testVerdict{verdict: judge.DecideValidated(run, v), feedback: vr.Feedback, score: score, hasScore: hasScore}
	if reason != "" {
		out.feedback = reason
	}
	return out, nil
}

// setUp gives a fresh sandbox the validator, the test's input and answer,
// the program's output and a feedback directory, and returns the
// validator's arguments and stdin for its protocol.
func (c *customValidator) setUp(ctx context.Context, env testEnv, t testCase, stdout []byte) ([]string, exec.Opener, error) {
	if err := env.sb.Reset(ctx); err != nil {
		return nil, nil, err
	}
	files := append(exec.Artifact(nil), c.compiled...)
	files = append(files, exec.File{Path: validatorFeedback + "/.pecan", Mode: 0o644})
	if c.protocol == judge.ProtocolTestlib {
		files = append(files, exec.File{Path: validatorOutput, Mode: 0o644, Data: stdout})
	}
	if err := exec.Put(ctx, env.sb, files); err != nil {
		return nil, nil, fmt.Errorf("put the validator: %w", err)
	}
	if err := exec.PutFrom(ctx, env.sb, validatorInput, 0o644, t.input); err != nil {
		return nil, nil, err
	}
	if err := exec.PutFrom(ctx, env.sb, validatorAnswer, 0o644, t.answer); err != nil {
		return nil, nil, err
	}
	if c.protocol == judge.ProtocolTestlib {
		return []string{validatorInput, validatorOutput, validatorAnswer}, nil, nil
	}
	args := append([]string{validatorInput, validatorAnswer, validatorFeedback + "/"}, c.problem.ValidatorFlags...)
	return args, exec.Bytes(stdout), nil
}

func fileText(files []exec.File, path string) string {
	if f := exec.Find(files, path); f != nil {
		return string(f.Data)
	}
	return ""
}

// compiledValidator is a problem's validator as compiled: its files, or
// why it does not compile.
type compiledValidator struct {
	art    exec.Artifact
	broken string
}

// validatorCache keeps the compiled validators of the most recently used
// problems, by problem id (a digest of the whole package, validator
// included, so an entry never goes stale), at most maxBytes of them.
type validatorCache struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	order    *list.List // of string ids, most recent first
	items    map[string]*list.Element
	entries  map[string]compiledValidator
}

func newValidatorCache(maxBytes int64) *validatorCache {
	return &validatorCache{maxBytes: maxBytes, order: list.New(), items: map[string]*list.Element{}, entries: map[string]compiledValidator{}}
}

func (c *validatorCache) get(id string) (compiledValidator, bool) {
	if c == nil {
		return compiledValidator{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[id]
	if !ok {
		return compiledValidator{}, false
	}
	c.order.MoveToFront(e)
	return c.entries[id], true
}

func (c *validatorCache) put(id string, v compiledValidator) {
	if c == nil || v.art.Size() > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[id]; ok {
		c.order.MoveToFront(e)
		c.bytes -= c.entries[id].art.Size()
	} else {
		c.items[id] = c.order.PushFront(id)
	}
	c.entries[id] = v
	c.bytes += v.art.Size()
	for c.bytes > c.maxBytes {
		last := c.order.Back()
		old := last.Value.(string)
		c.order.Remove(last)
		c.bytes -= c.entries[old].art.Size()
		delete(c.items, old)
		delete(c.entries, old)
	}
}
