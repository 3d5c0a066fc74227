// Package nsjail is the backend on Google's nsjail. Each Pecan sandbox
// prepares, once, what every run of it mounts: a directory of its own
// holding the work directory, a size-limited tmpfs of Pecan's replaced by
// a fresh one at every Reset. Each run is one `nsjail --mode o`: new
// pid, mount, network (loopback down), IPC, UTS and cgroup namespaces, a
// read-only root of bind mounts, a fresh /tmp tmpfs, an unprivileged host
// uid and a seccomp policy; nothing of a run outlives it but the work directory's
// files, which the Reset drops.
//
// nsjail's own cgroup limits exist on v1 and v2, but it reports no peak
// memory, no OOM kill and no CPU time; Pecan runs each nsjail inside a
// cgroup of its own (runcg) instead, as it does isolate, and measures
// there.
package nsjail

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"

	log "github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/internal/procmask"
	"github.com/pecan-judge/pecan/backends/internal/runcg"
)

// Name is the name this backend is configured by.
const Name = "nsjail"

// WorkDir is the sandbox's work directory, as programs see it.
const WorkDir = "/w"

// Options configure the backend.
type Options struct {
	// Binary is the nsjail executable (found in PATH when not absolute).
	Binary string
	// StateDir holds the sandboxes' work directories and nsjail's logs,
	// below a directory named for this server.
	StateDir string
	// WorkDirMiB and TmpMiB size the work directory and /tmp tmpfs mounts.
	WorkDirMiB, TmpMiB int
	// CgroupPrefix names this server's cgroup; runs get sub-cgroups.
	CgroupPrefix string
	// UID is the host uid programs run as.
	UID int
	// Mounts are host paths (directories or files) bound read-only at the
	// same path, besides /usr, /lib, /lib64, /bin and four devices.
	Mounts []string
	// NoSeccomp turns the seccomp policy off.
	NoSeccomp bool
	Logger    log.FieldLogger
}

// Backend makes nsjail sandboxes.
type Backend struct {
	opts   Options
	binary string
	dir    string // StateDir/<server pid>
	mounts []string
	// masks are the binds that hide host details of /proc: an empty
	// directory or /dev/null over each, as the container backend's.
	masks   []string
	cgroups *runcg.Root
	seq     atomic.Uint64
	logger  log.FieldLogger
}

// systemMounts and devices are bound read-only into every run.
var (
	systemMounts = []string{"/usr", "/lib", "/lib64", "/bin"}
	devices      = []string{"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"}
)

// New checks the nsjail binary and prepares the server's state directory
// and parent cgroup.
func New(opts Options) (*Backend, error) {
	if opts.Logger == nil {
		opts.Logger = log.StandardLogger()
	}
	if opts.Binary == "" {
		opts.Binary = "nsjail"
	}
	if opts.StateDir == "" {
		opts.StateDir = "/run/pecan/nsjail"
	}
	if opts.WorkDirMiB <= 0 {
		opts.WorkDirMiB = 256
	}
	if opts.TmpMiB <= 0 {
		opts.TmpMiB = 64
	}
	if opts.UID <= 0 {
		opts.UID = 65533
	}
	if opts.CgroupPrefix == "" {
		opts.CgroupPrefix = "pecan"
	}
	bin, err := exec.LookPath(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("nsjail binary %q: %w (make deps builds one into .tools/bin)", opts.Binary, err)
	}
	if out, err := exec.Command(bin, "--help").CombinedOutput(); err != nil && !strings.Contains(string(out), "Usage") {
		return nil, fmt.Errorf("%s --help: %w: %s", bin, err, strings.TrimSpace(string(out)))
	}
	removeStale(opts.StateDir, opts.Logger)
	dir := filepath.Join(opts.StateDir, fmt.Sprint(os.Getpid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("nsjail state dir: %w", err)
	}
	b := &Backend{opts: opts, binary: bin, dir: dir, logger: opts.Logger}
	b.mounts = existing(append(append([]string(nil), systemMounts...), opts.Mounts...))
	if b.masks, err = procMasks(filepath.Join(dir, "empty")); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if b.cgroups, err = runcg.NewRoot(opts.CgroupPrefix); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return b, nil
}

// procMasks makes the empty directory empty and returns the read-only
// binds (source:destination) that hide procmask's paths under /proc which
// this host has: nsjail cannot bind over a path the new /proc lacks.
func procMasks(empty string) ([]string, error) {
	if err := os.Mkdir(empty, 0o555); err != nil && !os.IsExist(err) {
		return nil, fmt.Errorf("nsjail state dir: %w", err)
	}
	var out []string
	for _, p := range procmask.Paths() {
		if !strings.HasPrefix(p, "/proc/") {
			continue // runs have no /sys
		}
		st, err := os.Stat(p)
		switch {
		case err != nil:
		case st.IsDir():
			out = append(out, empty+":"+p)
		default:
			out = append(out, "/dev/null:"+p)
		}
	}
	return out, nil
}

// existing keeps the absolute paths of paths that exist, once each: a
// missing toolchain shows as an unavailable language.
func existing(paths []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		p = filepath.Clean(p)
		if seen[p] || !filepath.IsAbs(p) {
			continue
		}
		seen[p] = true
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Name implements backends.Backend.
func (b *Backend) Name() string { return Name }

// Close removes the server's state directory and parent cgroup; every
// sandbox must be destroyed first.
func (b *Backend) Close() error {
	_ = os.Remove(filepath.Join(b.dir, "empty"))
	err := os.Remove(b.dir)
	if cerr := b.cgroups.Destroy(); cerr != nil {
		return cerr
	}
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove %s: %w", b.dir, err)
	}
	return nil
}

// New prepares one sandbox: its directory and work directory tmpfs.
func (b *Backend) New(ctx context.Context, id string) (backends.Sandbox, error) {
	return b.newSandbox(ctx, id)
}

// newSandbox prepares one sandbox in a directory of its own.
func (b *Backend) newSandbox(ctx context.Context, id string) (*sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("build sandbox %s: %w", id, err)
	}
	dir := filepath.Join(b.dir, fmt.Sprint(b.seq.Add(1)))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("build sandbox %s: %w", id, err)
	}
	s := &sandbox{id: id, backend: b, dir: dir}
	if err := s.mountWork(); err != nil {
		s.removeDir()
		return nil, fmt.Errorf("build sandbox %s: %w", id, err)
	}
	return s, nil
}
