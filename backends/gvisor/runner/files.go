package runner

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Programs may have left links anywhere in the work directory: every
// name is resolved one component at a time relative to a directory
// descriptor, never following a link.

// maxDepth bounds the directories below the work directory.
const maxDepth = 16

// maxEntries bounds a walk of the work directory.
const maxEntries = 16 << 10

// SplitRelative splits a clean relative "/"-separated path into its
// directories and its last name.
func SplitRelative(p string) ([]string, string, error) {
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
		return nil, "", fmt.Errorf("%q is not a clean relative path", p)
	}
	parts := strings.Split(p, "/")
	if len(parts) > maxDepth+1 {
		return nil, "", fmt.Errorf("%q: directories nested too deep", p)
	}
	return parts[:len(parts)-1], parts[len(parts)-1], nil
}

const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// openDirs opens dirs below root one by one, making the missing ones
// (writable by programs) when create is set.
func openDirs(dirs []string, create bool) (int, error) {
	fd, err := unix.Open(WorkDir, dirFlags, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", WorkDir, err)
	}
	for _, d := range dirs {
		next, err := unix.Openat(fd, d, dirFlags, 0)
		if create && errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(fd, d, 0o777); err == nil || errors.Is(err, unix.EEXIST) {
				if next, err = unix.Openat(fd, d, dirFlags, 0); err == nil {
					err = unix.Fchmod(next, 0o777) // the umask applied at creation
				}
			}
		}
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("directory %s: %w", d, err)
		}
		fd = next
	}
	return fd, nil
}

// put creates the file from r. It belongs to the sandbox's root, so
// programs may read it, and execute it when its mode says so, never
// change it.
func put(req PutRequest, r io.Reader) error {
	dirs, name, err := SplitRelative(req.Path)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	dirfd, err := openDirs(dirs, true)
	if err != nil {
		return fmt.Errorf("put %s: %w", req.Path, err)
	}
	defer unix.Close(dirfd)
	perm := uint32(0o444)
	if req.Mode&0o100 != 0 {
		perm = 0o555
	}
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return fmt.Errorf("put %s: %w", req.Path, err)
	}
	f := os.NewFile(uintptr(fd), req.Path)
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return fmt.Errorf("put %s: %w", req.Path, err)
	}
	if err := f.Chmod(os.FileMode(perm)); err != nil {
		return fmt.Errorf("put %s: %w", req.Path, err)
	}
	return f.Close()
}

// collect writes every regular file below req.Dir to w as a tar stream of
// regular files, with names relative to the work directory.
func collect(req CollectRequest, w io.Writer) error {
	var dirs []string
	if req.Dir != "" {
		d, last, err := SplitRelative(req.Dir)
		if err != nil {
			return fmt.Errorf("collect: %w", err)
		}
		dirs = append(d, last)
	}
	fd, err := openDirs(dirs, false)
	if errors.Is(err, unix.ENOENT) {
		return tar.NewWriter(w).Close() // a missing dir is no file
	}
	if err != nil {
		return fmt.Errorf("collect %s: %w", req.Dir, err)
	}
	c := &collector{req: req, tw: tar.NewWriter(w), budget: maxEntries}
	err = c.walk(fd, req.Dir, 0)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("collect: %w", err)
	}
	return c.tw.Close()
}

type collector struct {
	req    CollectRequest
	tw     *tar.Writer
	files  int
	bytes  int64
	budget int
}

func (c *collector) walk(dirfd int, prefix string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%s: directories nested too deep", prefix)
	}
	dup, err := unix.FcntlInt(uintptr(dirfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("dup directory: %w", err)
	}
	d := os.NewFile(uintptr(dup), prefix)
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	for _, e := range entries {
		if c.budget--; c.budget < 0 {
			return errors.New("too many files")
		}
		rel := path.Join(prefix, e.Name())
		switch {
		case e.Type().IsRegular():
			if err := c.file(dirfd, e.Name(), rel); err != nil {
				return err
			}
		case e.IsDir():
			fd, err := unix.Openat(dirfd, e.Name(), dirFlags, 0)
			if err != nil {
				return fmt.Errorf("open %s: %w", rel, err)
			}
			err = c.walk(fd, rel, depth+1)
			unix.Close(fd)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *collector) file(dirfd int, name, rel string) error {
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
	if c.files++; c.files > c.req.MaxFiles {
		return fmt.Errorf("more than %d files", c.req.MaxFiles)
	}
	if c.bytes += st.Size(); c.bytes > c.req.MaxBytes {
		return fmt.Errorf("more than %d bytes", c.req.MaxBytes)
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: int64(st.Mode().Perm()), Size: st.Size(), Format: tar.FormatPAX}
	if err := c.tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(c.tw, io.LimitReader(f, st.Size()))
	return err
}
