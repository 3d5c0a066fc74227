package judge

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// The split-and-copy checkers the streaming ones replaced: the reference
// for what each checker accepts.
func splitLines(got, want []byte) bool {
	norm := func(b []byte) [][]byte {
		lines := bytes.Split(b, []byte("\n"))
		for i, l := range lines {
			lines[i] = bytes.TrimRight(l, " \t\r\v\f")
		}
		for len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
			lines = lines[:len(lines)-1]
		}
		return lines
	}
	g, w := norm(got), norm(want)
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		if !bytes.Equal(g[i], w[i]) {
			return false
		}
	}
	return true
}

func splitTokens(got, want []byte, same func(g, w []byte) bool) bool {
	g, w := bytes.Fields(got), bytes.Fields(want)
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		if !same(g[i], w[i]) {
			return false
		}
	}
	return true
}

func splitFloat(eps float64) Checker {
	return func(got, want []byte) bool {
		return splitTokens(got, want, func(g, w []byte) bool {
			if bytes.Equal(g, w) {
				return true
			}
			wf, err := strconv.ParseFloat(string(w), 64)
			if err != nil || math.IsNaN(wf) {
				return false
			}
			gf, err := strconv.ParseFloat(string(g), 64)
			if err != nil || math.IsNaN(gf) {
				return false
			}
			diff := math.Abs(gf - wf)
			return !(diff > eps && diff > eps*math.Abs(wf))
		})
	}
}

// randomOutput strings together pieces that matter to the checkers:
// every kind of white space they know (Unicode's too), bytes that are not
// UTF-8, numbers close to each other.
func randomOutput(r *rand.Rand) []byte {
	pieces := []string{"", " ", "  ", "\n", "\n\n", "\r\n", "\t", "\v", "\f", "\r",
		"\u00a0", "\u0085", "\u2003", "\xff", "\xc2", "a", "b", "é", "1", "1.0", "1.0000001", "2", "inf", "+Inf", "nan", "-0"}
	var b []byte
	for range r.IntN(12) {
		b = append(b, pieces[r.IntN(len(pieces))]...)
	}
	return b
}

// The streaming checkers accept exactly what the split-and-copy ones did.
func TestCheckersMatchSplitting(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	float := Float(1e-6)
	ref := splitFloat(1e-6)
	for range 200000 {
		got, want := randomOutput(r), randomOutput(r)
		if r.IntN(4) == 0 {
			want = append([]byte(nil), got...) // equal pairs are rare otherwise
		}
		if a, b := Lines(got, want), splitLines(got, want); a != b {
			t.Fatalf("Lines(%q, %q) = %v, splitting says %v", got, want, a, b)
		}
		if a, b := Tokens(got, want), splitTokens(got, want, bytes.Equal); a != b {
			t.Fatalf("Tokens(%q, %q) = %v, splitting says %v", got, want, a, b)
		}
		if a, b := float(got, want), ref(got, want); a != b {
			t.Fatalf("Float(%q, %q) = %v, splitting says %v", got, want, a, b)
		}
	}
}

func TestLinesEdges(t *testing.T) {
	for _, c := range []struct {
		got, want string
		ok        bool
	}{
		{"", "", true},
		{"\n\n\n", "", true},
		{"", "\n \t\r\n", true},
		{"a", "a\n", true},
		{"a\n\nb", "a\nb", false}, // an inner blank line counts
		{"a\r\nb\r\n", "a\nb", true},
		{"a \nb", "a\nb  \n\n", true},
		{"a\nb\n", "a\n", false},
		{"a\n", "a\nb\n", false},
		{"a\n\n\nx", "a", false}, // not blank to the end
	} {
		if got := Lines([]byte(c.got), []byte(c.want)); got != c.ok {
			t.Errorf("Lines(%q, %q) = %v, want %v", c.got, c.want, got, c.ok)
		}
	}
}

// Output as large as the kill limit allows, judged by each checker,
// allocates nothing: no per-line
// or per-token copies (the split-and-copy Lines took 1.5 GB on 60 MiB of
// newlines).
func TestCheckersDoNotCopyTheOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 60 MiB of test input")
	}
	newlines := bytes.Repeat([]byte("\n"), 60<<20) // the size finding 3 measured
	numbers := bytes.Repeat([]byte("1.5 2\n"), 1<<20)
	close := bytes.Repeat([]byte("1.5000001 2\n"), 1<<20)
	closeNumbers := bytes.Repeat([]byte("1.5 2\n"), 1<<20)
	lastDiffers := func(b []byte, last string) []byte { return append(b[:len(b):len(b)], last...) }
	cases := []struct {
		name      string
		check     Checker
		got, want []byte
		ok        bool
	}{
		{"lines, newlines vs empty", Lines, newlines, nil, true},
		{"lines, newlines vs one line", Lines, newlines, []byte("x\n"), false},
		{"lines, numbers vs themselves", Lines, numbers, numbers, true},
		{"tokens, newlines vs empty", Tokens, newlines, nil, true},
		{"tokens, numbers vs themselves", Tokens, numbers, numbers, true},
		{"float, newlines vs empty", Float(1e-6), newlines, nil, true},
		{"float, close numbers", Float(1e-6), close, closeNumbers, true},
		{"float, last number far", Float(1e-6), lastDiffers(close, "7\n"), lastDiffers(closeNumbers, "8\n"), false},
		{"tokens, last token differs", Tokens, lastDiffers(numbers, "7"), lastDiffers(numbers, "8"), false},
	}
	for _, c := range cases {
		var ok bool
		allocs := testing.AllocsPerRun(1, func() { ok = c.check(c.got, c.want) })
		if ok != c.ok {
			t.Errorf("%s: %v, want %v", c.name, ok, c.ok)
		}
		if allocs != 0 {
			t.Errorf("%s: %.0f allocations per check, want 0", c.name, allocs)
		}
	}
}

func BenchmarkLinesNewlines(b *testing.B) {
	out := bytes.Repeat([]byte("\n"), 60<<20)
	b.ReportAllocs()
	b.SetBytes(int64(len(out)))
	for b.Loop() {
		if !Lines(out, nil) {
			b.Fatal("60 MiB of newlines is not the empty output")
		}
	}
}

func TestAnyAcceptsEveryOutput(t *testing.T) {
	c, err := ParseChecker("any")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"", "3\n", "\x00\xff"} {
		if !c([]byte(g), []byte("something else")) {
			t.Errorf("any refused %q", g)
		}
	}
}
