// Package languages is the registry of configured languages: how to name
// them, compile them and run them, and which host toolchain paths their
// sandboxes need. Adding a language is a pecan.toml change.
package languages

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/pecan-judge/pecan/config"
)

// Language is one configured language, resolved.
type Language struct {
	ID string
	config.Language
	// StateDir holds what Setup produced; sandboxes see it read-only.
	StateDir string
	// ToolVersion is the toolchain's reported version, once probed.
	ToolVersion string
	// Available is false when the toolchain was not found on this host.
	Available bool
	// Problem says why the language is unavailable.
	Problem string

	// sourceName is the compiled SourceNamePattern, nil without one.
	sourceName *regexp.Regexp
}

// Compiled reports whether the language has a compile step.
func (l *Language) Compiled() bool { return len(l.Compile) > 0 }

// Registry looks languages up by id or alias, case-insensitively.
type Registry struct {
	byID   map[string]*Language
	byName map[string]*Language
}

// New builds the registry. stateRoot is where per-language state
// directories live (one sub-directory per language id); baseEnv comes
// before each language's own environment.
func New(langs map[string]config.Language, baseEnv []string, stateRoot string) (*Registry, error) {
	r := &Registry{byID: map[string]*Language{}, byName: map[string]*Language{}}
	ids := make([]string, 0, len(langs))
	for id := range langs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		l := &Language{ID: id, Language: langs[id]}
		if p := l.SourceNamePattern; p != "" {
			re, err := regexp.Compile(p)
			if err != nil {
				return nil, fmt.Errorf("languages.%s: source_name_pattern: %w", id, err)
			}
			if re.NumSubexp() < 1 {
				return nil, fmt.Errorf("languages.%s: source_name_pattern needs a group that names the file", id)
			}
			l.sourceName = re
		}
		l.Env = append(append([]string(nil), baseEnv...), l.Env...)
		if stateRoot != "" {
			l.StateDir = stateRoot + "/" + id
		}
		r.byID[id] = l
		for _, n := range append([]string{id}, l.Aliases...) {
			key := strings.ToLower(n)
			if other, dup := r.byName[key]; dup {
				return nil, fmt.Errorf("language name %q used by both %s and %s", n, other.ID, id)
			}
			r.byName[key] = l
		}
	}
	return r, nil
}

// Lookup finds a language by id or alias.
func (r *Registry) Lookup(name string) (*Language, bool) {
	l, ok := r.byName[strings.ToLower(strings.TrimSpace(name))]
	return l, ok
}

// All returns the languages sorted by id.
func (r *Registry) All() []*Language {
	out := make([]*Language, 0, len(r.byID))
	for _, l := range r.byID {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Names returns every accepted name (ids and aliases), sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.byName))
	for n := range r.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Mounts is the union of every language's toolchain paths and state
// directories: what each sandbox must see read-only.
func (r *Registry) Mounts() []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range r.All() {
		paths := append([]string(nil), l.Mounts...)
		if l.StateDir != "" && len(l.Setup) > 0 {
			paths = append(paths, l.StateDir)
		}
		for _, p := range paths {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}
