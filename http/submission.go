package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/pecan-judge/pecan/judge"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
	"github.com/pecan-judge/pecan/plan"
	"github.com/pecan-judge/pecan/problems"
)

// maxInlineTests bounds the tests of one submission sent inline (their
// bytes are bounded by the body limit).
const maxInlineTests = 1000

// submissionResponse is the answer to a submission (README, "Judging a
// submission").
type submissionResponse struct {
	Code          int32          `json:"code"`
	Status        string         `json:"status"`
	Score         *float64       `json:"score,omitempty"`
	CompileOutput string         `json:"compile_output"`
	Time          float64        `json:"time"`
	Memory        int64          `json:"memory"`
	WallTime      float64        `json:"wall_time"`
	Tests         []testResponse `json:"tests"`
	Error         string         `json:"error,omitempty"`
	Sandbox       string         `json:"sandbox"`
	Node          string         `json:"node"`
	RequestID     string         `json:"request_id"`
}

type testResponse struct {
	Name     string   `json:"name"`
	Group    string   `json:"group,omitempty"`
	Code     int32    `json:"code"`
	Status   string   `json:"status"`
	Time     float64  `json:"time"`
	Memory   int64    `json:"memory"`
	WallTime float64  `json:"wall_time"`
	ExitCode int32    `json:"exit_code"`
	Signal   int32    `json:"signal"`
	Feedback string   `json:"feedback,omitempty"`
	Score    *float64 `json:"score,omitempty"`
	// Node ran the test (a cluster spreads a submission's tests).
	Node string `json:"node,omitempty"`
}

func renderSubmission(resp *messages.ExecuteResponse, id string) ([]byte, error) {
	out := submissionResponse{
		Code: resp.Code, Status: resp.Status, CompileOutput: resp.CompileOutput,
		Time: resp.Time, Memory: resp.MemoryKib, WallTime: resp.WallTime,
		Tests: []testResponse{}, Error: resp.Error, Sandbox: resp.Sandbox, Node: resp.Node,
		RequestID: orDefault(resp.RequestId, id),
	}
	if resp.HasScore {
		out.Score = &resp.Score
	}
	for _, t := range resp.Tests {
		out.Tests = append(out.Tests, renderTest(t, resp.HasScore))
	}
	return json.Marshal(out)
}

// renderTest is one test of a submission's answer; scored says the
// problem is scored, so the test has a score.
func renderTest(t *messages.TestResult, scored bool) testResponse {
	tr := testResponse{
		Name: t.Name, Group: t.Group, Code: t.Code, Status: t.Status, Time: t.Time, Memory: t.MemoryKib,
		WallTime: t.WallTime, ExitCode: t.ExitCode, Signal: t.Signal, Feedback: t.Feedback, Node: t.Node,
	}
	if scored {
		score := t.Score
		tr.Score = &score
	}
	return tr
}

// judgeSubmission handles POST /v1/judge/submission.
func (s *server) judgeSubmission(c *fiber.Ctx) error {
	if err := requireJSON(c.Get(fiber.HeaderContentType)); err != nil {
		return err
	}
	_, req, budget, err := s.readSubmission(c)
	if err != nil {
		return err
	}
	if wantsEventStream(c.Get(fiber.HeaderAccept)) {
		return s.streamSubmission(c, req, budget, req.Language)
	}
	return s.judgeAndAnswer(c, req, budget, req.Language)
}

// judgeSubmissionAsync handles POST /v1/judge/submission-async.
func (s *server) judgeSubmissionAsync(c *fiber.Ctx) error {
	key, err := s.asyncPreamble(c)
	if err != nil {
		return err
	}
	raw, req, budget, err := s.readSubmission(c)
	if err != nil {
		return err
	}
	return s.queueAsync(c, raw, key, req, budget)
}

// readSubmission parses and validates a submission body.
func (s *server) readSubmission(c *fiber.Ctx) (map[string]json.RawMessage, *messages.ExecuteRequest, time.Duration, error) {
	raw, err := parseObject(c.Body())
	if err != nil {
		return nil, nil, 0, badRequest(err.Error())
	}
	req, budget, err := s.submissionRequest(raw, uuid.NewString())
	return raw, req, budget, err
}

// submissionRequest validates a submission body and builds its request and
// the time its requester waits. Errors are HTTP errors.
func (s *server) submissionRequest(raw map[string]json.RawMessage, id string) (*messages.ExecuteRequest, time.Duration, error) {
	jr, err := requestFromFields(raw, s.opts.Limits, s.langs)
	if err != nil {
		return nil, 0, badRequest(err.Error())
	}
	sub, err := submissionFields(raw)
	if err != nil {
		return nil, 0, badRequest(err.Error())
	}
	req, _ := s.executeRequest(jr, id)
	req.Stdin, req.DesiredStdout = nil, nil
	req.Submission = sub
	shape := plan.Problem{Tests: len(sub.Tests)}
	var vlang *languages.Language
	if sub.ProblemId != "" {
		p, err := s.problem(sub.ProblemId)
		if err != nil {
			return nil, 0, err
		}
		shape = plan.FromProblem(p)
		if p.Validator != nil {
			vlang, _ = s.langs.Lookup(p.Validator.Language)
		}
	}
	return req, plan.SubmissionBudget(jr.Language, vlang, req, s.opts.Limits, shape, s.opts.QueueTimeout), nil
}

// problem is the stored problem a submission names, or the HTTP error
// that says why there is none.
func (s *server) problem(id string) (*problems.Problem, error) {
	store, err := s.problemStore()
	if err != nil {
		return nil, err
	}
	p, err := store.Get(id)
	if err != nil {
		return nil, problemLookupError(truncate(id, 80), err)
	}
	return p, nil
}

// submissionFields reads what a submission adds to judge-single's fields:
// its tests (inline) and its mode.
func submissionFields(raw map[string]json.RawMessage) (*messages.Submission, error) {
	sub := &messages.Submission{Mode: judge.ModeFirstFailure}
	mode, err := stringField(raw, "mode")
	if err != nil {
		return nil, err
	}
	if mode != nil {
		if *mode != judge.ModeFirstFailure && *mode != judge.ModeAll {
			return nil, fmt.Errorf(`field "mode": %q is not %q or %q`, *mode, judge.ModeFirstFailure, judge.ModeAll)
		}
		sub.Mode = *mode
	}
	problem, err := stringField(raw, "problem")
	if err != nil {
		return nil, err
	}
	tests, hasTests := raw["tests"]
	hasTests = hasTests && string(tests) != "null"
	switch {
	case problem != nil && hasTests:
		return nil, errors.New(`fields "problem" and "tests" exclude each other: judge against a stored problem or inline tests`)
	case problem != nil:
		if *problem == "" {
			return nil, errors.New(`field "problem" must be a problem id ("sha256:...")`)
		}
		sub.ProblemId = *problem
		return sub, nil
	case !hasTests:
		return nil, errors.New(`a submission needs "problem" (a stored problem's id) or "tests" (a list of {"name", "stdin", "answer"})`)
	}
	if sub.Tests, err = inlineTests(tests); err != nil {
		return nil, err
	}
	return sub, nil
}

func inlineTests(b json.RawMessage) ([]*messages.InlineTest, error) {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, errors.New(`field "tests" must be a list of objects {"name", "stdin", "answer"}`)
	}
	if len(list) == 0 || len(list) > maxInlineTests {
		return nil, fmt.Errorf(`field "tests" has %d tests; between 1 and %d are accepted`, len(list), maxInlineTests)
	}
	seen := map[string]bool{}
	var out []*messages.InlineTest
	for i, t := range list {
		if t == nil {
			return nil, fmt.Errorf(`field "tests[%d]" must be an object`, i)
		}
		var fields [3]string
		for j, name := range []string{"name", "stdin", "answer"} {
			v, err := stringField(t, name)
			if err != nil {
				return nil, fmt.Errorf("tests[%d]: %w", i, err)
			}
			if v != nil {
				fields[j] = *v
			}
		}
		name := fields[0]
		if name == "" {
			name = fmt.Sprint(i + 1)
		}
		if seen[name] {
			return nil, fmt.Errorf("tests[%d]: the name %q is used twice", i, name)
		}
		seen[name] = true
		out = append(out, &messages.InlineTest{Name: name, Stdin: []byte(fields[1]), Answer: []byte(fields[2])})
	}
	return out, nil
}
