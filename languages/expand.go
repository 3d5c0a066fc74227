package languages

import (
	"path"
	"strconv"
	"strings"

	"github.com/pecan-judge/pecan/config"
)

// Vars are the values a command line may refer to as placeholders:
//
//   - {memory_mib}: the run's memory limit in MiB, for sizing a JVM heap
//     from the request rather than a fixed number;
//   - {state}: the language's state directory;
//   - {source}: the language's single-file name (source);
//   - {files}: the submission's source files of the language, one
//     argument each, in byte order of their names (an argument of its
//     own: config rejects it inside a longer one);
//   - {main}: the file the program starts from, and {main_noext} the same
//     without its extension (src/app for src/app.ts).
type Vars struct {
	MemoryMiB int64
	// Files and Main are what Sources picked from a submission.
	Files []string
	Main  string
}

// Expand substitutes placeholders in a command line.
func (l *Language) Expand(args []string, v Vars) []string {
	rep := strings.NewReplacer(
		"{memory_mib}", strconv.FormatInt(v.MemoryMiB, 10),
		"{state}", l.StateDir,
		"{source}", l.Source,
		"{main_noext}", strings.TrimSuffix(v.Main, path.Ext(v.Main)),
		"{main}", v.Main,
	)
	out := make([]string, 0, len(args)+len(v.Files))
	for _, a := range args {
		if a == config.FilesPlaceholder {
			out = append(out, v.Files...)
			continue
		}
		out = append(out, rep.Replace(a))
	}
	return out
}
