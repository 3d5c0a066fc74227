package languages

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// SourceName is the file a single-file submission (judge-single's code) is
// written to: what the language's source_name_pattern finds in the code
// (Java's public class, so that "public class Solution" compiles as
// Solution.java), else its source.
func (l *Language) SourceName(code []byte) string {
	if l.sourceName == nil {
		return l.Source
	}
	m := l.sourceName.FindSubmatch(code)
	if m == nil || !plainName(string(m[1])) {
		return l.Source
	}
	return string(m[1]) + path.Ext(l.Source)
}

// plainName reports whether s can name a file beside the others: not
// empty, no directory, nothing a compiler would read as an option.
func plainName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\\x00") && s[0] != '-'
}

// SourceExtensions are the endings of the language's source file names: its
// extensions, else the extension of its source.
func (l *Language) SourceExtensions() []string {
	if len(l.Extensions) > 0 {
		return l.Extensions
	}
	return []string{path.Ext(l.Source)}
}

// Sources picks, among a submission's file names in the order they were
// sent, the language's source files ({files}, in byte order so that the
// command line does not depend on the order of the request) and the file
// the program starts from ({main}): the first of the language's main
// names present, else the first source file sent. Without any source
// file of the language it fails, saying which endings it looked for.
func (l *Language) Sources(names []string) (files []string, main string, err error) {
	for _, n := range names {
		if l.isSource(n) {
			files = append(files, n)
		}
	}
	if len(files) == 0 {
		return nil, "", fmt.Errorf("no %s source file (%s) among them", l.displayName(), strings.Join(l.SourceExtensions(), ", "))
	}
	main = files[0]
	for _, m := range l.Main {
		if slices.Contains(files, m) {
			main = m
			break
		}
	}
	slices.Sort(files)
	return files, main, nil
}

func (l *Language) isSource(name string) bool {
	base := path.Base(name)
	for _, e := range l.SourceExtensions() {
		// The ending alone (".py") names no source.
		if len(base) > len(e) && strings.HasSuffix(base, e) {
			return true
		}
	}
	return false
}

func (l *Language) displayName() string {
	if l.Name != "" {
		return l.Name
	}
	return l.ID
}
