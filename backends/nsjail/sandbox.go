package nsjail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	log "github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/internal/beside"
	"github.com/pecan-judge/pecan/backends/internal/hostfs"
)

// sandbox is one prepared nsjail sandbox: dir/w is its work directory, a
// tmpfs of Pecan's bound into every run at /w.
type sandbox struct {
	id      string
	backend *Backend
	dir     string
	beside  beside.Slot // what Beside gave since the last Reset

	mu         sync.Mutex
	mounted    bool
	destroyed  bool
	destroyErr error
}

var errDestroyed = errors.New("sandbox destroyed")

// tmpfsSource names the work directory mounts in the mount table, where
// the test suites' leftover audit looks for them.
const tmpfsSource = "pecan-nsjail"

func (s *sandbox) ID() string { return s.id }

func (s *sandbox) workPath() string { return filepath.Join(s.dir, "w") }
func (s *sandbox) logPath() string  { return filepath.Join(s.dir, "nsjail.log") }

// mountWork mounts a new, empty work directory: writable by programs
// (mode 0777, as the container backend's), size-limited.
func (s *sandbox) mountWork() error {
	w := s.workPath()
	if err := os.Mkdir(w, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("make %s: %w", w, err)
	}
	opts := fmt.Sprintf("size=%dm,nr_inodes=8k,mode=0777", s.backend.opts.WorkDirMiB)
	if err := unix.Mount(tmpfsSource, w, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", w, err)
	}
	s.mounted = true
	return nil
}

// unmountWork drops the work directory and every file in it. A run's
// processes died with its pid namespace before nsjail returned.
func (s *sandbox) unmountWork() error {
	if !s.mounted {
		return nil
	}
	if err := unmount(s.workPath()); err != nil {
		return err
	}
	s.mounted = false
	return nil
}

func unmount(dir string) error {
	if err := unix.Unmount(dir, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
	return nil
}

// workDir opens the work directory from the host, never following a
// link.
func (s *sandbox) workDir(ctx context.Context) (*os.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	destroyed := s.destroyed
	s.mu.Unlock()
	if destroyed {
		return nil, fmt.Errorf("%w: %w", backends.ErrBroken, errDestroyed)
	}
	f, err := hostfs.OpenDir(s.workPath())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", backends.ErrBroken, err)
	}
	return f, nil
}

// PutFile implements backends.Sandbox: the file is root's (outside the
// run's user namespace), so programs read and execute it, never change it.
func (s *sandbox) PutFile(ctx context.Context, p string, r io.Reader, mode fs.FileMode) error {
	return hostfs.WorkDir{ID: s.id, Open: s.workDir}.PutFile(ctx, p, r, mode)
}

// Collect implements backends.Sandbox.
func (s *sandbox) Collect(ctx context.Context, dir string, maxFiles int, maxBytes int64, fn func(p string, mode fs.FileMode, r io.Reader) error) error {
	return hostfs.WorkDir{ID: s.id, Open: s.workDir}.Collect(ctx, dir, maxFiles, maxBytes, fn)
}

// Reset mounts a new work directory. Everything else of a run (its /tmp,
// processes, IPC objects, sockets) died with its namespaces.
func (s *sandbox) Reset(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("reset sandbox %s: %w", s.id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
	}
	// Whatever a validator left beside goes with its work directory.
	if err := s.beside.Drop(); err != nil {
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, err)
	}
	if err := s.unmountWork(); err != nil {
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, err)
	}
	if err := s.mountWork(); err != nil {
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, err)
	}
	return nil
}

// Ping reports whether the work directory is still in place.
func (s *sandbox) Ping() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return fmt.Errorf("ping sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
	}
	if !hostfs.IsDir(s.workPath()) {
		return fmt.Errorf("ping sandbox %s: %w: work directory gone", s.id, backends.ErrBroken)
	}
	return nil
}

// Destroy unmounts the work directory and removes the sandbox's
// directory, and the sandbox beside's.
func (s *sandbox) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return s.destroyErr
	}
	s.destroyed = true
	err := s.beside.Close()
	if uerr := s.unmountWork(); uerr != nil {
		s.destroyErr = fmt.Errorf("destroy sandbox %s: %w", s.id, errors.Join(err, uerr))
		return s.destroyErr
	}
	err = errors.Join(err, s.removeDir())
	if err != nil {
		s.destroyErr = fmt.Errorf("destroy sandbox %s: %w", s.id, err)
	}
	return s.destroyErr
}

// removeDir removes the sandbox's directory once nothing is mounted in
// it: the empty work directory mount point and nsjail's log.
func (s *sandbox) removeDir() error {
	_ = os.Remove(s.logPath())
	_ = os.Remove(s.workPath())
	if err := os.Remove(s.dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// removeStale removes the state of servers that died without cleaning
// up: their work directory mounts first, then their directories.
func removeStale(stateDir string, logger log.FieldLogger) {
	entries, err := os.ReadDir(stateDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() || pid == os.Getpid() || processExists(pid) {
			continue
		}
		dir := filepath.Join(stateDir, e.Name())
		for _, m := range mountsBelow(dir) {
			if err := unmount(m); err != nil {
				logger.WithError(err).Warn("stale nsjail work directory")
			}
		}
		if err := os.RemoveAll(dir); err == nil {
			logger.WithField("dir", dir).Info("removed the nsjail state of a dead server")
		}
	}
}

func processExists(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// mountsBelow lists the mount points below dir, deepest first.
func mountsBelow(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append([]string{f[4]}, out...)
		}
	}
	return out
}
