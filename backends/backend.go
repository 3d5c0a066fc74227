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
	"time"
)

// ErrBroken marks a sandbox that must not serve another job: its init
// process died, a reset failed or the backend lost track of it. The owner
// destroys it and builds a new one.
var ErrBroken = errors.New("sandbox broken")

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
	// Reset removes everything a job left behind: files, processes, IPC
	// objects, queued data; the next job cannot observe the last one.
	Reset(ctx context.Context) error
	// Ping reports whether the sandbox is alive.
	Ping() error
	// Destroy tears the sandbox down; it is safe to call twice.
	Destroy() error
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
}
