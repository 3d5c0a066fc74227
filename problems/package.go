package problems

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/pecan-judge/pecan/blob"
)

// Names the format gives to files and directories.
const (
	testdataFile       = "testdata.yaml"   // a group's settings (legacy, early 2023-07)
	testGroupFile      = "test_group.yaml" // the same (later 2023-07 drafts)
	legacyValidatorDir = "output_validators"
	draftValidatorDir  = "output_validator"
)

// Format versions.
const (
	VersionLegacy = "legacy"
	VersionDraft  = "2023-07-draft"
)

// versions maps problem_format_version values to the semantics applied.
var versions = map[string]string{
	"legacy":        VersionLegacy,
	"legacy-icpc":   VersionLegacy,
	"2023-07-draft": VersionDraft,
	"2023-07":       VersionDraft,
	"draft":         VersionDraft,
}

// notInherited are the 2023-07 group settings a subgroup does not inherit.
var notInherited = map[string]bool{"scoring": true, "static_validation": true}

// pkg is a package's files, by their path from the package root.
type pkg struct {
	files map[string]*pkgFile
	// topDir is the archive's top-level directory holding the package, or
	// "" when the package is at the archive's root.
	topDir string
	langs  map[string][]string
}

func newPkg(c *collector, prefix string, langs map[string][]string) *pkg {
	p := &pkg{files: map[string]*pkgFile{}, topDir: strings.TrimSuffix(prefix, "/"), langs: langs}
	for name, f := range c.files {
		rel, ok := strings.CutPrefix(name, prefix)
		if !ok || rel == macOSMetadata || strings.HasPrefix(rel, macOSMetadata+"/") {
			continue
		}
		p.files[rel] = f
	}
	return p
}

// content is a metadata file's bytes; ok is false when it is absent.
func (p *pkg) content(name string) ([]byte, bool, error) {
	f, ok := p.files[name]
	if !ok {
		return nil, false, nil
	}
	if f.tooLarge {
		return nil, true, bad(name, "is larger than %d bytes", maxSmallFile)
	}
	return f.content, true, nil
}

// problem reads the package into a Problem (without Added).
func (p *pkg) problem() (*Problem, error) {
	raw, _, err := p.content("problem.yaml")
	if err != nil {
		return nil, err
	}
	meta, err := parseYAML("problem.yaml", raw)
	if err != nil {
		return nil, err
	}
	m := fields{file: "problem.yaml", m: meta}
	prob := &Problem{}
	if prob.FormatVersion, err = formatVersion(m); err != nil {
		return nil, err
	}
	nameFromDir := false
	if prob.Name, nameFromDir, err = p.name(m); err != nil {
		return nil, err
	}
	if err := p.limits(m, prob); err != nil {
		return nil, err
	}
	if err := p.tests(prob); err != nil {
		return nil, err
	}
	validator, err := p.validator()
	if err != nil {
		return nil, err
	}
	if err := judging(m, prob, validator); err != nil {
		return nil, err
	}
	prob.ID = p.id(prob.Name, nameFromDir)
	return prob, nil
}

func formatVersion(m fields) (string, error) {
	v, ok, err := m.str("problem_format_version")
	if err != nil || !ok {
		return VersionLegacy, err
	}
	if sem, known := versions[v]; known {
		return sem, nil
	}
	return "", m.err("problem_format_version", "%q is not a version this server reads (%s)", v, joinQuoted(sortedKeys(versions)))
}

// name is problem.yaml's name: a string, or a map of language codes to
// names (English first). Without one, the package's directory names it
// (fromDir).
func (p *pkg) name(m fields) (name string, fromDir bool, err error) {
	if !m.has("name") {
		return p.topDir, p.topDir != "", nil
	}
	switch v := m.m["name"].(type) {
	case string:
		return v, false, nil
	case map[string]any:
		langs := sortedKeys(v)
		if _, ok := v["en"]; ok {
			langs = append([]string{"en"}, langs...)
		}
		for _, l := range langs {
			s, ok := v[l].(string)
			if !ok {
				return "", false, m.err("name", "%s must be a string", l)
			}
			return s, false, nil
		}
		return p.topDir, p.topDir != "", nil
	}
	return "", false, m.err("name", "must be a string or a mapping of language codes to names")
}

// limits reads problem.yaml's limits and .timelimit.
func (p *pkg) limits(m fields, prob *Problem) error {
	lim, err := m.sub("limits")
	if err != nil {
		return err
	}
	var ok bool
	if prob.TimeLimit, ok, err = lim.positive("time_limit"); err != nil {
		return err
	} else if !ok {
		if prob.TimeLimit, err = p.timelimitFile(); err != nil {
			return err
		}
	}
	mult, err := lim.sub("time_multipliers")
	if err != nil {
		return err
	}
	if prob.TimeMultiplier, ok, err = mult.positive("ac_to_time_limit"); err != nil {
		return err
	} else if !ok {
		if prob.TimeMultiplier, _, err = lim.positive("time_multiplier"); err != nil {
			return err
		}
	}
	if prob.MemoryMiB, _, err = lim.positiveInt("memory"); err != nil {
		return err
	}
	if prob.OutputMiB, ok, err = lim.positiveInt("output"); err != nil {
		return err
	} else if !ok {
		prob.OutputMiB = DefaultOutputMiB
	}
	if prob.CompilationTimeSec, _, err = lim.positive("compilation_time"); err != nil {
		return err
	}
	if prob.ValidationTimeSec, _, err = lim.positive("validation_time"); err != nil {
		return err
	}
	if prob.ValidationMemoryMiB, _, err = lim.positiveInt("validation_memory"); err != nil {
		return err
	}
	return nil
}

// timelimitFile reads DOMjudge's .timelimit (seconds), 0 when absent.
func (p *pkg) timelimitFile() (float64, error) {
	b, ok, err := p.content(".timelimit")
	if err != nil || !ok {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	t, err := strconv.ParseFloat(s, 64)
	if err != nil || !(t > 0) || t > 1e6 {
		return 0, bad(".timelimit", "must hold a positive number of seconds, got %q", s)
	}
	return t, nil
}

// judging decides the problem's type, validation, flags and validator
// from problem.yaml's type, validation, validator_flags and
// validator_protocol and the validator the package ships.
func judging(m fields, prob *Problem, v *Validator) error {
	types, _, err := m.strings("type")
	if err != nil {
		return err
	}
	isType := map[string]bool{}
	for _, t := range types {
		switch t {
		case TypePassFail, TypeScoring, TypeInteractive:
			isType[t] = true
		case "multi-pass", "submit-answer":
			return m.err("type", "%q problems are not supported", t)
		default:
			return m.err("type", "unknown type %q (pass-fail, scoring or interactive)", t)
		}
	}
	validation, hasValidation, err := m.str("validation")
	if err != nil {
		return err
	}
	custom, score, interactive := false, false, false
	if hasValidation {
		words := strings.Fields(validation)
		if len(words) == 0 || (words[0] != ValidationDefault && words[0] != ValidationCustom) {
			return m.err("validation", "must begin with default or custom, got %q", validation)
		}
		custom = words[0] == ValidationCustom
		for _, w := range words[1:] {
			switch {
			case w == "score" && custom:
				score = true
			case w == "interactive" && custom:
				interactive = true
			default:
				return m.err("validation", "%q: only custom may be followed by score and interactive", validation)
			}
		}
	}
	scoring := isType[TypeScoring] || score
	interactive = interactive || isType[TypeInteractive]
	switch {
	case isType[TypePassFail] && scoring:
		return m.err("type", "pass-fail contradicts a scoring validation (%q)", validation)
	case scoring && interactive:
		return m.err("type", "interactive scoring problems are not supported")
	case interactive && hasValidation && !custom:
		return m.err("validation", "an interactive problem needs a custom output validator")
	}
	// The 2023-07 draft has no validation key: shipping a validator
	// makes it custom. In legacy packages the key decides.
	if !hasValidation && (interactive || (prob.FormatVersion == VersionDraft && v != nil)) {
		custom = true
	}
	prob.Type = TypePassFail
	if scoring {
		prob.Type = TypeScoring
	} else if interactive {
		prob.Type = TypeInteractive
	}
	// The format's validator_flags is one string of words; a sequence of
	// words is taken as well.
	if flags, ok, err := m.strings("validator_flags"); err != nil {
		return err
	} else if s, isString := m.m["validator_flags"].(string); ok && isString {
		prob.ValidatorFlags = strings.Fields(s)
	} else {
		prob.ValidatorFlags = flags
	}
	protocol, hasProtocol, err := m.str(ProtocolKey)
	if err != nil {
		return err
	}
	prob.Validation = ValidationDefault
	if !custom {
		if hasProtocol {
			return m.err(ProtocolKey, "applies to custom output validators only, and this problem's validation is default")
		}
		return nil
	}
	if v == nil {
		dir := legacyValidatorDir + "/"
		if prob.FormatVersion == VersionDraft {
			dir = draftValidatorDir + "/"
		}
		return bad(dir, "missing: the problem's validation is custom (%s), so it needs an output validator", prob.Type)
	}
	switch protocol {
	case "", ProtocolKattis:
		v.Protocol = ProtocolKattis
	case ProtocolTestlib:
		// A checker, or for an interactive problem an interactor
		// (`interactor input output`, exit codes as for checkers).
		v.Protocol = ProtocolTestlib
	default:
		return m.err(ProtocolKey, "unknown protocol %q (kattis or testlib)", protocol)
	}
	prob.Validation, prob.Validator = ValidationCustom, v
	return nil
}

// id is the digest of the package's canonical listing: every file's path
// and digest, sorted by path, and the name when the directory gave it.
// Paths hold no control characters (cleanPath), so lines cannot be forged.
func (p *pkg) id(name string, nameFromDir bool) string {
	h := sha256.New()
	fmt.Fprintf(h, "pecan problem package 1\n")
	for _, rel := range sortedKeys(p.files) {
		fmt.Fprintf(h, "%s %s\n", p.files[rel].digest.Hex(), rel)
	}
	if nameFromDir {
		fmt.Fprintf(h, "name %s\n", name)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// groupNode is a directory of test data.
type groupNode struct {
	name     string // below data/
	tests    map[string]*testNode
	groups   map[string]*groupNode
	settings map[string]any // its own testdata.yaml; nil without one
	file     string         // that file's path
}

type testNode struct {
	in, ans *pkgFile
}

func newGroup(name string) *groupNode {
	return &groupNode{name: name, tests: map[string]*testNode{}, groups: map[string]*groupNode{}}
}

// tests reads data/ into the problem's tests and groups.
func (p *pkg) tests(prob *Problem) error {
	root := newGroup("")
	for _, rel := range sortedKeys(p.files) {
		below, ok := strings.CutPrefix(rel, "data/")
		if !ok {
			continue
		}
		if err := root.add(rel, below, p.files[rel]); err != nil {
			return err
		}
	}
	if err := root.settingsFrom(p); err != nil {
		return err
	}
	if err := root.check(); err != nil {
		return err
	}
	secret := root.groups["secret"]
	if secret == nil || secret.count() == 0 {
		return bad("data/secret", "has no test cases (NAME.in with NAME.ans)")
	}
	if len(root.settings) > 0 {
		prob.RootSettings = root.settings
	}
	for _, top := range []string{"sample", "secret"} {
		if g := root.groups[top]; g != nil {
			g.collect(prob, root.settings, top == "sample")
		}
	}
	return nil
}

// add files data/<below>. Tests and groups are below data/sample and
// data/secret; other directories of data/ (invalid_input, ...) and
// directories with a dot in their name (a test's .files) are not test
// data, and files other than .in, .ans and the settings are annotations.
func (root *groupNode) add(rel, below string, f *pkgFile) error {
	parts := strings.Split(below, "/")
	base := parts[len(parts)-1]
	if len(parts) == 1 {
		switch {
		case base == testdataFile || base == testGroupFile:
			return root.setFile(rel)
		case strings.HasSuffix(base, ".in") || strings.HasSuffix(base, ".ans"):
			return bad(rel, "tests belong in data/sample or data/secret")
		}
		return nil
	}
	if parts[0] != "sample" && parts[0] != "secret" {
		return nil
	}
	g := root
	for _, dir := range parts[:len(parts)-1] {
		if strings.Contains(dir, ".") {
			return nil
		}
		child := g.groups[dir]
		if child == nil {
			child = newGroup(strings.TrimPrefix(g.name+"/"+dir, "/"))
			g.groups[dir] = child
		}
		g = child
	}
	switch {
	case base == testdataFile || base == testGroupFile:
		return g.setFile(rel)
	case strings.HasSuffix(base, ".in"):
		g.test(strings.TrimSuffix(base, ".in")).in = f
	case strings.HasSuffix(base, ".ans"):
		g.test(strings.TrimSuffix(base, ".ans")).ans = f
	}
	return nil
}

func (g *groupNode) setFile(rel string) error {
	if g.file != "" {
		return bad(rel, "a group has one settings file, and %s is there too", g.file)
	}
	g.file = rel
	return nil
}

func (g *groupNode) test(name string) *testNode {
	t := g.tests[name]
	if t == nil {
		t = &testNode{}
		g.tests[name] = t
	}
	return t
}

// settingsFrom parses every group's settings file.
func (g *groupNode) settingsFrom(p *pkg) error {
	if g.file != "" {
		raw, _, err := p.content(g.file)
		if err != nil {
			return err
		}
		if g.settings, err = parseYAML(g.file, raw); err != nil {
			return err
		}
		if err := checkSettings(g.file, g.settings); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(g.groups) {
		if err := g.groups[name].settingsFrom(p); err != nil {
			return err
		}
	}
	return nil
}

// checkSettings checks the types of the grading keys the judge reads.
func checkSettings(file string, s map[string]any) error {
	f := fields{file: file, m: s}
	for _, k := range []string{"accept_score", "reject_score"} {
		if f.has(k) {
			if _, ok := s[k].(float64); !ok {
				return f.err(k, "must be a number")
			}
		}
	}
	for _, k := range []string{"on_reject", "grading", "grader_flags", "range"} {
		if _, _, err := f.str(k); err != nil {
			return err
		}
	}
	if g, _, _ := f.str("grading"); g == "custom" {
		return f.err("grading", "custom graders are not supported")
	}
	if r, ok, _ := f.str("range"); ok {
		if _, _, err := ParseRange(r); err != nil {
			return f.err("range", "%v", err)
		}
	}
	return nil
}

// ParseRange reads a testdata.yaml range: two numbers, where inf, +inf
// and -inf stand for the infinities.
func ParseRange(s string) (lo, hi float64, err error) {
	parts := strings.Fields(s)
	if len(parts) != 2 {
		return 0, 0, fmt.Errorf("want two numbers (low high), got %q", s)
	}
	if lo, err = strconv.ParseFloat(parts[0], 64); err == nil {
		hi, err = strconv.ParseFloat(parts[1], 64)
	}
	if err != nil || lo > hi {
		return 0, 0, fmt.Errorf("want two numbers, low then high, got %q", s)
	}
	return lo, hi, nil
}

// check refuses tests missing a file and names used by a test and a group.
func (g *groupNode) check() error {
	for _, name := range sortedKeys(g.tests) {
		t := g.tests[name]
		base := "data/" + strings.TrimPrefix(g.name+"/"+name, "/")
		switch {
		case t.in == nil:
			return bad(base+".ans", "has no input file %s.in", path.Base(base))
		case t.ans == nil:
			return bad(base+".in", "has no answer file %s.ans", path.Base(base))
		case g.groups[name] != nil:
			return bad(base+"/", "is both a test (%s.in) and a group directory", path.Base(base))
		}
	}
	for _, name := range sortedKeys(g.groups) {
		if err := g.groups[name].check(); err != nil {
			return err
		}
	}
	return nil
}

func (g *groupNode) count() int {
	n := len(g.tests)
	for _, child := range g.groups {
		n += child.count()
	}
	return n
}

// collect appends g's group and tests, then its subgroups', in judging
// order; parent is the settings g inherits.
func (g *groupNode) collect(prob *Problem, parent map[string]any, sample bool) {
	settings := inherit(prob.FormatVersion, parent, g.settings)
	group := Group{Name: g.name}
	if len(settings) > 0 {
		group.Settings = settings
	}
	prob.Groups = append(prob.Groups, group)
	names := make([]string, 0, len(g.tests)+len(g.groups))
	for n := range g.tests {
		names = append(names, n)
	}
	for n := range g.groups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if t := g.tests[n]; t != nil {
			prob.Tests = append(prob.Tests, Test{
				Name: g.name + "/" + n, Group: g.name, Sample: sample,
				Input: t.in.digest, InputSize: t.in.size, Answer: t.ans.digest, AnswerSize: t.ans.size,
			})
			continue
		}
		g.groups[n].collect(prob, settings, sample)
	}
}

// inherit is the effective settings of a group with its own file's
// settings own (nil without one) under a parent's effective settings.
// Legacy: the closest file wins whole. 2023-07: key by key, and some keys
// are never inherited.
func inherit(version string, parent, own map[string]any) map[string]any {
	if version == VersionLegacy {
		if own != nil {
			return own
		}
		return parent
	}
	out := map[string]any{}
	for k, v := range parent {
		if !notInherited[k] {
			out[k] = v
		}
	}
	for k, v := range own {
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// validator finds the package's output validator: the one program in
// output_validators/ (a directory, or a single file), or output_validator/.
// Its protocol is set later, from problem.yaml.
func (p *pkg) validator() (*Validator, error) {
	programs := map[string]map[string]*pkgFile{} // name -> file name -> file
	var dirs []string
	for rel, f := range p.files {
		for _, dir := range []string{legacyValidatorDir, draftValidatorDir} {
			below, ok := strings.CutPrefix(rel, dir+"/")
			if !ok {
				continue
			}
			name, file := dir, below
			if dir == legacyValidatorDir {
				var isDir bool
				name, file, isDir = strings.Cut(below, "/")
				if !isDir { // a single-file program, named by its base name
					name, file = strings.TrimSuffix(below, path.Ext(below)), below
				}
				name = dir + "/" + name
			}
			if programs[name] == nil {
				programs[name] = map[string]*pkgFile{}
				dirs = append(dirs, name)
			}
			programs[name][file] = f
		}
	}
	switch {
	case len(dirs) == 0:
		return nil, nil
	case len(dirs) > 1:
		sort.Strings(dirs)
		return nil, bad("", "more than one output validator (%s): a problem may have one", strings.Join(dirs, ", "))
	}
	where := dirs[0]
	files := programs[where]
	if _, ok := files["build"]; ok {
		return nil, bad(where+"/build", "build and run scripts are not supported: ship the validator's sources")
	}
	if _, ok := files["run"]; ok {
		return nil, bad(where+"/run", "build and run scripts are not supported: ship the validator's sources")
	}
	v := &Validator{Name: path.Base(where)}
	for _, name := range sortedKeys(files) {
		f := files[name]
		v.Files = append(v.Files, File{Name: name, Digest: f.digest, Size: f.size})
	}
	lang, err := detectLanguage(where, sortedKeys(files), p.langs)
	if err != nil {
		return nil, err
	}
	v.Language = lang
	return v, nil
}

// detectLanguage finds the one configured language of a program's source
// files by their extensions. Files no language claims (headers, data) go
// along. When several languages claim files, those that claim only files
// another one claims too (.h for C and C++) give way.
func detectLanguage(where string, files []string, langs map[string][]string) (string, error) {
	claims := map[string][]string{} // language -> files
	claimedBy := map[string]int{}   // file -> number of languages
	for _, id := range sortedKeys(langs) {
		for _, f := range files {
			for _, ext := range langs[id] {
				if strings.HasSuffix(f, ext) && len(f) > len(ext) {
					claims[id] = append(claims[id], f)
					claimedBy[f]++
					break
				}
			}
		}
	}
	var candidates []string
	for _, id := range sortedKeys(claims) {
		for _, f := range claims[id] {
			if claimedBy[f] == 1 {
				candidates = append(candidates, id)
				break
			}
		}
	}
	switch {
	case len(candidates) == 1:
		return candidates[0], nil
	case len(candidates) > 1:
		return "", bad(where+"/", "holds sources in more than one language (%s)", strings.Join(candidates, ", "))
	case len(claims) == 1:
		for id := range claims {
			return id, nil
		}
	}
	var known []string
	for _, id := range sortedKeys(langs) {
		known = append(known, fmt.Sprintf("%s: %s", id, strings.Join(langs[id], " ")))
	}
	return "", bad(where+"/", "no source file in a language this server runs (%s)", strings.Join(known, "; "))
}

// digests lists what a problem's files are, for removing staged blobs.
func referenced(p *Problem) map[blob.Digest]bool {
	m := map[blob.Digest]bool{}
	for _, d := range p.Digests() {
		m[d] = true
	}
	return m
}
