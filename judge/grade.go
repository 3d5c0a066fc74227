package judge

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// TestResult is one test as grading sees it.
type TestResult struct {
	// Name is the test's path relative to data/, without .in
	// ("secret/group1/01"); it names the test in reasons.
	Name string
	// Group is the path of its group relative to data/: "sample",
	// "secret", "secret/group1"; "" is data/ itself.
	Group string
	// Verdict is the test's verdict; Skipped while it has not run.
	Verdict Verdict
	// Score is its validator's score (score.txt, testlib points) when
	// HasScore.
	Score    float64
	HasScore bool
}

// GroupTree is a problem's test data groups with their tests, in judging
// order. Tests is every test in that order; the caller fills in verdicts
// and scores as tests finish and asks Skip which tests still need to run
// and Grade for the result.
type GroupTree struct {
	Tests []TestResult
	Root  *Group
}

// Group is one test data group: its grading and its items in judging
// order.
type Group struct {
	// Name is the group's path relative to data/; "" for data/ itself.
	Name    string
	Grading Grading
	Items   []Item

	// What the draft rules make of Grading at the group's place in the
	// tree: its aggregation and maximum, and a test's maximum in it.
	aggregation Aggregation
	max         float64
	testMax     float64
	required    []*Group
}

// Item is a test (Group nil; Test is its index in GroupTree.Tests) or a
// subgroup.
type Item struct {
	Test  int
	Group *Group
}

// NewGroupTree arranges tests, in judging order, into their groups.
// gradings holds each group's Grading by path (ParseGrading's); a group
// missing from it inherits its parent's settings, and data/ without one
// has RootGrading's for a legacy pass-fail problem. A group's tests must
// be contiguous, in the order the group's items are judged. It checks
// what only the whole tree shows: ignore_sample only at data/ and with
// on_reject: continue there; in the draft, maximum scores that fit their
// parents', pass-fail groups with a maximum, require_pass naming earlier
// pass-fail groups. Called with tests that have not run, it validates a
// package.
func NewGroupTree(gradings map[string]Grading, tests []TestResult) (GroupTree, error) {
	rootGrading, ok := gradings[""]
	if !ok {
		rootGrading = RootGrading(Problem{})
	}
	t := GroupTree{Tests: tests, Root: &Group{Grading: rootGrading}}
	byName := map[string]*Group{"": t.Root}
	open := []*Group{t.Root} // the path from data/ to the group of the last test
	for i, test := range tests {
		path, err := splitGroupPath(test.Group)
		if err != nil {
			return GroupTree{}, fmt.Errorf("test %s: %w", test.Name, err)
		}
		// Close the groups the test is not in, then open those it is in.
		depth := 1
		for depth < len(open) && depth <= len(path) && open[depth].Name == strings.Join(path[:depth], "/") {
			depth++
		}
		open = open[:depth]
		for ; depth <= len(path); depth++ {
			name := strings.Join(path[:depth], "/")
			if _, seen := byName[name]; seen {
				return GroupTree{}, fmt.Errorf("test %s: the tests of group %s are not contiguous", test.Name, name)
			}
			parent := open[len(open)-1]
			grading, ok := gradings[name]
			if !ok {
				grading, _ = ParseGrading(nil, parent.Grading) // inherits; no settings, no error
			}
			g := &Group{Name: name, Grading: grading}
			parent.Items = append(parent.Items, Item{Test: -1, Group: g})
			byName[name] = g
			open = append(open, g)
		}
		g := open[len(open)-1]
		g.Items = append(g.Items, Item{Test: i})
	}
	if err := t.Root.check(true); err != nil {
		return GroupTree{}, err
	}
	if t.Root.Grading.Draft {
		if err := t.Root.drafted(byName, nil); err != nil {
			return GroupTree{}, err
		}
	}
	return t, nil
}

func splitGroupPath(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	parts := strings.Split(p, "/")
	for _, s := range parts {
		if s == "" || s == "." || s == ".." {
			return nil, fmt.Errorf("group %q is not a path relative to data/", p)
		}
	}
	return parts, nil
}

// check applies the rules that hold in both formats.
func (g *Group) check(root bool) error {
	for _, it := range g.Items {
		if it.Group == nil {
			continue
		}
		if it.Group.Grading.Problem != g.Grading.Problem {
			return fmt.Errorf("group %s: graded for another problem than data/", it.Group.Name)
		}
		if err := it.Group.check(false); err != nil {
			return err
		}
	}
	switch {
	case g.Grading.Draft:
		return nil
	case g.Grading.IgnoreSample && !root:
		return fmt.Errorf("group %s: grader_flags ignore_sample is only for data/", g.Name)
	case g.Grading.IgnoreSample && g.Grading.OnReject == Break:
		return fmt.Errorf("data/: grader_flags ignore_sample needs on_reject: continue, or a rejected sample would keep secret from being judged")
	}
	return nil
}

// drafted works out the draft rules' aggregation and maximum of g and of
// everything under it, parent being the group above (nil at data/).
func (g *Group) drafted(byName map[string]*Group, parent *Group) error {
	gr := g.Grading
	scoring := gr.Aggregation != AggregationDefault || gr.HasMaxScore
	switch {
	case scoring && g.Name == "sample":
		return fmt.Errorf("group sample: samples are not scored")
	case (scoring || len(gr.RequirePass) > 0) && !isScored(g.Name) && g.Name != "sample":
		return fmt.Errorf("group %s: only secret and its groups are scored", displayName(g.Name))
	}
	g.aggregation, g.max = gr.Aggregation, gr.MaxScore
	if g.aggregation == AggregationDefault {
		g.aggregation = PassFail
		if g.Name == "secret" {
			g.aggregation = AggregateSum
		}
	}
	switch {
	case gr.HasMaxScore:
	case g.Name == "secret":
		g.max = 100
	case parent != nil && isScored(parent.Name) && parent.aggregation == PassFail && g.aggregation == PassFail:
		// All or nothing inside a group that is all or nothing itself: its
		// own maximum cannot matter. (The format asks for one anyway.)
		g.max = parent.max
	default:
		g.max = math.Inf(1)
	}
	if isScored(g.Name) && gr.Scoring {
		if err := g.checkDraftScore(parent); err != nil {
			return err
		}
	}
	for _, name := range gr.RequirePass {
		req, ok := byName[name]
		switch {
		case !ok:
			return fmt.Errorf("group %s: require_pass names %s, which has no tests", g.Name, name)
		case g.Name == "secret" && name != "sample":
			return fmt.Errorf("group secret: require_pass may only name sample")
		case name >= g.Name || strings.HasPrefix(g.Name, name+"/"):
			return fmt.Errorf("group %s: require_pass names %s, which does not come before it", g.Name, name)
		case name != "sample" && req.aggregation != PassFail:
			return fmt.Errorf("group %s: require_pass names %s, which is not pass-fail", g.Name, name)
		}
		g.required = append(g.required, req)
	}
	sub, tests := 0.0, 0
	for _, it := range g.Items {
		if it.Group == nil {
			tests++
			continue
		}
		if err := it.Group.drafted(byName, g); err != nil {
			return err
		}
		sub += it.Group.max
	}
	g.testMax = g.max
	if g.aggregation == AggregateSum && !math.IsInf(g.max, 1) && isScored(g.Name) && gr.Scoring {
		if !within(sub, 0, g.max) {
			return fmt.Errorf("group %s: its groups' max_score add up to %g, over its own %g", g.Name, sub, g.max)
		}
		if tests > 0 {
			g.testMax = math.Max(g.max-sub, 0) / float64(tests)
		}
	}
	return nil
}

// checkDraftScore checks g's maximum against its parent's.
func (g *Group) checkDraftScore(parent *Group) error {
	inScored := parent != nil && isScored(parent.Name)
	switch {
	case g.aggregation == PassFail && math.IsInf(g.max, 1):
		return fmt.Errorf("group %s: a pass-fail group needs a max_score", g.Name)
	case !inScored:
		return nil
	case math.IsInf(g.max, 1) && !math.IsInf(parent.max, 1):
		return fmt.Errorf("group %s: unbounded in %s, whose max_score is %g", g.Name, parent.Name, parent.max)
	case parent.aggregation == PassFail && g.aggregation != PassFail:
		return fmt.Errorf("group %s: in pass-fail %s, it must be pass-fail too", g.Name, parent.Name)
	case parent.aggregation == AggregateMin && g.max > parent.max:
		return fmt.Errorf("group %s: its max_score %g is over %s's %g", g.Name, g.max, parent.Name, parent.max)
	}
	return nil
}

func displayName(name string) string {
	if name == "" {
		return "data/"
	}
	return name
}

// GroupResult is a group's graded result.
type GroupResult struct {
	Name    string
	Verdict Verdict
	Score   float64
	// Reason says why the verdict is InternalError: a validator's fault,
	// or a score the package's rules do not allow.
	Reason string
	// Groups are the subgroups' results, in order. A group that was not
	// judged (an earlier failure stopped its parent, or its require_pass
	// failed) is Skipped, with score 0.
	Groups []GroupResult
}

// Grade is the tree's verdict and score: data/'s result. For a pass-fail
// problem the score is 0. The verdict is the grader's; a submission's
// reported status is Aggregate of its tests' verdicts, which it equals
// unless a package's grader_flags say otherwise.
func Grade(t GroupTree) (Verdict, float64) {
	r := GradeGroups(t)
	return r.Verdict, r.Score
}

// GradeGroups is every group's result, data/'s at the top.
func GradeGroups(t GroupTree) GroupResult {
	if t.Root == nil {
		return GroupResult{Verdict: Accepted}
	}
	var r GroupResult
	if t.Root.Grading.Draft {
		r = t.gradeDraft(t.Root)
	} else {
		r, _ = t.gradeLegacy(t.Root)
	}
	if !t.Root.Grading.Scoring {
		r.Score = 0
	}
	return r
}

// gradeLegacy is the default grader of the legacy format over g's items
// that were judged. ran is false when none was (the group then does not
// count in its parent, as if it had not been run).
func (t GroupTree) gradeLegacy(g *Group) (r GroupResult, ran bool) {
	gr := g.Grading
	r = GroupResult{Name: g.Name}
	var verdicts []Verdict
	var scores []float64
	stopped := false
	for _, it := range g.Items {
		if stopped {
			if it.Group != nil {
				r.Groups = append(r.Groups, skippedGroups(it.Group))
			}
			continue
		}
		var v Verdict
		var score float64
		if it.Group != nil {
			sub, subRan := t.gradeLegacy(it.Group)
			if !subRan {
				r.Groups = append(r.Groups, skippedGroups(it.Group))
				continue
			}
			r.Groups = append(r.Groups, sub)
			v, score = sub.Verdict, sub.Score
			if v == InternalError && r.Reason == "" {
				r.Reason = sub.Reason
			}
		} else {
			test := t.Tests[it.Test]
			if test.Verdict == Skipped {
				continue
			}
			var reason string
			v, score, reason = legacyTestScore(gr, test)
			if reason != "" && r.Reason == "" {
				r.Reason = reason
			}
		}
		verdicts, scores = append(verdicts, v), append(scores, score)
		stopped = gr.OnReject == Break && v != Accepted
	}
	if len(verdicts) == 0 {
		r.Verdict = Accepted
		return r, false
	}
	if r.Reason != "" { // a judge error anywhere is the group's, whatever the grader
		r.Verdict, r.Score = InternalError, 0
		return r, true
	}
	if gr.IgnoreSample {
		verdicts, scores = verdicts[len(verdicts)-1:], scores[len(scores)-1:]
	}
	r.Verdict = legacyVerdict(gr, verdicts)
	r.Score = legacyScore(gr.ScoreMode, scores)
	if gr.Scoring {
		// problemtools calls a score outside the range an error of the
		// package; here it is the test's judge error, not a clamped score.
		if !within(r.Score, gr.RangeMin, gr.RangeMax) {
			r.Reason = fmt.Sprintf("group %s scored %g, outside its range [%g, %g]", displayName(g.Name), r.Score, gr.RangeMin, gr.RangeMax)
			r.Verdict, r.Score = InternalError, 0
			return r, true
		}
		r.Score = math.Min(math.Max(r.Score, gr.RangeMin), gr.RangeMax)
	}
	return r, true
}

// within says lo <= x <= hi, but for rounding (0.1 three times is a
// little over 0.3).
func within(x, lo, hi float64) bool {
	slack := func(b float64) float64 { return scoreSlack * math.Max(1, math.Abs(b)) }
	return lo-slack(lo) <= x && x <= hi+slack(hi)
}

// legacyTestScore is a judged test's verdict and score: its validator's
// score if accepted on a custom score problem, else accept_score or
// reject_score. A missing or unexpected validator score is a judge error.
func legacyTestScore(gr Grading, test TestResult) (Verdict, float64, string) {
	switch {
	case test.Verdict == InternalError:
		return InternalError, 0, fmt.Sprintf("test %s: InternalError", test.Name)
	case test.Verdict != Accepted || !gr.Scoring:
		return test.Verdict, gr.RejectScore, ""
	case gr.CustomScore && !test.HasScore:
		return InternalError, 0, fmt.Sprintf("test %s: accepted without a score, on a problem with validation: custom score", test.Name)
	case gr.CustomScore:
		return Accepted, test.Score, ""
	case test.HasScore:
		return InternalError, 0, fmt.Sprintf("test %s: the validator gave a score, on a problem without validation: custom score", test.Name)
	}
	return Accepted, gr.AcceptScore, ""
}

// worstFirst is the legacy default grader's order of errors, worst first.
var worstFirst = []Verdict{InternalError, CompileError, RuntimeError, MemoryLimitExceeded, TimeLimitExceeded, OutputLimitExceeded, WrongAnswer}

func legacyVerdict(gr Grading, verdicts []Verdict) Verdict {
	if gr.AcceptIfAnyAccepted && slices.Contains(verdicts, Accepted) {
		return Accepted
	}
	switch gr.VerdictMode {
	case AlwaysAccept:
		return Accepted
	case FirstError:
		return Aggregate(verdicts)
	}
	for _, w := range worstFirst {
		if slices.Contains(verdicts, w) {
			return w
		}
	}
	return Aggregate(verdicts) // a verdict outside the order: the first
}

func legacyScore(mode ScoreMode, scores []float64) float64 {
	switch mode {
	case Avg:
		return legacyScore(Sum, scores) / float64(len(scores))
	case Min:
		return slices.Min(scores)
	case Max:
		return slices.Max(scores)
	}
	sum := 0.0
	for _, s := range scores {
		sum += s
	}
	return sum
}

// skippedGroups is the result of a group that was not judged, and of its
// subgroups.
func skippedGroups(g *Group) GroupResult {
	r := GroupResult{Name: g.Name, Verdict: Skipped}
	for _, it := range g.Items {
		if it.Group != nil {
			r.Groups = append(r.Groups, skippedGroups(it.Group))
		}
	}
	return r
}

// scoreSlack is how far a sum of test scores may pass its group's maximum
// through rounding (100/3 three times is a little over 100).
const scoreSlack = 1e-9

// gradeDraft is the draft rules' result of g. An item after one that
// ends g's judging (a failure in a pass-fail group, in a min group, in a
// pass-fail problem) does not count, as if Skip had kept it from
// running: that cannot change the score, and keeps the result the same
// whether the later items ran or not.
func (t GroupTree) gradeDraft(g *Group) GroupResult {
	if t.requirementUnmet(g) {
		return skippedGroups(g)
	}
	r := GroupResult{Name: g.Name}
	var verdicts []Verdict
	var scores []float64
	stopped := false
	for _, it := range g.Items {
		var v Verdict
		var score float64
		switch {
		case stopped && it.Group != nil:
			r.Groups = append(r.Groups, skippedGroups(it.Group))
			continue
		case stopped:
			continue
		case it.Group != nil:
			sub := t.gradeDraft(it.Group)
			r.Groups = append(r.Groups, sub)
			v, score = sub.Verdict, sub.Score
			if v == InternalError && r.Reason == "" {
				r.Reason = sub.Reason
			}
		default:
			var reason string
			v, score, reason = draftTestScore(g, t.Tests[it.Test])
			if reason != "" && r.Reason == "" {
				r.Reason = reason
			}
		}
		verdicts, scores = append(verdicts, v), append(scores, score)
		stopped = t.ends(g, it, nil)
	}
	r.Verdict = Aggregate(verdicts)
	switch {
	case r.Reason != "":
		r.Verdict, r.Score = InternalError, 0
		return r
	case g.Name == "":
		for _, sub := range r.Groups {
			if sub.Name == "secret" {
				r.Score = sub.Score // the submission's score
			}
		}
		return r
	case !isScored(g.Name) || !g.Grading.Scoring:
		return r
	}
	switch g.aggregation {
	case PassFail:
		if t.allAccepted(g) {
			r.Score = g.max
		}
	case AggregateMin:
		if len(scores) > 0 {
			r.Score = slices.Min(scores)
		}
	default:
		r.Score = legacyScore(Sum, scores)
	}
	if !within(r.Score, 0, g.max) {
		r.Verdict, r.Reason = InternalError, fmt.Sprintf("group %s scored %g, over its max_score %g", g.Name, r.Score, g.max)
		r.Score = 0
		return r
	}
	r.Score = math.Min(r.Score, g.max)
	return r
}

// draftTestScore is a test's verdict and score under the draft rules: 0
// unless accepted (a test that has not run is not); then its validator's
// score, at most the test's maximum, or that maximum when the validator
// gave none. Tests of pass-fail groups have no score of their own.
func draftTestScore(g *Group, test TestResult) (Verdict, float64, string) {
	switch {
	case test.Verdict == InternalError:
		return InternalError, 0, fmt.Sprintf("test %s: InternalError", test.Name)
	case test.Verdict != Accepted || !isScored(g.Name) || !g.Grading.Scoring:
		return test.Verdict, 0, ""
	case g.aggregation == PassFail && test.HasScore:
		return InternalError, 0, fmt.Sprintf("test %s: the validator gave a score, in pass-fail group %s", test.Name, g.Name)
	case g.aggregation == PassFail:
		return Accepted, 0, ""
	case !test.HasScore && math.IsInf(g.testMax, 1):
		return InternalError, 0, fmt.Sprintf("test %s: accepted without a score, in unbounded group %s", test.Name, g.Name)
	case !test.HasScore:
		return Accepted, g.testMax, ""
	case !within(test.Score, 0, g.testMax):
		return InternalError, 0, fmt.Sprintf("test %s: the validator's score %g is outside [0, %g]", test.Name, test.Score, g.testMax)
	}
	return Accepted, math.Min(math.Max(test.Score, 0), g.testMax), ""
}

func isScored(name string) bool { return name == "secret" || strings.HasPrefix(name, "secret/") }

// requirementUnmet says some group g requires was not entirely accepted.
func (t GroupTree) requirementUnmet(g *Group) bool {
	for _, req := range g.required {
		if !t.allAccepted(req) {
			return true
		}
	}
	return false
}

// requirementFailed says a group g requires is known to fail: one of its
// tests was judged and not accepted, or its own requirement failed.
func (t GroupTree) requirementFailed(g *Group) bool {
	for _, req := range g.required {
		if t.anyFailed(req) || t.requirementFailed(req) {
			return true
		}
	}
	return false
}

// allAccepted says every test in g was judged and accepted.
func (t GroupTree) allAccepted(g *Group) bool {
	return t.everyTest(g, func(r TestResult) bool { return r.Verdict == Accepted })
}

// anyFailed says some test in g was judged and not accepted.
func (t GroupTree) anyFailed(g *Group) bool {
	return !t.everyTest(g, func(r TestResult) bool { return r.Verdict == Accepted || r.Verdict == Skipped })
}

func (t GroupTree) everyTest(g *Group, ok func(TestResult) bool) bool {
	for _, it := range g.Items {
		if it.Group != nil && !t.everyTest(it.Group, ok) || it.Group == nil && !ok(t.Tests[it.Test]) {
			return false
		}
	}
	return true
}

// Skip says, for each test in order, that it need not run: what is known
// so far (tests not yet run are Skipped) already decides that it cannot
// count. That is: an earlier item of one of its legacy groups with
// on_reject: break was rejected; or, in the draft, an earlier test of one
// of its pass-fail groups failed, an earlier item of a min group scored
// 0, or a group it requires failed. A pass-fail problem is judged as
// Kattis does: with the defaults, nothing after the first failure runs.
// The first-failure mode runs only what Skip leaves; the all mode runs
// everything, and Grade counts the same either way.
func Skip(t GroupTree) []bool {
	skip := make([]bool, len(t.Tests))
	if t.Root != nil {
		t.markSkips(t.Root, skip)
	}
	return skip
}

func (t GroupTree) markSkips(g *Group, skip []bool) {
	if g.Grading.Draft && t.requirementFailed(g) {
		markAll(g, skip)
		return
	}
	stopped := false
	for _, it := range g.Items {
		switch {
		case stopped && it.Group != nil:
			markAll(it.Group, skip)
		case stopped:
			skip[it.Test] = true
		case it.Group != nil:
			t.markSkips(it.Group, skip)
			stopped = t.ends(g, it, skip)
		default:
			stopped = t.ends(g, it, skip)
		}
	}
}

func markAll(g *Group, skip []bool) {
	for _, it := range g.Items {
		if it.Group != nil {
			markAll(it.Group, skip)
		} else {
			skip[it.Test] = true
		}
	}
}

// stopRule is what ends the judging of a group's items early.
type stopRule int

const (
	stopNever     stopRule = iota
	stopOnFailure          // legacy on_reject: break; draft pass-fail
	stopOnZero             // draft min
)

func (g *Group) stop() stopRule {
	gr := g.Grading
	switch {
	case !gr.Draft && gr.OnReject == Break:
		return stopOnFailure
	case !gr.Draft:
		return stopNever
	case !gr.Scoring:
		return stopOnFailure // a pass-fail problem: every test must pass
	case !isScored(g.Name):
		return stopNever // samples count only through require_pass
	case g.aggregation == PassFail:
		return stopOnFailure
	case g.aggregation == AggregateMin:
		return stopOnZero
	}
	return stopNever
}

// ends says that item it, as far as it is known, ends g's judging.
func (t GroupTree) ends(g *Group, it Item, skip []bool) bool {
	switch g.stop() {
	case stopOnFailure:
		return t.knownFailed(it, skip)
	case stopOnZero:
		return t.knownZero(it)
	}
	return false
}

// knownFailed says item it is known not to be accepted.
func (t GroupTree) knownFailed(it Item, skip []bool) bool {
	if it.Group == nil {
		v := t.Tests[it.Test].Verdict
		return v != Accepted && v != Skipped
	}
	sub := it.Group
	if sub.Grading.Draft {
		return t.requirementFailed(sub) || t.anyFailed(sub)
	}
	if t.decided(sub, skip) {
		r, ran := t.gradeLegacy(sub)
		return ran && r.Verdict != Accepted
	}
	// Still judging: a grader that rejects on any error rejects the group
	// once one counts. That stays so: an item stops counting only after
	// an earlier one failed, which the group rejects as well. (A judge
	// error is not enough by itself: an earlier failure could still keep
	// it from counting under a grader that accepts.)
	if sub.Grading.VerdictMode == AlwaysAccept || sub.Grading.AcceptIfAnyAccepted {
		return false
	}
	for _, child := range sub.Items {
		if child.Group == nil && skip[child.Test] || child.Group != nil && allMarked(child.Group, skip) {
			continue // does not count
		}
		if t.knownFailed(child, skip) {
			return true
		}
	}
	return false
}

func allMarked(g *Group, skip []bool) bool {
	for _, it := range g.Items {
		if it.Group != nil && !allMarked(it.Group, skip) || it.Group == nil && !skip[it.Test] {
			return false
		}
	}
	return true
}

// knownZero says item it of a draft group is known to score 0 through a
// failure. (An accepted test's score of 0 does not count: the items
// after it could still decide the group's verdict.)
func (t GroupTree) knownZero(it Item) bool {
	if it.Group == nil {
		v := t.Tests[it.Test].Verdict
		return v != Accepted && v != Skipped
	}
	sub := it.Group
	switch {
	case t.requirementFailed(sub):
		return true
	case sub.aggregation == PassFail:
		return t.anyFailed(sub)
	case sub.aggregation == AggregateMin:
		for _, child := range sub.Items {
			if t.knownZero(child) {
				return true
			}
		}
	}
	return false
}

// decided says every test of g has run or need not.
func (t GroupTree) decided(g *Group, skip []bool) bool {
	for _, it := range g.Items {
		if it.Group != nil && !t.decided(it.Group, skip) || it.Group == nil && !skip[it.Test] && t.Tests[it.Test].Verdict == Skipped {
			return false
		}
	}
	return true
}
