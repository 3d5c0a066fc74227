package judge

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

var (
	legacyScoring = Problem{Scoring: true}
	draftScoring  = Problem{Draft: true, Scoring: true}
)

func TestRootGrading(t *testing.T) {
	g := RootGrading(legacyScoring)
	if g.OnReject != Break || g.VerdictMode != WorstError || g.ScoreMode != Sum || g.AcceptScore != 1 || g.RejectScore != 0 ||
		!math.IsInf(g.RangeMin, -1) || !math.IsInf(g.RangeMax, 1) || g.Problem != legacyScoring {
		t.Errorf("RootGrading = %+v, want the legacy defaults (break, worst_error, sum, accept 1, reject 0, range -inf +inf)", g)
	}
}

func TestParseGrading(t *testing.T) {
	root := RootGrading(legacyScoring)
	ioi, err := ParseGrading(map[string]any{
		"on_reject": "continue", "grader_flags": "ignore_sample first_error avg", "accept_score": 25, "reject_score": int64(-1),
		"range": "0 100", "input_validator_flags": "--n 10", "output_validator_flags": "float_tolerance 1e-6",
	}, root)
	if err != nil {
		t.Fatal(err)
	}
	want := root
	want.OnReject, want.VerdictMode, want.ScoreMode, want.IgnoreSample = Continue, FirstError, Avg, true
	want.AcceptScore, want.RejectScore, want.RangeMin, want.RangeMax = 25, -1, 0, 100
	if !reflect.DeepEqual(ioi, want) {
		t.Errorf("got  %+v\nwant %+v", ioi, want)
	}

	for _, c := range []struct {
		name     string
		settings map[string]any
		parent   Grading
		check    func(Grading) bool
	}{
		{"no settings inherit everything but ignore_sample", nil, ioi, func(g Grading) bool {
			want := ioi
			want.IgnoreSample = false
			return reflect.DeepEqual(g, want)
		}},
		// grader_flags is one key: a group's replaces its parent's whole.
		{"grader_flags replace the parent's", map[string]any{"grader_flags": "min"}, ioi, func(g Grading) bool {
			return g.ScoreMode == Min && g.VerdictMode == WorstError && !g.IgnoreSample && g.AcceptScore == 25 && g.OnReject == Continue
		}},
		{"empty grader_flags are the defaults", map[string]any{"grader_flags": ""}, ioi, func(g Grading) bool {
			return g.ScoreMode == Sum && g.VerdictMode == WorstError && !g.IgnoreSample
		}},
		{"the last of conflicting modes counts", map[string]any{"grader_flags": "sum min max first_error always_accept worst_error"}, root, func(g Grading) bool {
			return g.ScoreMode == Max && g.VerdictMode == WorstError
		}},
		{"no_errors is worst_error", map[string]any{"grader_flags": "first_error no_errors accept_if_any_accepted"}, root, func(g Grading) bool {
			return g.VerdictMode == WorstError && g.AcceptIfAnyAccepted
		}},
		{"a key without a value is unset", map[string]any{"accept_score": nil, "grading": nil}, ioi, func(g Grading) bool { return g.AcceptScore == 25 }},
		{"numbers of every YAML kind", map[string]any{"accept_score": uint64(3), "reject_score": "0.5"}, root, func(g Grading) bool {
			return g.AcceptScore == 3 && g.RejectScore == 0.5
		}},
		{"float scores", map[string]any{"accept_score": 2.5, "reject_score": float32(0.25)}, root, func(g Grading) bool {
			return g.AcceptScore == 2.5 && g.RejectScore == 0.25
		}},
		{"infinite ranges", map[string]any{"range": "-inf +inf"}, ioi, func(g Grading) bool {
			return math.IsInf(g.RangeMin, -1) && math.IsInf(g.RangeMax, 1)
		}},
		{"half-open range", map[string]any{"range": "0 inf"}, root, func(g Grading) bool { return g.RangeMin == 0 && math.IsInf(g.RangeMax, 1) }},
		{"grading: default", map[string]any{"grading": "default", "on_reject": "break"}, ioi, func(g Grading) bool { return g.OnReject == Break }},
	} {
		g, err := ParseGrading(c.settings, c.parent)
		if err != nil || !c.check(g) {
			t.Errorf("%s: %+v, %v", c.name, g, err)
		}
	}
}

func TestParseGradingDraft(t *testing.T) {
	root := RootGrading(draftScoring)
	secret, err := ParseGrading(map[string]any{"max_score": 60, "score_aggregation": "min", "require_pass": "sample", "output_validator_args": "x"}, root)
	if err != nil || secret.MaxScore != 60 || !secret.HasMaxScore || secret.Aggregation != AggregateMin || !reflect.DeepEqual(secret.RequirePass, []string{"sample"}) {
		t.Fatalf("%+v, %v", secret, err)
	}
	// The draft's keys are never inherited.
	if g, err := ParseGrading(nil, secret); err != nil || g.HasMaxScore || g.Aggregation != AggregationDefault || g.RequirePass != nil {
		t.Errorf("a group without settings under %+v: %+v, %v", secret, g, err)
	}
	for _, c := range []struct {
		settings map[string]any
		check    func(Grading) bool
	}{
		{map[string]any{"max_score": "unbounded"}, func(g Grading) bool { return math.IsInf(g.MaxScore, 1) && g.HasMaxScore }},
		{map[string]any{"max_score": 12.5, "score_aggregation": "sum"}, func(g Grading) bool { return g.MaxScore == 12.5 && g.Aggregation == AggregateSum }},
		{map[string]any{"max_score": 0, "score_aggregation": "pass-fail"}, func(g Grading) bool { return g.HasMaxScore && g.Aggregation == PassFail }},
		{map[string]any{"require_pass": []any{"secret/a", "secret/b"}}, func(g Grading) bool {
			return reflect.DeepEqual(g.RequirePass, []string{"secret/a", "secret/b"})
		}},
	} {
		if g, err := ParseGrading(c.settings, root); err != nil || !c.check(g) {
			t.Errorf("ParseGrading(%v) = %+v, %v", c.settings, g, err)
		}
	}
}

func TestParseGradingRejects(t *testing.T) {
	legacy, draft := RootGrading(legacyScoring), RootGrading(draftScoring)
	passFail, draftPassFail := RootGrading(Problem{}), RootGrading(Problem{Draft: true})
	for _, c := range []struct {
		settings map[string]any
		parent   Grading
		mention  string
	}{
		{map[string]any{"grading": "custom"}, legacy, "grading: custom (a grader program) is not supported"},
		{map[string]any{"grading": "fancy"}, legacy, `"fancy"`},
		{map[string]any{"on_reject": "stop"}, legacy, `on_reject: "stop"`},
		{map[string]any{"on_reject": true}, legacy, "on_reject: true is not a string"},
		{map[string]any{"grader_flags": "sum median"}, legacy, `unknown flag "median"`},
		{map[string]any{"accept_score": "many"}, legacy, `accept_score: "many" is not a number`},
		{map[string]any{"accept_score": math.NaN()}, legacy, "accept_score: NaN"},
		{map[string]any{"reject_score": math.Inf(-1)}, legacy, "reject_score: must be finite"},
		{map[string]any{"accept_score": []any{1}}, legacy, "accept_score: [1] is not a number"},
		{map[string]any{"range": "1"}, legacy, `range: "1" is not two numbers`},
		{map[string]any{"range": "0 x"}, legacy, `range: "0 x" is not two numbers`},
		{map[string]any{"range": "5 1"}, legacy, "minimum over its maximum"},
		{map[string]any{"range": 5}, legacy, "range: 5 is not a string"},
		{map[string]any{"accept_score": 1}, passFail, "accept_score is only for scoring problems"},
		{map[string]any{"range": "0 1"}, passFail, "range is only for scoring problems"},
		{map[string]any{"max_score": 10}, legacy, "max_score is a 2023-07 key"},
		{map[string]any{"grader_flags": "sum"}, draft, "grader_flags is a legacy key"},
		{map[string]any{"on_reject": "break"}, draft, "on_reject is a legacy key"},
		{map[string]any{"max_score": -1}, draft, "max_score: -1"},
		{map[string]any{"max_score": "lots"}, draft, "max_score: lots"},
		{map[string]any{"score_aggregation": "avg"}, draft, `score_aggregation: "avg"`},
		{map[string]any{"require_pass": 5}, draft, "require_pass: 5"},
		{map[string]any{"require_pass": []any{"sample", 3}}, draft, "require_pass: 3"},
		{map[string]any{"max_score": 10}, draftPassFail, "max_score is only for scoring problems"},
	} {
		_, err := ParseGrading(c.settings, c.parent)
		if err == nil || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("ParseGrading(%v) = %v, want an error mentioning %q", c.settings, err, c.mention)
		}
	}
}

// build makes a tree from tests written "group/name:verdict[=score]"
// (verdicts AC, WA, TLE, RTE, MLE, OLE, IE, or - for not run) and each
// group's settings.
func build(t *testing.T, p Problem, settings map[string]map[string]any, tests ...string) GroupTree {
	t.Helper()
	tree, err := tryBuild(p, settings, tests...)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

var verdictCodes = map[string]Verdict{"AC": Accepted, "WA": WrongAnswer, "TLE": TimeLimitExceeded, "RTE": RuntimeError,
	"MLE": MemoryLimitExceeded, "OLE": OutputLimitExceeded, "IE": InternalError, "-": Skipped}

func tryBuild(p Problem, settings map[string]map[string]any, tests ...string) (GroupTree, error) {
	var results []TestResult
	for _, s := range tests {
		name, outcome, _ := strings.Cut(s, ":")
		code, score, hasScore := strings.Cut(outcome, "=")
		r := TestResult{Name: name, Group: parentOf(name), Verdict: verdictCodes[code], HasScore: hasScore}
		if hasScore {
			r.Score = mustFloat(score)
		}
		results = append(results, r)
	}
	gradings, err := ParseGradings(p, settings)
	if err != nil {
		return GroupTree{}, err
	}
	return NewGroupTree(gradings, results)
}

func parentOf(g string) string {
	if i := strings.LastIndexByte(g, '/'); i >= 0 {
		return g[:i]
	}
	return ""
}

func mustFloat(s string) float64 {
	x, err := parseSettingFloat(s)
	if err != nil {
		panic(err)
	}
	return x
}

// A Kattis-style IOI problem (as Kodsport's tools write them): samples
// ignored, secret the sum of its groups, each group all or nothing
// through min, judging of a group stopping at its first failure.
var ioiSettings = map[string]map[string]any{
	"":              {"on_reject": "continue", "grader_flags": "ignore_sample sum", "range": "0 100"},
	"secret":        {"grader_flags": "sum"},
	"secret/group1": {"on_reject": "break", "grader_flags": "min", "accept_score": 40, "range": "0 40"},
	"secret/group2": {"on_reject": "break", "grader_flags": "min", "accept_score": 60, "range": "0 60"},
}

func TestGradeLegacy(t *testing.T) {
	for _, c := range []struct {
		name     string
		p        Problem
		settings map[string]map[string]any
		tests    []string
		verdict  Verdict
		score    float64
	}{
		{"pass-fail, all accepted", Problem{}, nil, []string{"sample/1:AC", "secret/1:AC", "secret/2:AC"}, Accepted, 0},
		{"pass-fail, the first failure", Problem{}, nil, []string{"sample/1:AC", "secret/1:AC", "secret/2:WA", "secret/3:-"}, WrongAnswer, 0},
		// Under break only the first failure counts, even when later tests
		// ran (the all mode): TLE would be worse than WA.
		{"break ignores what ran after", Problem{}, nil, []string{"secret/1:WA", "secret/2:TLE"}, WrongAnswer, 0},
		{"worst_error with continue", Problem{}, map[string]map[string]any{"": {"on_reject": "continue"}},
			[]string{"secret/1:WA", "secret/2:TLE", "secret/3:OLE"}, TimeLimitExceeded, 0},
		{"worst_error orders errors", Problem{}, map[string]map[string]any{"": {"on_reject": "continue"}},
			[]string{"secret/1:WA", "secret/2:MLE", "secret/3:TLE", "secret/4:RTE"}, RuntimeError, 0},
		{"first_error with continue", Problem{}, map[string]map[string]any{"": {"on_reject": "continue", "grader_flags": "first_error"}},
			[]string{"secret/1:WA", "secret/2:TLE"}, WrongAnswer, 0},
		{"accept_if_any_accepted", Problem{}, map[string]map[string]any{"": {"on_reject": "continue"}, "secret": {"grader_flags": "accept_if_any_accepted"}},
			[]string{"secret/1:WA", "secret/2:AC"}, Accepted, 0},
		{"accept_if_any_accepted, none", Problem{}, map[string]map[string]any{"": {"on_reject": "continue"}, "secret": {"grader_flags": "accept_if_any_accepted first_error"}},
			[]string{"secret/1:WA", "secret/2:TLE"}, WrongAnswer, 0},
		{"always_accept", Problem{}, map[string]map[string]any{"secret": {"grader_flags": "always_accept"}},
			[]string{"secret/1:WA"}, Accepted, 0},
		{"a judge error beats always_accept", Problem{}, map[string]map[string]any{"secret": {"grader_flags": "always_accept"}},
			[]string{"secret/1:IE"}, InternalError, 0},
		{"no tests", Problem{}, nil, nil, Accepted, 0},

		{"scoring defaults: every accepted test scores 1, samples too", legacyScoring, nil,
			[]string{"sample/1:AC", "sample/2:AC", "secret/1:AC", "secret/2:AC", "secret/3:AC"}, Accepted, 5},
		{"scoring, rejected tests score reject_score", legacyScoring, map[string]map[string]any{"": {"on_reject": "continue", "reject_score": 0.5}},
			[]string{"secret/1:AC", "secret/2:WA"}, WrongAnswer, 1.5},
		{"avg", legacyScoring, map[string]map[string]any{"": {"on_reject": "continue"}, "secret": {"grader_flags": "avg always_accept", "accept_score": 3}},
			[]string{"secret/1:AC", "secret/2:WA", "secret/3:AC"}, Accepted, 2},
		{"max", legacyScoring, map[string]map[string]any{"": {"on_reject": "continue"}, "secret": {"grader_flags": "max", "accept_score": 3}},
			[]string{"secret/1:WA", "secret/2:AC"}, WrongAnswer, 3},

		{"ioi: all accepted", legacyScoring, ioiSettings,
			[]string{"sample/1:AC", "secret/group1/1:AC", "secret/group1/2:AC", "secret/group2/1:AC", "secret/group2/2:AC"}, Accepted, 100},
		{"ioi: a sample fails, ignored", legacyScoring, ioiSettings,
			[]string{"sample/1:WA", "secret/group1/1:AC", "secret/group1/2:AC", "secret/group2/1:AC", "secret/group2/2:AC"}, Accepted, 100},
		{"ioi: group2 fails", legacyScoring, ioiSettings,
			[]string{"sample/1:AC", "secret/group1/1:AC", "secret/group1/2:AC", "secret/group2/1:TLE", "secret/group2/2:-"}, TimeLimitExceeded, 40},
		{"ioi: group2 fails, the rest ran anyway", legacyScoring, ioiSettings,
			[]string{"sample/1:AC", "secret/group1/1:AC", "secret/group1/2:AC", "secret/group2/1:WA", "secret/group2/2:AC"}, WrongAnswer, 40},
		{"ioi: both fail", legacyScoring, ioiSettings,
			[]string{"sample/1:AC", "secret/group1/1:AC", "secret/group1/2:WA", "secret/group2/1:AC", "secret/group2/2:RTE"}, RuntimeError, 0},

		{"custom score", Problem{Scoring: true, CustomScore: true}, map[string]map[string]any{"": {"on_reject": "continue"}},
			[]string{"secret/1:AC=7.5", "secret/2:AC=2", "secret/3:WA"}, WrongAnswer, 9.5},
		{"custom score missing", Problem{Scoring: true, CustomScore: true}, nil, []string{"secret/1:AC"}, InternalError, 0},
		{"a score without custom score", legacyScoring, nil, []string{"secret/1:AC=3"}, InternalError, 0},
		{"over the range", legacyScoring, map[string]map[string]any{"secret": {"accept_score": 30, "range": "0 50"}},
			[]string{"secret/1:AC", "secret/2:AC"}, InternalError, 0},
		{"rounding stays in the range", legacyScoring, map[string]map[string]any{"secret": {"accept_score": 0.1, "range": "0 0.3"}},
			[]string{"secret/1:AC", "secret/2:AC", "secret/3:AC"}, Accepted, 0.3},
	} {
		tree := build(t, c.p, c.settings, c.tests...)
		if v, score := Grade(tree); v != c.verdict || score != c.score {
			t.Errorf("%s: %v %v, want %v %v (%+v)", c.name, v, score, c.verdict, c.score, GradeGroups(tree))
		}
	}
}

func TestGradeGroups(t *testing.T) {
	tree := build(t, legacyScoring, ioiSettings, "sample/1:AC", "secret/group1/1:AC", "secret/group1/2:WA", "secret/group2/1:AC", "secret/group2/2:AC")
	got := GradeGroups(tree)
	want := GroupResult{Name: "", Verdict: WrongAnswer, Score: 60, Groups: []GroupResult{
		{Name: "sample", Verdict: Accepted, Score: 1},
		{Name: "secret", Verdict: WrongAnswer, Score: 60, Groups: []GroupResult{
			{Name: "secret/group1", Verdict: WrongAnswer, Score: 0},
			{Name: "secret/group2", Verdict: Accepted, Score: 60},
		}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// A group after a break is not judged.
	tree = build(t, Problem{}, nil, "secret/a/1:WA", "secret/b/1:-", "secret/b/c/1:-")
	got = GradeGroups(tree)
	if b := got.Groups[0].Groups[1]; b.Name != "secret/b" || b.Verdict != Skipped || len(b.Groups) != 1 || b.Groups[0].Verdict != Skipped {
		t.Errorf("group after a break: %+v", got)
	}
	// The reason of a judge error reaches the top.
	tree = build(t, Problem{Scoring: true, CustomScore: true}, nil, "secret/g/1:AC")
	if got := GradeGroups(tree); got.Verdict != InternalError || !strings.Contains(got.Reason, "test secret/g/1: accepted without a score") {
		t.Errorf("judge error: %+v", got)
	}
}

// The 2023-07 draft's rules (2025-09): secret sums to 100 by default, its
// groups are pass-fail with their own max_score.
func TestGradeDraft(t *testing.T) {
	groups := map[string]map[string]any{
		"secret/g1": {"max_score": 40},
		"secret/g2": {"max_score": 60, "score_aggregation": "min"},
	}
	for _, c := range []struct {
		name     string
		p        Problem
		settings map[string]map[string]any
		tests    []string
		verdict  Verdict
		score    float64
	}{
		{"tests straight in secret share 100", draftScoring, nil,
			[]string{"sample/1:AC", "secret/1:AC", "secret/2:WA", "secret/3:AC", "secret/4:AC"}, WrongAnswer, 75},
		{"a third each, all accepted", draftScoring, nil, []string{"secret/1:AC", "secret/2:AC", "secret/3:AC"}, Accepted, 100},
		{"samples are not scored", draftScoring, nil, []string{"sample/1:WA", "secret/1:AC"}, WrongAnswer, 100},
		{"groups: all accepted", draftScoring, groups,
			[]string{"secret/g1/1:AC", "secret/g1/2:AC", "secret/g2/1:AC", "secret/g2/2:AC"}, Accepted, 100},
		{"groups: pass-fail g1 fails", draftScoring, groups,
			[]string{"secret/g1/1:WA", "secret/g1/2:AC", "secret/g2/1:AC", "secret/g2/2:AC"}, WrongAnswer, 60},
		{"groups: min g2 takes the least score", draftScoring, groups,
			[]string{"secret/g1/1:AC", "secret/g1/2:AC", "secret/g2/1:AC=30", "secret/g2/2:AC=45"}, Accepted, 70},
		{"groups: min g2 with a failure", draftScoring, groups,
			[]string{"secret/g1/1:AC", "secret/g1/2:AC", "secret/g2/1:AC=30", "secret/g2/2:TLE"}, TimeLimitExceeded, 40},
		{"a validator score over the test's maximum", draftScoring, nil, []string{"secret/1:AC=60", "secret/2:AC"}, InternalError, 0},
		{"a validator score in a pass-fail group", draftScoring, groups,
			[]string{"secret/g1/1:AC=1", "secret/g2/1:AC"}, InternalError, 0},
		{"unbounded", draftScoring, map[string]map[string]any{"secret": {"max_score": "unbounded"}},
			[]string{"secret/1:AC=5", "secret/2:AC=1000", "secret/3:WA=3"}, WrongAnswer, 1005},
		{"unbounded needs a score", draftScoring, map[string]map[string]any{"secret": {"max_score": "unbounded"}},
			[]string{"secret/1:AC"}, InternalError, 0},
		{"require_pass met", draftScoring, map[string]map[string]any{"secret/g1": {"max_score": 40}, "secret/g2": {"max_score": 60, "require_pass": "secret/g1"}},
			[]string{"secret/g1/1:AC", "secret/g2/1:AC"}, Accepted, 100},
		{"require_pass failed", draftScoring, map[string]map[string]any{"secret/g1": {"max_score": 40}, "secret/g2": {"max_score": 60, "require_pass": "secret/g1"}},
			[]string{"secret/g1/1:WA", "secret/g2/1:AC"}, WrongAnswer, 0},
		{"secret requires the samples", draftScoring, map[string]map[string]any{"secret": {"require_pass": "sample"}},
			[]string{"sample/1:WA", "secret/1:AC"}, WrongAnswer, 0},
		{"a pass-fail problem", Problem{Draft: true}, nil, []string{"sample/1:AC", "secret/a/1:AC", "secret/a/2:RTE"}, RuntimeError, 0},
		{"min over groups", draftScoring, map[string]map[string]any{"secret": {"score_aggregation": "min"}, "secret/a": {"max_score": 100, "score_aggregation": "sum"}, "secret/b": {"max_score": 100}},
			[]string{"secret/a/1:AC", "secret/a/2:WA", "secret/b/1:AC"}, WrongAnswer, 50},
		{"min over groups, one failed", draftScoring, map[string]map[string]any{"secret": {"score_aggregation": "min"}, "secret/a": {"max_score": 100}, "secret/b": {"max_score": 100}},
			[]string{"secret/a/1:AC", "secret/b/1:WA"}, WrongAnswer, 0},
	} {
		tree := build(t, c.p, c.settings, c.tests...)
		if v, score := Grade(tree); v != c.verdict || math.Abs(score-c.score) > 1e-9 {
			t.Errorf("%s: %v %v, want %v %v (%+v)", c.name, v, score, c.verdict, c.score, GradeGroups(tree))
		}
	}
}

func TestNewGroupTreeRejects(t *testing.T) {
	for _, c := range []struct {
		name     string
		p        Problem
		settings map[string]map[string]any
		tests    []string
		mention  string
	}{
		{"interleaved groups", Problem{}, nil, []string{"secret/a/1:-", "secret/b/1:-", "secret/a/2:-"}, "the tests of group secret/a are not contiguous"},
		{"an empty path part", Problem{}, nil, []string{"secret//1:-"}, "not a path relative to data/"},
		{"a parent path", Problem{}, nil, []string{"../x/1:-"}, "not a path relative to data/"},
		{"ignore_sample below data/", legacyScoring, map[string]map[string]any{"secret": {"grader_flags": "ignore_sample"}},
			[]string{"secret/1:-"}, "ignore_sample is only for data/"},
		{"ignore_sample with break", legacyScoring, map[string]map[string]any{"": {"grader_flags": "ignore_sample"}},
			[]string{"secret/1:-"}, "needs on_reject: continue"},
		{"pass-fail groups of the default 100 need a max_score", draftScoring, nil,
			[]string{"secret/g1/1:-"}, "secret/g1: a pass-fail group needs a max_score"},
		{"groups over secret's maximum", draftScoring, map[string]map[string]any{"secret/a": {"max_score": 60}, "secret/b": {"max_score": 50}},
			[]string{"secret/a/1:-", "secret/b/1:-"}, "add up to 110, over its own 100"},
		{"unbounded in bounded", draftScoring, map[string]map[string]any{"secret/a": {"score_aggregation": "sum", "max_score": "unbounded"}},
			[]string{"secret/a/1:-"}, "unbounded in secret"},
		{"sum inside pass-fail", draftScoring, map[string]map[string]any{"secret": {"score_aggregation": "pass-fail"}, "secret/a": {"score_aggregation": "sum", "max_score": 10}},
			[]string{"secret/a/1:-"}, "it must be pass-fail too"},
		{"require_pass forward", draftScoring, map[string]map[string]any{"secret/a": {"max_score": 50, "require_pass": "secret/b"}, "secret/b": {"max_score": 50}},
			[]string{"secret/a/1:-", "secret/b/1:-"}, "does not come before it"},
		{"require_pass of a sum group", draftScoring, map[string]map[string]any{"secret/a": {"max_score": 50, "score_aggregation": "sum"}, "secret/b": {"max_score": 50, "require_pass": "secret/a"}},
			[]string{"secret/a/1:-", "secret/b/1:-"}, "which is not pass-fail"},
		{"require_pass of nothing", draftScoring, map[string]map[string]any{"secret/a": {"max_score": 50, "require_pass": "secret/0"}},
			[]string{"secret/a/1:-"}, "which has no tests"},
		{"secret requires a group", draftScoring, map[string]map[string]any{"secret": {"require_pass": "secret/a"}, "secret/a": {"max_score": 100}},
			[]string{"secret/a/1:-"}, "may only name sample"},
		{"scored samples", draftScoring, map[string]map[string]any{"sample": {"max_score": 1}},
			[]string{"sample/1:-"}, "samples are not scored"},
		{"scored data/", draftScoring, map[string]map[string]any{"": {"score_aggregation": "sum"}},
			[]string{"secret/1:-"}, "data/: only secret and its groups are scored"},
	} {
		_, err := tryBuild(c.p, c.settings, c.tests...)
		if err == nil || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: %v, want an error mentioning %q", c.name, err, c.mention)
		}
	}
}

func TestParseGradings(t *testing.T) {
	gradings, err := ParseGradings(legacyScoring, map[string]map[string]any{
		"secret/a/deep": {"accept_score": 5},
		"":              {"on_reject": "continue", "accept_score": 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every group on the way is there, each inheriting from its parent.
	for group, accept := range map[string]float64{"": 2, "secret": 2, "secret/a": 2, "secret/a/deep": 5} {
		if g, ok := gradings[group]; !ok || g.AcceptScore != accept || g.OnReject != Continue {
			t.Errorf("group %q: %+v, %v", group, g, ok)
		}
	}
	_, err = ParseGradings(legacyScoring, map[string]map[string]any{"secret/b": {"on_reject": "later"}})
	if err == nil || !strings.HasPrefix(err.Error(), `group secret/b: on_reject: "later"`) {
		t.Errorf("an error in secret/b: %v", err)
	}
	_, err = ParseGradings(legacyScoring, map[string]map[string]any{"": {"range": "1 0"}})
	if err == nil || !strings.HasPrefix(err.Error(), "group data/: range") {
		t.Errorf("an error in data/: %v", err)
	}
}

// A group without a Grading of its own inherits its parent's; data/
// without one is a legacy pass-fail problem's.
func TestNewGroupTreeInherits(t *testing.T) {
	secret, _ := ParseGrading(map[string]any{"on_reject": "continue", "grader_flags": "first_error"}, RootGrading(Problem{}))
	tree, err := NewGroupTree(map[string]Grading{"secret": secret}, []TestResult{
		{Name: "secret/g/1", Group: "secret/g", Verdict: WrongAnswer},
		{Name: "secret/g/2", Group: "secret/g", Verdict: TimeLimitExceeded},
	})
	if err != nil {
		t.Fatal(err)
	}
	g := tree.Root.Items[0].Group.Items[0].Group
	if g.Name != "secret/g" || g.Grading.OnReject != Continue || g.Grading.VerdictMode != FirstError || tree.Root.Grading.OnReject != Break {
		t.Errorf("inherited %+v under root %+v", g.Grading, tree.Root.Grading)
	}
	if v, _ := Grade(tree); v != WrongAnswer {
		t.Errorf("Grade = %v", v)
	}
}

func TestSkip(t *testing.T) {
	for _, c := range []struct {
		name     string
		p        Problem
		settings map[string]map[string]any
		tests    []string
		skip     string // x for a test that need not run
	}{
		{"nothing known", Problem{}, nil, []string{"sample/1:-", "secret/1:-", "secret/2:-"}, "..."},
		{"pass-fail: after the first failure", Problem{}, nil, []string{"sample/1:AC", "secret/1:WA", "secret/2:-", "secret/3:-"}, "..xx"},
		{"pass-fail: a sample failure stops secret", Problem{}, nil, []string{"sample/1:WA", "sample/2:-", "secret/1:-"}, ".xx"},
		{"pass-fail: an earlier test still runs", Problem{}, nil, []string{"secret/1:-", "secret/2:TLE", "secret/3:AC"}, "..x"},
		{"continue runs everything", Problem{}, map[string]map[string]any{"": {"on_reject": "continue"}},
			[]string{"secret/1:WA", "secret/2:-"}, ".."},
		{"ioi: a failing group stops itself only", legacyScoring, ioiSettings,
			[]string{"sample/1:WA", "secret/group1/1:WA", "secret/group1/2:-", "secret/group2/1:-", "secret/group2/2:-"}, "..x.."},
		{"a group that still runs is known rejected", Problem{},
			map[string]map[string]any{"secret/a": {"on_reject": "continue"}},
			[]string{"secret/a/1:-", "secret/a/2:WA", "secret/a/3:-", "secret/b/1:-"}, "...x"},
		{"always_accept: a failure inside does not stop the parent", legacyScoring,
			map[string]map[string]any{"secret/a": {"grader_flags": "always_accept"}},
			[]string{"secret/a/1:WA", "secret/a/2:-", "secret/b/1:-"}, ".x."},
		{"accept_if_any_accepted: undecided", Problem{},
			map[string]map[string]any{"secret/a": {"on_reject": "continue", "grader_flags": "accept_if_any_accepted"}},
			[]string{"secret/a/1:WA", "secret/a/2:-", "secret/b/1:-"}, "..."},
		{"accept_if_any_accepted: decided", Problem{},
			map[string]map[string]any{"secret/a": {"on_reject": "continue", "grader_flags": "accept_if_any_accepted"}},
			[]string{"secret/a/1:WA", "secret/a/2:WA", "secret/b/1:-"}, "..x"},

		{"draft: a pass-fail group stops, secret's sum does not", draftScoring,
			map[string]map[string]any{"secret/a": {"max_score": 50}, "secret/b": {"max_score": 50}},
			[]string{"secret/a/1:WA", "secret/a/2:-", "secret/b/1:-"}, ".x."},
		{"draft: a min group stops at a failure", draftScoring,
			map[string]map[string]any{"secret/a": {"max_score": 50, "score_aggregation": "min"}, "secret/b": {"max_score": 50}},
			[]string{"secret/a/1:RTE", "secret/a/2:-", "secret/b/1:-"}, ".x."},
		{"draft: a sum group never stops", draftScoring, nil, []string{"secret/1:WA", "secret/2:-"}, ".."},
		{"draft: min over groups stops at a failed pass-fail group", draftScoring,
			map[string]map[string]any{"secret": {"score_aggregation": "min"}, "secret/a": {"max_score": 100}, "secret/b": {"max_score": 100}},
			[]string{"secret/a/1:-", "secret/a/2:WA", "secret/b/1:-"}, "..x"},
		{"draft: min over groups stops at a failure in a min group", draftScoring,
			map[string]map[string]any{"secret": {"score_aggregation": "min"}, "secret/a": {"max_score": 100, "score_aggregation": "min"}, "secret/b": {"max_score": 100}},
			[]string{"secret/a/1:WA", "secret/a/2:-", "secret/b/1:-"}, ".xx"},
		{"draft: min over groups goes on after a sum group's failure", draftScoring,
			map[string]map[string]any{"secret": {"score_aggregation": "min"}, "secret/a": {"max_score": 100, "score_aggregation": "sum"}, "secret/b": {"max_score": 100}},
			[]string{"secret/a/1:WA", "secret/a/2:-", "secret/b/1:-"}, "..."},
		{"draft: min over groups stops at a failed requirement", draftScoring,
			map[string]map[string]any{"secret": {"score_aggregation": "min"}, "secret/a": {"max_score": 100}, "secret/b": {"max_score": 100, "require_pass": "secret/a"}, "secret/c": {"max_score": 100}},
			[]string{"secret/a/1:WA", "secret/b/1:-", "secret/c/1:-"}, ".xx"},
		{"draft: a failed requirement", draftScoring,
			map[string]map[string]any{"secret/a": {"max_score": 50}, "secret/b": {"max_score": 50, "require_pass": "secret/a"}},
			[]string{"secret/a/1:-", "secret/a/2:WA", "secret/b/1:-", "secret/b/2:-"}, "..xx"},
		{"draft: samples only matter when required", draftScoring, map[string]map[string]any{"secret": {"require_pass": "sample"}},
			[]string{"sample/1:WA", "sample/2:-", "secret/1:-"}, "..x"},
		{"draft: samples fail, secret still runs", draftScoring, nil, []string{"sample/1:WA", "secret/1:-"}, ".."},
		{"draft pass-fail problem: the first failure", Problem{Draft: true}, nil,
			[]string{"sample/1:AC", "secret/a/1:WA", "secret/a/2:-", "secret/b/1:-"}, "..xx"},
	} {
		tree := build(t, c.p, c.settings, c.tests...)
		var got strings.Builder
		for _, s := range Skip(tree) {
			got.WriteByte(".x"[b2i(s)])
		}
		if got.String() != c.skip {
			t.Errorf("%s: Skip = %s, want %s", c.name, got.String(), c.skip)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// randomPackage is a random but valid problem: its groups, their
// settings in either format's rules, and the result each test would get.
func randomPackage(r *rand.Rand) (Problem, map[string]map[string]any, []string, []TestResult) {
	p := Problem{Draft: r.IntN(2) == 0, Scoring: r.IntN(3) > 0}
	p.CustomScore = !p.Draft && p.Scoring && r.IntN(3) == 0
	verdicts := []Verdict{Accepted, Accepted, Accepted, Accepted, WrongAnswer, TimeLimitExceeded, RuntimeError}
	settings := map[string]map[string]any{}
	var tests []string
	var finals []TestResult
	add := func(group string, n int) {
		for i := range n {
			tests = append(tests, group+"/"+string(rune('a'+i))+":-")
			f := TestResult{Verdict: verdicts[r.IntN(len(verdicts))]}
			if r.IntN(25) == 0 {
				f.Verdict = InternalError
			}
			switch {
			case f.Verdict != Accepted:
			case p.CustomScore:
				f.Score, f.HasScore = float64(r.IntN(4)), r.IntN(8) > 0 // now and then missing
			case p.Draft && r.IntN(3) == 0:
				f.HasScore = true // a score of 0: no judge error outside pass-fail groups
			}
			finals = append(finals, f)
		}
	}
	legacy := func() map[string]any {
		s := map[string]any{}
		if r.IntN(2) == 0 {
			s["on_reject"] = []string{"break", "continue"}[r.IntN(2)]
		}
		if r.IntN(2) == 0 {
			s["grader_flags"] = []string{"", "min", "first_error avg", "always_accept sum", "accept_if_any_accepted max", "worst_error"}[r.IntN(6)]
		}
		if p.Scoring && r.IntN(2) == 0 {
			s["accept_score"] = r.IntN(5)
		}
		return s
	}
	add("sample", r.IntN(3))
	groups := r.IntN(4)
	if groups == 0 {
		add("secret", 1+r.IntN(4))
	}
	left := 100
	minSecret := p.Draft && p.Scoring && groups > 0 && r.IntN(3) == 0
	if minSecret {
		settings["secret"] = map[string]any{"score_aggregation": "min"}
	}
	for g := range groups {
		name := "secret/g" + string(rune('1'+g))
		switch {
		case !p.Draft:
			settings[name] = legacy()
		case p.Scoring:
			max := left / (groups - g)
			left -= max
			if minSecret {
				max = 100 // each group on its own can reach secret's maximum
			}
			s := map[string]any{"max_score": max}
			if r.IntN(2) == 0 {
				s["score_aggregation"] = []string{"pass-fail", "sum", "min"}[r.IntN(3)]
			}
			if g > 0 && r.IntN(3) == 0 {
				s["require_pass"] = "secret/g1"
				if agg, ok := settings["secret/g1"]["score_aggregation"]; ok && agg != "pass-fail" {
					delete(s, "require_pass")
				}
			}
			settings[name] = s
		}
		if r.IntN(4) == 0 && !p.Draft {
			add(name+"/deep", 1+r.IntN(2))
			settings[name+"/deep"] = legacy()
		}
		add(name, 1+r.IntN(3))
	}
	if !p.Draft {
		settings[""] = legacy()
		settings["secret"] = legacy()
	}
	return p, settings, tests, finals
}

// Judging in first-failure mode (running only what Skip leaves, in test
// order or in any order, as parallel sandboxes finish) grades exactly as
// running everything does; and what Skip leaves out stays out as more
// results arrive.
func TestSkipGradesAsAll(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	built := 0
	for range 20000 {
		p, settings, tests, finals := randomPackage(r)
		all, err := tryBuild(p, settings, tests...)
		if err != nil {
			continue // the random settings broke a rule of the format
		}
		built++
		reveal := func(tree GroupTree, i int) {
			tree.Tests[i].Verdict, tree.Tests[i].Score, tree.Tests[i].HasScore = finals[i].Verdict, finals[i].Score, finals[i].HasScore
		}
		for i := range all.Tests {
			reveal(all, i)
		}
		want := GradeGroups(all)

		for _, order := range [][]int{identity(len(tests)), r.Perm(len(tests))} {
			tree, _ := tryBuild(p, settings, tests...)
			skipped := make([]bool, len(tests))
			for _, i := range order {
				skip := Skip(tree)
				for j, s := range skip {
					if skipped[j] && !s {
						t.Fatalf("%v %v %v: test %d was skipped, then not", p, settings, tests, j)
					}
					skipped[j] = s
				}
				if !skip[i] {
					reveal(tree, i)
				}
			}
			if got := GradeGroups(tree); !reflect.DeepEqual(got, want) {
				t.Fatalf("%+v %v\ntests %v, verdicts %v, order %v:\nfirst-failure %+v\nall           %+v", p, settings, tests, finals, order, got, want)
			}
		}
	}
	if built < 5000 {
		t.Errorf("only %d random packages were valid", built)
	}
}

func identity(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}
