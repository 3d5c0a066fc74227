package judge0

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/pecan-judge/pecan/languages"
)

// judge0Language is one of Judge0 CE 1.13.1's language ids served by one
// of Pecan's languages.
type judge0Language struct {
	ID int
	// Pecan is the Pecan language id (or alias) it runs as.
	Pecan string
	// Name is Judge0's name with %s for the toolchain version.
	Name string
}

// languageTable is Judge0's ids for the nine shipped languages. 52 is the
// id the Python SDK's CPP alias names; it runs as 54 does.
var languageTable = []judge0Language{
	{50, "c", "C (GCC %s)"},
	{52, "cpp", "C++ (GCC %s)"},
	{54, "cpp", "C++ (GCC %s)"},
	{60, "go", "Go (%s)"},
	{62, "java", "Java (OpenJDK %s)"},
	{63, "node", "JavaScript (Node.js %s)"},
	{71, "python", "Python (%s)"},
	{73, "rust", "Rust (%s)"},
	{74, "typescript", "TypeScript (%s)"},
	{78, "kotlin", "Kotlin (%s)"},
}

// language is a Judge0 id resolved against the registry.
type language struct {
	ID   int
	Name string
	Lang *languages.Language
}

// languageByID resolves a Judge0 id; ok is false for an id Pecan does not
// serve (not in the table, not configured, or its toolchain missing).
func languageByID(reg *languages.Registry, id int) (language, bool) {
	for _, t := range languageTable {
		if t.ID != id {
			continue
		}
		l, ok := reg.Lookup(t.Pecan)
		if !ok || !l.Available {
			return language{}, false
		}
		return language{ID: id, Name: nameOf(t, l), Lang: l}, true
	}
	return language{}, false
}

// nameOf is Judge0's name of the language with Pecan's toolchain version.
func nameOf(t judge0Language, l *languages.Language) string {
	v := l.VersionNumber()
	if v == "" {
		return strings.TrimSuffix(fmt.Sprintf(t.Name, ""), " ()")
	}
	return fmt.Sprintf(t.Name, v)
}

// allLanguages lists the ids Pecan serves, sorted by name (then id), as
// Judge0's GET /languages does.
func allLanguages(reg *languages.Registry) []language {
	var out []language
	for _, t := range languageTable {
		if l, ok := languageByID(reg, t.ID); ok {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b language) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return out
}
