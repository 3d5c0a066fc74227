// Package backends defines what the actors need from an isolation
// technology: a Backend that makes prewarmed Sandboxes, and a Sandbox that
// runs one program at a time under limits and can be reset to a clean state.
// Sub-packages implement it; backends know nothing of verdicts.
package backends

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"
)

// ErrBroken marks a sandbox that must not serve another job: its init
// process died, a reset failed or the backend lost track of it. The owner
// destroys it and builds a new one.
var ErrBroken = errors.New("sandbox broken")

// ErrUnsupported marks what a backend cannot do (yet), such as running
// two programs connected by pipes; the sandbox stays usable.
var ErrUnsupported = errors.New("not supported by this backend")

// Backend creates sandboxes.
type Backend interface {
	// Name is the configured backend name.
	Name() string
	// New builds and prewarms one sandbox.
	New(ctx context.Context, id string) (Sandbox, error)
	// Close releases what the backend holds beyond its sandboxes.
	Close() error
}

// Sandbox is one prewarmed isolated environment with a writable work
// directory. It runs one program at a time.
type Sandbox interface {
	// ID names the sandbox in logs and responses.
	ID() string
	// PutFile creates the file path (relative to the work directory,
	// "/"-separated; its directories are made as needed) with r's content
	// and mode's permission bits. Programs may read the file, and execute
	// it when mode says so, never change it.
	PutFile(ctx context.Context, path string, r io.Reader, mode fs.FileMode) error
	// Collect hands every regular file below dir (relative to the work
	// directory; "" for all of it) to fn with its path and mode: what a
	// compile produced, to be kept and put into other sandboxes, or what
	// a validator wrote. More than maxFiles files or maxBytes bytes in all
	// is an error; a missing dir is no file. It never follows a link a
	// program could have made.
	Collect(ctx context.Context, dir string, maxFiles int, maxBytes int64, fn func(path string, mode fs.FileMode, r io.Reader) error) error
	// Run runs one program to completion or until a limit stops it. An
	// error means the backend failed, not the program; it wraps ErrBroken
	// when the sandbox cannot be used again.
	Run(ctx context.Context, spec RunSpec) (RunResult, error)
	// Start starts one program with the given stdin and stdout (ends of
	// pipes to another program) and returns at once; Wait on the Process
	// gives what Run would have (Stdout empty: it went to stdio.Stdout).
	// Stdin and StdinFrom of spec are not used. Start owns stdio's files
	// from the call on and closes them as soon as the program holds them
	// (or, where a tool wrapping the program holds them for the whole run
	// anyway, once that has exited), so that the other end sees EOF when
	// the program is gone. The error
	// contract is Run's; one program runs in a sandbox at a time.
	Start(ctx context.Context, spec RunSpec, stdio Stdio) (Process, error)
	// Beside is a second sandbox that this one keeps for a program that
	// runs at the same time as its own (an interactive problem's
	// validator): as isolated from this one as two sandboxes are, with a
	// work directory of its own, fresh after every Reset of this sandbox
	// (which throws it away) and destroyed with it. Calls between two
	// Resets give the same sandbox. A sandbox given by Beside has none.
	Beside(ctx context.Context) (Sandbox, error)
	// Reset removes everything a job left behind: files, processes, IPC
	// objects, queued data; the next job cannot observe the last one.
	Reset(ctx context.Context) error
	// Ping reports whether the sandbox is alive.
	Ping() error
	// Destroy tears the sandbox down; it is safe to call twice.
	Destroy() error
}

// Stdio is what a started program reads and writes instead of a captured
// stdin and stdout. Stderr is captured as Run captures it.
type Stdio struct {
	Stdin, Stdout *os.File
}

// Process is a program Start started.
type Process interface {
	// Wait waits until the program has exited or a limit (or the context
	// given to Start) stopped it, and every process of its run is gone.
	// It may be called once.
	Wait() (RunResult, error)
}

// Limits bound one run. Zero means the backend's own default.
type Limits struct {
	CPU         time.Duration
	Wall        time.Duration
	MemoryBytes uint64
	Processes   uint64
	OutputBytes int64 // stdout and stderr, each
	FileBytes   uint64
	OpenFiles   uint64
	StackBytes  uint64 // 0: unlimited
}

// The limits of a run that leaves them at zero.
const (
	DefaultCPU       = 2 * time.Second
	DefaultMemory    = 256 << 20
	DefaultProcesses = 64
	DefaultOutput    = 64 << 20
	DefaultFileSize  = 64 << 20
	DefaultOpenFiles = 256
)

// WithDefaults is l with every limit left at zero set to its default; the
// wall limit defaults to three times the CPU limit and a second.
func (l Limits) WithDefaults() Limits {
	if l.CPU <= 0 {
		l.CPU = DefaultCPU
	}
	if l.Wall <= 0 {
		l.Wall = 3*l.CPU + time.Second
	}
	if l.MemoryBytes == 0 {
		l.MemoryBytes = DefaultMemory
	}
	if l.Processes == 0 {
		l.Processes = DefaultProcesses
	}
	if l.OutputBytes <= 0 {
		l.OutputBytes = DefaultOutput
	}
	if l.FileBytes == 0 {
		l.FileBytes = DefaultFileSize
	}
	if l.OpenFiles == 0 {
		l.OpenFiles = DefaultOpenFiles
	}
	return l
}

// RunSpec is one program to run inside the sandbox's work directory.
type RunSpec struct {
	Args  []string
	Env   []string
	Stdin []byte
	// StdinFrom, when set, is read for stdin instead of Stdin: a test's
	// input of many MiB is streamed from where it is stored.
	StdinFrom io.Reader
	Limits    Limits
}

// RunResult is what was measured of one run.
type RunResult struct {
	ExitCode int
	Signal   int // 0 when the program exited normally
	CPU      time.Duration
	Wall     time.Duration
	// MemoryPeak is the peak memory of the run's cgroup in bytes.
	MemoryPeak uint64
	// OOM is set when the memory limit was hit (OOM kill or peak at limit).
	OOM bool
	// CPUExceeded and WallExceeded are set when the run was killed for
	// going over that limit.
	CPUExceeded  bool
	WallExceeded bool
	// OutputExceeded is set when stdout or stderr passed OutputBytes; the
	// output kept is cut at the limit.
	OutputExceeded bool
	Stdout, Stderr []byte
	// Ended is when the backend learned that the program had ended (the
	// host's clock, read as the report of its exit arrived, before any
	// accounting): of two programs talking through pipes, the one that
	// ended first. Zero when the backend does not say.
	Ended time.Time
}
