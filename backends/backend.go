// Package backends defines what the actors need from an isolation
// technology: a Backend that makes prewarmed Sandboxes, and a Sandbox that
// runs one program at a time under limits and can be reset to a clean state.
// Sub-packages implement it; backends know nothing of verdicts.
package backends

import (
	"context"
	"errors"
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
	// WriteFile puts a file into the work directory.
	WriteFile(name string, data []byte, executable bool) error
	// Run runs one program to completion or until a limit stops it. An
	// error means the backend failed, not the program; it wraps ErrBroken
	// when the sandbox cannot be used again.
	Run(ctx context.Context, spec RunSpec) (RunResult, error)
	// SealWorkDir makes every file now in the work directory read-only
	// to the programs run after it: they may read and execute those
	// files, never write them, change their mode or map them writable.
	// A job's compile output is sealed before the job runs it.
	SealWorkDir(ctx context.Context) error
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
	Args   []string
	Env    []string
	Stdin  []byte
	Limits Limits
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
