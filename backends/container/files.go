package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/container/initproc"
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
	f, err := env.OpenWorkDir()
	if errors.Is(err, initproc.ErrInitGone) {
		return nil, fmt.Errorf("%w: %w", backends.ErrBroken, err)
	}
	return f, err
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
