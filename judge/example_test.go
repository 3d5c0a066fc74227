package judge_test

import (
	"fmt"
	"path"

	"github.com/pecan-judge/pecan/judge"
)

// A scoring problem in the legacy format, as a package reader and the
// judging pipeline use grading: the groups' testdata.yaml are parsed,
// the tests (in judging order, named by their paths) are arranged into a
// tree, Skip says what first-failure mode need not run as results come
// in, and Grade gives the score.
func ExampleNewGroupTree() {
	settings := map[string]map[string]any{ // testdata.yaml by group, as a YAML decoder gives them
		"":              {"on_reject": "continue", "grader_flags": "ignore_sample sum", "range": "0 100"},
		"secret":        {"grader_flags": "sum"},
		"secret/group1": {"on_reject": "break", "grader_flags": "min", "accept_score": 30},
		"secret/group2": {"on_reject": "break", "grader_flags": "min", "accept_score": 70},
	}
	gradings, err := judge.ParseGradings(judge.Problem{Scoring: true}, settings)
	if err != nil {
		fmt.Println(err)
		return
	}

	var tests []judge.TestResult
	for _, name := range []string{"sample/1", "secret/group1/1", "secret/group1/2", "secret/group2/1", "secret/group2/2"} {
		tests = append(tests, judge.TestResult{Name: name, Group: path.Dir(name), Verdict: judge.Skipped})
	}
	tree, err := judge.NewGroupTree(gradings, tests)
	if err != nil {
		fmt.Println(err)
		return
	}

	outcomes := []judge.Verdict{judge.Accepted, judge.WrongAnswer, judge.Accepted, judge.Accepted, judge.Accepted}
	for i, v := range outcomes {
		if judge.Skip(tree)[i] {
			fmt.Println(tree.Tests[i].Name, "skipped")
			continue
		}
		tree.Tests[i].Verdict = v
	}
	verdict, score := judge.Grade(tree)
	fmt.Println(verdict, score)
	// Output:
	// secret/group1/2 skipped
	// WrongAnswer 70
}
