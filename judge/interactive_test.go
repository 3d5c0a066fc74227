package judge

import "testing"

func TestDecideInteractive(t *testing.T) {
	ok := Run{}
	crashed := Run{Signal: 11}
	exited := Run{ExitCode: 1}
	slow := Run{WallExceeded: true}
	cpu := Run{CPUExceeded: true}
	oom := Run{OOM: true, Signal: 9}
	for _, c := range []struct {
		name      string
		program   Run
		validator Verdict
		first     bool
		want      Verdict
	}{
		{"both fine, accepted", ok, Accepted, true, Accepted},
		{"program first, accepted", ok, Accepted, false, Accepted},
		{"wrong answer, validator first", ok, WrongAnswer, true, WrongAnswer},
		{"wrong answer, program first", ok, WrongAnswer, false, WrongAnswer},
		{"crash after the validator's wrong answer", crashed, WrongAnswer, true, WrongAnswer},
		{"crash, then the validator's wrong answer", crashed, WrongAnswer, false, RuntimeError},
		{"non-zero exit, then wrong answer", exited, WrongAnswer, false, RuntimeError},
		{"crash after the validator accepted", crashed, Accepted, true, RuntimeError},
		{"time out after the validator accepted", slow, Accepted, true, TimeLimitExceeded},
		{"deadlock: program killed at the wall limit", slow, WrongAnswer, false, TimeLimitExceeded},
		{"cpu limit, validator wrong answer later", cpu, WrongAnswer, false, TimeLimitExceeded},
		{"memory", oom, WrongAnswer, false, MemoryLimitExceeded},
		{"validator failed, program fine", ok, InternalError, true, InternalError},
		{"validator failed after the program crashed", crashed, InternalError, false, InternalError},
		{"validator failed, program timed out", slow, InternalError, false, InternalError},
		{"the program's own fault", Run{InternalFault: true}, Accepted, true, InternalError},
	} {
		if got := DecideInteractive(c.program, c.validator, c.first); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
