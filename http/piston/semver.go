package piston

import (
	"strconv"
	"strings"
)

// version is MAJOR.MINOR.PATCH.
type version [3]int

func parseVersion(s string) (version, bool) {
	var v version
	parts := strings.Split(strings.TrimPrefix(strings.TrimSpace(s), "v"), ".")
	if len(parts) != 3 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

func (v version) compare(w version) int {
	for i := range v {
		if v[i] != w[i] {
			if v[i] < w[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// satisfies reports whether v is in the npm-style semver range rng, as
// Piston resolves a requested version: "*", "3", "3.x", "3.11.2",
// comparators (">=3.10 <4"), "^3.1", "~3.11", "1.0 - 2.0" and
// alternatives joined by "||". Pre-release tags are not supported (no
// toolchain Pecan runs has one). A malformed range matches nothing.
func satisfies(v version, rng string) bool {
	for alt := range strings.SplitSeq(rng, "||") {
		if ok, valid := satisfiesAll(v, alt); ok && valid {
			return true
		}
	}
	return false
}

// satisfiesAll is one alternative: every comparator must hold.
func satisfiesAll(v version, set string) (ok, valid bool) {
	fields := strings.Fields(set)
	if len(fields) == 3 && fields[1] == "-" {
		lo, okLo := partial(fields[0])
		hi, okHi := partial(fields[2])
		if !okLo || !okHi {
			return false, false
		}
		return v.compare(lo.floor()) >= 0 && hi.above(v), true
	}
	if len(fields) == 0 {
		return true, true // "" is "*"
	}
	for _, f := range fields {
		ok, valid := comparator(v, f)
		if !valid {
			return false, false
		}
		if !ok {
			return false, true
		}
	}
	return true, true
}

// partialVersion is a version with some parts wild ("3", "3.x", "*").
type partialVersion struct {
	parts [3]int
	n     int // how many parts are given
}

func partial(s string) (partialVersion, bool) {
	var p partialVersion
	s = strings.TrimPrefix(s, "v")
	if s == "" {
		return p, false
	}
	for i, part := range strings.Split(s, ".") {
		if i >= 3 {
			return p, false
		}
		if part == "x" || part == "X" || part == "*" {
			return p, true
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return p, false
		}
		p.parts[i] = n
		p.n = i + 1
	}
	return p, true
}

func (p partialVersion) floor() version { return version(p.parts) }

// matches is whether v falls under p's given parts.
func (p partialVersion) matches(v version) bool {
	for i := 0; i < p.n; i++ {
		if v[i] != p.parts[i] {
			return false
		}
	}
	return true
}

// above reports whether v is at most p (p's wild parts taken as any).
func (p partialVersion) above(v version) bool {
	return p.matches(v) || v.compare(p.floor()) < 0
}

// bump is the first version past p's given parts at part i.
func (p partialVersion) bump(i int) version {
	var v version
	copy(v[:], p.parts[:i])
	v[i] = p.parts[i] + 1
	return v
}

// comparator evaluates one comparator; valid is false when malformed.
func comparator(v version, c string) (ok, valid bool) {
	ops := []string{">=", "<=", ">", "<", "=", "^", "~"}
	op := ""
	for _, o := range ops {
		if strings.HasPrefix(c, o) {
			op, c = o, c[len(o):]
			break
		}
	}
	p, good := partial(c)
	if !good {
		return false, false
	}
	switch op {
	case "", "=":
		return p.matches(v), true
	case ">=":
		return v.compare(p.floor()) >= 0, true
	case ">":
		return !p.matches(v) && v.compare(p.floor()) > 0, true
	case "<":
		return !p.matches(v) && v.compare(p.floor()) < 0, true
	case "<=":
		return p.above(v), true
	case "~": // same minor (or major when only it is given)
		if v.compare(p.floor()) < 0 {
			return false, true
		}
		if p.n <= 1 {
			return p.matches(v), true
		}
		return v.compare(p.bump(1)) < 0, true
	case "^": // same left-most non-zero part
		if v.compare(p.floor()) < 0 {
			return false, true
		}
		i := 0
		for i < p.n-1 && p.parts[i] == 0 {
			i++
		}
		if p.n == 0 {
			return true, true
		}
		return v.compare(p.bump(i)) < 0, true
	}
	return false, false
}
