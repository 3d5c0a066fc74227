package container

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// childPIDs lists the direct children of this process, from every
// thread's children file (a fork is attributed to the forking thread).
func childPIDs() map[int]bool {
	out := map[int]bool{}
	files, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(s); err == nil {
				out[pid] = true
			}
		}
	}
	return out
}

// newInitPID finds the container init started since before was taken.
// go-sandbox does not expose the pid; the caller serialises builds so
// exactly one new init can appear.
func newInitPID(before map[int]bool) int {
	for pid := range childPIDs() {
		if before[pid] {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte("container_init")) {
			return pid
		}
	}
	return 0
}
