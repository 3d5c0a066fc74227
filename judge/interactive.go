package judge

// DecideInteractive is the verdict of one test of an interactive problem,
// where the validator and the program ran side by side, each reading what
// the other wrote. It is Kattis' rule: a validator that failed (crashed,
// timed out, exited outside its protocol: validator is InternalError) is
// the judge's fault; a validator that exited first with a wrong answer
// has the last word, whatever the program did after it (a program whose
// input ended under it often crashes); else the program's own failure
// (time, memory, a crash) decides; else the validator's verdict.
//
// validator is what ValidatorOutcome gave for the validator's run, and
// validatorFirst reports that the validator exited before the program, in
// the order the host saw their ends.
func DecideInteractive(program Run, validator Verdict, validatorFirst bool) Verdict {
	if validator == InternalError {
		return InternalError
	}
	if validatorFirst && validator == WrongAnswer {
		return WrongAnswer
	}
	if v, decided := RunVerdict(program); decided {
		return v
	}
	return validator
}
