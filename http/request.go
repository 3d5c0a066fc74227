package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/judge"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
)

// minSeconds is the smallest time limit accepted. Anything smaller would
// round to a zero Duration further down, which backends read as "use
// your default" — the opposite of what the client asked for.
const minSeconds = 0.001

// judgeRequest is a judge-single request after decoding, defaulting and
// validation: every limit is within the configured bounds.
type judgeRequest struct {
	Language *languages.Language
	// Code or Files, never both: the submission's one file or its files.
	Code          string
	Files         []*messages.SourceFile
	Stdin         string
	DesiredStdout string
	Checker       string
	CPUSeconds    float64
	WallSeconds   float64
	MemoryKiB     int64
}

// decodeRequest parses and validates a judge-single body. Every error is a
// message for the client that names the offending field.
//
// It decodes into raw fields first instead of straight into a struct because
// encoding/json would match keys case-insensitively, accept "1" for a
// json.Number and name fields poorly in its errors; this way each field's
// type is checked exactly and the message says which field is wrong.
// A JSON null counts as an absent field. Unknown fields are ignored so
// clients of the original API that send extras keep working.
func decodeRequest(body []byte, lim config.Limits, langs *languages.Registry) (*judgeRequest, error) {
	raw, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	return requestFromFields(raw, lim, langs)
}

// parseObject splits a request body into its top-level fields.
func parseObject(body []byte) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("request body is empty; expected a JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, errors.New("request body must be a JSON object")
		}
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if raw == nil { // the body was `null`
		return nil, errors.New("request body must be a JSON object")
	}
	return raw, nil
}

// requestFromFields is decodeRequest after parsing.
func requestFromFields(raw map[string]json.RawMessage, lim config.Limits, langs *languages.Registry) (*judgeRequest, error) {
	var r judgeRequest
	lang, err := stringField(raw, "language")
	if err != nil {
		return nil, err
	}
	if lang == nil || strings.TrimSpace(*lang) == "" {
		return nil, fmt.Errorf(`field "language" is required (valid: %s)`, strings.Join(langs.Names(), ", "))
	}
	l, ok := langs.Lookup(*lang)
	if !ok {
		return nil, fmt.Errorf(`field "language": unknown language %q (valid: %s)`, *lang, strings.Join(langs.Names(), ", "))
	}
	r.Language = l

	if r.Code, r.Files, err = sourceFields(raw, lim, l); err != nil {
		return nil, err
	}

	stdin, err := stringField(raw, "stdin")
	if err != nil {
		return nil, err
	}
	if stdin != nil {
		if max := lim.MaxStdinKiB * 1024; int64(len(*stdin)) > max {
			return nil, fmt.Errorf(`field "stdin" is %d bytes, over the limit of %d KiB`, len(*stdin), lim.MaxStdinKiB)
		}
		r.Stdin = *stdin
	}

	want, err := stringField(raw, "desired_stdout")
	if err != nil {
		return nil, err
	}
	if want != nil {
		r.DesiredStdout = *want
	}

	checker, err := stringField(raw, "checker")
	if err != nil {
		return nil, err
	}
	if checker != nil {
		if _, err := judge.ParseChecker(*checker); err != nil {
			return nil, fmt.Errorf(`field "checker": %v`, err)
		}
		r.Checker = *checker
	}
	if r.Checker == "" {
		r.Checker = judge.DefaultChecker
	}

	cpu, err := numberField(raw, "time_limit")
	if err != nil {
		return nil, err
	}
	r.CPUSeconds = lim.DefaultTime
	if cpu != nil {
		if err := checkSeconds("time_limit", *cpu, lim.MaxTime); err != nil {
			return nil, err
		}
		r.CPUSeconds = *cpu
	}

	wall, err := numberField(raw, "wall_time_limit")
	if err != nil {
		return nil, err
	}
	r.WallSeconds = math.Min(r.CPUSeconds*lim.WallFactor+1, lim.MaxWallTime)
	if wall != nil {
		if err := checkSeconds("wall_time_limit", *wall, lim.MaxWallTime); err != nil {
			return nil, err
		}
		r.WallSeconds = *wall
	}

	mem, err := numberField(raw, "memory_limit")
	if err != nil {
		return nil, err
	}
	r.MemoryKiB = lim.DefaultMemoryKiB
	if mem != nil {
		m := *mem
		if m != math.Trunc(m) {
			return nil, fmt.Errorf(`field "memory_limit" must be a whole number of KiB, got %v`, m)
		}
		if m <= 0 || m > float64(lim.MaxMemoryKiB) {
			return nil, fmt.Errorf(`field "memory_limit" must be between 1 and %d KiB, got %v`, lim.MaxMemoryKiB, m)
		}
		r.MemoryKiB = int64(m)
	}
	return &r, nil
}

// maxWebhookURL bounds webhook_url: it is stored with the job and sent
// nowhere else, and no real receiver needs more.
const maxWebhookURL = 2048

// webhookURLField is the optional webhook_url of an async request: an
// absolute http or https URL with a host. Whether its address may be
// reached is the async queue's decision (it knows the SSRF setting).
func webhookURLField(raw map[string]json.RawMessage) (string, error) {
	s, err := stringField(raw, "webhook_url")
	if err != nil || s == nil || *s == "" {
		return "", err
	}
	if len(*s) > maxWebhookURL {
		return "", fmt.Errorf(`field "webhook_url" is %d bytes, over the limit of %d`, len(*s), maxWebhookURL)
	}
	u, err := url.Parse(*s)
	if err != nil {
		return "", fmt.Errorf(`field "webhook_url": %v`, err)
	}
	if sch := strings.ToLower(u.Scheme); sch != "http" && sch != "https" {
		return "", fmt.Errorf(`field "webhook_url" must be an http or https URL, got scheme %q`, u.Scheme)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf(`field "webhook_url" has no host: %q`, truncate(*s, 80))
	}
	return *s, nil
}

// stringField returns the named field as a string, nil when absent or null.
func stringField(raw map[string]json.RawMessage, name string) (*string, error) {
	return stringFieldAs(raw, name, name)
}

// stringFieldAs is stringField for the key of an object inside the body:
// errors call it label ("files[2].name").
func stringFieldAs(raw map[string]json.RawMessage, key, label string) (*string, error) {
	v, ok := raw[key]
	if !ok || isNull(v) {
		return nil, nil
	}
	if v[0] != '"' {
		return nil, fmt.Errorf("field %q must be a string, got %s", label, jsonKind(v))
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, fmt.Errorf("field %q: %v", label, err)
	}
	return &s, nil
}

// numberField returns the named field as a finite float64, nil when absent
// or null. A string such as "1" is refused: silently coercing it would hide
// a client bug.
func numberField(raw map[string]json.RawMessage, name string) (*float64, error) {
	v, ok := raw[name]
	if !ok || isNull(v) {
		return nil, nil
	}
	if c := v[0]; c != '-' && (c < '0' || c > '9') {
		return nil, fmt.Errorf("field %q must be a number, got %s", name, jsonKind(v))
	}
	// RawMessage came out of a successful Unmarshal, so v is valid JSON
	// number syntax; ParseFloat only fails on overflow (1e400).
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("field %q must be a finite number, got %s", name, truncate(string(v), 40))
	}
	return &f, nil
}

// checkSeconds bounds a time limit to [minSeconds, max].
func checkSeconds(name string, v, max float64) error {
	if v < minSeconds || v > max {
		return fmt.Errorf("field %q must be between %g and %g seconds, got %g", name, minSeconds, max, v)
	}
	return nil
}

func isNull(v json.RawMessage) bool { return len(v) == 0 || string(v) == "null" }

// jsonKind names the JSON type of a raw value for error messages.
func jsonKind(v json.RawMessage) string {
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
