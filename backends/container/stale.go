package container

import (
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
