package judge

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Problem is what problem.yaml says about how a problem is graded. Every
// group's Grading carries it.
type Problem struct {
	// Draft is the 2023-07 draft's grading (problem_format_version
	// 2023-07-draft or later): max_score, score_aggregation and
	// require_pass per group. Otherwise the legacy rules apply:
	// testdata.yaml's grading, grader_flags, accept_score, reject_score,
	// range and on_reject.
	Draft bool
	// Scoring is type: scoring. Other problems are pass-fail: their groups
	// may not carry scoring keys, and their score is 0.
	Scoring bool
	// CustomScore is the legacy validation: custom score: an accepted
	// test scores what its validator said (score.txt, testlib points)
	// and must say something. Without it a validator's score is a judge
	// error. Draft problems need no such flag: a validator's score is
	// optional there.
	CustomScore bool
}

// OnReject is what judging does within a legacy group after an item
// (test or subgroup) that is not accepted.
type OnReject int

const (
	// Break stops: the group's remaining items are not judged and do not
	// count. The default.
	Break OnReject = iota
	// Continue judges the remaining items too.
	Continue
)

// VerdictMode is how the legacy default grader aggregates verdicts.
type VerdictMode int

const (
	// WorstError (the default) is accepted if every item is, else the
	// worst verdict among them: InternalError, then RuntimeError,
	// MemoryLimitExceeded, TimeLimitExceeded, OutputLimitExceeded,
	// WrongAnswer.
	WorstError VerdictMode = iota
	// FirstError is the verdict of the first item not accepted.
	FirstError
	// AlwaysAccept is always accepted (the score is what matters).
	AlwaysAccept
)

// ScoreMode is how the legacy default grader aggregates scores.
type ScoreMode int

const (
	// Sum of the items' scores (the default).
	Sum ScoreMode = iota
	// Avg is their mean.
	Avg
	// Min is the least.
	Min
	// Max is the greatest.
	Max
)

// Aggregation is a draft group's score_aggregation.
type Aggregation int

const (
	// AggregationDefault is sum for secret, pass-fail for its subgroups.
	AggregationDefault Aggregation = iota
	// PassFail scores the group's maximum if every test in it is
	// accepted, else 0.
	PassFail
	// AggregateSum adds the items' scores.
	AggregateSum
	// AggregateMin takes the least.
	AggregateMin
)

// Grading is how one test data group's result is computed from its
// items, as its testdata.yaml (test_group.yaml in the draft) and its
// ancestors' say. Build the root's with RootGrading and each group's
// from its parent's with ParseGrading.
type Grading struct {
	Problem

	// Legacy rules. Each key is inherited from the parent group unless
	// the group's testdata.yaml sets it (ignore_sample excepted).
	OnReject            OnReject
	VerdictMode         VerdictMode
	ScoreMode           ScoreMode
	IgnoreSample        bool // only at data/, never inherited: grade by secret alone
	AcceptIfAnyAccepted bool
	AcceptScore         float64 // a test accepted without a validator score (default 1)
	RejectScore         float64 // a test not accepted (default 0)
	RangeMin, RangeMax  float64 // a group's score must fall in it (default -inf, +inf)

	// Draft rules. Never inherited.
	Aggregation Aggregation
	// MaxScore is max_score when HasMaxScore; +Inf is "unbounded".
	// Without it, secret's is 100 and a subgroup's unbounded.
	MaxScore    float64
	HasMaxScore bool
	// RequirePass names groups (paths relative to data/, such as
	// "sample" or "secret/group1") that must be accepted entirely before
	// this group counts at all.
	RequirePass []string
}

// RootGrading is the grading of data/ before its own testdata.yaml: the
// format's defaults.
func RootGrading(p Problem) Grading {
	return Grading{
		Problem:     p,
		AcceptScore: 1,
		RangeMin:    math.Inf(-1),
		RangeMax:    math.Inf(1),
	}
}

// Keys ParseGrading reads; it leaves every other key (validator flags and
// arguments, full_feedback, ...) to whoever reads them.
var (
	legacyKeys = []string{"grading", "grader_flags", "on_reject", "accept_score", "reject_score", "range"}
	draftKeys  = []string{"max_score", "score_aggregation", "require_pass"}
)

// ParseGrading is the grading of a group whose testdata.yaml holds
// settings (nil when it has none), inside a group graded by parent. A key
// of the other format's rules, a scoring key in a pass-fail problem, an
// unknown value or a custom grader program (grading: custom) is an error
// naming the key.
func ParseGrading(settings map[string]any, parent Grading) (Grading, error) {
	g := parent
	g.Aggregation, g.MaxScore, g.HasMaxScore, g.RequirePass = AggregationDefault, 0, false, nil
	// ignore_sample is about data/'s two items; a group's own grader_flags
	// may name it (and NewGroupTree refuses that), but it does not pass
	// down with the rest of data/'s flags.
	g.IgnoreSample = false
	keys := make([]string, 0, len(settings))
	for k, v := range settings {
		if v != nil { // "key:" with no value is no setting
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := settings[k]
		var err error
		switch {
		case slices.Contains(legacyKeys, k) && g.Draft:
			err = fmt.Errorf("%s is a legacy key; 2023-07 packages grade with %s", k, strings.Join(draftKeys, ", "))
		case slices.Contains(legacyKeys, k):
			err = g.setLegacy(k, v)
		case slices.Contains(draftKeys, k) && !g.Draft:
			err = fmt.Errorf("%s is a 2023-07 key; legacy packages grade with %s", k, strings.Join(legacyKeys, ", "))
		case slices.Contains(draftKeys, k):
			err = g.setDraft(k, v)
		}
		if err != nil {
			return Grading{}, err
		}
	}
	return g, nil
}

func (g *Grading) setLegacy(key string, v any) error {
	switch key {
	case "grading":
		s, err := settingString(key, v)
		switch {
		case err != nil:
			return err
		case s == "custom":
			return fmt.Errorf("grading: custom (a grader program) is not supported; use the default grader's grader_flags")
		case s != "default":
			return fmt.Errorf("grading: %q is neither default nor custom", s)
		}
		return nil
	case "grader_flags":
		s, err := settingString(key, v)
		if err != nil {
			return err
		}
		return g.setGraderFlags(strings.Fields(s))
	case "on_reject":
		s, err := settingString(key, v)
		switch {
		case err != nil:
			return err
		case s == "break":
			g.OnReject = Break
		case s == "continue":
			g.OnReject = Continue
		default:
			return fmt.Errorf("on_reject: %q is neither break nor continue", s)
		}
		return nil
	}
	if !g.Scoring {
		return fmt.Errorf("%s is only for scoring problems", key)
	}
	switch key {
	case "accept_score", "reject_score":
		x, err := settingNumber(key, v)
		if err == nil && math.IsInf(x, 0) {
			err = fmt.Errorf("%s: must be finite", key)
		}
		if err != nil {
			return err
		}
		if key == "accept_score" {
			g.AcceptScore = x
		} else {
			g.RejectScore = x
		}
		return nil
	default: // range
		s, err := settingString(key, v)
		if err != nil {
			return err
		}
		f := strings.Fields(s)
		if len(f) != 2 {
			return fmt.Errorf("range: %q is not two numbers", s)
		}
		lo, err1 := parseSettingFloat(f[0])
		hi, err2 := parseSettingFloat(f[1])
		switch {
		case err1 != nil || err2 != nil:
			return fmt.Errorf("range: %q is not two numbers", s)
		case lo > hi:
			return fmt.Errorf("range: %q has its minimum over its maximum", s)
		}
		g.RangeMin, g.RangeMax = lo, hi
		return nil
	}
}

// setGraderFlags applies grader_flags. The key replaces the parent's
// flags as a whole: modes it does not name are back at their defaults.
// Of conflicting modes the last one counts, as in the default grader.
func (g *Grading) setGraderFlags(flags []string) error {
	g.VerdictMode, g.ScoreMode, g.IgnoreSample, g.AcceptIfAnyAccepted = WorstError, Sum, false, false
	for _, f := range flags {
		switch f {
		case "worst_error", "no_errors":
			g.VerdictMode = WorstError
		case "first_error":
			g.VerdictMode = FirstError
		case "always_accept":
			g.VerdictMode = AlwaysAccept
		case "sum":
			g.ScoreMode = Sum
		case "avg":
			g.ScoreMode = Avg
		case "min":
			g.ScoreMode = Min
		case "max":
			g.ScoreMode = Max
		case "ignore_sample":
			g.IgnoreSample = true
		case "accept_if_any_accepted":
			g.AcceptIfAnyAccepted = true
		default:
			return fmt.Errorf("grader_flags: unknown flag %q (valid: worst_error, first_error, always_accept, sum, avg, min, max, ignore_sample, accept_if_any_accepted)", f)
		}
	}
	return nil
}

func (g *Grading) setDraft(key string, v any) error {
	if !g.Scoring {
		return fmt.Errorf("%s is only for scoring problems", key)
	}
	switch key {
	case "max_score":
		if s, ok := v.(string); ok && s == "unbounded" {
			g.MaxScore, g.HasMaxScore = math.Inf(1), true
			return nil
		}
		x, err := settingNumber(key, v)
		if err != nil || x < 0 || math.IsInf(x, 0) {
			return fmt.Errorf("max_score: %v is neither a non-negative number nor unbounded", v)
		}
		g.MaxScore, g.HasMaxScore = x, true
		return nil
	case "score_aggregation":
		s, err := settingString(key, v)
		switch {
		case err != nil:
			return err
		case s == "pass-fail":
			g.Aggregation = PassFail
		case s == "sum":
			g.Aggregation = AggregateSum
		case s == "min":
			g.Aggregation = AggregateMin
		default:
			return fmt.Errorf("score_aggregation: %q is not pass-fail, sum or min", s)
		}
		return nil
	default: // require_pass
		switch x := v.(type) {
		case string:
			g.RequirePass = []string{x}
		case []any:
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("require_pass: %v is not a group name", e)
				}
				g.RequirePass = append(g.RequirePass, s)
			}
		case []string:
			g.RequirePass = slices.Clone(x)
		default:
			return fmt.Errorf("require_pass: %v is neither a group name nor a list of them", v)
		}
		return nil
	}
}

func settingString(key string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: %v is not a string", key, v)
	}
	return s, nil
}

// settingNumber reads a number as a YAML decoder hands it over: an
// integer or float of any width, or a string holding one.
func settingNumber(key string, v any) (float64, error) {
	var x float64
	switch n := v.(type) {
	case int:
		x = float64(n)
	case int64:
		x = float64(n)
	case uint64:
		x = float64(n)
	case float64:
		x = n
	case float32:
		x = float64(n)
	case string:
		var err error
		if x, err = parseSettingFloat(n); err != nil {
			return 0, fmt.Errorf("%s: %q is not a number", key, n)
		}
	default:
		return 0, fmt.Errorf("%s: %v is not a number", key, v)
	}
	if math.IsNaN(x) {
		return 0, fmt.Errorf("%s: NaN is not a number", key)
	}
	return x, nil
}

// parseSettingFloat reads a number in testdata.yaml, where "inf", "+inf"
// and "-inf" are allowed.
func parseSettingFloat(s string) (float64, error) {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return x, nil
}

// ParseGradings parses the settings of a problem's groups, keyed by path
// relative to data/ ("" for data/ itself, "secret/group1"), each under
// its parent's grading: what ParseGrading does for one group, done for a
// package. A group without settings inherits; NewGroupTree also fills in
// groups missing from the result that way. An error names the group.
func ParseGradings(p Problem, settings map[string]map[string]any) (map[string]Grading, error) {
	gradings := map[string]Grading{}
	var gradingOf func(group string) (Grading, error)
	gradingOf = func(group string) (Grading, error) {
		if g, ok := gradings[group]; ok {
			return g, nil
		}
		parent := RootGrading(p)
		if group != "" {
			up := ""
			if i := strings.LastIndexByte(group, '/'); i >= 0 {
				up = group[:i]
			}
			var err error
			if parent, err = gradingOf(up); err != nil {
				return Grading{}, err
			}
		}
		g, err := ParseGrading(settings[group], parent)
		if err != nil {
			return Grading{}, fmt.Errorf("group %s: %w", displayName(group), err)
		}
		gradings[group] = g
		return g, nil
	}
	groups := slices.Sorted(maps.Keys(settings))
	if !slices.Contains(groups, "") {
		groups = append([]string{""}, groups...)
	}
	for _, group := range groups {
		if _, err := gradingOf(group); err != nil {
			return nil, err
		}
	}
	return gradings, nil
}
