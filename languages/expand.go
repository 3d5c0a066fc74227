package languages

import (
	"strconv"
	"strings"
)

// Vars are the values a command line may refer to as placeholders:
// {memory_mib} (the run's memory limit in MiB, for sizing a JVM heap from
// the request rather than a fixed number), {state} (the language's state
// directory) and {source} (the source file name).
type Vars struct {
	MemoryMiB int64
}

// Expand substitutes placeholders in a command line.
func (l *Language) Expand(args []string, v Vars) []string {
	rep := strings.NewReplacer(
		"{memory_mib}", strconv.FormatInt(v.MemoryMiB, 10),
		"{state}", l.StateDir,
		"{source}", l.Source,
	)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = rep.Replace(a)
	}
	return out
}
