// Package hostfs puts files into, and collects them from, a sandbox's
// work directory seen from the host through a directory descriptor. Below
// that descriptor every name is opened one at a time relative to its
// directory, never following a link: no path a program wrote is resolved
// on the host.
package hostfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenDir opens the directory at path, a sandbox's work directory as the
// host sees it, never following a link: the descriptor every WorkDir
// call starts from.
func OpenDir(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open work dir: %w", err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// IsDir reports whether path is a directory itself, not a link to one.
func IsDir(path string) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// walkMaxEntries bounds a walk.
const walkMaxEntries = 16 << 10

// maxDepth bounds the subdirectories of a file put into the sandbox.
const maxDepth = 16

// Put creates the file p (relative to the directory root; its
// directories are made as needed, writable by programs) with r's content.
// Everyone may read it, and execute it when mode's owner could; it belongs
// to the caller, so programs running as another uid never change it.
func Put(root int, p string, r io.Reader, mode fs.FileMode) error {
	dirs, name, err := splitRelative(p)
	if err != nil {
		return fmt.Errorf("%q: %w", p, err)
	}
	dirfd, err := makeDirs(root, dirs)
	if err != nil {
		return err
	}
	if dirfd != root {
		defer unix.Close(dirfd)
	}
	perm := uint32(0o444)
	if mode&0o100 != 0 {
		perm = 0o555
	}
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	// The caller's umask applied at creation; the mode is what was asked.
	if err := unix.Fchmod(fd, perm); err != nil {
		return fmt.Errorf("chmod %s: %w", p, err)
	}
	return nil
}

// Collect hands every regular file below dir (relative to root, "" for
// all) to fn with its path relative to root and its mode. More than
// maxFiles files or maxBytes bytes in all is an error; a missing dir is no
// file. Links, fifos and devices are skipped.
func Collect(root int, dir string, maxFiles int, maxBytes int64, fn func(p string, mode fs.FileMode, r io.Reader) error) error {
	if dir != "" {
		dirs, last, err := splitRelative(dir)
		if err != nil {
			return fmt.Errorf("%q: %w", dir, err)
		}
		fd, err := openDirs(root, append(dirs, last))
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		root = fd
	}
	files, bytes := 0, int64(0)
	return walk(root, dir, func(dirfd int, name, rel string) error {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", rel, err)
		}
		f := os.NewFile(uintptr(fd), rel)
		defer f.Close()
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return err
		}
		if files++; files > maxFiles {
			return fmt.Errorf("more than %d files", maxFiles)
		}
		if bytes += st.Size(); bytes > maxBytes {
			return fmt.Errorf("more than %d bytes", maxBytes)
		}
		return fn(rel, st.Mode(), io.LimitReader(f, st.Size()))
	})
}

// splitRelative checks a relative, clean, slash-separated path and splits
// it into its directories and its file name.
func splitRelative(p string) ([]string, string, error) {
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "." {
		return nil, "", errors.New("not a clean relative path")
	}
	parts := strings.Split(p, "/")
	if len(parts) > maxDepth {
		return nil, "", errors.New("too deep")
	}
	for _, c := range parts {
		if c == ".." || c == "." || c == "" {
			return nil, "", errors.New("not a clean relative path")
		}
	}
	return parts[:len(parts)-1], parts[len(parts)-1], nil
}

// makeDirs opens the directories dirs below root, one name at a time,
// never following a link, creating missing ones (mode 0777: programs may
// add files there); it returns the last one's descriptor (root itself
// when dirs is empty).
func makeDirs(root int, dirs []string) (int, error) { return walkDirs(root, dirs, true) }

// openDirs is makeDirs without creating anything; the caller closes the
// result.
func openDirs(root int, dirs []string) (int, error) { return walkDirs(root, dirs, false) }

func walkDirs(root int, dirs []string, create bool) (int, error) {
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd := root
	for _, d := range dirs {
		next, err := unix.Openat(fd, d, flags, 0)
		if create && errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(fd, d, 0o777); err == nil || errors.Is(err, unix.EEXIST) {
				if next, err = unix.Openat(fd, d, flags, 0); err == nil {
					// The server's umask applied at creation.
					if err = unix.Fchmod(next, 0o777); err != nil {
						unix.Close(next)
					}
				}
			}
		}
		if fd != root {
			unix.Close(fd)
		}
		if err != nil {
			return -1, fmt.Errorf("directory %s: %w", d, err)
		}
		fd = next
	}
	return fd, nil
}

// walk calls visit for every regular-file candidate (any entry that is
// not a directory, link or special file by its directory entry) below
// the directory dirfd, with the directory's descriptor, the entry's name
// and its path relative to the walk's root.
func walk(dirfd int, prefix string, visit func(dirfd int, name, rel string) error) error {
	budget := walkMaxEntries
	return walkDir(dirfd, prefix, 0, &budget, visit)
}

func walkDir(dirfd int, prefix string, depth int, budget *int, visit func(dirfd int, name, rel string) error) error {
	if depth > maxDepth {
		return fmt.Errorf("%s: directories nested too deep", prefix)
	}
	// ReadDir needs an *os.File of its own: it consumes the offset.
	dup, err := unix.FcntlInt(uintptr(dirfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("dup directory: %w", err)
	}
	d := os.NewFile(uintptr(dup), prefix)
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("list %s: %w", orDot(prefix), err)
	}
	for _, e := range entries {
		if *budget--; *budget < 0 {
			return errors.New("too many files")
		}
		rel := path.Join(prefix, e.Name())
		switch {
		case e.Type().IsRegular():
			if err := visit(dirfd, e.Name(), rel); err != nil {
				return err
			}
		case e.IsDir():
			fd, err := unix.Openat(dirfd, e.Name(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open %s: %w", rel, err)
			}
			err = walkDir(fd, rel, depth+1, budget, visit)
			unix.Close(fd)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func orDot(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// WorkDir is a sandbox's work directory as its backend opens it, with the
// backends.Sandbox methods that put files into it and collect them.
type WorkDir struct {
	ID   string                                      // the sandbox, for errors
	Open func(ctx context.Context) (*os.File, error) // a descriptor of the directory
}

// PutFile implements backends.Sandbox's PutFile with Put.
func (w WorkDir) PutFile(ctx context.Context, p string, r io.Reader, mode fs.FileMode) error {
	wd, err := w.Open(ctx)
	if err != nil {
		return fmt.Errorf("put %s in sandbox %s: %w", p, w.ID, err)
	}
	defer wd.Close()
	if err := Put(int(wd.Fd()), p, r, mode); err != nil {
		return fmt.Errorf("put %s in sandbox %s: %w", p, w.ID, err)
	}
	return nil
}

// Collect implements backends.Sandbox's Collect with Collect.
func (w WorkDir) Collect(ctx context.Context, dir string, maxFiles int, maxBytes int64, fn func(p string, mode fs.FileMode, r io.Reader) error) error {
	wd, err := w.Open(ctx)
	if err != nil {
		return fmt.Errorf("collect from sandbox %s: %w", w.ID, err)
	}
	defer wd.Close()
	if err := Collect(int(wd.Fd()), dir, maxFiles, maxBytes, fn); err != nil {
		return fmt.Errorf("collect from sandbox %s: %w", w.ID, err)
	}
	return nil
}
