package judge0

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	pecanhttp "github.com/pecan-judge/pecan/http"
	"github.com/pecan-judge/pecan/languages"
)

// maxArguments bounds command_line_arguments, as Judge0 does.
const maxArguments = 512

// fieldErrors is Judge0's 422 body: each field's messages.
type fieldErrors map[string][]string

func (f fieldErrors) add(field, msg string) { f[field] = append(f[field], msg) }

// input is a submission request as the client sent it, decoded and
// checked for Judge0's shape. Limits are pointers: nil is "not sent",
// which takes Pecan's default.
type input struct {
	SourceCode     []byte
	LanguageID     int
	Stdin          []byte
	ExpectedOutput []byte // nil: none sent, so the output is not compared
	CPUTimeLimit   *float64
	WallTimeLimit  *float64
	MemoryLimit    *float64
	CallbackURL    string
	RedirectStderr bool
}

// parseInput decodes one submission object. A field of the wrong shape
// or one Pecan does not support is a message under its name; limits are
// left to the native validation (Prepare), whose refusals are mapped back
// onto Judge0's field names.
func parseInput(raw json.RawMessage, b64 bool, reg *languages.Registry) (*input, fieldErrors) {
	errs := fieldErrors{}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		errs.add("base", "submission must be a JSON object")
		return nil, errs
	}
	in := &input{}
	if s, ok := text(m, "source_code", b64, errs); !ok || len(s) == 0 {
		if ok {
			errs.add("source_code", "can't be blank")
		}
	} else {
		in.SourceCode = s
	}
	switch id, ok := integer(m, "language_id", errs); {
	case !ok:
	case id == nil:
		errs.add("language_id", "can't be blank")
	default:
		if _, known := languageByID(reg, *id); !known {
			errs.add("language_id", fmt.Sprintf("language with id %d doesn't exist", *id))
		}
		in.LanguageID = *id
	}
	if s, ok := text(m, "stdin", b64, errs); ok {
		in.Stdin = s
	}
	if s, ok := text(m, "expected_output", b64, errs); ok && s != nil {
		in.ExpectedOutput = s
	}
	in.CPUTimeLimit = number(m, "cpu_time_limit", errs)
	in.WallTimeLimit = number(m, "wall_time_limit", errs)
	in.MemoryLimit = number(m, "memory_limit", errs)
	// Accepted for the clients that send them, not applied: Pecan's own
	// settings hold (README, "Judge0 and Piston clients").
	for _, f := range []string{"cpu_extra_time", "stack_limit", "max_processes_and_or_threads", "max_file_size"} {
		number(m, f, errs)
	}
	if n := number(m, "number_of_runs", errs); n != nil && *n != 1 {
		errs.add("number_of_runs", "must be equal to 1 (Pecan runs a submission once)")
	}
	for _, f := range []string{"compiler_options", "command_line_arguments", "additional_files"} {
		if s, ok := text(m, f, false, errs); ok && len(s) > 0 {
			if f == "command_line_arguments" && len(s) > maxArguments {
				errs.add(f, fmt.Sprintf("is too long (maximum is %d characters)", maxArguments))
				continue
			}
			errs.add(f, "is not supported by this server")
		}
	}
	for _, f := range []string{"enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit"} {
		if v, ok := boolean(m, f, errs); ok && v {
			errs.add(f, "is not supported by this server: limits apply to all processes of a run together")
		}
	}
	if v, ok := boolean(m, "enable_network", errs); ok && v {
		errs.add("enable_network", "enabling network is not allowed")
	}
	if v, ok := boolean(m, "redirect_stderr_to_stdout", errs); ok {
		in.RedirectStderr = v
	}
	if s, ok := text(m, "callback_url", false, errs); ok && len(s) > 0 {
		in.CallbackURL = string(s)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return in, nil
}

// nativeRequest is the input as a native judge-single request.
func (in *input) nativeRequest(l language) pecanhttp.Request {
	r := pecanhttp.Request{
		Language:      l.Lang.ID,
		Stdin:         string(in.Stdin),
		TimeLimit:     in.CPUTimeLimit,
		WallTimeLimit: in.WallTimeLimit,
		MemoryLimit:   in.MemoryLimit,
		// Judge0 compares as the lines checker does: each line without
		// trailing whitespace, trailing blank lines ignored. Without an
		// expected output it does not compare at all.
		Checker: "lines",
	}
	if in.ExpectedOutput == nil {
		r.Checker = "any"
	} else {
		r.DesiredStdout = string(in.ExpectedOutput)
	}
	if utf8.Valid(in.SourceCode) {
		r.Code = string(in.SourceCode)
	} else {
		// Binary source goes through files, which carry exact bytes.
		r.Files = []pecanhttp.File{{Name: l.Lang.Source, Content: base64.StdEncoding.EncodeToString(in.SourceCode), Encoding: "base64"}}
	}
	return r
}

// nativeFields maps the native request's field names onto Judge0's, for
// the native validation's refusals.
var nativeFields = map[string]string{
	"language":        "language_id",
	"code":            "source_code",
	"files":           "source_code",
	"stdin":           "stdin",
	"desired_stdout":  "expected_output",
	"time_limit":      "cpu_time_limit",
	"wall_time_limit": "wall_time_limit",
	"memory_limit":    "memory_limit",
}

// fromInvalid turns the native validation's refusal into Judge0's 422 map.
func fromInvalid(err error) fieldErrors {
	var inv *pecanhttp.InvalidError
	if !errors.As(err, &inv) {
		return fieldErrors{"base": {err.Error()}}
	}
	field, ok := nativeFields[inv.Field]
	if !ok {
		field = "base"
	}
	return fieldErrors{field: {inv.Message}}
}

// text reads a string field, base64-decoded when b64; ok is false when it
// was refused (the reason is in errs). Absent and null are nil.
func text(m map[string]json.RawMessage, name string, b64 bool, errs fieldErrors) ([]byte, bool) {
	v, present := m[name]
	if !present || isNull(v) {
		return nil, true
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		errs.add(name, "must be a string")
		return nil, false
	}
	if !b64 {
		return []byte(s), true
	}
	b, err := decodeBase64(s)
	if err != nil {
		errs.add(name, "is not valid base64")
		return nil, false
	}
	return b, true
}

// decodeBase64 accepts standard base64 with or without padding, and the
// line breaks some encoders insert.
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// number reads a numeric field: a JSON number or a numeric string, as
// Rails casts them. Absent and null are nil.
func number(m map[string]json.RawMessage, name string, errs fieldErrors) *float64 {
	v, present := m[name]
	if !present || isNull(v) {
		return nil
	}
	str := string(v)
	if v[0] == '"' {
		if err := json.Unmarshal(v, &str); err != nil {
			errs.add(name, "is not a number")
			return nil
		}
		if strings.TrimSpace(str) == "" {
			return nil
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(str), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		errs.add(name, "is not a number")
		return nil
	}
	return &f
}

// integer is number for a whole number; ok is false when refused.
func integer(m map[string]json.RawMessage, name string, errs fieldErrors) (*int, bool) {
	before := len(errs[name])
	f := number(m, name, errs)
	if len(errs[name]) > before {
		return nil, false
	}
	if f == nil {
		return nil, true
	}
	if *f != math.Trunc(*f) || math.Abs(*f) > math.MaxInt32 {
		errs.add(name, "must be an integer")
		return nil, false
	}
	n := int(*f)
	return &n, true
}

// boolean reads a boolean field (Rails also casts "true"/"false").
func boolean(m map[string]json.RawMessage, name string, errs fieldErrors) (bool, bool) {
	v, present := m[name]
	if !present || isNull(v) {
		return false, false
	}
	switch strings.Trim(string(bytes.TrimSpace(v)), `"`) {
	case "true", "1":
		return true, true
	case "false", "0", "":
		return false, true
	}
	errs.add(name, "must be true or false")
	return false, false
}

func isNull(v json.RawMessage) bool { return len(v) == 0 || string(v) == "null" }

// timestamp is Judge0's datetime format: UTC with milliseconds and a Z
// (the Python SDK parses %Y-%m-%dT%H:%M:%S.%fZ, fraction and Z required).
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
