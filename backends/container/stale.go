package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	log "github.com/sirupsen/logrus"
)

// removeStaleCgroups removes the cgroups of servers with this prefix that
// died without cleaning up (SIGKILL, a crash). Their sandboxes died with
// them (the container init has a parent-death signal), so the cgroups are
// empty and only need rmdir, children first.
func removeStaleCgroups(prefix string, logger log.FieldLogger) {
	roots := []string{"/sys/fs/cgroup"}
	for _, c := range []string{"memory", "pids", "cpuacct", "cpu"} {
		roots = append(roots, filepath.Join("/sys/fs/cgroup", c))
	}
	for _, root := range roots {
		entries, err := os.ReadDir(root)
		if err != nil {
			continue
		}
		for _, e := range entries {
			pid, ok := strings.CutPrefix(e.Name(), prefix+"-")
			if !ok || !e.IsDir() {
				continue
			}
			n, err := strconv.Atoi(pid)
			if err != nil || n == os.Getpid() || processExists(n) {
				continue
			}
			dir := filepath.Join(root, e.Name())
			children, _ := os.ReadDir(dir)
			for _, c := range children {
				if c.IsDir() {
					_ = syscall.Rmdir(filepath.Join(dir, c.Name()))
				}
			}
			if err := syscall.Rmdir(dir); err == nil {
				logger.WithField("cgroup", dir).Info("removed stale cgroup of a dead server")
			}
		}
	}
}

func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// rootPrefix starts the names of container root mount points under
// os.TempDir(): pecan-root-<server pid>-<random>. go-sandbox removes each
// once its container is built; a server killed during a build leaves one
// behind, empty, and the next server removes it.
const rootPrefix = "pecan-root-"

// rootPattern is the os.MkdirTemp pattern of this server's roots.
func rootPattern() string { return fmt.Sprintf("%s%d-*", rootPrefix, os.Getpid()) }

// removeOwnRoots removes this server's roots that are left, once its
// containers are gone (a build that failed half-way may leave one).
func removeOwnRoots() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), rootPattern()))
	for _, dir := range matches {
		_ = syscall.Rmdir(dir)
	}
}

// removeStaleRoots removes the roots dead servers left. They hold nothing:
// a container's mounts live in its own mount namespace, which ended with
// its init.
func removeStaleRoots(logger log.FieldLogger) {
	entries, err := os.ReadDir(os.TempDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), rootPrefix)
		pid, _, _ := strings.Cut(rest, "-")
		n, err := strconv.Atoi(pid)
		if !ok || !e.IsDir() || err != nil || n == os.Getpid() || processExists(n) {
			continue
		}
		dir := filepath.Join(os.TempDir(), e.Name())
		if err := syscall.Rmdir(dir); err == nil {
			logger.WithField("dir", dir).Info("removed a container root a dead server left")
		}
	}
}
