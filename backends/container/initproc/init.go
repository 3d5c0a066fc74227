package initproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// IsInit reports whether this process was started as a container init.
func IsInit() bool {
	return os.Getpid() == 1 && len(os.Args) >= 2 && os.Args[1] == InitArg
}

// Main is the whole of a container init: it returns only when the
// server's socket closes, and then the container ends with it.
func Main() error {
	// No signal may be ignored: programs would inherit it (a C program
	// writing to a closed pipe must die of SIGPIPE as anywhere else), and
	// the init inherits what the server was started with. As pid 1 of its
	// namespace the init gets no signal from inside it, and Go answers a
	// write to the closed socket with EPIPE.
	unignoreSignals()
	runtime.GOMAXPROCS(1)
	// Programs are forked from this thread only, and it alone enters
	// each job's new IPC namespace (Renew).
	runtime.LockOSThread()
	closeInheritedDescriptors()
	s, err := newServer()
	if err != nil {
		return err
	}
	return s.serve()
}

// sigaction is the kernel's struct sigaction on linux/amd64.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const sigIgn = 1 // SIG_IGN; SIG_DFL is 0

// unignoreSignals sets every ignored signal back to its default action.
// (A handled one is reset by execve itself.)
func unignoreSignals() {
	for sig := 1; sig <= 64; sig++ {
		if sig == int(syscall.SIGKILL) || sig == int(syscall.SIGSTOP) {
			continue
		}
		var old sigaction
		if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 || old.handler != sigIgn {
			continue
		}
		dfl := sigaction{}
		syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0)
	}
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
// back). It returns the pid namespace's ns_last_pid, open for writing.
func buildRoot(cfg *Config) (*os.File, error) {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("make mounts private: %w", err)
	}
	if err := syscall.Mount("tmpfs", cfg.RootDir, "tmpfs", 0, "size=1m,mode=0755"); err != nil {
		return nil, fmt.Errorf("mount root: %w", err)
	}
	if err := syscall.Chdir(cfg.RootDir); err != nil {
		return nil, fmt.Errorf("enter root: %w", err)
	}
	lastPid, err := openLastPid()
	if err != nil {
		return nil, err
	}
	if err := mountRoot(cfg); err != nil {
		lastPid.Close()
		return nil, err
	}
	return lastPid, nil
}

// openLastPid opens ns_last_pid through a proc instance of the init's
// own, detached at once: the container's /proc is read-only.
func openLastPid() (*os.File, error) {
	const dir = "init-proc"
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mkdir %s: %w", dir, err)
	}
	if err := syscall.Mount("proc", dir, "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return nil, fmt.Errorf("mount the init's proc: %w", err)
	}
	f, err := os.OpenFile(dir+"/sys/kernel/ns_last_pid", os.O_WRONLY, 0)
	if uerr := syscall.Unmount(dir, syscall.MNT_DETACH); uerr != nil && err == nil {
		f.Close()
		err = uerr
	}
	if err != nil {
		return nil, fmt.Errorf("open ns_last_pid: %w", err)
	}
	if err := os.Remove(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("remove %s: %w", dir, err)
	}
	return f, nil
}

func mountRoot(cfg *Config) error {
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

// renewFileSystems replaces every tmpfs of the container (the work
// directory, /tmp) by a new, empty one; what was written in the old ones
// goes once the last process holding them is gone, which is already the
// case.
func renewFileSystems(cfg *Config) error {
	if err := syscall.Chdir("/"); err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	for _, m := range cfg.Mounts {
		if m.FsType != "tmpfs" {
			continue
		}
		if err := syscall.Unmount("/"+m.Target, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("renew: unmount %s: %w", m.Target, err)
		}
		if err := m.Mount(); err != nil {
			return fmt.Errorf("renew: mount %s: %w", m.Target, err)
		}
	}
	return syscall.Chdir(cfg.WorkDir)
}

// lastThreadID is the highest thread id of the init: in a new container
// the first program gets the next pid.
func lastThreadID() (int, error) {
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, fmt.Errorf("read the init's threads: %w", err)
	}
	last := 1
	for _, e := range entries {
		if id, err := strconv.Atoi(e.Name()); err == nil && id > last {
			last = id
		}
	}
	return last, nil
}

// noThreadSince fails when the init has a thread whose id is above
// last: made during a job, its id tells the next job how many processes
// that one made. The container must be rebuilt (Go starts threads as it
// needs them; server.settle makes the usual ones first).
func noThreadSince(last int) error {
	id, err := lastThreadID()
	if err != nil {
		return err
	}
	if id > last {
		return fmt.Errorf("the init made thread %d during a job (after %d)", id, last)
	}
	return nil
}

// socketWait bounds how long renew waits for the kernel to free the
// sockets of a job's processes (those passed in a message that is itself
// in flight are freed by a collector that runs in the background).
const socketWait = 100 * time.Millisecond

// noSocketLeft proves that the container's network namespace has no
// unix socket left, once the job's are freed: a name bound there would be
// a channel to the next job. The init's own socket belongs to the host's
// namespace, where the server made it.
func noSocketLeft() error {
	deadline := time.Now().Add(socketWait)
	for {
		b, err := os.ReadFile("/proc/net/unix")
		if err != nil {
			return fmt.Errorf("read /proc/net/unix: %w", err)
		}
		n := strings.Count(strings.TrimSpace(string(b)), "\n") // the header is the first line
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d unix sockets outlive the job", n)
		}
		time.Sleep(time.Millisecond)
	}
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
