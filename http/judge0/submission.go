package judge0

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/messages"
)

// submission is a Judge0 submission as kept in the async store: what was
// asked (the job's meta) and, once judged, what came of it (its result).
// Byte fields are base64 in the stored JSON, so any output round-trips.
type submission struct {
	Token          string    `json:"token"`
	SourceCode     []byte    `json:"source_code"`
	LanguageID     int       `json:"language_id"`
	LanguageName   string    `json:"language_name"`
	Stdin          []byte    `json:"stdin"`
	ExpectedOutput []byte    `json:"expected_output"`
	CallbackURL    string    `json:"callback_url,omitempty"`
	RedirectStderr bool      `json:"redirect_stderr_to_stdout,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	// The limits the run had, as Pecan applies them.
	CPUTimeLimit  float64       `json:"cpu_time_limit"`
	WallTimeLimit float64       `json:"wall_time_limit"`
	MemoryLimit   int64         `json:"memory_limit"`
	Fixed         config.Limits `json:"-"` // Pecan's fixed limits, reported alongside

	// Set when judged.
	StatusID      int        `json:"status_id"`
	Stdout        []byte     `json:"stdout,omitempty"`
	Stderr        []byte     `json:"stderr,omitempty"`
	CompileOutput []byte     `json:"compile_output,omitempty"`
	Message       string     `json:"message,omitempty"`
	Time          *float64   `json:"time,omitempty"`
	WallTime      *float64   `json:"wall_time,omitempty"`
	Memory        *int64     `json:"memory,omitempty"`
	ExitCode      *int32     `json:"exit_code,omitempty"`
	ExitSignal    *int32     `json:"exit_signal,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
}

// newSubmission is a queued submission of in, judged as req.
func newSubmission(token string, in *input, l language, req *messages.ExecuteRequest, now time.Time) *submission {
	return &submission{
		Token:          token,
		SourceCode:     in.SourceCode,
		LanguageID:     l.ID,
		LanguageName:   l.Name,
		Stdin:          in.Stdin,
		ExpectedOutput: in.ExpectedOutput,
		CallbackURL:    in.CallbackURL,
		RedirectStderr: in.RedirectStderr,
		CreatedAt:      now.UTC(),
		CPUTimeLimit:   req.GetLimits().GetCpuSeconds(),
		WallTimeLimit:  req.GetLimits().GetWallSeconds(),
		MemoryLimit:    req.GetLimits().GetMemoryKib(),
		StatusID:       statusInQueue,
	}
}

// judged records resp on s.
func (s *submission) judged(resp *messages.ExecuteResponse, now time.Time) {
	s.StatusID, s.Message = statusOf(resp)
	fin := now.UTC()
	s.FinishedAt = &fin
	if resp.Failure != messages.Failure_FAILURE_NONE {
		return
	}
	s.CompileOutput = []byte(resp.CompileOutput)
	if s.StatusID == statusCompileError {
		// Judge0 reports neither output nor measurements of a program
		// that did not compile.
		return
	}
	s.Stdout, s.Stderr = resp.Stdout, resp.Stderr
	if s.RedirectStderr {
		s.Stdout, s.Stderr = append(slices.Clip(resp.Stdout), resp.Stderr...), nil
	}
	t, w, m := resp.Time, resp.WallTime, resp.MemoryKib
	s.Time, s.WallTime, s.Memory = &t, &w, &m
	if resp.Signal != 0 {
		sig := resp.Signal
		s.ExitSignal = &sig
	} else {
		code := resp.ExitCode
		s.ExitCode = &code
	}
}

// defaultFields are returned without a fields parameter.
var defaultFields = []string{"token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status"}

// allFields are v1.13.1's submission columns and its two objects: what
// fields=* returns. No other key is ever returned (the Python SDK fails
// on keys it does not know).
var allFields = []string{
	"source_code", "language_id", "stdin", "expected_output", "stdout", "status_id", "created_at",
	"finished_at", "time", "memory", "stderr", "token", "number_of_runs", "cpu_time_limit",
	"cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit", "max_processes_and_or_threads",
	"enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit",
	"max_file_size", "compile_output", "exit_code", "exit_signal", "message", "wall_time",
	"compiler_options", "command_line_arguments", "redirect_stderr_to_stdout", "callback_url",
	"additional_files", "enable_network", "status", "language",
}

// base64Fields are encoded with base64_encoded=true.
var base64Fields = map[string]bool{
	"stdout": true, "stderr": true, "compile_output": true, "source_code": true,
	"stdin": true, "expected_output": true, "message": true,
}

// parseFields reads the fields parameter: "" the default set, "*" all.
func parseFields(param string) ([]string, error) {
	switch param = strings.TrimSpace(param); param {
	case "":
		return defaultFields, nil
	case "*":
		return allFields, nil
	}
	var fields, unknown []string
	for f := range strings.SplitSeq(param, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
		case slices.Contains(allFields, f):
			fields = append(fields, f)
		default:
			unknown = append(unknown, f)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("invalid fields: [%s]", strings.Join(unknown, ", "))
	}
	return fields, nil
}

// errNotUTF8 is returned for output that JSON cannot carry as text.
var errNotUTF8 = fmt.Errorf("some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter")

// view is the JSON object of s with fields, its texts base64-encoded when
// b64 (standard, padded, no line breaks); without b64 a text that is not
// UTF-8 is errNotUTF8.
func (s *submission) view(fields []string, b64 bool) (map[string]any, error) {
	all := s.columns()
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		v := all[f]
		if b, ok := v.([]byte); ok {
			switch {
			case len(b) == 0 && f != "source_code":
				v = nil // Judge0 sends empty outputs as null
			case b64 && base64Fields[f]:
				v = base64.StdEncoding.EncodeToString(b)
			case !utf8.Valid(b):
				return nil, errNotUTF8
			default:
				v = string(b)
			}
		}
		out[f] = v
	}
	return out, nil
}

// columns are every field's value; texts as []byte (nil is null).
func (s *submission) columns() map[string]any {
	var message []byte
	if s.Message != "" {
		message = []byte(s.Message)
	}
	var finished any
	if s.FinishedAt != nil {
		finished = timestamp(*s.FinishedAt)
	}
	var callback any
	if s.CallbackURL != "" {
		callback = s.CallbackURL
	}
	return map[string]any{
		"token":                        s.Token,
		"source_code":                  s.SourceCode,
		"language_id":                  s.LanguageID,
		"stdin":                        s.Stdin,
		"expected_output":              s.ExpectedOutput,
		"stdout":                       s.Stdout,
		"stderr":                       s.Stderr,
		"compile_output":               s.CompileOutput,
		"message":                      message,
		"status_id":                    s.StatusID,
		"status":                       statusObject(s.StatusID),
		"language":                     map[string]any{"id": s.LanguageID, "name": s.LanguageName},
		"created_at":                   timestamp(s.CreatedAt),
		"finished_at":                  finished,
		"time":                         decimal(s.Time),
		"wall_time":                    decimal(s.WallTime),
		"memory":                       nullable(s.Memory),
		"exit_code":                    nullable(s.ExitCode),
		"exit_signal":                  nullable(s.ExitSignal),
		"number_of_runs":               1,
		"cpu_time_limit":               s.CPUTimeLimit,
		"cpu_extra_time":               0.0,
		"wall_time_limit":              s.WallTimeLimit,
		"memory_limit":                 s.MemoryLimit,
		"stack_limit":                  stackLimit(s.Fixed),
		"max_processes_and_or_threads": s.Fixed.Processes,
		"max_file_size":                s.Fixed.FileSizeKiB,
		"enable_per_process_and_thread_time_limit":   false,
		"enable_per_process_and_thread_memory_limit": false,
		"compiler_options":                           nil,
		"command_line_arguments":                     nil,
		"redirect_stderr_to_stdout":                  s.RedirectStderr,
		"callback_url":                               callback,
		"additional_files":                           nil,
		"enable_network":                             false,
	}
}

// stackLimit is Pecan's stack limit in KiB; unlimited (0) is bounded by
// the largest memory limit.
func stackLimit(l config.Limits) int64 {
	if l.StackKiB > 0 {
		return int64(l.StackKiB)
	}
	return l.MaxMemoryKiB
}

func statusObject(id int) map[string]any {
	return map[string]any{"id": id, "description": statusDescriptions[id]}
}

// decimal is Judge0's "0.002": seconds as a decimal string.
func decimal(f *float64) any {
	if f == nil {
		return nil
	}
	return strconv.FormatFloat(*f, 'f', 3, 64)
}

func nullable[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// marshalView is view's JSON.
func (s *submission) marshalView(fields []string, b64 bool) ([]byte, error) {
	v, err := s.view(fields, b64)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// sortedStatuses is GET /statuses.
func sortedStatuses() []map[string]any {
	ids := make([]int, 0, len(statusDescriptions))
	for id := range statusDescriptions {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	out := make([]map[string]any, len(ids))
	for i, id := range ids {
		out[i] = statusObject(id)
	}
	return out
}
