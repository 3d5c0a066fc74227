// Package judge turns raw measurements of a run into a verdict. It is pure:
// no I/O, no knowledge of sandboxes, actors or HTTP.
package judge

// Verdict is the outcome of judging one submission (DESIGN §4).
type Verdict int

// The verdict codes are part of the public API; never renumber them.
const (
	Accepted Verdict = iota
	WrongAnswer
	CompileError
	RuntimeError
	TimeLimitExceeded
	MemoryLimitExceeded
	InternalError
	OutputLimitExceeded
	// Skipped is a test not run after an earlier failure (per-test
	// results only).
	Skipped
)

var verdictNames = [...]string{
	"Accepted",
	"WrongAnswer",
	"CompileError",
	"RuntimeError",
	"TimeLimitExceeded",
	"MemoryLimitExceeded",
	"InternalError",
	"OutputLimitExceeded",
	"Skipped",
}

func (v Verdict) String() string {
	if v < 0 || int(v) >= len(verdictNames) {
		return "Unknown"
	}
	return verdictNames[v]
}

// Run is what was measured of one run, as far as the verdict needs it.
type Run struct {
	InternalFault  bool
	OOM            bool
	CPUExceeded    bool
	WallExceeded   bool
	OutputExceeded bool
	Signal         int
	ExitCode       int
}

// Decide applies DESIGN §4's order: internal fault, memory, time, output,
// signal or non-zero exit, then the checker.
func Decide(r Run, check Checker, stdout, want []byte) Verdict {
	switch {
	case r.InternalFault:
		return InternalError
	case r.OOM:
		return MemoryLimitExceeded
	case r.CPUExceeded || r.WallExceeded:
		return TimeLimitExceeded
	case r.OutputExceeded:
		return OutputLimitExceeded
	case r.Signal != 0 || r.ExitCode != 0:
		return RuntimeError
	case check(stdout, want):
		return Accepted
	default:
		return WrongAnswer
	}
}

// Aggregate is a submission's verdict from its tests' in order: the first
// that is not Accepted (a Skipped test was not run, so never first),
// Accepted if none.
func Aggregate(tests []Verdict) Verdict {
	for _, v := range tests {
		if v != Accepted && v != Skipped {
			return v
		}
	}
	return Accepted
}

// Submission modes: whether the tests after the first that is not
// Accepted are run.
const (
	ModeFirstFailure = "first-failure" // they are Skipped (the default)
	ModeAll          = "all"           // they run
)
