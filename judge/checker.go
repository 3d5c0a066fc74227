package judge

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Checker reports whether a program's output matches the expected output.
type Checker func(got, want []byte) bool

// DefaultChecker is used when a request names none.
const DefaultChecker = "lines"

// ParseChecker returns the checker a request's `checker` field names:
// "exact", "lines", "tokens", "float:<eps>" or "any". The empty string is
// "lines".
func ParseChecker(spec string) (Checker, error) {
	switch spec {
	case "", "lines":
		return Lines, nil
	case "any":
		return Any, nil
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
	return nil, fmt.Errorf("unknown checker %q (valid: exact, lines, tokens, float:<eps>, any)", spec)
}

// Any accepts every output: the run alone decides the verdict. It serves
// clients that send no expected output and want to know how the program
// ran (Judge0's submissions without expected_output, Piston's runs).
func Any(_, _ []byte) bool { return true }

// Exact compares bytes.
func Exact(got, want []byte) bool { return bytes.Equal(got, want) }

// The checkers walk the two outputs side by side and compare sub-slices
// in place: an output may be as large as the output limit, and a copy per
// line or token of 60 MiB of newlines costs more than a gigabyte.

// Lines ignores trailing whitespace on each line, trailing blank lines and
// the difference between CRLF and LF.
func Lines(got, want []byte) bool {
	g, w := lineScanner{rest: got}, lineScanner{rest: want}
	for {
		gl, gok := g.next()
		wl, wok := w.next()
		switch {
		case !gok && !wok:
			return true
		case !gok:
			return len(wl) == 0 && w.restBlank()
		case !wok:
			return len(gl) == 0 && g.restBlank()
		case !bytes.Equal(gl, wl):
			return false
		}
	}
}

// lineTrailing is what Lines ignores at the end of a line.
const lineTrailing = " \t\r\v\f"

// lineScanner yields the lines of an output, as split at every LF (so ""
// is one empty line and "a\n" is "a" and ""), without their trailing
// whitespace.
type lineScanner struct {
	rest []byte
	done bool
}

func (s *lineScanner) next() ([]byte, bool) {
	if s.done {
		return nil, false
	}
	line := s.rest
	if i := bytes.IndexByte(s.rest, '\n'); i >= 0 {
		line, s.rest = s.rest[:i], s.rest[i+1:]
	} else {
		s.rest, s.done = nil, true
	}
	return bytes.TrimRight(line, lineTrailing), true
}

// restBlank reports whether every line not yet read is blank.
func (s *lineScanner) restBlank() bool {
	for _, c := range s.rest {
		switch c {
		case '\n', ' ', '\t', '\r', '\v', '\f': // LF and lineTrailing
		default:
			return false
		}
	}
	return true
}

// Tokens compares whitespace-separated tokens.
func Tokens(got, want []byte) bool {
	return compareTokens(got, want, bytes.Equal)
}

// Float compares tokens; where the expected token is a number, the output
// token must be a number within eps, absolute or relative.
func Float(eps float64) Checker {
	return func(got, want []byte) bool {
		return compareTokens(got, want, func(g, w []byte) bool {
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

// compareTokens reports whether got and want have as many tokens (as
// bytes.Fields splits them) and each pair is equal by same.
func compareTokens(got, want []byte, same func(g, w []byte) bool) bool {
	for {
		var g, w []byte
		g, got = nextToken(got)
		w, want = nextToken(want)
		switch {
		case g == nil && w == nil:
			return true
		case g == nil || w == nil || !same(g, w):
			return false
		}
	}
}

// nextToken is the first run of non-space bytes of b, nil when there is
// none, and what follows it. Space is what bytes.Fields takes for it:
// Unicode white space; bytes that are not UTF-8 belong to tokens.
func nextToken(b []byte) (token, rest []byte) {
	start := 0
	for start < len(b) {
		n := spaceAt(b, start)
		if n < 0 {
			break
		}
		start += n
	}
	if start == len(b) {
		return nil, nil
	}
	end := start
	for end < len(b) {
		n := spaceAt(b, end)
		if n > 0 {
			break
		}
		end -= n
	}
	return b[start:end], b[end:]
}

// spaceAt is the length of the character at b[i]: positive when it is
// white space, negative when it is not.
func spaceAt(b []byte, i int) int {
	if c := b[i]; c < utf8.RuneSelf {
		switch c {
		case '\t', '\n', '\v', '\f', '\r', ' ':
			return 1
		}
		return -1
	}
	r, n := utf8.DecodeRune(b[i:])
	if unicode.IsSpace(r) {
		return n
	}
	return -n
}
