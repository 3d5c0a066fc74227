package judge

import "testing"

func TestCheckers(t *testing.T) {
	cases := []struct {
		spec      string
		got, want string
		ok        bool
	}{
		{"exact", "3\n", "3\n", true},
		{"exact", "3", "3\n", false},
		{"", "3  \r\n\n\n", "3\n", true},
		{"lines", "3\n4\n", "3\n", false},
		{"lines", " 3\n", "3\n", false},
		{"tokens", "1   2\n3", "1 2 3\n", true},
		{"tokens", "1 2", "1 2 3", false},
		{"float:1e-6", "0.3333333", "0.33333333", true},
		{"float:1e-6", "0.3334", "0.33333333", false},
		{"float:1e-6", "1000000.5", "1000000.0", true}, // relative
		{"float:1e-6", "abc", "1.0", false},
		{"float:1e-6", "yes 1.0", "yes 1", true},
		{"float:1e-6", "nan", "nan", true}, // identical tokens
		{"float:1e-6", "nan", "1", false},
	}
	for _, c := range cases {
		chk, err := ParseChecker(c.spec)
		if err != nil {
			t.Fatalf("ParseChecker(%q): %v", c.spec, err)
		}
		if got := chk([]byte(c.got), []byte(c.want)); got != c.ok {
			t.Errorf("%s(%q, %q) = %v, want %v", c.spec, c.got, c.want, got, c.ok)
		}
	}
}

func TestParseCheckerRejects(t *testing.T) {
	for _, s := range []string{"fuzzy", "float:", "float:x", "float:-1", "float:NaN", "float:2", "float:Inf"} {
		if _, err := ParseChecker(s); err == nil {
			t.Errorf("ParseChecker(%q) accepted", s)
		}
	}
}

func TestDecideOrder(t *testing.T) {
	all := Run{InternalFault: true, OOM: true, CPUExceeded: true, OutputExceeded: true, Signal: 9, ExitCode: 1}
	steps := []struct {
		clear func(*Run)
		want  Verdict
	}{
		{func(r *Run) {}, InternalError},
		{func(r *Run) { r.InternalFault = false }, MemoryLimitExceeded},
		{func(r *Run) { r.OOM = false }, TimeLimitExceeded},
		{func(r *Run) { r.CPUExceeded = false }, OutputLimitExceeded},
		{func(r *Run) { r.OutputExceeded = false }, RuntimeError},
		{func(r *Run) { r.Signal = 0 }, RuntimeError},
		{func(r *Run) { r.ExitCode = 0 }, Accepted},
	}
	r := all
	for i, s := range steps {
		s.clear(&r)
		if got := Decide(r, Exact, []byte("x"), []byte("x")); got != s.want {
			t.Errorf("step %d: got %v, want %v", i, got, s.want)
		}
	}
	if got := Decide(Run{WallExceeded: true}, Exact, nil, nil); got != TimeLimitExceeded {
		t.Errorf("wall exceeded: got %v", got)
	}
	if got := Decide(Run{}, Exact, []byte("1"), []byte("2")); got != WrongAnswer {
		t.Errorf("mismatch: got %v", got)
	}
	if InternalError.String() != "InternalError" || Verdict(42).String() != "Unknown" {
		t.Error("verdict names")
	}
}
