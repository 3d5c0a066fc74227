package judge

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Protocol is how a custom output validator tells its verdict.
type Protocol int

const (
	// ProtocolKattis is the Kattis problem package format's: the validator
	// runs as `validator input answer feedback_dir [flags] < output` and
	// exits 42 for accepted, 43 for wrong answer; it may write
	// feedback_dir/judgemessage.txt and, on scoring problems, score.txt.
	// Any other exit, 0 and 1 included, is the validator's fault.
	ProtocolKattis Protocol = iota
	// ProtocolTestlib is testlib's (Codeforces, Polygon): the checker runs
	// as `checker input output answer` and exits 0 for ok, 1 for wrong
	// answer, 2 for presentation error, 3 when it failed itself, 7 with
	// points ("points <score> ..." on stderr); its message is its stderr.
	ProtocolTestlib
)

// ParseProtocol reads a validator protocol's name: "kattis" or "testlib".
// The empty string is "kattis", the format's own.
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "", "kattis":
		return ProtocolKattis, nil
	case "testlib":
		return ProtocolTestlib, nil
	}
	return 0, fmt.Errorf("unknown validator protocol %q (valid: kattis, testlib)", s)
}

func (p Protocol) String() string {
	switch p {
	case ProtocolKattis:
		return "kattis"
	case ProtocolTestlib:
		return "testlib"
	}
	return "Protocol(" + strconv.Itoa(int(p)) + ")"
}

// Exit codes of the two protocols.
const (
	kattisAccepted = 42
	kattisWrong    = 43

	testlibOK          = 0
	testlibWrong       = 1
	testlibPresent     = 2 // presentation error
	testlibFail        = 3 // the checker's own failure
	testlibDirt        = 4 // extra output; testlib reports it as 2 since long ago
	testlibPoints      = 7
	testlibUnexpectEOF = 8 // the output ended early, with ENABLE_UNEXPECTED_EOF
)

// ValidatorRun is what was measured of one run of a custom validator.
type ValidatorRun struct {
	ExitCode int
	// Signal is the signal that killed the validator, 0 if none.
	Signal int
	// TimedOut and OutOfMemory say the validator hit its own limits
	// (validation_time, validation_memory).
	TimedOut, OutOfMemory bool
	// Feedback is what the validator said: judgemessage.txt for the
	// Kattis protocol, stderr for testlib.
	Feedback string
	// Score is score.txt's content (Kattis), or testlib's points when the
	// caller read them from a result file; empty when there is none. A
	// testlib checker's points are otherwise read from Feedback.
	Score string
}

// ValidatorOutcome is the verdict a custom validator's run gives a test,
// with its score when it gave one. A validator that crashed, timed out,
// ran out of memory, exited outside its protocol or wrote an unreadable
// score gives InternalError, with the reason: never a verdict against
// the contestant. reason is empty otherwise. A wrong answer's score is
// dropped: a rejected test scores what grading says it does.
func ValidatorOutcome(p Protocol, r ValidatorRun) (v Verdict, score float64, hasScore bool, reason string) {
	switch {
	case r.TimedOut:
		return InternalError, 0, false, "the validator timed out"
	case r.OutOfMemory:
		return InternalError, 0, false, "the validator ran out of memory"
	case r.Signal != 0:
		return InternalError, 0, false, fmt.Sprintf("the validator was killed by signal %d%s", r.Signal, excerpt(r.Feedback))
	}
	switch p {
	case ProtocolKattis:
		return kattisOutcome(r)
	case ProtocolTestlib:
		return testlibOutcome(r)
	}
	return InternalError, 0, false, fmt.Sprintf("unknown validator protocol %d", int(p))
}

func kattisOutcome(r ValidatorRun) (Verdict, float64, bool, string) {
	switch r.ExitCode {
	case kattisAccepted:
		if r.Score == "" {
			return Accepted, 0, false, ""
		}
		s, err := parseScore(r.Score)
		if err != nil {
			return InternalError, 0, false, "the validator's score.txt: " + err.Error()
		}
		return Accepted, s, true, ""
	case kattisWrong:
		return WrongAnswer, 0, false, ""
	}
	return InternalError, 0, false, fmt.Sprintf("the validator exited with %d, which is neither 42 (accepted) nor 43 (wrong answer)%s", r.ExitCode, excerpt(r.Feedback))
}

func testlibOutcome(r ValidatorRun) (Verdict, float64, bool, string) {
	switch r.ExitCode {
	case testlibOK:
		// testlib before POINTS_EXIT_CODE was 7 reported points with exit 0.
		if s, ok := testlibPointsOf(r); ok {
			return Accepted, s, true, ""
		}
		return Accepted, 0, false, ""
	case testlibWrong, testlibPresent, testlibDirt, testlibUnexpectEOF:
		return WrongAnswer, 0, false, ""
	case testlibFail:
		return InternalError, 0, false, "the checker failed (testlib exit 3)" + excerpt(r.Feedback)
	case testlibPoints:
		s, ok := testlibPointsOf(r)
		if !ok {
			return InternalError, 0, false, "the checker exited with 7 (points) without a number of points" + excerpt(r.Feedback)
		}
		return Accepted, s, true, ""
	}
	return InternalError, 0, false, fmt.Sprintf("the checker exited with %d, which testlib does not use (0 ok, 1 wrong answer, 2 presentation error, 3 fail, 7 points)%s", r.ExitCode, excerpt(r.Feedback))
}

// testlibPointsOf reads a testlib checker's points: the first word of
// Score when the caller has them, else the number after "points " at the
// start of its stderr (testlib's quitp writes "points <n> <message>").
func testlibPointsOf(r ValidatorRun) (float64, bool) {
	text := r.Score
	if text == "" {
		rest, ok := strings.CutPrefix(r.Feedback, "points ")
		if !ok {
			return 0, false
		}
		text = rest
	}
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return 0, false
	}
	s, err := parseScore(fields[0])
	return s, err == nil
}

// parseScore reads a score: one finite number, white space around it
// allowed.
func parseScore(s string) (float64, error) {
	t := strings.TrimSpace(s)
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%s is not a finite number", quoteToken([]byte(t)))
	}
	return v, nil
}

// excerpt is the start of a validator's message, to go with a reason.
func excerpt(feedback string) string {
	const max = 200
	f := strings.TrimSpace(feedback)
	if f == "" {
		return ""
	}
	if len(f) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(f[cut]) {
			cut--
		}
		f = f[:cut] + "..."
	}
	return ": " + f
}
