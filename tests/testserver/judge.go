package testserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Verdict codes of a judge-single response (DESIGN §4).
const (
	Accepted            = 0
	WrongAnswer         = 1
	CompileError        = 2
	RuntimeError        = 3
	TimeLimitExceeded   = 4
	MemoryLimitExceeded = 5
	InternalError       = 6
	OutputLimitExceeded = 7
	Skipped             = 8
)

// VerdictName is the status string the server sends with verdict code
// code, or "" for a code it never sends. A function rather than an
// exported map, so that no suite can change what the others compare with.
func VerdictName(code int) string {
	switch code {
	case Accepted:
		return "Accepted"
	case WrongAnswer:
		return "WrongAnswer"
	case CompileError:
		return "CompileError"
	case RuntimeError:
		return "RuntimeError"
	case TimeLimitExceeded:
		return "TimeLimitExceeded"
	case MemoryLimitExceeded:
		return "MemoryLimitExceeded"
	case InternalError:
		return "InternalError"
	case OutputLimitExceeded:
		return "OutputLimitExceeded"
	case Skipped:
		return "Skipped"
	}
	return ""
}

// Job is a judge-single request. Zero limits and an empty checker are
// omitted, so the server's defaults apply. Files, when set, are the
// submission instead of Code (which the server then takes as absent).
type Job struct {
	Code          string  `json:"code"`
	Files         []File  `json:"files,omitempty"`
	Language      string  `json:"language"`
	Stdin         string  `json:"stdin"`
	DesiredStdout string  `json:"desired_stdout"`
	TimeLimit     float64 `json:"time_limit,omitempty"`
	MemoryLimit   int64   `json:"memory_limit,omitempty"`
	WallTimeLimit float64 `json:"wall_time_limit,omitempty"`
	Checker       string  `json:"checker,omitempty"`
}

// File is one file of a multi-file submission; Encoding "base64" says
// Content is base64, "" or "utf8" that it is the text itself.
type File struct {
	Name     string `json:"name"`
	Content  string `json:"content"`
	Encoding string `json:"encoding,omitempty"`
}

// Result is a judge-single response.
type Result struct {
	Code          int     `json:"code"`
	Status        string  `json:"status"`
	Stdout        string  `json:"stdout"`
	Stderr        string  `json:"stderr"`
	Time          float64 `json:"time"`
	Memory        int64   `json:"memory"`
	WallTime      float64 `json:"wall_time"`
	ExitCode      int     `json:"exit_code"`
	Signal        int     `json:"signal"`
	CompileOutput string  `json:"compile_output"`
	Sandbox       string  `json:"sandbox"`
	Node          string  `json:"node"`
	RequestID     string  `json:"request_id"`
	// Output that is not UTF-8 comes as base64 only (stdout is then "").
	StdoutBase64    string `json:"stdout_base64"`
	StderrBase64    string `json:"stderr_base64"`
	StdoutTruncated bool   `json:"stdout_truncated"`
	StderrTruncated bool   `json:"stderr_truncated"`
}

// shown is how many bytes of a stream or body a message quotes: enough for
// a compiler's diagnostics, which are what a failing case usually needs.
const shown = 3000

func (r *Result) String() string {
	return fmt.Sprintf("code=%d status=%s time=%.3f memory=%d wall=%.3f exit=%d signal=%d sandbox=%s stdout=%q stderr=%q compile_output=%q",
		r.Code, r.Status, r.Time, r.Memory, r.WallTime, r.ExitCode, r.Signal, r.Sandbox,
		Clip(r.Stdout, shown), Clip(r.Stderr, shown), Clip(r.CompileOutput, shown))
}

// Clip cuts s to n bytes for a message, saying how long it was.
func Clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + fmt.Sprintf("...[%d bytes]", len(s))
	}
	return s
}

// Judge posts j to the judge-single endpoint of the server at base (its
// URL) with c, and decodes the verdict; any answer but 200 is an error.
// The client is the caller's, so that each suite keeps its own timeouts
// and connection reuse.
func Judge(c *http.Client, base string, j Job) (*Result, error) {
	body, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("encode job: %w", err)
	}
	resp, err := c.Post(base+"/v1/judge/judge-single", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("POST judge-single: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("POST judge-single: read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST judge-single: HTTP %d: %s", resp.StatusCode, Clip(string(b), shown))
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode judge-single answer %q: %w", Clip(string(b), shown), err)
	}
	return &r, nil
}

// Status is the part of a sandbox-status answer the suites and bench
// read, the cluster view of a clustered node included.
type Status struct {
	Available int    `json:"available_sandboxes"`
	Idle      int    `json:"idle_sandboxes"`
	Running   int    `json:"running_sandboxes"`
	Error     int    `json:"error_sandboxes"`
	Starting  int    `json:"starting_sandboxes"`
	Restarts  int64  `json:"restarts"`
	Queue     int    `json:"queue_length"`
	Node      string `json:"node"`
	// Submissions this node coordinates and their tests in sandboxes.
	SubmissionsRunning int   `json:"submissions_running"`
	TestsInFlight      int   `json:"tests_in_flight"`
	ArtifactHits       int64 `json:"artifact_cache_hits"`
	FetchedBytes       int64 `json:"fetched_bytes"`
	Cluster            *struct {
		Members []Status `json:"members"`
		Total   Status   `json:"total"`
	} `json:"cluster"`
}

// GetStatus fetches the sandbox-status of the server at base with c.
func GetStatus(c *http.Client, base string) (*Status, error) {
	resp, err := c.Get(base + "/v1/manager/sandbox-status")
	if err != nil {
		return nil, fmt.Errorf("GET sandbox-status: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sandbox-status: HTTP %d", resp.StatusCode)
	}
	var s Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("sandbox-status: %w", err)
	}
	return &s, nil
}

// Submission is a /v1/judge/submission request: code or files, and a
// stored problem or inline tests.
type Submission struct {
	Language    string       `json:"language"`
	Code        string       `json:"code,omitempty"`
	Files       []SourceFile `json:"files,omitempty"`
	Problem     string       `json:"problem,omitempty"`
	Tests       []InlineTest `json:"tests,omitempty"`
	Checker     string       `json:"checker,omitempty"`
	Mode        string       `json:"mode,omitempty"`
	TimeLimit   float64      `json:"time_limit,omitempty"`
	WallLimit   float64      `json:"wall_time_limit,omitempty"`
	MemoryLimit int64        `json:"memory_limit,omitempty"`
}

// SourceFile is one file of a submission.
type SourceFile struct {
	Name     string `json:"name"`
	Content  string `json:"content"`
	Encoding string `json:"encoding,omitempty"`
}

// InlineTest is one test sent with a submission.
type InlineTest struct {
	Name   string `json:"name,omitempty"`
	Stdin  string `json:"stdin"`
	Answer string `json:"answer"`
}

// SubmissionResult is a submission's answer.
type SubmissionResult struct {
	Code          int          `json:"code"`
	Status        string       `json:"status"`
	Score         *float64     `json:"score"`
	CompileOutput string       `json:"compile_output"`
	Time          float64      `json:"time"`
	Memory        int64        `json:"memory"`
	Tests         []TestResult `json:"tests"`
	Error         string       `json:"error"`
	Sandbox       string       `json:"sandbox"`
	RequestID     string       `json:"request_id"`
}

// TestResult is one test of a SubmissionResult.
type TestResult struct {
	Name     string   `json:"name"`
	Group    string   `json:"group"`
	Code     int      `json:"code"`
	Status   string   `json:"status"`
	Time     float64  `json:"time"`
	Memory   int64    `json:"memory"`
	ExitCode int      `json:"exit_code"`
	Signal   int      `json:"signal"`
	Feedback string   `json:"feedback"`
	Score    *float64 `json:"score"`
	Node     string   `json:"node"`
}

// Verdicts are the tests' status names, in order.
func (r *SubmissionResult) Verdicts() []string {
	var out []string
	for _, t := range r.Tests {
		out = append(out, t.Status)
	}
	return out
}

func (r *SubmissionResult) String() string {
	return fmt.Sprintf("code=%d status=%s score=%v tests=%v error=%q compile_output=%q",
		r.Code, r.Status, r.Score, r.Verdicts(), r.Error, Clip(r.CompileOutput, shown))
}

// JudgeSubmission posts sub to /v1/judge/submission of the server at base
// and decodes the answer; any answer but 200 is an error.
func JudgeSubmission(c *http.Client, base string, sub Submission) (*SubmissionResult, error) {
	body, err := json.Marshal(sub)
	if err != nil {
		return nil, fmt.Errorf("encode submission: %w", err)
	}
	resp, err := c.Post(base+"/v1/judge/submission", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("POST submission: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("POST submission: read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST submission: HTTP %d: %s", resp.StatusCode, Clip(string(b), shown))
	}
	var r SubmissionResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode submission answer %q: %w", Clip(string(b), shown), err)
	}
	return &r, nil
}

// Compiles reads pecan_compiles_total of language from the server's
// /metrics (0 when it has no sample yet).
func Compiles(c *http.Client, base, language string) (int, error) {
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: HTTP %d %v", resp.StatusCode, err)
	}
	prefix := fmt.Sprintf("pecan_compiles_total{language=%q} ", language)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, nil
}
