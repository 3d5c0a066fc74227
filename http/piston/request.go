package piston

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/pecan-judge/pecan/config"
	pecanhttp "github.com/pecan-judge/pecan/http"
	"github.com/pecan-judge/pecan/languages"
)

// request is an execute request after Piston's validation.
type request struct {
	runtime runtime
	files   []file
	stdin   string
	// Limits in Pecan's units; nil takes the native default.
	cpuSeconds, wallSeconds, memoryKiB *float64
}

type file struct {
	name    string
	content []byte
}

// wire is the request body as sent.
type wire struct {
	Language           *string           `json:"language"`
	Version            *string           `json:"version"`
	Files              []json.RawMessage `json:"files"`
	Stdin              *string           `json:"stdin"`
	Args               []json.RawMessage `json:"args"`
	CompileTimeout     json.RawMessage   `json:"compile_timeout"`
	RunTimeout         json.RawMessage   `json:"run_timeout"`
	CompileCPUTime     json.RawMessage   `json:"compile_cpu_time"`
	RunCPUTime         json.RawMessage   `json:"run_cpu_time"`
	CompileMemoryLimit json.RawMessage   `json:"compile_memory_limit"`
	RunMemoryLimit     json.RawMessage   `json:"run_memory_limit"`
}

// parseRequest validates a body as Piston does, first failure wins, with
// Piston's messages. The bounds of the run limits are Pecan's [limits].
// compile_* limits and args are checked for shape and not applied: a
// language's compile limits are its own, and programs run without
// arguments (README, "Judge0 and Piston clients").
func parseRequest(body []byte, reg *languages.Registry, lim config.Limits) (*request, error) {
	var w wire
	if err := decodeJSON(body, &w); err != nil {
		return nil, err
	}
	if w.Language == nil {
		return nil, errorf("language is required as a string")
	}
	if w.Version == nil {
		return nil, errorf("version is required as a string")
	}
	if w.Files == nil {
		return nil, errorf("files is required as an array")
	}
	r := &request{}
	for i, raw := range w.Files {
		f, err := parseFile(i, raw)
		if err != nil {
			return nil, err
		}
		r.files = append(r.files, f)
	}
	if len(r.files) == 0 {
		return nil, errorf("files is required as an array")
	}
	rt, ok := findRuntime(reg, *w.Language, *w.Version)
	if !ok {
		return nil, errorf("%s-%s runtime is unknown", *w.Language, *w.Version)
	}
	r.runtime = rt
	if w.Stdin != nil {
		r.stdin = *w.Stdin
	}
	for i, a := range w.Args {
		var s string
		if json.Unmarshal(a, &s) != nil {
			return nil, errorf("args[%d] must be a string", i)
		}
	}
	for _, c := range []struct {
		name string
		raw  json.RawMessage
		max  float64
	}{
		{"compile_timeout", w.CompileTimeout, math.Inf(1)},
		{"compile_cpu_time", w.CompileCPUTime, math.Inf(1)},
		{"compile_memory_limit", w.CompileMemoryLimit, math.Inf(1)},
	} {
		if _, err := limit(c.name, c.raw, c.max); err != nil {
			return nil, err
		}
	}
	var err error
	if r.wallSeconds, err = scaled("run_timeout", w.RunTimeout, lim.MaxWallTime*1000, 1.0/1000); err != nil {
		return nil, err
	}
	if r.cpuSeconds, err = scaled("run_cpu_time", w.RunCPUTime, lim.MaxTime*1000, 1.0/1000); err != nil {
		return nil, err
	}
	if r.memoryKiB, err = scaled("run_memory_limit", w.RunMemoryLimit, float64(lim.MaxMemoryKiB)*1024, 1.0/1024); err != nil {
		return nil, err
	}
	if r.memoryKiB != nil {
		kib := math.Ceil(*r.memoryKiB)
		r.memoryKiB = &kib
	}
	return r, nil
}

// parseFile reads files[i]; a missing name is file<i>.code, as in Piston.
func parseFile(i int, raw json.RawMessage) (file, error) {
	var f struct {
		Name     *string `json:"name"`
		Content  *string `json:"content"`
		Encoding *string `json:"encoding"`
	}
	if json.Unmarshal(raw, &f) != nil || f.Content == nil {
		return file{}, errorf("files[%d].content is required as a string", i)
	}
	out := file{name: fmt.Sprintf("file%d.code", i)}
	if f.Name != nil && *f.Name != "" {
		out.name = *f.Name
	}
	enc := "utf8"
	if f.Encoding != nil {
		enc = *f.Encoding
	}
	var err error
	switch enc {
	case "utf8":
		out.content = []byte(*f.Content)
	case "base64":
		out.content, err = base64.StdEncoding.DecodeString(*f.Content)
	case "hex":
		out.content, err = hex.DecodeString(*f.Content)
	default:
		return file{}, errorf("files[%d].encoding must be one of utf8, base64, hex", i)
	}
	if err != nil {
		return file{}, errorf("files[%d].content is not valid %s", i, enc)
	}
	return out, nil
}

// limit reads a limit field: absent, null and -1 are "the server's
// default" (nil).
func limit(name string, raw json.RawMessage, max float64) (*float64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, errorf("%s must be a number", name)
	}
	switch {
	case f == -1:
		return nil, nil
	case f < 0:
		return nil, errorf("%s must be non-negative", name)
	case f > max:
		return nil, errorf("%s cannot exceed the configured limit of %v", name, max)
	}
	return &f, nil
}

// scaled is limit converted into Pecan's unit by factor.
func scaled(name string, raw json.RawMessage, max, factor float64) (*float64, error) {
	f, err := limit(name, raw, max)
	if f == nil || err != nil {
		return nil, err
	}
	v := *f * factor
	return &v, nil
}

// native is the request as a native judge-single request. One file goes
// as code, named as the language names it (a Java class after its public
// class); several go as files, under their names. The output is not
// compared: Piston only runs programs.
func (r *request) native() pecanhttp.Request {
	n := pecanhttp.Request{
		Language:      r.runtime.lang.ID,
		Stdin:         r.stdin,
		Checker:       "any",
		TimeLimit:     r.cpuSeconds,
		WallTimeLimit: r.wallSeconds,
		MemoryLimit:   r.memoryKiB,
	}
	if len(r.files) == 1 && utf8.Valid(r.files[0].content) {
		n.Code = string(r.files[0].content)
		return n
	}
	for _, f := range r.files {
		name := f.name
		if len(r.files) == 1 {
			name = r.runtime.lang.Source // bytes that are not UTF-8
		}
		n.Files = append(n.Files, pecanhttp.File{Name: name, Content: base64.StdEncoding.EncodeToString(f.content), Encoding: "base64"})
	}
	return n
}
