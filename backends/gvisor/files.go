package gvisor

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/pecan-judge/pecan/backends/gvisor/runner"
)

// fileTimeout bounds one PutFile or Collect on a loaded host.
const fileTimeout = 60 * time.Second

// PutFile creates the file p in the work directory through the runner,
// which resolves it inside the sandbox without following links. The file
// belongs to the sandbox's root: programs may read it, and execute it
// when mode says so, never change it.
func (s *sandbox) PutFile(ctx context.Context, p string, r io.Reader, mode fs.FileMode) error {
	if _, _, err := runner.SplitRelative(p); err != nil {
		return fmt.Errorf("put %q in sandbox %s: %w", p, s.id, err)
	}
	c, err := s.current()
	if err != nil {
		return fmt.Errorf("put %s: %w", p, err)
	}
	req, err := json.Marshal(runner.PutRequest{Path: p, Mode: uint32(mode.Perm())})
	if err != nil {
		return err
	}
	if err := s.exec(ctx, c, fileTimeout, runner.CmdPut, req, r, discard); err != nil {
		return fmt.Errorf("put %s in sandbox %s: %w", p, s.id, err)
	}
	return nil
}

func discard(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// Collect hands fn the regular files below dir, which the runner streams
// out of the sandbox as a tar archive. The runner enforces the limits and
// so does this side: the sandbox is not trusted to.
func (s *sandbox) Collect(ctx context.Context, dir string, maxFiles int, maxBytes int64, fn func(p string, mode fs.FileMode, r io.Reader) error) error {
	if dir != "" {
		if _, _, err := runner.SplitRelative(dir); err != nil {
			return fmt.Errorf("collect %q from sandbox %s: %w", dir, s.id, err)
		}
	}
	c, err := s.current()
	if err != nil {
		return fmt.Errorf("collect: %w", err)
	}
	req, err := json.Marshal(runner.CollectRequest{Dir: dir, MaxFiles: maxFiles, MaxBytes: maxBytes})
	if err != nil {
		return err
	}
	read := func(r io.Reader) error {
		tr := tar.NewReader(r)
		files, bytes := 0, int64(0)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read files: %w", err)
			}
			if err := checkCollected(hdr, dir); err != nil {
				return err
			}
			if files++; files > maxFiles {
				return fmt.Errorf("more than %d files", maxFiles)
			}
			if bytes += hdr.Size; bytes > maxBytes {
				return fmt.Errorf("more than %d bytes", maxBytes)
			}
			if err := fn(hdr.Name, fs.FileMode(hdr.Mode).Perm(), io.LimitReader(tr, hdr.Size)); err != nil {
				return err
			}
		}
	}
	if err := s.exec(ctx, c, fileTimeout, runner.CmdCollect, req, strings.NewReader(""), read); err != nil {
		return fmt.Errorf("collect %s from sandbox %s: %w", orDot(dir), s.id, err)
	}
	return nil
}

// checkCollected refuses an entry the runner could not have written: not
// a regular file, or not a clean path below dir.
func checkCollected(hdr *tar.Header, dir string) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("collected %q is not a regular file", hdr.Name)
	}
	if _, _, err := runner.SplitRelative(hdr.Name); err != nil {
		return fmt.Errorf("collected file: %w", err)
	}
	if dir != "" && !strings.HasPrefix(hdr.Name, dir+"/") {
		return fmt.Errorf("collected %q is not below %s", hdr.Name, dir)
	}
	if hdr.Size < 0 || path.Base(hdr.Name) == "" {
		return fmt.Errorf("collected %q: bad size", hdr.Name)
	}
	return nil
}

func orDot(p string) string {
	if p == "" {
		return "."
	}
	return p
}
