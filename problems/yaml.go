package problems

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// parseYAML decodes a YAML mapping (an empty document is an empty one).
// Values come back as JSON would give them (maps with string keys,
// float64 numbers), so that what is judged from a fresh upload and from
// a manifest read back after a restart is the same.
func parseYAML(file string, content []byte) (map[string]any, error) {
	var doc any
	if err := yaml.Unmarshal(content, &doc); err != nil {
		// The library lists several errors on lines of their own.
		msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), ":\n", ":")), " ")
		return nil, bad(file, "invalid YAML: %s", msg)
	}
	if doc == nil {
		return map[string]any{}, nil
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, bad(file, "must be a YAML mapping of keys to values, not %s", yamlKind(doc))
	}
	norm, err := jsonValue(doc)
	if err != nil {
		return nil, bad(file, "%v", err)
	}
	return norm.(map[string]any), nil
}

// jsonValue converts a decoded YAML value into its JSON form, refusing
// what JSON cannot carry (keys that are not strings, infinite numbers).
func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			jv, err := jsonValue(x)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = jv
		}
		return out, nil
	case map[any]any:
		return nil, fmt.Errorf("mapping keys must be strings")
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			jv, err := jsonValue(x)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = jv
		}
		return out, nil
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("%v cannot be stored (write it as a string)", v)
		}
	}
	// Everything else (strings, integers, booleans, timestamps) takes the
	// JSON round trip's form.
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value %v cannot be stored: %w", v, err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("value %v cannot be stored: %w", v, err)
	}
	return out, nil
}

func yamlKind(v any) string {
	switch v.(type) {
	case []any:
		return "a sequence"
	case string:
		return "a string"
	case float64, int, int64, uint64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "empty"
	}
	return fmt.Sprintf("%T", v)
}

// fields reads typed values out of a decoded mapping, naming the file and
// key of what is wrong.
type fields struct {
	file   string
	prefix string // "limits." for a nested mapping
	m      map[string]any
}

func (f fields) where(key string) string { return f.prefix + key }

func (f fields) err(key, format string, args ...any) error {
	return bad(f.file, "%s: %s", f.where(key), fmt.Sprintf(format, args...))
}

func (f fields) has(key string) bool {
	v, ok := f.m[key]
	return ok && v != nil
}

// str is a string value; ok is false when the key is absent.
func (f fields) str(key string) (string, bool, error) {
	if !f.has(key) {
		return "", false, nil
	}
	s, isStr := f.m[key].(string)
	if !isStr {
		return "", false, f.err(key, "must be a string, not %s", yamlKind(f.m[key]))
	}
	return s, true, nil
}

// strings is a string or a sequence of strings.
func (f fields) strings(key string) ([]string, bool, error) {
	if !f.has(key) {
		return nil, false, nil
	}
	switch v := f.m[key].(type) {
	case string:
		return []string{v}, true, nil
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, false, f.err(key, "item %d must be a string, not %s", i+1, yamlKind(x))
			}
			out[i] = s
		}
		return out, true, nil
	}
	return nil, false, f.err(key, "must be a string or a sequence of strings, not %s", yamlKind(f.m[key]))
}

// positive is a number > 0.
func (f fields) positive(key string) (float64, bool, error) {
	if !f.has(key) {
		return 0, false, nil
	}
	x, isNum := f.m[key].(float64)
	if !isNum {
		return 0, false, f.err(key, "must be a number, not %s", yamlKind(f.m[key]))
	}
	if !(x > 0) || math.IsInf(x, 0) {
		return 0, false, f.err(key, "must be a positive number, got %v", x)
	}
	return x, true, nil
}

// positiveInt is a whole number > 0 (MiB).
func (f fields) positiveInt(key string) (int64, bool, error) {
	x, ok, err := f.positive(key)
	if err != nil || !ok {
		return 0, ok, err
	}
	if x != math.Trunc(x) || x > 1<<40 {
		return 0, false, f.err(key, "must be a whole number (MiB), got %v", x)
	}
	return int64(x), true, nil
}

// sub is a nested mapping.
func (f fields) sub(key string) (fields, error) {
	out := fields{file: f.file, prefix: f.where(key) + ".", m: map[string]any{}}
	if !f.has(key) {
		return out, nil
	}
	m, ok := f.m[key].(map[string]any)
	if !ok {
		return out, f.err(key, "must be a mapping, not %s", yamlKind(f.m[key]))
	}
	out.m = m
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func joinQuoted(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}
