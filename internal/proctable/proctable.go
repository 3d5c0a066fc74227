// Package proctable reads the host's process table from /proc: the one
// scanner behind `pecan chaos` (which kills sandbox processes) and the
// test suites' audits of what a server leaves running.
package proctable

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pecan-judge/pecan/backends/container/initproc"
)

// Process is one live process.
type Process struct {
	PID, PPID int
	Argv0     string
	Exe       string // the executable's path, "" when unreadable
	Cmdline   string // arguments joined by spaces
}

// IsSandboxInit reports a container init of the container backend.
func (p Process) IsSandboxInit() bool {
	return strings.HasPrefix(p.Cmdline, p.Argv0+" "+initproc.InitArg)
}

// List reads every live process; one that exits while it is being read is
// left out.
func List() []Process {
	var out []Process
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := read(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

func read(pid int) (Process, bool) {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return Process{}, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 2 {
		return Process{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	exe, _ := os.Readlink(filepath.Join(dir, "exe"))
	return Process{
		PID: pid, PPID: ppid, Argv0: argv0,
		Exe:     strings.TrimSuffix(exe, " (deleted)"),
		Cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")),
	}, true
}

// Descendants are the processes of list below pid (pid itself excluded).
func Descendants(list []Process, pid int) []Process {
	parent := make(map[int]int, len(list))
	for _, p := range list {
		parent[p.PID] = p.PPID
	}
	var out []Process
	for _, p := range list {
		// Bounded walk: pids are reused, and a cycle must not hang it.
		for q, n := p.PID, 0; q > 1 && n < 64; q, n = parent[q], n+1 {
			if parent[q] == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}
