package judge

import (
	"strings"
	"testing"
)

func TestParseProtocol(t *testing.T) {
	for s, want := range map[string]Protocol{"": ProtocolKattis, "kattis": ProtocolKattis, "testlib": ProtocolTestlib} {
		if got, err := ParseProtocol(s); err != nil || got != want {
			t.Errorf("ParseProtocol(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"Kattis", "domjudge", "testlib "} {
		if _, err := ParseProtocol(s); err == nil || !strings.Contains(err.Error(), "kattis, testlib") {
			t.Errorf("ParseProtocol(%q) = %v, want an error listing the valid ones", s, err)
		}
	}
	if ProtocolKattis.String() != "kattis" || ProtocolTestlib.String() != "testlib" {
		t.Error("protocol names")
	}
}

func TestValidatorOutcome(t *testing.T) {
	type want struct {
		v        Verdict
		score    float64
		hasScore bool
		reason   string // a part of it; "" when there must be none
	}
	for _, c := range []struct {
		name string
		p    Protocol
		r    ValidatorRun
		want want
	}{
		// Kattis: 42 and 43 only.
		{"kattis accepted", ProtocolKattis, ValidatorRun{ExitCode: 42}, want{Accepted, 0, false, ""}},
		{"kattis wrong answer", ProtocolKattis, ValidatorRun{ExitCode: 43, Feedback: "line 3 differs"}, want{WrongAnswer, 0, false, ""}},
		{"kattis accepted with a score", ProtocolKattis, ValidatorRun{ExitCode: 42, Score: " 12.5\n"}, want{Accepted, 12.5, true, ""}},
		{"kattis wrong answer's score is dropped", ProtocolKattis, ValidatorRun{ExitCode: 43, Score: "3"}, want{WrongAnswer, 0, false, ""}},
		{"kattis unreadable score", ProtocolKattis, ValidatorRun{ExitCode: 42, Score: "twelve"}, want{InternalError, 0, false, `score.txt: "twelve" is not a finite number`}},
		{"kattis score of two numbers", ProtocolKattis, ValidatorRun{ExitCode: 42, Score: "1 2"}, want{InternalError, 0, false, "score.txt"}},
		{"kattis empty score file", ProtocolKattis, ValidatorRun{ExitCode: 42, Score: "\n"}, want{InternalError, 0, false, "score.txt"}},
		{"kattis NaN score", ProtocolKattis, ValidatorRun{ExitCode: 42, Score: "nan"}, want{InternalError, 0, false, "score.txt"}},
		{"kattis exit 0 is the validator's fault", ProtocolKattis, ValidatorRun{ExitCode: 0}, want{InternalError, 0, false, "exited with 0"}},
		{"kattis exit 1 (an uncaught exception)", ProtocolKattis, ValidatorRun{ExitCode: 1, Feedback: "Traceback: KeyError"}, want{InternalError, 0, false, "exited with 1, which is neither 42 (accepted) nor 43 (wrong answer): Traceback: KeyError"}},
		{"kattis crash", ProtocolKattis, ValidatorRun{ExitCode: 139, Signal: 11}, want{InternalError, 0, false, "killed by signal 11"}},
		{"kattis timeout beats its exit code", ProtocolKattis, ValidatorRun{ExitCode: 42, TimedOut: true}, want{InternalError, 0, false, "timed out"}},
		{"kattis out of memory", ProtocolKattis, ValidatorRun{ExitCode: 43, OutOfMemory: true, Signal: 9}, want{InternalError, 0, false, "ran out of memory"}},

		// testlib: 0, 1, 2, 3, 7 (and 4, 8, which old and new builds use).
		{"testlib ok", ProtocolTestlib, ValidatorRun{ExitCode: 0, Feedback: "ok 3 numbers"}, want{Accepted, 0, false, ""}},
		{"testlib wrong answer", ProtocolTestlib, ValidatorRun{ExitCode: 1, Feedback: "wrong answer 1st numbers differ"}, want{WrongAnswer, 0, false, ""}},
		{"testlib presentation error", ProtocolTestlib, ValidatorRun{ExitCode: 2, Feedback: "wrong output format Unexpected end of file"}, want{WrongAnswer, 0, false, ""}},
		{"testlib dirt", ProtocolTestlib, ValidatorRun{ExitCode: 4}, want{WrongAnswer, 0, false, ""}},
		{"testlib unexpected eof", ProtocolTestlib, ValidatorRun{ExitCode: 8}, want{WrongAnswer, 0, false, ""}},
		{"testlib fail", ProtocolTestlib, ValidatorRun{ExitCode: 3, Feedback: "FAIL Answer file not found"}, want{InternalError, 0, false, "the checker failed (testlib exit 3): FAIL Answer file not found"}},
		{"testlib points on stderr", ProtocolTestlib, ValidatorRun{ExitCode: 7, Feedback: "points 0.75 partially correct\n"}, want{Accepted, 0.75, true, ""}},
		{"testlib points without a message", ProtocolTestlib, ValidatorRun{ExitCode: 7, Feedback: "points 40"}, want{Accepted, 40, true, ""}},
		{"testlib points from a result file", ProtocolTestlib, ValidatorRun{ExitCode: 7, Score: "2.5 well done", Feedback: "See file to check exit message"}, want{Accepted, 2.5, true, ""}},
		{"testlib points missing", ProtocolTestlib, ValidatorRun{ExitCode: 7, Feedback: "ok"}, want{InternalError, 0, false, "without a number of points"}},
		{"testlib points unreadable", ProtocolTestlib, ValidatorRun{ExitCode: 7, Feedback: "points many"}, want{InternalError, 0, false, "without a number of points"}},
		{"testlib points with exit 0 (old testlib)", ProtocolTestlib, ValidatorRun{ExitCode: 0, Feedback: "points 3"}, want{Accepted, 3, true, ""}},
		{"testlib exit 42 is the checker's fault", ProtocolTestlib, ValidatorRun{ExitCode: 42}, want{InternalError, 0, false, "exited with 42, which testlib does not use"}},
		{"testlib crash", ProtocolTestlib, ValidatorRun{ExitCode: 134, Signal: 6, Feedback: "terminate called"}, want{InternalError, 0, false, "killed by signal 6: terminate called"}},
		{"testlib timeout", ProtocolTestlib, ValidatorRun{TimedOut: true}, want{InternalError, 0, false, "timed out"}},
	} {
		v, score, hasScore, reason := ValidatorOutcome(c.p, c.r)
		if v != c.want.v || score != c.want.score || hasScore != c.want.hasScore {
			t.Errorf("%s: %v, %v, %v (%s); want %v, %v, %v", c.name, v, score, hasScore, reason, c.want.v, c.want.score, c.want.hasScore)
		}
		if c.want.reason == "" && reason != "" || !strings.Contains(reason, c.want.reason) {
			t.Errorf("%s: reason %q, want it to contain %q", c.name, reason, c.want.reason)
		}
		if (v == InternalError) != (reason != "") {
			t.Errorf("%s: %v with reason %q: an InternalError, and only one, has a reason", c.name, v, reason)
		}
	}
}

func TestValidatorOutcomeCutsLongFeedback(t *testing.T) {
	_, _, _, reason := ValidatorOutcome(ProtocolKattis, ValidatorRun{ExitCode: 2, Feedback: strings.Repeat("é", 500)})
	if len(reason) > 400 || !strings.HasSuffix(reason, "é...") {
		t.Errorf("reason of %d bytes, ending %q", len(reason), reason[len(reason)-10:])
	}
}

// A validator's verdict stands only for a run that ended normally: the
// run's own verdicts come first, and a validator's InternalError is never
// turned into anything else.
func TestDecideValidated(t *testing.T) {
	for _, c := range []struct {
		run       Run
		validator Verdict
		want      Verdict
	}{
		{Run{}, Accepted, Accepted},
		{Run{}, WrongAnswer, WrongAnswer},
		{Run{}, InternalError, InternalError},
		{Run{InternalFault: true, OOM: true}, Accepted, InternalError},
		{Run{OOM: true, CPUExceeded: true}, InternalError, MemoryLimitExceeded},
		{Run{WallExceeded: true}, Accepted, TimeLimitExceeded},
		{Run{OutputExceeded: true, ExitCode: 1}, WrongAnswer, OutputLimitExceeded},
		{Run{Signal: 11}, Accepted, RuntimeError},
		{Run{ExitCode: 3}, InternalError, RuntimeError},
	} {
		if got := DecideValidated(c.run, c.validator); got != c.want {
			t.Errorf("DecideValidated(%+v, %v) = %v, want %v", c.run, c.validator, got, c.want)
		}
		v, decided := RunVerdict(c.run)
		if decided != (c.run != Run{}) || decided && v != c.want {
			t.Errorf("RunVerdict(%+v) = %v, %v", c.run, v, decided)
		}
	}
}

func TestAggregate(t *testing.T) {
	A, W, T, S, I := Accepted, WrongAnswer, TimeLimitExceeded, Skipped, InternalError
	for _, c := range []struct {
		in   []Verdict
		want Verdict
	}{
		{nil, Accepted},
		{[]Verdict{A, A}, Accepted},
		{[]Verdict{A, W, T}, WrongAnswer},
		{[]Verdict{A, T, W}, TimeLimitExceeded}, // the first, not the worst
		{[]Verdict{S, S}, Accepted},
		{[]Verdict{A, S, I, W}, InternalError},
		{[]Verdict{W, S, S}, WrongAnswer},
	} {
		if got := Aggregate(c.in); got != c.want {
			t.Errorf("Aggregate(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if Skipped != 8 || Skipped.String() != "Skipped" {
		t.Errorf("Skipped is %d %q, want 8 \"Skipped\" (DESIGN §4)", int(Skipped), Skipped)
	}
}
