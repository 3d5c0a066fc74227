package container

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"
)

// SealWorkDir gives every regular file in the work directory to the
// container's root and takes its write bits away, so later runs (uid 1000)
// can read and execute what the compile made but never write it, change
// its mode or map it writable. Without this, a run could map the compiled
// program MAP_SHARED and use its pages, charged to the compile's cgroup,
// as memory its own limit never sees.
func (s *sandbox) SealWorkDir(ctx context.Context) error {
	wd, err := s.openWorkDir(ctx)
	if err != nil {
		return fmt.Errorf("seal work dir of sandbox %s: %w", s.id, err)
	}
	defer wd.Close()
	if err := walk(int(wd.Fd()), "", sealFile); err != nil {
		return fmt.Errorf("seal work dir of sandbox %s: %w", s.id, err)
	}
	return nil
}

func sealFile(dirfd int, name, rel string) error {
	// O_NONBLOCK: a fifo that replaced the file since the listing must
	// not block the open.
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", rel, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", rel, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	// Host uid 0 is the container's root.
	if err := unix.Fchown(fd, 0, 0); err != nil {
		return fmt.Errorf("chown %s: %w", rel, err)
	}
	if err := unix.Fchmod(fd, st.Mode&0o555); err != nil {
		return fmt.Errorf("chmod %s: %w", rel, err)
	}
	return nil
}
