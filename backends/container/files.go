package container

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/criyle/go-sandbox/container"
	"golang.org/x/sys/unix"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/internal/hostfs"
)

// The work directory is only ever reached from the host through a
// descriptor the container's init opened, and below it one name at a time
// relative to directory descriptors, never following a link (hostfs): no
// path a program wrote is ever resolved on the host.

// openWorkDir is a host descriptor of the sandbox's work directory.
func (s *sandbox) openWorkDir(ctx context.Context) (*os.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	env, err := s.current()
	if err != nil {
		return nil, err
	}
	res, err := env.Open([]container.OpenCmd{{Path: WorkDir, Flag: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW}})
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %w", backends.ErrBroken, WorkDir, err)
	}
	if res[0].Err != nil {
		return nil, fmt.Errorf("open %s: %w", WorkDir, res[0].Err)
	}
	return res[0].File, nil
}

// PutFile creates the file p (relative to the work directory; its
// directories are made as needed, writable by programs) with r's content
// and mode's permission bits. The file belongs to the sandbox's root:
// programs may read it, and execute it when mode says so, never change it.
func (s *sandbox) PutFile(ctx context.Context, p string, r io.Reader, mode fs.FileMode) error {
	return hostfs.WorkDir{ID: s.id, Open: s.openWorkDir}.PutFile(ctx, p, r, mode)
}

// Collect hands every regular file below dir to fn, with its path
// relative to the work directory and its mode. More than maxFiles files or
// maxBytes bytes in all is an error. Links, fifos and devices are skipped.
func (s *sandbox) Collect(ctx context.Context, dir string, maxFiles int, maxBytes int64, fn func(p string, mode fs.FileMode, r io.Reader) error) error {
	return hostfs.WorkDir{ID: s.id, Open: s.openWorkDir}.Collect(ctx, dir, maxFiles, maxBytes, fn)
}
