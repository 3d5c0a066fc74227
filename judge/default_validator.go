package judge

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unsafe"
)

// DefaultValidatorFlags are the arguments of the Kattis default output
// validator: problem.yaml's validator_flags (testdata.yaml's
// output_validator_flags for a group).
type DefaultValidatorFlags struct {
	// CaseSensitive compares tokens byte for byte; without it, ASCII
	// letters compare equal to their other case (and only they).
	CaseSensitive bool
	// SpaceChangeSensitive rejects output whose white space differs from
	// the answer's in any way: kind, amount, leading or trailing.
	SpaceChangeSensitive bool
	// FloatAbs and FloatRel are the absolute and relative tolerances, both
	// at least 0. One that was not given is 0: it then accepts only equal
	// numbers, which the other tolerance accepts anyway.
	FloatAbs, FloatRel float64
	// HasFloat says that a tolerance was given; only then is a token that
	// is a number in the answer compared as a number.
	HasFloat bool
}

// ParseValidatorFlags reads the default validator's arguments as Kattis'
// default_validator does: case_sensitive, space_change_sensitive,
// float_absolute_tolerance ε, float_relative_tolerance ε and
// float_tolerance ε (both), in any order, a later one overriding an
// earlier one. ε is read the way the validator reads a number from the
// answer. Unlike Kattis, a negative ε is an error rather than a tolerance
// that silently accepts nothing.
func ParseValidatorFlags(flags []string) (DefaultValidatorFlags, error) {
	var f DefaultValidatorFlags
	for i := 0; i < len(flags); i++ {
		name := flags[i]
		switch name {
		case "case_sensitive":
			f.CaseSensitive = true
			continue
		case "space_change_sensitive":
			f.SpaceChangeSensitive = true
			continue
		case "float_absolute_tolerance", "float_relative_tolerance", "float_tolerance":
		default:
			return DefaultValidatorFlags{}, fmt.Errorf("unknown default validator flag %q (valid: case_sensitive, space_change_sensitive, float_absolute_tolerance ε, float_relative_tolerance ε, float_tolerance ε)", name)
		}
		if i+1 == len(flags) {
			return DefaultValidatorFlags{}, fmt.Errorf("default validator flag %s needs a value", name)
		}
		i++
		eps, ok := parseCFloat([]byte(flags[i]))
		if !ok {
			return DefaultValidatorFlags{}, fmt.Errorf("default validator flag %s %q: not a finite number", name, flags[i])
		}
		if eps < 0 {
			return DefaultValidatorFlags{}, fmt.Errorf("default validator flag %s %s: must not be negative", name, flags[i])
		}
		switch name {
		case "float_absolute_tolerance":
			f.FloatAbs = eps
		case "float_relative_tolerance":
			f.FloatRel = eps
		default:
			f.FloatAbs, f.FloatRel = eps, eps
		}
		f.HasFloat = true
	}
	return f, nil
}

// DefaultValidate judges output against answer as Kattis' default output
// validator does (its default_validator.cc), and when it rejects, says
// where and why, briefly, as its judgemessage would.
//
// Tokens are runs of bytes other than the six ASCII white-space
// characters (space, \t, \n, \v, \f, \r); the output must have as many
// as the answer. A token that parses as a finite floating-point number
// in the answer (glibc's sscanf("%lf") reading the whole token, so "1e"
// and hex floats count, "inf" and "nan" do not) is, when a tolerance is
// set, compared as a number: the output's token must parse too and be
// within FloatAbs absolutely or FloatRel relatively to the answer's.
// Other tokens compare as strings. As in Kattis, where tokens are C
// strings, a NUL byte ends a token for comparison: output written from a
// NUL-padded buffer is accepted as it is there.
//
// The two outputs are walked in place: nothing is copied, whatever their
// size.
func DefaultValidate(f DefaultValidatorFlags, output, answer []byte) (ok bool, feedback string) {
	out, ans := kattisScanner{b: output, line: 1}, kattisScanner{b: answer, line: 1}
	for n := 1; ; n++ {
		outLine, ansLine := out.line, ans.line
		ansSpace, outSpace := ans.space(), out.space()
		if f.SpaceChangeSensitive && !bytes.Equal(ansSpace, outSpace) {
			return false, fmt.Sprintf("%s, %s: white space %s, expected %s",
				where(outLine, ansLine), between(n, ans.rest()), quoteToken(outSpace), quoteToken(ansSpace))
		}
		want := ans.token()
		if want == nil {
			break
		}
		got := out.token()
		if got == nil {
			return false, outputEnded(n, out, ans.line, want)
		}
		if !f.tokensMatch(got, want) {
			return false, fmt.Sprintf("%s, token %d: %s", where(out.line, ans.line), n, f.mismatch(got, want))
		}
	}
	if extra := out.token(); extra != nil {
		return false, fmt.Sprintf("line %d: output continues after the answer's last token: %s", out.line, quoteToken(extra))
	}
	return true, ""
}

// kattisScanner walks one output. line is the 1-based line of pos.
type kattisScanner struct {
	b    []byte
	pos  int
	line int
}

// isKattisSpace is C's isspace in the "C" locale, which is what the
// validator's streams use.
func isKattisSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// space moves past the white space at pos and returns it.
func (s *kattisScanner) space() []byte {
	start := s.pos
	for s.pos < len(s.b) && isKattisSpace(s.b[s.pos]) {
		if s.b[s.pos] == '\n' {
			s.line++
		}
		s.pos++
	}
	return s.b[start:s.pos]
}

// token moves past the token at pos and returns it, nil at the end.
func (s *kattisScanner) token() []byte {
	start := s.pos
	for s.pos < len(s.b) && !isKattisSpace(s.b[s.pos]) {
		s.pos++
	}
	if s.pos == start {
		return nil
	}
	return s.b[start:s.pos]
}

func (s *kattisScanner) rest() bool { return s.pos < len(s.b) }

// tokensMatch is the validator's comparison of one output token with the
// answer's.
func (f DefaultValidatorFlags) tokensMatch(got, want []byte) bool {
	got, want = cString(got), cString(want)
	if f.HasFloat {
		if w, isFloat := parseCFloat(want); isFloat {
			if bytes.Equal(got, want) {
				return true
			}
			g, isFloat := parseCFloat(got)
			return isFloat && withinTolerance(f, g, w)
		}
	}
	if f.CaseSensitive {
		return bytes.Equal(got, want)
	}
	return equalFoldASCII(got, want)
}

// withinTolerance is Kattis' test: accepted when within either
// tolerance. An overflowing difference is +Inf and within neither.
func withinTolerance(f DefaultValidatorFlags, got, want float64) bool {
	diff := math.Abs(want - got)
	return diff <= f.FloatAbs || diff <= f.FloatRel*math.Abs(want)
}

// mismatch says why tokensMatch rejected got.
func (f DefaultValidatorFlags) mismatch(got, want []byte) string {
	g, w := cString(got), cString(want)
	if f.HasFloat {
		if wv, isFloat := parseCFloat(w); isFloat {
			gv, isFloat := parseCFloat(g)
			if !isFloat {
				return fmt.Sprintf("expected a number close to %s, got %s", quoteToken(want), quoteToken(got))
			}
			return fmt.Sprintf("expected %s, got %s: difference %.3g is over both the absolute tolerance %g and the relative one %g",
				quoteToken(want), quoteToken(got), math.Abs(wv-gv), f.FloatAbs, f.FloatRel)
		}
	}
	return fmt.Sprintf("expected %s, got %s", quoteToken(want), quoteToken(got))
}

// cString is b as far as C's string functions see it: up to its first NUL.
func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// equalFoldASCII is strcasecmp's equality in the "C" locale: only A-Z
// and a-z fold, every other byte compares as it is.
func equalFoldASCII(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// parseCFloat reads b as Kattis' isfloat does: sscanf(b, "%lf%10s")
// matching exactly the number, with glibc's scanf. That scanner takes the
// longest run that can begin a number, then hands it to strtod, which
// drops an exponent without digits: "1e", "1e+" and "0x1p" are numbers,
// "0x" alone is not, and "0x." is 0. Anything left over ("1.2.3", "1x")
// makes the token no number, as do infinities, NaNs and overflow.
func parseCFloat(b []byte) (float64, bool) {
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	hex := i+1 < len(b) && b[i] == '0' && (b[i+1] == 'x' || b[i+1] == 'X')
	if hex {
		i += 2
	}
	mantissa := i
	digits, dot := 0, false
	for ; i < len(b); i++ {
		if c := b[i]; isDigit(c) || hex && isHexDigit(c) {
			digits++
		} else if c == '.' && !dot {
			dot = true
		} else {
			break
		}
	}
	end := i // of what strtod converts
	expComplete := false
	if digits > 0 && i < len(b) && (b[i]|0x20 == 'e' && !hex || b[i]|0x20 == 'p' && hex) {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		expDigits := i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		if i > expDigits {
			end, expComplete = i, true
		}
	}
	switch {
	case i != len(b):
		return 0, false // %10s found more
	case hex && i == mantissa:
		return 0, false // glibc refuses a bare "0x"
	case digits == 0 && !hex:
		return 0, false // nothing strtod can convert
	case digits == 0:
		if b[0] == '-' {
			return math.Copysign(0, -1), true
		}
		return 0, true // "0x." is the 0 before the x
	}
	// Only overflow is an error here (underflow rounds, as in strtod):
	// an infinity is no number to Kattis.
	v, err := strconv.ParseFloat(numberString(b[:end], hex && !expComplete), 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// numberString is b as a string for strconv.ParseFloat, which wants an
// exponent in a hex float: one is added (a copy) when needExponent.
// Otherwise it aliases b: ParseFloat keeps nothing of its argument (its
// errors copy it), and a copy per number of a multi-MiB answer is what
// the validator must not make.
func numberString(b []byte, needExponent bool) string {
	if needExponent {
		return string(b) + "p0"
	}
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func isDigit(c byte) bool    { return '0' <= c && c <= '9' }
func isHexDigit(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }

// where is a position for feedback: the output's line, and the answer's
// when it differs.
func where(outLine, ansLine int) string {
	if outLine == ansLine {
		return fmt.Sprintf("line %d", outLine)
	}
	return fmt.Sprintf("line %d (line %d of the answer)", outLine, ansLine)
}

// between names the white space before token n.
func between(n int, more bool) string {
	switch {
	case n == 1:
		return "before the first token"
	case !more:
		return "after the last token"
	}
	return fmt.Sprintf("between tokens %d and %d", n-1, n)
}

func outputEnded(n int, out kattisScanner, ansLine int, want []byte) string {
	switch {
	case len(out.b) == 0:
		return fmt.Sprintf("the output is empty, expected %s", quoteToken(want))
	case n == 1:
		return fmt.Sprintf("the output has no tokens, expected %s", quoteToken(want))
	}
	return fmt.Sprintf("%s: the output ends after %d tokens, expected token %d, %s", where(out.line, ansLine), n-1, n, quoteToken(want))
}

// quoteToken quotes a token for feedback, cut to a readable length.
func quoteToken(b []byte) string {
	const max = 40
	if len(b) <= max {
		return strconv.Quote(string(b))
	}
	return strconv.Quote(string(b[:max])) + "..."
}
