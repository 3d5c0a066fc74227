// Package runner is the part of the gvisor backend that runs inside a
// gVisor sandbox, as root of the sandbox's own kernel: the sandbox's idle
// init, and one command per `runsc exec` that runs a program under limits,
// writes a file into the work directory or streams files out of it. The
// server reaches the sandbox only through these commands, so no path a
// program wrote is ever resolved on the host.
//
// It is linked into pecan-sandbox-init (see Main), which the backend binds
// read-only into every sandbox; it imports nothing but the standard
// library and x/sys, so that it starts quickly.
package runner

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// Commands, the first argument of the program.
const (
	CmdInit    = "gvisor-init"
	CmdRun     = "gvisor-run"
	CmdPut     = "gvisor-put"
	CmdCollect = "gvisor-collect"
)

// WorkDir is the sandbox's writable work directory.
const WorkDir = "/w"

// RunRequest is one program to run: what the host asks of CmdRun, as its
// second argument, in JSON.
type RunRequest struct {
	Args      []string      `json:"args"`
	Env       []string      `json:"env"`
	UID       int           `json:"uid"`
	CPU       time.Duration `json:"cpu"`
	Wall      time.Duration `json:"wall"`
	Memory    uint64        `json:"memory"`
	Processes uint64        `json:"processes"`
	Output    int64         `json:"output"`
	FileSize  uint64        `json:"file_size"`
	OpenFiles uint64        `json:"open_files"`
	Stack     uint64        `json:"stack"` // 0: unlimited
}

// RunResult is what CmdRun measured, its last frame.
type RunResult struct {
	ExitCode int           `json:"exit_code"`
	Signal   int           `json:"signal"`
	CPU      time.Duration `json:"cpu"`
	Wall     time.Duration `json:"wall"`
	// MemoryPeak is the run's peak resident set: the program's
	// ru_maxrss when that is above the runner's (see execute), else the
	// largest sum over the run's processes the watchdog saw.
	MemoryPeak     uint64 `json:"memory_peak"`
	CPUExceeded    bool   `json:"cpu_exceeded"`
	WallExceeded   bool   `json:"wall_exceeded"`
	MemoryExceeded bool   `json:"memory_exceeded"`
	OutputExceeded bool   `json:"output_exceeded"`
	// Error is set when the program could not be started at all.
	Error string `json:"error,omitempty"`
}

// PutRequest is CmdPut's argument: the file to create from stdin.
type PutRequest struct {
	Path string `json:"path"`
	Mode uint32 `json:"mode"`
}

// CollectRequest is CmdCollect's argument: the files below Dir (relative
// to the work directory) go to stdout as a tar stream.
type CollectRequest struct {
	Dir      string `json:"dir"`
	MaxFiles int    `json:"max_files"`
	MaxBytes int64  `json:"max_bytes"`
}

// CmdRun's stdout is a sequence of frames: one kind byte, a big-endian
// uint32 length and that many bytes. The program's stdout and stderr
// travel in frames of their own kinds, so nothing it writes can pass for
// the result, which is the last frame.
const (
	FrameStdout byte = 'o'
	FrameStderr byte = 'e'
	FrameResult byte = 'r'
)

// MaxFrame bounds a frame's payload.
const MaxFrame = 64 << 10

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, kind byte, p []byte) error {
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

// ReadFrame reads one frame's header; the caller reads n bytes of payload.
func ReadFrame(r io.Reader) (kind byte, n int, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, 0, err
	}
	n = int(binary.BigEndian.Uint32(hdr[1:]))
	if n > MaxFrame {
		return 0, 0, fmt.Errorf("frame of %d bytes (at most %d)", n, MaxFrame)
	}
	return hdr[0], n, nil
}
