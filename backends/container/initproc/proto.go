// Package initproc is the container backend's init process and the
// server's end of the socket it is driven over.
//
// The server starts the init (Start) with new mount, pid, IPC, network
// and UTS namespaces but no user namespace: without one the kernel can
// vfork the server instead of copying its whole address space, which was
// most of what a container cost. The init builds the read-only root,
// then runs one program at a time on request: it places the program in
// the run's cgroup before the program executes an instruction, drops to
// the unprivileged uid, every capability and no_new_privs, applies the
// seccomp filter, and when the program ends kills everything left in the
// container and reports how the program ended.
package initproc

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"syscall"

	"github.com/criyle/go-sandbox/pkg/mount"
	"github.com/criyle/go-sandbox/pkg/rlimit"
	"github.com/criyle/go-sandbox/pkg/unixsocket"
)

// InitArg is the init's first argument; nothing else starts the binary
// with it as pid 1, and it tells a container init among processes.
const InitArg = "pecan_container_init"

// socketFD is the init's end of the socket.
const socketFD = 3

// maxMessage bounds one message (the setup, with the seccomp filter and
// the mount table, is the largest).
const maxMessage = 1 << 20

// Config is what a container is built from.
type Config struct {
	// Binary is the init program, or "" for this binary re-executed.
	Binary string
	// RootDir is an empty host directory the root is built on; it can
	// be removed once Start returns.
	RootDir string
	// Mounts are made in order below the root (relative targets).
	Mounts []mount.Mount
	// Symlinks are made after the mounts.
	Symlinks []Symlink
	// MaskPaths are hidden: a file under /dev/null, a directory under
	// an empty read-only tmpfs.
	MaskPaths []string
	// WorkDir is where programs start and OpenWorkDir opens.
	WorkDir              string
	HostName, DomainName string
	// UID and GID are what programs run as, with no supplementary group.
	UID, GID int
	// Seccomp is the filter every program gets; nil for none.
	Seccomp Filter
}

// Filter is a seccomp program. It travels as its raw bytes: decoding
// its hundreds of instructions as JSON objects was a measurable part of
// a container's start.
type Filter []syscall.SockFilter

const filterInsnSize = 8

func (f Filter) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, filterInsnSize*len(f))
	for _, in := range f {
		b = binary.LittleEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	return json.Marshal(b)
}

func (f *Filter) UnmarshalJSON(data []byte) error {
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return err
	}
	if len(b)%filterInsnSize != 0 {
		return fmt.Errorf("seccomp filter of %d bytes", len(b))
	}
	*f = make(Filter, 0, len(b)/filterInsnSize)
	for ; len(b) > 0; b = b[filterInsnSize:] {
		*f = append(*f, syscall.SockFilter{
			Code: binary.LittleEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.LittleEndian.Uint32(b[4:]),
		})
	}
	return nil
}

// Symlink is a link made in the container.
type Symlink struct{ Path, Target string }

// ExitStatus is how a program ended: its exit code, or the signal that
// killed it, and when.
type ExitStatus struct {
	Code   int `json:"code,omitempty"`
	Signal int `json:"signal,omitempty"`
	// Ended is when the init saw it end (Unix nanoseconds). The init
	// keeps its own copies of the program's descriptors until then, so a
	// program reading from or writing to this one cannot see it gone
	// (EOF, EPIPE) before this instant: of two programs talking through
	// pipes, the one that ended first has the earlier Ended.
	Ended int64 `json:"ended"`
}

type op string

const (
	opSetup op = "setup"
	opPing  op = "ping"
	opOpen  op = "open"
	opExec  op = "exec"
	opKill  op = "kill"
	opRenew op = "renew"
)

type request struct {
	Op    op           `json:"op"`
	Setup *Config      `json:"setup,omitempty"`
	Exec  *execRequest `json:"exec,omitempty"`
}

// execRequest comes with the descriptors stdin, stdout, stderr, then
// those of Placement.
type execRequest struct {
	Args    []string        `json:"args"`
	Env     []string        `json:"env,omitempty"`
	RLimits []rlimit.RLimit `json:"rlimits,omitempty"`
	// Placement is how the program enters its cgroup: placeProcs, the
	// init writes its pid to each cgroup.procs descriptor given before
	// it executes; placeClone, it is created in the cgroup directory
	// given (clone3, CLONE_INTO_CGROUP); placeThread, it is created by
	// the init's thread in the cgroups that thread joined (see Thread).
	Placement placement `json:"placement"`
	// Thread counts the descriptors of placeThread: tasks files to join,
	// to leave for at once, to leave for when the run ends.
	Thread [3]int `json:"thread,omitempty"`
}

type placement string

const (
	placeProcs  placement = "procs"
	placeClone  placement = "clone"
	placeThread placement = "thread"
	// placeNone is the init's own warm-up run (server.warmUp), never a
	// request's.
	placeNone placement = ""
)

type reply struct {
	Err     string      `json:"err,omitempty"`
	Started bool        `json:"started,omitempty"`
	Exit    *ExitStatus `json:"exit,omitempty"`
}

// ErrInitGone means the init's socket failed: the container is dead.
var ErrInitGone = errors.New("container init gone")

type conn struct{ s *unixsocket.Socket }

func (c conn) send(v any, fds ...int) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := c.s.SendMsg(b, unixsocket.Msg{Fds: fds}); err != nil {
		return fmt.Errorf("%w: send: %w", ErrInitGone, err)
	}
	return nil
}

// recv decodes the next message into v and returns the descriptors that
// came with it.
func (c conn) recv(v any, buf []byte) ([]int, error) {
	n, msg, err := c.s.RecvMsg(buf)
	if err != nil {
		return nil, fmt.Errorf("%w: receive: %w", ErrInitGone, err)
	}
	if n == 0 {
		closeAll(msg.Fds)
		return nil, fmt.Errorf("%w: socket closed", ErrInitGone)
	}
	if err := json.Unmarshal(buf[:n], v); err != nil {
		// The two ends no longer understand each other.
		closeAll(msg.Fds)
		return nil, fmt.Errorf("%w: decode message: %w", ErrInitGone, err)
	}
	return msg.Fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}
