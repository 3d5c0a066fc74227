// Package problems reads problem packages in the Kattis/ICPC problem
// package format (the legacy version and the 2023-07 draft) from zip, tar
// and tar.gz archives, and keeps them: their files in a blob store, one
// JSON manifest per problem. An archive is hostile input until proven
// otherwise, so every path, entry type and size is checked while it is
// read, and a package that fails a check stores nothing.
package problems

import (
	"errors"
	"fmt"
	"time"

	"github.com/pecan-judge/pecan/blob"
)

// Problem types and validation kinds.
const (
	TypePassFail    = "pass-fail"
	TypeScoring     = "scoring"
	TypeInteractive = "interactive"

	ValidationDefault = "default"
	ValidationCustom  = "custom"

	ProtocolKattis  = "kattis"
	ProtocolTestlib = "testlib"
)

// ProtocolKey is the problem.yaml key that selects the protocol a custom
// validator speaks: "kattis" (the default) or "testlib". It is Pecan's
// own: neither version of the format has one.
const ProtocolKey = "validator_protocol"

// DefaultOutputMiB is the output limit the format assumes when
// limits.output is absent.
const DefaultOutputMiB = 8

// Problem is a stored problem: what a judge needs of its package.
type Problem struct {
	// ID is "sha256:<hex>" of the package's canonical content: the sorted
	// paths of its files with their digests. The same files give the same
	// id whatever the archive format, order or top-level directory.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Type is pass-fail, scoring or interactive (from problem.yaml's
	// type, or the legacy validation's "score" and "interactive").
	Type string `json:"type"`
	// Validation is default (the default validator with ValidatorFlags)
	// or custom (Validator).
	Validation     string   `json:"validation"`
	ValidatorFlags []string `json:"validator_flags,omitempty"`
	// TimeLimit is in seconds: limits.time_limit, else .timelimit; 0 when
	// neither says.
	TimeLimit float64 `json:"time_limit,omitempty"`
	// TimeMultiplier is limits.time_multiplier (legacy) or
	// limits.time_multipliers.ac_to_time_limit (2023-07); 0 when absent.
	TimeMultiplier float64 `json:"time_multiplier,omitempty"`
	// MemoryMiB is limits.memory, 0 when absent; OutputMiB is
	// limits.output, DefaultOutputMiB when absent.
	MemoryMiB           int64   `json:"memory_mib,omitempty"`
	OutputMiB           int64   `json:"output_mib"`
	ValidationTimeSec   float64 `json:"validation_time,omitempty"`
	ValidationMemoryMiB int64   `json:"validation_memory_mib,omitempty"`
	CompilationTimeSec  float64 `json:"compilation_time,omitempty"`
	// Tests are in judging order: data/sample, then data/secret; within a
	// directory, tests and groups in lexicographic order of their names,
	// a group's tests where the group comes.
	Tests []Test `json:"tests"`
	// Groups are the group directories below data/ (sample, secret and
	// their subdirectories) in judging order, each with its settings.
	Groups []Group `json:"groups"`
	// RootSettings is data/testdata.yaml (the root group's settings,
	// which sample and secret inherit); empty when there is none.
	RootSettings map[string]any `json:"root_settings,omitempty"`
	// Validator is nil for the default validator.
	Validator *Validator `json:"validator,omitempty"`
	// FormatVersion is "legacy" or "2023-07-draft".
	FormatVersion string    `json:"format_version"`
	Added         time.Time `json:"added"`
}

// Test is one test case: NAME.in and NAME.ans.
type Test struct {
	// Name is the path below data/ without extension (secret/group1/03);
	// Group is its directory below data/ (secret/group1, or sample or
	// secret for top-level tests).
	Name       string      `json:"name"`
	Group      string      `json:"group"`
	Sample     bool        `json:"sample"`
	Input      blob.Digest `json:"input"`
	Answer     blob.Digest `json:"answer"`
	InputSize  int64       `json:"input_size"`
	AnswerSize int64       `json:"answer_size"`
}

// Group is a test data group and its effective testdata.yaml settings:
// its own file's, or what it inherits as its format version says (legacy:
// the closest ancestor's whole file; 2023-07: key by key, except the keys
// that are not inherited).
type Group struct {
	Name     string         `json:"name"`
	Settings map[string]any `json:"settings,omitempty"`
}

// Validator is a custom output validator's sources.
type Validator struct {
	// Name is the program's name: its directory (or file) under
	// output_validators/, or output_validator for the 2023-07 layout.
	Name string `json:"name"`
	// Language is the id of the configured language its sources are in.
	Language string `json:"language"`
	// Protocol is ProtocolKattis or ProtocolTestlib (problem.yaml's
	// ProtocolKey).
	Protocol string `json:"protocol"`
	// Files are every file of the program, named relative to its
	// directory, sorted by name.
	Files []File `json:"files"`
}

// File is one stored file.
type File struct {
	Name   string      `json:"name"`
	Digest blob.Digest `json:"digest"`
	Size   int64       `json:"size"`
}

// Digests are every blob the problem refers to.
func (p *Problem) Digests() []blob.Digest {
	var ds []blob.Digest
	for _, t := range p.Tests {
		ds = append(ds, t.Input, t.Answer)
	}
	if p.Validator != nil {
		for _, f := range p.Validator.Files {
			ds = append(ds, f.Digest)
		}
	}
	return ds
}

// BadPackageError says why a package was refused: the file concerned
// (empty for the archive as a whole) and the reason.
type BadPackageError struct {
	Path   string
	Reason string
}

func (e *BadPackageError) Error() string {
	if e.Path == "" {
		return "bad problem package: " + e.Reason
	}
	return fmt.Sprintf("bad problem package: %s: %s", e.Path, e.Reason)
}

func bad(path, format string, args ...any) *BadPackageError {
	return &BadPackageError{Path: path, Reason: fmt.Sprintf(format, args...)}
}

// ErrNotFound is returned (wrapped) for an unknown problem id.
var ErrNotFound = errors.New("no such problem")
