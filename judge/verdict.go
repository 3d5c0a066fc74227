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
	// Skipped is a test that was not run, because an earlier failure made
	// it unnecessary. It appears in per-test results only, never as the
	// verdict of a submission.
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

// RunVerdict applies the part of DESIGN §4's order that the run's own
// measurements decide: internal fault, memory, time, output, signal or
// non-zero exit. decided is false when the run ended normally within its
// limits, and the output's validation (checker or validator) decides;
// there is no point validating an output otherwise.
func RunVerdict(r Run) (v Verdict, decided bool) {
	switch {
	case r.InternalFault:
		return InternalError, true
	case r.OOM:
		return MemoryLimitExceeded, true
	case r.CPUExceeded || r.WallExceeded:
		return TimeLimitExceeded, true
	case r.OutputExceeded:
		return OutputLimitExceeded, true
	case r.Signal != 0 || r.ExitCode != 0:
		return RuntimeError, true
	}
	return Accepted, false
}

// Decide is the verdict of a run whose output a checker compares with the
// expected output: the run's verdict when it decides, else the checker's.
func Decide(r Run, check Checker, stdout, want []byte) Verdict {
	if v, decided := RunVerdict(r); decided {
		return v
	}
	if check(stdout, want) {
		return Accepted
	}
	return WrongAnswer
}

// DecideValidated is the verdict of a test whose output an output
// validator judged, validator being the verdict ValidatorOutcome (or
// DefaultValidate) gave: the run's verdict when it decides, else the
// validator's. A validator's InternalError stays one: it is never turned
// into a verdict against the contestant.
func DecideValidated(r Run, validator Verdict) Verdict {
	if v, decided := RunVerdict(r); decided {
		return v
	}
	return validator
}

// Aggregate is a submission's verdict from its tests' verdicts in test
// order: the first that is not Accepted (the Kattis and DOMjudge rule),
// Accepted if there is none. Skipped tests were not run and are passed
// over: they are never the first failure.
func Aggregate(verdicts []Verdict) Verdict {
	for _, v := range verdicts {
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
