package judge

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Checker reports whether a program's output matches the expected output.
type Checker func(got, want []byte) bool

// DefaultChecker is used when a request names none.
const DefaultChecker = "lines"

// ParseChecker returns the checker a request's `checker` field names:
// "exact", "lines", "tokens" or "float:<eps>". The empty string is "lines".
func ParseChecker(spec string) (Checker, error) {
	switch spec {
	case "", "lines":
		return Lines, nil
	case "exact":
		return Exact, nil
	case "tokens":
		return Tokens, nil
	}
	if rest, ok := strings.CutPrefix(spec, "float:"); ok {
		eps, err := strconv.ParseFloat(rest, 64)
		if err != nil || math.IsNaN(eps) || math.IsInf(eps, 0) || eps < 0 || eps >= 1 {
			return nil, fmt.Errorf("checker %q: eps must be a number in [0, 1)", spec)
		}
		return Float(eps), nil
	}
	return nil, fmt.Errorf("unknown checker %q (valid: exact, lines, tokens, float:<eps>)", spec)
}

// Exact compares bytes.
func Exact(got, want []byte) bool { return bytes.Equal(got, want) }

// Lines ignores trailing whitespace on each line, trailing blank lines and
// the difference between CRLF and LF.
func Lines(got, want []byte) bool {
	g, w := normLines(got), normLines(want)
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

func normLines(b []byte) [][]byte {
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimRight(l, " \t\r\v\f")
	}
	for len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// Tokens compares whitespace-separated tokens.
func Tokens(got, want []byte) bool {
	g, w := bytes.Fields(got), bytes.Fields(want)
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

// Float compares tokens; where the expected token is a number, the output
// token must be a number within eps, absolute or relative.
func Float(eps float64) Checker {
	return func(got, want []byte) bool {
		g, w := bytes.Fields(got), bytes.Fields(want)
		if len(g) != len(w) {
			return false
		}
		for i := range g {
			if bytes.Equal(g[i], w[i]) {
				continue
			}
			wf, err := strconv.ParseFloat(string(w[i]), 64)
			if err != nil || math.IsNaN(wf) {
				return false
			}
			gf, err := strconv.ParseFloat(string(g[i]), 64)
			if err != nil || math.IsNaN(gf) {
				return false
			}
			diff := math.Abs(gf - wf)
			if diff > eps && diff > eps*math.Abs(wf) {
				return false
			}
		}
		return true
	}
}
