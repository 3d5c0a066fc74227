// Package isolate is the backend on the IOI's sandbox, isolate 2.x. Each
// Pecan sandbox holds one isolate box for its whole life: initialised
// once (isolate --init), its work directory and /tmp size-limited tmpfs
// mounts of Pecan's, replaced by fresh ones at every Reset. Every isolate --run gets new
// pid, IPC, network and mount namespaces from isolate, so nothing of a run
// outlives it but its files, which the Reset drops.
//
// isolate's own control-group mode (--cg) needs cgroup v2 and its
// isolate-cg-keeper service; without it isolate can limit memory only by
// address space, which no JVM starts under and which reports no peak.
// Pecan therefore runs each isolate --run inside a cgroup of its own
// (runcg): memory, processes, CPU time of every process, peak memory and
// OOM kills, on v1 and v2 hosts, and does not use --cg.
package isolate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	log "github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/internal/runcg"
)

// Name is the name this backend is configured by.
const Name = "isolate"

// Options configure the backend.
type Options struct {
	// Binary is the isolate executable (found in PATH when not absolute).
	Binary string
	// FirstBox and Boxes are the box ids this server may use; servers on
	// one host share them, each box claimed by a lock file.
	FirstBox, Boxes int
	// LockDir holds Pecan's box locks and isolate's meta files.
	LockDir string
	// WorkDirMiB and TmpMiB size the tmpfs mounts of a box's work
	// directory and its /tmp.
	WorkDirMiB, TmpMiB int
	// CgroupPrefix names this server's cgroup; runs get sub-cgroups.
	CgroupPrefix string
	// Dirs are host directories bound read-only at the same path, besides
	// isolate's own /usr, /lib, /lib64, /bin and /dev.
	Dirs   []string
	Logger log.FieldLogger
}

// Backend makes isolate sandboxes.
type Backend struct {
	opts    Options
	binary  string
	dirs    []string
	cgroups *runcg.Root
	logger  log.FieldLogger
}

// New checks the isolate binary and prepares the parent cgroup.
func New(opts Options) (*Backend, error) {
	if opts.Logger == nil {
		opts.Logger = log.StandardLogger()
	}
	if opts.Binary == "" {
		opts.Binary = "isolate"
	}
	if opts.Boxes <= 0 {
		opts.Boxes = 1000
	}
	if opts.LockDir == "" {
		opts.LockDir = "/run/pecan/isolate"
	}
	if opts.WorkDirMiB <= 0 {
		opts.WorkDirMiB = 256
	}
	if opts.TmpMiB <= 0 {
		opts.TmpMiB = 64
	}
	if opts.CgroupPrefix == "" {
		opts.CgroupPrefix = "pecan"
	}
	bin, err := exec.LookPath(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("isolate binary %q: %w (make deps builds one into .tools/bin)", opts.Binary, err)
	}
	if out, err := exec.Command(bin, "--version").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s --version: %w: %s", bin, err, strings.TrimSpace(string(out)))
	}
	if err := os.MkdirAll(opts.LockDir, 0o700); err != nil {
		return nil, fmt.Errorf("isolate lock dir: %w", err)
	}
	b := &Backend{opts: opts, binary: bin, logger: opts.Logger}
	b.dirs = bindableDirs(opts.Dirs, opts.Logger)
	if b.cgroups, err = runcg.NewRoot(opts.CgroupPrefix); err != nil {
		return nil, err
	}
	return b, nil
}

// bindableDirs keeps the existing directories of dirs, once each: isolate
// binds directories only. A file (say /etc/ld.so.cache) is left out with a
// note; a missing path shows as an unavailable language.
func bindableDirs(dirs []string, logger log.FieldLogger) []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range dirs {
		d = filepath.Clean(d)
		if seen[d] || !filepath.IsAbs(d) {
			continue
		}
		seen[d] = true
		st, err := os.Stat(d)
		if err != nil {
			continue
		}
		if !st.IsDir() {
			logger.WithField("path", d).Debug("isolate binds directories only; file left out")
			continue
		}
		out = append(out, d)
	}
	return out
}

// Name implements backends.Backend.
func (b *Backend) Name() string { return Name }

// Close removes the parent cgroup; every sandbox must be destroyed first.
func (b *Backend) Close() error { return b.cgroups.Destroy() }

// New claims a free box, initialises it and mounts its tmpfs.
func (b *Backend) New(ctx context.Context, id string) (backends.Sandbox, error) {
	return b.newSandbox(ctx, id)
}

// newSandbox builds one sandbox on a box of its own.
func (b *Backend) newSandbox(ctx context.Context, id string) (*sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("build sandbox %s: %w", id, err)
	}
	box, lock, err := b.claimBox()
	if err != nil {
		return nil, fmt.Errorf("build sandbox %s: %w", id, err)
	}
	s := &sandbox{id: id, backend: b, box: box, lock: lock}
	// A box left by a server that died is swept first.
	_, _ = b.isolate(ctx, box, "--cleanup")
	out, err := b.isolate(ctx, box, "--init")
	if err != nil {
		s.release()
		return nil, fmt.Errorf("build sandbox %s: %w", id, err)
	}
	s.dir = strings.TrimSpace(out)
	if !filepath.IsAbs(s.dir) {
		s.release()
		return nil, fmt.Errorf("build sandbox %s: isolate --init printed %q, not a box directory", id, out)
	}
	if err := s.mountBox(); err != nil {
		_, _ = b.isolate(context.Background(), box, "--cleanup")
		s.release()
		return nil, fmt.Errorf("build sandbox %s: %w", id, err)
	}
	return s, nil
}

// isolate runs the isolate binary on a box for a management command and
// returns its standard output.
func (b *Backend) isolate(ctx context.Context, box int, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, b.binary, append([]string{"--box-id=" + strconv.Itoa(box)}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("isolate --box-id=%d %s: %w: %s", box, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// claimBox locks the first free box id. The lock is a file of the lock
// dir held with flock for the sandbox's life: servers on one host never
// share a box, and a server that dies releases its boxes with its
// descriptors.
func (b *Backend) claimBox() (int, *os.File, error) {
	for box := b.opts.FirstBox; box < b.opts.FirstBox+b.opts.Boxes; box++ {
		f, err := lockFile(filepath.Join(b.opts.LockDir, fmt.Sprintf("box-%d.lock", box)))
		if err != nil {
			return 0, nil, err
		}
		if f != nil {
			return box, f, nil
		}
	}
	return 0, nil, fmt.Errorf("no free isolate box among %d from %d", b.opts.Boxes, b.opts.FirstBox)
}

// lockFile takes path's lock without waiting; nil when another holds it.
// The lock must be on the file that is at path now: one a releasing
// sandbox removed meanwhile would lock nothing.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("box lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, fmt.Errorf("box lock %s: %w", path, err)
	}
	var held, now syscall.Stat_t
	if syscall.Fstat(int(f.Fd()), &held) != nil || syscall.Stat(path, &now) != nil || held.Ino != now.Ino {
		f.Close()
		return nil, nil
	}
	return f, nil
}
