package plan

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
)

// SourceFiles are the files a job writes into its work directory before
// its compile: the request's files, or its code as the one file the
// language names (Java's after its public class).
func SourceFiles(lang *languages.Language, req *messages.ExecuteRequest) []*messages.SourceFile {
	if files := req.GetFiles(); len(files) > 0 {
		return files
	}
	return []*messages.SourceFile{{Name: lang.SourceName(req.GetCode()), Content: req.GetCode()}}
}

// sourceVars are the {files} and {main} of req's command lines. A request
// without a source file of the language (refused by the transports) gets
// none, and its compile fails.
func sourceVars(lang *languages.Language, req *messages.ExecuteRequest) languages.Vars {
	files := SourceFiles(lang, req)
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.GetName()
	}
	src, main, _ := lang.Sources(names)
	return languages.Vars{Files: src, Main: main}
}

// File names are bounded so that every name fits a Linux path and each of
// its parts a directory entry.
const (
	maxNameBytes      = 1024
	maxComponentBytes = 255
)

// CheckFileName says why name cannot name a submission's file, or returns
// nil: it must be a clean relative path of "/"-separated parts, none of
// them empty, ".", ".." or starting with "-" (a compiler would read it as
// an option), in UTF-8 without control characters or backslashes.
func CheckFileName(name string) error {
	switch {
	case name == "":
		return errors.New("is empty")
	case len(name) > maxNameBytes:
		return fmt.Errorf("is %d bytes long, over %d", len(name), maxNameBytes)
	case !utf8.ValidString(name):
		return errors.New("is not valid UTF-8")
	case strings.HasPrefix(name, "/"):
		return errors.New("must be relative, not start with /")
	case strings.ContainsRune(name, '\\'):
		return errors.New(`must separate directories with "/", not "\"`)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("must not contain control character %U", r)
		}
	}
	for _, part := range strings.Split(name, "/") {
		switch {
		case part == "..":
			return errors.New(`must not contain ".."`)
		case part == "" || part == ".":
			return fmt.Errorf(`must be clean (%q): no empty or "." parts`, path.Clean(name))
		case part[0] == '-':
			return fmt.Errorf("must not have a part starting with -: %q", part)
		case len(part) > maxComponentBytes:
			return fmt.Errorf("has a part of %d bytes, over %d", len(part), maxComponentBytes)
		}
	}
	return nil
}

// CheckFiles checks a submission's files: at least one, at most maxFiles,
// at most maxKiB KiB in all, each name valid (CheckFileName), no name
// twice and none both a file and a directory ("a" and "a/b").
func CheckFiles(files []*messages.SourceFile, maxFiles int, maxKiB int64) error {
	switch {
	case len(files) == 0:
		return errors.New("no files")
	case len(files) > maxFiles:
		return fmt.Errorf("%d files, over the limit of %d", len(files), maxFiles)
	}
	var total int64
	at := make(map[string]int, len(files))
	for i, f := range files {
		name := f.GetName()
		if err := CheckFileName(name); err != nil {
			return fmt.Errorf("files[%d]: name %q %v", i, name, err)
		}
		if j, dup := at[name]; dup {
			return fmt.Errorf("files[%d]: name %q is also the name of files[%d]", i, name, j)
		}
		at[name] = i
		total += int64(len(f.GetContent()))
	}
	if total > maxKiB*1024 {
		return fmt.Errorf("%d bytes in all, over the limit of %d KiB", total, maxKiB)
	}
	// A name that is another's directory: the later file could not be
	// written (or the earlier one, whichever comes second).
	for i, f := range files {
		for dir := path.Dir(f.GetName()); dir != "."; dir = path.Dir(dir) {
			if j, ok := at[dir]; ok {
				return fmt.Errorf("files[%d]: name %q is inside %q, which is files[%d]", i, f.GetName(), dir, j)
			}
		}
	}
	return nil
}
