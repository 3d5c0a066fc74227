package initproc

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// IsInit reports whether this process was started as a container init.
func IsInit() bool {
	return os.Getpid() == 1 && len(os.Args) >= 2 && os.Args[1] == InitArg
}

// Main is the whole of a container init: it returns only when the
// server's socket closes, and then the container ends with it.
func Main() error {
	// pid 1 of the namespace: nothing inside can signal it, and the
	// server kills it with SIGKILL. A write to a closed socket must not.
	signal.Ignore(syscall.SIGPIPE, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	runtime.GOMAXPROCS(1)
	closeInheritedDescriptors()
	s, err := newServer()
	if err != nil {
		return err
	}
	return s.serve()
}

// closeInheritedDescriptors closes every descriptor but stdio and the
// socket, and every socket but ours (a package's init function may have
// opened one, as go-systemd's journal client does: a job could queue data
// on it that the next would find); what is left is closed on exec.
func closeInheritedDescriptors() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd == socketFD {
			continue
		}
		if fd > 2 {
			if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(target, "socket:") {
				syscall.Close(fd)
				continue
			}
		}
		syscall.CloseOnExec(fd)
	}
}

// buildRoot makes the container's file system: a tmpfs root with the
// configured mounts, pivoted into, read-only. The host's mounts are made
// private first, so that nothing mounted here reaches the host (or
// back).
func buildRoot(cfg *Config) error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := syscall.Mount("tmpfs", cfg.RootDir, "tmpfs", 0, "size=1m,mode=0755"); err != nil {
		return fmt.Errorf("mount root: %w", err)
	}
	if err := syscall.Chdir(cfg.RootDir); err != nil {
		return fmt.Errorf("enter root: %w", err)
	}
	for _, m := range cfg.Mounts {
		if err := m.Mount(); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Source, m.Target, err)
		}
	}
	const oldRoot = "old_root"
	if err := os.Mkdir(oldRoot, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", oldRoot, err)
	}
	if err := syscall.PivotRoot(".", oldRoot); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := syscall.Unmount(oldRoot, syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host's root: %w", err)
	}
	if err := os.Remove(oldRoot); err != nil {
		return fmt.Errorf("remove %s: %w", oldRoot, err)
	}
	for _, l := range cfg.Symlinks {
		if err := os.MkdirAll(filepath.Dir(l.Path), 0o755); err != nil {
			return fmt.Errorf("symlink %s: %w", l.Path, err)
		}
		if err := os.Symlink(l.Target, l.Path); err != nil {
			return fmt.Errorf("symlink %s: %w", l.Path, err)
		}
	}
	for _, p := range cfg.MaskPaths {
		if err := mask(p); err != nil {
			return err
		}
	}
	const roRemount = syscall.MS_BIND | syscall.MS_REMOUNT | syscall.MS_RDONLY | syscall.MS_NOATIME | syscall.MS_NOSUID
	if err := syscall.Mount("tmpfs", "/", "tmpfs", roRemount, ""); err != nil {
		return fmt.Errorf("remount root read-only: %w", err)
	}
	if err := syscall.Sethostname([]byte(cfg.HostName)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	if err := syscall.Setdomainname([]byte(cfg.DomainName)); err != nil {
		return fmt.Errorf("setdomainname: %w", err)
	}
	if err := os.Chdir(cfg.WorkDir); err != nil {
		return fmt.Errorf("enter work directory: %w", err)
	}
	return nil
}

// mask hides p: a file under /dev/null, a directory under an empty
// read-only tmpfs. A path that does not exist needs no mask.
func mask(p string) error {
	err := syscall.Mount("/dev/null", p, "", syscall.MS_BIND, "")
	if errors.Is(err, syscall.ENOTDIR) {
		err = syscall.Mount("tmpfs", p, "tmpfs", syscall.MS_RDONLY, "size=0")
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	return nil
}
