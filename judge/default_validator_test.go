package judge

import (
	"bytes"
	"math"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestParseValidatorFlags(t *testing.T) {
	for _, c := range []struct {
		flags string
		want  DefaultValidatorFlags
	}{
		{"", DefaultValidatorFlags{}},
		{"case_sensitive", DefaultValidatorFlags{CaseSensitive: true}},
		{"space_change_sensitive case_sensitive", DefaultValidatorFlags{CaseSensitive: true, SpaceChangeSensitive: true}},
		{"float_tolerance 1e-6", DefaultValidatorFlags{FloatAbs: 1e-6, FloatRel: 1e-6, HasFloat: true}},
		{"float_absolute_tolerance 0.5", DefaultValidatorFlags{FloatAbs: 0.5, HasFloat: true}},
		{"float_relative_tolerance 0.25", DefaultValidatorFlags{FloatRel: 0.25, HasFloat: true}},
		{"float_tolerance 0", DefaultValidatorFlags{HasFloat: true}}, // numbers must be equal as numbers
		// A later flag overrides an earlier one, as in Kattis.
		{"float_tolerance 1 float_absolute_tolerance 2", DefaultValidatorFlags{FloatAbs: 2, FloatRel: 1, HasFloat: true}},
		{"float_relative_tolerance 3 float_tolerance 0.5", DefaultValidatorFlags{FloatAbs: 0.5, FloatRel: 0.5, HasFloat: true}},
		// Values are read like the answer's numbers (glibc's sscanf).
		{"float_tolerance 0x1p-3", DefaultValidatorFlags{FloatAbs: 0.125, FloatRel: 0.125, HasFloat: true}},
		{"float_tolerance 1e", DefaultValidatorFlags{FloatAbs: 1, FloatRel: 1, HasFloat: true}},
	} {
		got, err := ParseValidatorFlags(strings.Fields(c.flags))
		if err != nil || got != c.want {
			t.Errorf("ParseValidatorFlags(%q) = %+v, %v; want %+v", c.flags, got, err, c.want)
		}
	}
}

func TestParseValidatorFlagsRejects(t *testing.T) {
	for _, c := range []struct{ flags, mention string }{
		{"ignore_case", `"ignore_case"`},
		{"case_sensitive float_tolerance", "float_tolerance needs a value"},
		{"float_absolute_tolerance abc", `"abc"`},
		{"float_relative_tolerance inf", `"inf"`},
		{"float_tolerance nan", `"nan"`},
		{"float_tolerance 1e400", `"1e400"`}, // overflow is infinity
		{"float_tolerance 1e-6x", `"1e-6x"`},
		// Kattis takes a negative tolerance and then never accepts by it;
		// refusing the package says what is wrong instead.
		{"float_tolerance -1e-6", "must not be negative"},
		{"case_sensitive Case_Sensitive", `"Case_Sensitive"`},
	} {
		_, err := ParseValidatorFlags(strings.Fields(c.flags))
		if err == nil || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("ParseValidatorFlags(%q) = %v, want an error mentioning %s", c.flags, err, c.mention)
		}
	}
}

// What glibc 2.36's sscanf(token, "%lf%10s") == 1 (isfloat in Kattis'
// default_validator.cc) made of each token, and the bits of the double
// it read: recorded by compiling that test in C. It differs from strtod
// and from strconv in both directions ("1e", "0x." and "0x1.8" are
// numbers; "0x" and "inf" are not).
func TestParseCFloatMatchesGlibc(t *testing.T) {
	for _, c := range []struct {
		token string
		ok    bool
		bits  uint64
	}{
		{`0`, true, 0x0000000000000000},
		{`00`, true, 0x0000000000000000},
		{`-0`, true, 0x8000000000000000},
		{`+0`, true, 0x0000000000000000},
		{`1`, true, 0x3ff0000000000000},
		{`1.5`, true, 0x3ff8000000000000},
		{`-1.5`, true, 0xbff8000000000000},
		{`+.5`, true, 0x3fe0000000000000},
		{`.5`, true, 0x3fe0000000000000},
		{`5.`, true, 0x4014000000000000},
		{`1e5`, true, 0x40f86a0000000000},
		{`1E5`, true, 0x40f86a0000000000},
		{`1e+5`, true, 0x40f86a0000000000},
		{`1e-5`, true, 0x3ee4f8b588e368f1},
		{`1e05`, true, 0x40f86a0000000000},
		{`1e`, true, 0x3ff0000000000000},
		{`1e+`, true, 0x3ff0000000000000},
		{`1e-`, true, 0x3ff0000000000000},
		{`1.5e-`, true, 0x3ff8000000000000},
		{`5.e3`, true, 0x40b3880000000000},
		{`01e`, true, 0x3ff0000000000000},
		{`0e+`, true, 0x0000000000000000},
		{`.5e`, true, 0x3fe0000000000000},
		{`0.e`, true, 0x0000000000000000},
		{`1.e5`, true, 0x40f86a0000000000},
		{`1.2.3`, false, 0},
		{`1e5e`, false, 0},
		{`1e.5`, false, 0},
		{`1e+-5`, false, 0},
		{`1ee2`, false, 0},
		{`1x`, false, 0},
		{`1,5`, false, 0},
		{`1_0`, false, 0},
		{`0b1`, false, 0},
		{`1d5`, false, 0},
		{`.`, false, 0},
		{`.e5`, false, 0},
		{`-`, false, 0},
		{`+`, false, 0},
		{`+-`, false, 0},
		{`+-1`, false, 0},
		{`e5`, false, 0},
		{`0x`, false, 0},
		{`0X`, false, 0},
		{`-0x`, false, 0},
		{`+0x`, false, 0},
		{`0x.`, true, 0x0000000000000000},
		{`-0x.`, true, 0x8000000000000000},
		{`0x.8`, true, 0x3fe0000000000000},
		{`0x.p`, false, 0},
		{`0x.p1`, false, 0},
		{`0xp1`, false, 0},
		{`0x1`, true, 0x3ff0000000000000},
		{`0x1p`, true, 0x3ff0000000000000},
		{`0x1p+`, true, 0x3ff0000000000000},
		{`0x1p-`, true, 0x3ff0000000000000},
		{`0x1P+2`, true, 0x4010000000000000},
		{`0x1.8`, true, 0x3ff8000000000000},
		{`0x1.8p1`, true, 0x4008000000000000},
		{`0x1e`, true, 0x403e000000000000},
		{`0x1e5`, true, 0x407e500000000000},
		{`0xe`, true, 0x402c000000000000},
		{`0xe+`, false, 0},
		{`0x1e+1`, false, 0},
		{`0xFa`, true, 0x406f400000000000},
		{`0x1g`, false, 0},
		{`0xG`, false, 0},
		{`0xx`, false, 0},
		{`0x..`, false, 0},
		{`00x1`, false, 0},
		{`0x1pp`, false, 0},
		{`0x1p1e`, false, 0},
		{`inf`, false, 0},
		{`-inf`, false, 0},
		{`INF`, false, 0},
		{`infinity`, false, 0},
		{`nan`, false, 0},
		{`NaN`, false, 0},
		{`nan(1)`, false, 0},
		{`1e308`, true, 0x7fe1ccf385ebc8a0},
		{`1.7976931348623157e308`, true, 0x7fefffffffffffff},
		{`1.8e308`, false, 0},
		{`1e400`, false, 0},
		{`-1e400`, false, 0},
		{`1e-400`, true, 0x0000000000000000},
		{`4e-324`, true, 0x0000000000000001},
		{`2e-324`, true, 0x0000000000000000},
		{`2.2250738585072011e-308`, true, 0x000fffffffffffff},
		{`0.1`, true, 0x3fb999999999999a},
		{`0.30000000000000004`, true, 0x3fd3333333333334},
		{`123456789012345678901234567890`, true, 0x45f8ee90ff6c373e},
		{`0.000000000000000000000000000001`, true, 0x39b4484bfeebc2a0},
		{`1e-310`, true, 0x000012688b70e62b},
	} {
		v, ok := parseCFloat([]byte(c.token))
		if ok != c.ok || ok && math.Float64bits(v) != c.bits {
			t.Errorf("parseCFloat(%q) = %v (%#016x), %v; glibc: %#016x, %v", c.token, v, math.Float64bits(v), ok, c.bits, c.ok)
		}
	}
}

func TestDefaultValidate(t *testing.T) {
	const (
		none      = ""
		sensitive = "case_sensitive"
		space     = "space_change_sensitive"
		tol       = "float_tolerance 1e-6"
	)
	for _, c := range []struct {
		flags, out, ans string
		ok              bool
	}{
		{none, "", "", true},
		{none, " \n\t\r\v\f", "", true},
		{none, "", "\n\n", true},
		{none, "", "1", false},
		{none, " \n", "1", false},
		{none, "1 2\n3", "1\n2 3\n", true},
		{none, "1 2 3", "1 2", false}, // trailing output
		{none, "1 2", "1 2 3", false},
		{none, "12", "1 2", false},

		// Case: ASCII letters only, as strcasecmp in the C locale.
		{none, "Hello WORLD", "hello world", true},
		{sensitive, "Hello", "hello", false},
		{sensitive, "hello", "hello", true},
		{none, "É", "é", false},
		{none, "\u212a", "k", false}, // the Kelvin sign folds to k in Unicode, not here

		// White space is the six ASCII characters; Unicode's is token.
		{none, "1\r\n2\r\n", "1\n2\n", true},
		{none, "1\u00a02", "1 2", false},
		{none, "1\u00a02", "1\u00a02", true},
		{none, "1\x852", "1 2", false},

		// space_change_sensitive: every run of white space, leading and
		// trailing included, must be the answer's exactly.
		{space, "1 2\n", "1 2\n", true},
		{space, "1  2\n", "1 2\n", false},
		{space, "1\t2\n", "1 2\n", false},
		{space, "1 2", "1 2\n", false},
		{space, "1 2\n\n", "1 2\n", false},
		{space, " 1 2\n", "1 2\n", false},
		{space, "1 2\r\n", "1 2\n", false},
		{space, "", "", true},
		{space, "\n", "", false},
		{space, "A B\n", "a b\n", true}, // still case-insensitive
		{space + " " + sensitive, "A B\n", "a b\n", false},

		// Numbers, only when a tolerance is given.
		{none, "1.0", "1", false},
		{tol, "1.0", "1", true},
		{tol, "10.0000001", "10", true}, // an integer in the answer is a number too
		{tol, "1.000002", "1", false},
		{tol, "3.14000000e-2", "0.0314", true}, // the format's own example
		{tol, "0x10", "16", true},
		{tol, "16", "0x10", true},
		{tol, "1", "1e", true}, // glibc reads "1e" as 1
		{tol, "-0", "0", true},
		{tol, "abc", "1.5", false},
		{tol, "1.5x", "1.5", false},
		{tol, "1.5", "1.5", true},
		{tol, "nan", "1", false},
		{tol, "1e400", "1e308", false}, // overflow is no number
		// "inf", "nan" and overflowing tokens in the answer are no numbers:
		// they compare as strings.
		{tol, "INF", "inf", true},
		{tol, "Infinity", "inf", false},
		{tol, "NaN", "nan", true},
		{tol, "1E400", "1e400", true},
		{tol, "abc", "ABC", true},
		{tol + " " + sensitive, "abc", "ABC", false},
		{tol + " " + sensitive, "1E0", "1", true}, // numbers are never case-compared
		// Relative and absolute tolerance: either suffices.
		{"float_relative_tolerance 1e-6", "1000000.5", "1000000", true},
		{"float_absolute_tolerance 1e-6", "1000000.5", "1000000", false},
		{"float_absolute_tolerance 0.1", "0.14", "0.05", true},
		{"float_absolute_tolerance 0.1", "0.16", "0.05", false},
		{"float_absolute_tolerance 0.1 float_relative_tolerance 0.5", "1.4", "1", true},
		{"float_tolerance 0", "1.0", "1", true},
		{"float_tolerance 0", "1.0000000000000002", "1", false},
		// The difference overflows to +Inf: over any absolute tolerance, but
		// not over a relative one that overflows too (as in C).
		{"float_absolute_tolerance 1e300", "-1e308", "1e308", false},
		{"float_relative_tolerance 1e300", "-1e308", "1e308", true},

		// Tokens compare as C strings: a NUL ends them, as in Kattis,
		// where output written from a NUL-padded buffer is accepted.
		{none, "5\x00\x00\x00\n", "5\n", true},
		{none, "5\x00x", "5\x00y", true},
		{tol, "1.5\x00junk", "1.5", true},
		{none, "5 \x00", "5", false}, // but a NUL alone is still a token
		{space, "5\x00\n", "5\n", true},
	} {
		f, err := ParseValidatorFlags(strings.Fields(c.flags))
		if err != nil {
			t.Fatalf("ParseValidatorFlags(%q): %v", c.flags, err)
		}
		ok, feedback := DefaultValidate(f, []byte(c.out), []byte(c.ans))
		if ok != c.ok {
			t.Errorf("[%s] DefaultValidate(out %q, ans %q) = %v (%s), want %v", c.flags, c.out, c.ans, ok, feedback, c.ok)
		}
		if ok != (feedback == "") {
			t.Errorf("[%s] DefaultValidate(out %q, ans %q): %v with feedback %q", c.flags, c.out, c.ans, ok, feedback)
		}
	}
}

func TestDefaultValidateFeedback(t *testing.T) {
	tol := DefaultValidatorFlags{FloatAbs: 1e-6, FloatRel: 1e-6, HasFloat: true}
	for _, c := range []struct {
		f        DefaultValidatorFlags
		out, ans string
		want     string
	}{
		{DefaultValidatorFlags{}, "", "42\n", `the output is empty, expected "42"`},
		{DefaultValidatorFlags{}, "\n\n", "42\n", `the output has no tokens, expected "42"`},
		{DefaultValidatorFlags{}, "1 2\n3 x\n", "1 2\n3 4\n", `line 2, token 4: expected "4", got "x"`},
		{DefaultValidatorFlags{}, "1\n\n2 5", "1 2 4", `line 3 (line 1 of the answer), token 3: expected "4", got "5"`},
		{DefaultValidatorFlags{}, "1 2\n", "1 2 3\n", `line 2 (line 1 of the answer): the output ends after 2 tokens, expected token 3, "3"`},
		{DefaultValidatorFlags{}, "1 2\nextra\n", "1 2\n", `line 2: output continues after the answer's last token: "extra"`},
		{tol, "0.5 abc", "0.5 0.25", `line 1, token 2: expected a number close to "0.25", got "abc"`},
		{tol, "0.26", "0.25", `line 1, token 1: expected "0.25", got "0.26": difference 0.01 is over both the absolute tolerance 1e-06 and the relative one 1e-06`},
		{DefaultValidatorFlags{SpaceChangeSensitive: true}, "1  2\n", "1 2\n", `line 1, between tokens 1 and 2: white space "  ", expected " "`},
		{DefaultValidatorFlags{SpaceChangeSensitive: true}, "1 2", "1 2\n", `line 1, after the last token: white space "", expected "\n"`},
		{DefaultValidatorFlags{SpaceChangeSensitive: true}, " 1", "1", `line 1, before the first token: white space " ", expected ""`},
		{DefaultValidatorFlags{}, strings.Repeat("y", 100), strings.Repeat("x", 100),
			`line 1, token 1: expected "` + strings.Repeat("x", 40) + `"..., got "` + strings.Repeat("y", 40) + `"...`},
	} {
		ok, got := DefaultValidate(c.f, []byte(c.out), []byte(c.ans))
		if ok || got != c.want {
			t.Errorf("DefaultValidate(out %q, ans %q) = %v, %q\nwant feedback %q", c.out, c.ans, ok, got, c.want)
		}
	}
}

// refDefaultValidate is default_validator.cc's loop read literally: a
// character at a time through peek and get, tokens as Go strings cut at
// their first NUL, and isfloat as a regular expression of what glibc's
// scanf takes. DefaultValidate must accept exactly what it accepts.
func refDefaultValidate(f DefaultValidatorFlags, output, answer []byte) bool {
	ans, out := &charStream{b: answer}, &charStream{b: output}
	for {
		for isSpaceRef(ans.peek()) {
			c := ans.get()
			if f.SpaceChangeSensitive && out.get() != c {
				return false
			}
		}
		for isSpaceRef(out.peek()) {
			out.get()
			if f.SpaceChangeSensitive {
				return false
			}
		}
		judge, ok := ans.word()
		if !ok {
			break
		}
		team, ok := out.word()
		if !ok {
			return false
		}
		judge, _, _ = strings.Cut(judge, "\x00")
		team, _, _ = strings.Cut(team, "\x00")
		if j, isFloat := refIsFloat(judge); f.HasFloat && isFloat {
			tv, isFloat := refIsFloat(team)
			if !isFloat {
				return false
			}
			if !(math.Abs(j-tv) <= f.FloatAbs) && !(math.Abs(j-tv) <= f.FloatRel*math.Abs(j)) {
				return false
			}
		} else if f.CaseSensitive && judge != team {
			return false
		} else if !f.CaseSensitive && asciiLower(judge) != asciiLower(team) {
			return false
		}
	}
	_, trailing := out.word()
	return !trailing
}

type charStream struct {
	b   []byte
	pos int
}

func (s *charStream) peek() int {
	if s.pos == len(s.b) {
		return -1
	}
	return int(s.b[s.pos])
}

func (s *charStream) get() int {
	c := s.peek()
	if c >= 0 {
		s.pos++
	}
	return c
}

// word is operator>> into a string: skip white space, read the rest.
func (s *charStream) word() (string, bool) {
	for isSpaceRef(s.peek()) {
		s.get()
	}
	var w []byte
	for c := s.peek(); c >= 0 && !isSpaceRef(c); c = s.peek() {
		w = append(w, byte(s.get()))
	}
	return string(w), len(w) > 0
}

func isSpaceRef(c int) bool { return c >= 0 && strings.ContainsRune(" \t\n\v\f\r", rune(c)) }

// asciiLower is tolower in the C locale over a string: A-Z only.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

var (
	refDecimal = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]*)?$`)
	refHex     = regexp.MustCompile(`^[+-]?0[xX](([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)([pP][+-]?[0-9]*)?|\.)$`)
	// An exponent without digits, which strtod leaves unread.
	refDangleDecimal = regexp.MustCompile(`[eE][+-]?$`)
	refDangleHex     = regexp.MustCompile(`[pP][+-]?$`)
)

func refIsFloat(s string) (float64, bool) {
	hex := refHex.MatchString(s)
	if !hex && !refDecimal.MatchString(s) {
		return 0, false
	}
	if hex {
		s = refDangleHex.ReplaceAllString(s, "")
		if strings.Trim(s, "+-0xX.") == "" && strings.HasSuffix(s, ".") {
			s = strings.TrimSuffix(s, ".") + "0" // "0x." is 0
		}
		if !strings.ContainsAny(s, "pP") {
			s += "p0" // strconv wants the exponent
		}
	} else {
		s = refDangleDecimal.ReplaceAllString(s, "")
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// refFlags are flag sets that exercise each rule.
var refFlags = []DefaultValidatorFlags{
	{},
	{CaseSensitive: true},
	{SpaceChangeSensitive: true},
	{FloatAbs: 1e-6, FloatRel: 1e-6, HasFloat: true},
	{FloatAbs: 0.1, HasFloat: true},
	{FloatRel: 1e-3, HasFloat: true},
	{HasFloat: true},
	{CaseSensitive: true, SpaceChangeSensitive: true, FloatAbs: 0.01, FloatRel: 0.5, HasFloat: true},
}

// validatorOutput strings together pieces that matter to the validator:
// its white space and Unicode's, NUL, letters in both cases, numbers
// near each other in every notation glibc reads, and what it does not.
func validatorOutput(r *rand.Rand) []byte {
	pieces := []string{"", " ", "  ", "\n", "\n\n", "\r\n", "\t", "\v", "\f", "\r", "\x00", "\u00a0", "\x85", "\xff",
		"a", "A", "b", "é", "É", "1", "1.0", "1.0000001", "1.001", "1e", "1E0", "0x1", "0X1P0", "0x", "0x.", "-0", "0",
		"1e400", "inf", "nan", "0.5", "5e-1", "2", "100", "100.05", "x1", "1x", "."}
	var b []byte
	for range r.IntN(10) {
		b = append(b, pieces[r.IntN(len(pieces))]...)
	}
	return b
}

// nearly is b with a few bytes changed: equal-looking pairs are where
// the rules matter, and two random outputs are rarely close.
func nearly(r *rand.Rand, b []byte) []byte {
	out := append([]byte(nil), b...)
	for range r.IntN(3) {
		if len(out) == 0 {
			break
		}
		i := r.IntN(len(out))
		switch c := out[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			out[i] ^= 0x20
		case c == ' ':
			out[i] = "\t\n  "[r.IntN(4)]
		case '0' <= c && c <= '8':
			out[i]++
		default:
			out = append(out[:i:i], out[i+1:]...)
		}
	}
	return out
}

func TestDefaultValidateMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for range 200000 {
		ans := validatorOutput(r)
		out := validatorOutput(r)
		if r.IntN(2) == 0 {
			out = nearly(r, ans)
		}
		f := refFlags[r.IntN(len(refFlags))]
		got, feedback := DefaultValidate(f, out, ans)
		if want := refDefaultValidate(f, out, ans); got != want {
			t.Fatalf("%+v: DefaultValidate(out %q, ans %q) = %v (%s), reference says %v", f, out, ans, got, feedback, want)
		}
	}
}

func FuzzDefaultValidate(f *testing.F) {
	f.Add([]byte("1 2\n"), []byte("1 2\n"), uint8(0))
	f.Add([]byte("Hello\r\n"), []byte("hello\n"), uint8(2))
	f.Add([]byte("0.3333333\n"), []byte("0.33333333\n"), uint8(3))
	f.Add([]byte("1e 0x1.8p1\n"), []byte("1 3\n"), uint8(4))
	f.Add([]byte("5\x00\x00\n"), []byte("5\n"), uint8(1))
	f.Add([]byte("inf 1e400"), []byte("INF 1E400"), uint8(7))
	f.Fuzz(func(t *testing.T, out, ans []byte, which uint8) {
		flags := refFlags[int(which)%len(refFlags)]
		got, feedback := DefaultValidate(flags, out, ans)
		if want := refDefaultValidate(flags, out, ans); got != want {
			t.Fatalf("%+v: DefaultValidate(out %q, ans %q) = %v (%s), reference says %v", flags, out, ans, got, feedback, want)
		}
		if got != (feedback == "") {
			t.Fatalf("ok %v with feedback %q", got, feedback)
		}
		if ok, _ := DefaultValidate(flags, ans, ans); !ok {
			t.Fatalf("%+v: the answer %q does not validate against itself", flags, ans)
		}
	})
}

// Outputs as large as the output limit allows are judged without copies:
// no allocation at all, however many tokens or numbers.
func TestDefaultValidateDoesNotCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 60 MiB of test input")
	}
	newlines := bytes.Repeat([]byte("\n"), 60<<20)
	numbers := bytes.Repeat([]byte("1.5 2 0x1p-3 12345678901234567890.123456789012345678901234567890\n"), 1<<17)
	close := bytes.Repeat([]byte("1.5000001 2.0 0.125 12345678901234567890.123456789012345678901234567891\n"), 1<<17)
	words := bytes.Repeat([]byte("Hello World\r\n"), 1<<20)
	lower := bytes.Repeat([]byte("hello world\n"), 1<<20)
	tol := DefaultValidatorFlags{FloatAbs: 1e-6, FloatRel: 1e-6, HasFloat: true}
	for _, c := range []struct {
		name     string
		f        DefaultValidatorFlags
		out, ans []byte
	}{
		{"newlines against nothing", DefaultValidatorFlags{}, newlines, nil},
		{"numbers within tolerance", tol, close, numbers},
		{"words in another case", DefaultValidatorFlags{}, words, lower},
		{"the same, white space too", DefaultValidatorFlags{SpaceChangeSensitive: true}, numbers, numbers},
	} {
		var ok bool
		allocs := testing.AllocsPerRun(1, func() { ok, _ = DefaultValidate(c.f, c.out, c.ans) })
		if !ok {
			t.Errorf("%s: rejected", c.name)
		}
		if allocs != 0 {
			t.Errorf("%s: %.0f allocations, want 0", c.name, allocs)
		}
	}
}
