package isolate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/internal/beside"
	"github.com/pecan-judge/pecan/backends/internal/hostfs"
)

// sandbox is one isolate box. Its directory (box_root/<id>) is a tmpfs
// of Pecan's holding the work directory box/, with another on tmp/ for
// the box's /tmp; a Reset mounts new, empty ones instead of asking
// isolate to clean up.
type sandbox struct {
	id      string
	backend *Backend
	box     int
	dir     string      // the box directory isolate --init printed
	lock    *os.File    // the box's lock, held until Destroy
	beside  beside.Slot // what Beside gave since the last Reset

	mu         sync.Mutex
	mounted    bool
	destroyed  bool
	destroyErr error
}

var errDestroyed = errors.New("sandbox destroyed")

func (s *sandbox) ID() string { return s.id }

// mountBox mounts a new tmpfs over the box directory, makes box/ in it
// as isolate --init does (the caller's, mode 0700; isolate hands it to the
// box's uid for each run and back after) and mounts a second tmpfs on
// tmp/, where isolate makes the box's /tmp: each is size-limited on its
// own, as the container backend's work directory and /tmp are.
func (s *sandbox) mountBox() error {
	o := s.backend.opts
	if err := mountTmpfs(s.dir, o.WorkDirMiB); err != nil {
		return err
	}
	s.mounted = true
	if err := os.Mkdir(filepath.Join(s.dir, "box"), 0o700); err != nil {
		return fmt.Errorf("make %s/box: %w", s.dir, err)
	}
	tmp := filepath.Join(s.dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("make %s: %w", tmp, err)
	}
	return mountTmpfs(tmp, o.TmpMiB)
}

func mountTmpfs(dir string, mib int) error {
	opts := fmt.Sprintf("size=%dm,nr_inodes=8k,mode=0755", mib)
	if err := unix.Mount(tmpfsSource, dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

// tmpfsSource names the box mounts in the mount table, where the test
// suites' leftover audit looks for them.
const tmpfsSource = "pecan-isolate"

// unmountBox drops the box's tmpfs mounts and every file of them. A
// run's processes are gone with its pid namespace before isolate returns,
// so nothing holds them.
func (s *sandbox) unmountBox() error {
	if !s.mounted {
		return nil
	}
	var errs []error
	for _, d := range []string{filepath.Join(s.dir, "tmp"), s.dir} {
		if err := unix.Unmount(d, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			if err := unix.Unmount(d, unix.MNT_DETACH); err != nil {
				errs = append(errs, fmt.Errorf("unmount %s: %w", d, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.mounted = false
	return nil
}

// workDir opens the box's work directory from the host, never following
// a link.
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
	f, err := hostfs.OpenDir(filepath.Join(s.dir, "box"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", backends.ErrBroken, err)
	}
	return f, nil
}

// PutFile implements backends.Sandbox. isolate hands the whole work
// directory to the box's uid for each run, so a program may change the
// files put there; a Reset drops them, so no later job sees a change.
func (s *sandbox) PutFile(ctx context.Context, p string, r io.Reader, mode fs.FileMode) error {
	return hostfs.WorkDir{ID: s.id, Open: s.workDir}.PutFile(ctx, p, r, mode)
}

// Collect implements backends.Sandbox.
func (s *sandbox) Collect(ctx context.Context, dir string, maxFiles int, maxBytes int64, fn func(p string, mode fs.FileMode, r io.Reader) error) error {
	return hostfs.WorkDir{ID: s.id, Open: s.workDir}.Collect(ctx, dir, maxFiles, maxBytes, fn)
}

// Reset replaces the box's tmpfs with an empty one: the work directory,
// /tmp and every other file a run made are gone. Processes, IPC objects
// and sockets died with the run's namespaces.
func (s *sandbox) Reset(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("reset sandbox %s: %w", s.id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
	}
	// Whatever a validator left beside goes with its box.
	if err := s.beside.Drop(); err != nil {
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, err)
	}
	if err := s.unmountBox(); err != nil {
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, err)
	}
	if err := s.mountBox(); err != nil {
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, err)
	}
	return nil
}

// Ping reports whether the box is still in place.
func (s *sandbox) Ping() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return fmt.Errorf("ping sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
	}
	if !hostfs.IsDir(filepath.Join(s.dir, "box")) {
		return fmt.Errorf("ping sandbox %s: %w: work directory gone", s.id, backends.ErrBroken)
	}
	return nil
}

// Destroy unmounts the box's tmpfs, has isolate remove the box and
// releases its id, and does the same for the sandbox beside.
func (s *sandbox) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return s.destroyErr
	}
	s.destroyed = true
	err := s.beside.Close()
	err = errors.Join(err, s.unmountBox())
	if _, cerr := s.backend.isolate(context.Background(), s.box, "--cleanup"); cerr != nil {
		err = errors.Join(err, cerr)
	}
	s.release()
	if err != nil {
		s.destroyErr = fmt.Errorf("destroy sandbox %s: %w", s.id, err)
	}
	return s.destroyErr
}

// release gives the box id back: the lock file goes first, while it is
// still held, so that no claimer locks a file nobody will find.
func (s *sandbox) release() {
	if s.lock == nil {
		return
	}
	_ = os.Remove(s.lock.Name())
	s.lock.Close()
	s.lock = nil
}
