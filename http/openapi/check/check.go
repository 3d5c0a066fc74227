// Package check validates HTTP responses against an OpenAPI 3.1 document:
// the operation of the request's method and path must document the
// response's status, its media type, and a schema its body satisfies.
// The end-to-end suites run every native response they see through it
// (tests/testserver), so the document cannot drift from the server.
package check

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// docURL names the document among the compiler's resources; $refs inside
// it ("#/components/...") resolve against it.
const docURL = "file:///openapi.json"

// ErrUndocumented marks a request whose method and path the document has
// no operation for.
var ErrUndocumented = errors.New("no such operation in the document")

// Validator checks responses against one document. It is safe for
// concurrent use; schemas are compiled once, when first needed.
type Validator struct {
	doc      document
	compiler *jsonschema.Compiler

	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema // by JSON pointer
}

// document is the part of an OpenAPI document the checks read.
type document struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Responses map[string]response `json:"responses"`
	} `json:"components"`
}

type response struct {
	Ref     string                     `json:"$ref"`
	Content map[string]json.RawMessage `json:"content"`
}

type operation struct {
	Responses map[string]response `json:"responses"`
}

// New parses doc, an OpenAPI 3.1 document in JSON.
func New(doc []byte) (*Validator, error) {
	v := &Validator{schemas: map[string]*jsonschema.Schema{}}
	if err := json.Unmarshal(doc, &v.doc); err != nil {
		return nil, fmt.Errorf("parse the OpenAPI document: %w", err)
	}
	if len(v.doc.Paths) == 0 {
		return nil, errors.New("the OpenAPI document has no paths")
	}
	root, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("parse the OpenAPI document: %w", err)
	}
	v.compiler = jsonschema.NewCompiler()
	v.compiler.DefaultDraft(jsonschema.Draft2020) // OpenAPI 3.1's dialect
	v.compiler.AssertFormat()
	v.compiler.AssertContent()
	if err := v.compiler.AddResource(docURL, root); err != nil {
		return nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	return v, nil
}

// Check validates one response: status, its Content-Type header and body,
// to a request of method on path (the URL's escaped path). A HEAD is
// checked as a GET without its body.
func (v *Validator) Check(method, path string, status int, contentType string, body []byte) error {
	tmpl, ok := v.match(path)
	if !ok {
		return fmt.Errorf("%s %s: %w (no path matches)", method, path, ErrUndocumented)
	}
	m := strings.ToLower(method)
	if m == "head" {
		m = "get"
	}
	rawOp, ok := v.doc.Paths[tmpl][m]
	if !ok {
		return fmt.Errorf("%s %s: %w (path %s has no %s)", method, path, ErrUndocumented, tmpl, method)
	}
	var op operation
	if err := json.Unmarshal(rawOp, &op); err != nil {
		return fmt.Errorf("%s %s: operation of %s: %w", method, path, tmpl, err)
	}
	key, resp, ok := pickResponse(op.Responses, status)
	if !ok {
		return fmt.Errorf("%s %s: status %d is not documented for %s %s", method, path, status, strings.ToUpper(m), tmpl)
	}
	at := pointer("paths", tmpl, m, "responses", key)
	if resp.Ref != "" {
		name, local := strings.CutPrefix(resp.Ref, "#/components/responses/")
		r, ok := v.doc.Components.Responses[name]
		if !local || !ok {
			return fmt.Errorf("%s %s: unresolvable response %s", method, path, resp.Ref)
		}
		resp, at = r, pointer("components", "responses", name)
	}
	if err := v.checkBody(at, resp, contentType, body, method == "HEAD"); err != nil {
		return fmt.Errorf("%s %s → %d: %w", method, path, status, err)
	}
	return nil
}

// CheckSchema validates body, JSON, against the named schema of
// components/schemas.
func (v *Validator) CheckSchema(name string, body []byte) error {
	s, err := v.schema(pointer("components", "schemas", name))
	if err != nil {
		return err
	}
	return validateJSON(s, body)
}

// checkBody checks the media type and body of a response documented at
// pointer at.
func (v *Validator) checkBody(at string, resp response, contentType string, body []byte, head bool) error {
	if len(resp.Content) == 0 {
		if len(body) != 0 {
			return fmt.Errorf("documented without a body, got %d bytes", len(body))
		}
		return nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("Content-Type %q: %v", contentType, err)
	}
	if _, ok := resp.Content[mt]; !ok {
		return fmt.Errorf("media type %s is not documented (documented: %s)", mt, strings.Join(keys(resp.Content), ", "))
	}
	if head {
		return nil
	}
	s, err := v.schema(at + pointer("content", mt, "schema"))
	if err != nil {
		return err
	}
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		return validateJSON(s, body)
	}
	// Any other body is a string instance of its schema.
	if err := s.Validate(string(body)); err != nil {
		return fmt.Errorf("body does not match the schema: %v", err)
	}
	return nil
}

func validateJSON(s *jsonschema.Schema, body []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body is not JSON: %v (%.200q)", err, body)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("body does not match the schema: %v (%.300q)", err, body)
	}
	return nil
}

// schema compiles the schema at pointer at of the document, once.
func (v *Validator) schema(at string) (*jsonschema.Schema, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.schemas[at]; ok {
		return s, nil
	}
	s, err := v.compiler.Compile(docURL + "#" + at)
	if err != nil {
		return nil, fmt.Errorf("compile the schema at %s: %w", at, err)
	}
	v.schemas[at] = s
	return s, nil
}

// match finds the path template of path. Literal segments win over
// parameters, as OpenAPI says; a trailing slash is ignored, as the server
// ignores it.
func (v *Validator) match(path string) (string, bool) {
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	segs := strings.Split(path, "/")
	best, bestParams := "", -1
	for tmpl := range v.doc.Paths {
		t := strings.Split(tmpl, "/")
		if len(t) != len(segs) {
			continue
		}
		params, ok := 0, true
		for i := range t {
			switch {
			case strings.HasPrefix(t[i], "{") && strings.HasSuffix(t[i], "}"):
				params++
				ok = ok && segs[i] != ""
			default:
				ok = ok && t[i] == unescape(segs[i])
			}
		}
		if ok && (bestParams < 0 || params < bestParams) {
			best, bestParams = tmpl, params
		}
	}
	return best, bestParams >= 0
}

func unescape(seg string) string {
	if s, err := url.PathUnescape(seg); err == nil {
		return s
	}
	return seg
}

// pickResponse is the response documented for status: its own, its
// class's ("4XX") or the default.
func pickResponse(rs map[string]response, status int) (string, response, bool) {
	for _, k := range []string{strconv.Itoa(status), fmt.Sprintf("%dXX", status/100), "default"} {
		if r, ok := rs[k]; ok {
			return k, r, true
		}
	}
	return "", response{}, false
}

// pointer joins JSON pointer tokens, escaped, each with a leading "/".
func pointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

func keys[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
