package container

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/criyle/go-sandbox/container"
	"golang.org/x/sys/unix"

	"github.com/pecan-judge/pecan/backends"
)

// sealMaxEntries bounds the walk; the work directory's tmpfs holds at
// most 8k inodes.
const sealMaxEntries = 16 << 10

// SealWorkDir gives every regular file in the work directory to the
// container's root and takes its write bits away, so later runs (uid 1000)
// can read and execute what the compile made but never write it, change
// its mode or map it writable. Without this, a run could map the compiled
// program MAP_SHARED and use its pages, charged to the compile's cgroup,
// as memory its own limit never sees.
//
// The work directory is opened by the container's init and walked from
// the host one name at a time relative to directory descriptors, never
// following a link, so no path the compile wrote is ever resolved.
func (s *sandbox) SealWorkDir(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("seal work dir of sandbox %s: %w", s.id, err)
	}
	env, err := s.current()
	if err != nil {
		return fmt.Errorf("seal work dir: %w", err)
	}
	res, err := env.Open([]container.OpenCmd{{Path: WorkDir, Flag: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW}})
	if err != nil {
		return fmt.Errorf("seal work dir of sandbox %s: %w: %w", s.id, backends.ErrBroken, err)
	}
	if res[0].Err != nil {
		return fmt.Errorf("seal work dir of sandbox %s: open: %w", s.id, res[0].Err)
	}
	dir := res[0].File
	defer dir.Close()
	budget := sealMaxEntries
	if err := sealDir(int(dir.Fd()), &budget); err != nil {
		return fmt.Errorf("seal work dir of sandbox %s: %w", s.id, err)
	}
	return nil
}

// sealDir seals the regular files below the directory dirfd.
func sealDir(dirfd int, budget *int) error {
	// ReadDir needs an *os.File of its own: it consumes the offset.
	d := os.NewFile(uintptr(dupCloexec(dirfd)), "workdir")
	if d == nil {
		return errors.New("dup directory descriptor")
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	for _, e := range entries {
		if *budget--; *budget < 0 {
			return errors.New("too many files")
		}
		switch {
		case e.Type().IsRegular():
			if err := sealFile(dirfd, e.Name()); err != nil {
				return err
			}
		case e.IsDir():
			fd, err := unix.Openat(dirfd, e.Name(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open %s: %w", e.Name(), err)
			}
			err = sealDir(fd, budget)
			unix.Close(fd)
			if err != nil {
				return fmt.Errorf("%s: %w", e.Name(), err)
			}
		}
		// Links, fifos and sockets: nothing a run could write through
		// into memory it is not charged for.
	}
	return nil
}

func sealFile(dirfd int, name string) error {
	// O_NONBLOCK: a fifo that replaced the file since the listing must
	// not block the open.
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	// Host uid 0 is the container's root.
	if err := unix.Fchown(fd, 0, 0); err != nil {
		return fmt.Errorf("chown %s: %w", name, err)
	}
	if err := unix.Fchmod(fd, st.Mode&0o555); err != nil {
		return fmt.Errorf("chmod %s: %w", name, err)
	}
	return nil
}

func dupCloexec(fd int) int {
	n, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return n
}
