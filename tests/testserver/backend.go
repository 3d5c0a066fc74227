package testserver

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pecan-judge/pecan/internal/proctable"
)

// BackendEnv names the environment variable that chooses the backend
// every server of the suites runs on: make test runs tests/e2e and
// tests/hostile once per backend with it set. Unset means "container".
const BackendEnv = "PECAN_TEST_BACKEND"

// Backend names of the suites' parameterisation.
const (
	Container = "container"
	Isolate   = "isolate"
	Nsjail    = "nsjail"
	GVisor    = "gvisor"
)

// Backend is the backend the suites' servers use (--backend).
func Backend() string {
	if b := os.Getenv(BackendEnv); b != "" {
		return b
	}
	return Container
}

// WorkDir is where programs find their files on the backend: /w in a
// container and an nsjail, /box in an isolate box.
func WorkDir(backend string) string {
	if backend == Isolate {
		return "/box"
	}
	return "/w"
}

// SettledInits is how many processes a settled sandbox of backend keeps
// between jobs: a container's init; none for the tools
// that start afresh for each run.
func SettledInits(backend string) int {
	if backend == Container {
		return InitsPerSandbox
	}
	return 0
}

// Exceptions are the guarantees of DESIGN §6 that a backend cannot give:
// backend -> case -> reason. A suite runs a case with an exception like
// any other and logs what its check found instead of failing.
type Exceptions map[string]map[string]string

// For is the current backend's reason for the case named name, if any.
func (e Exceptions) For(name string) (string, bool) {
	reason, ok := e[Backend()][name]
	return reason, ok
}

// toolsBin is the directory make deps builds the sandbox tools into; the
// servers find them in PATH.
func toolsBin() string {
	root, err := RepoRoot()
	if err != nil {
		return ""
	}
	return filepath.Join(root, ".tools", "bin")
}

// serverEnv is the environment of a server on the suites' backend: its
// tools' directory leads PATH.
func serverEnv(extra []string) []string {
	env := os.Environ()
	if bin := toolsBin(); bin != "" {
		for i, e := range env {
			if v, ok := strings.CutPrefix(e, "PATH="); ok {
				env[i] = "PATH=" + bin + ":" + v
			}
		}
	}
	return append(env, extra...)
}

// isolateConf is the value of key in the isolate configuration make deps
// compiled into its build, or def.
func isolateConf(key, def string) string {
	repo, err := RepoRoot()
	if err != nil {
		return def
	}
	f, err := os.Open(filepath.Join(repo, ".tools", "etc", "isolate.cf"))
	if err != nil {
		return def
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return def
}

// isolateBoxRoot is where isolate keeps its boxes.
func isolateBoxRoot() string { return isolateConf("box_root", "/var/local/lib/isolate") }

// SandboxUIDs is the range [lo, hi) of host uids programs run as on
// backend: isolate's boxes' (its compiled configuration), else uid, the
// one configured for the backend.
func SandboxUIDs(backend string, uid uint32) (lo, hi uint32) {
	if backend != Isolate {
		return uid, uid + 1
	}
	first, _ := strconv.ParseUint(isolateConf("first_uid", "60000"), 10, 32)
	n, _ := strconv.ParseUint(isolateConf("num_boxes", "1000"), 10, 32)
	return uint32(first), uint32(first + n)
}

// isolateBoxes lists isolate's box directories.
func isolateBoxes() []string {
	m, _ := filepath.Glob(filepath.Join(isolateBoxRoot(), "*"))
	return m
}

// sandboxMountSources name the tmpfs mounts the isolate and nsjail
// backends make on the host for their sandboxes.
var sandboxMountSources = map[string]bool{"pecan-isolate": true, "pecan-nsjail": true}

// boxMounts lists the mount points of the sandbox tmpfs mounts of the
// isolate and nsjail backends.
func boxMounts() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return []string{fmt.Sprintf("mountinfo unreadable: %v", err)}
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		// ... mount point (5th) ... " - " fstype source options
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) > 4 && len(g) > 1 && g[0] == "tmpfs" && sandboxMountSources[g[1]] {
			out = append(out, f[4])
		}
	}
	return out
}

// nsjailStateDir is where the nsjail backend of the server pid keeps its
// sandboxes (pecan.toml's [nsjail] state_dir).
func nsjailStateDir(pid int) string { return filepath.Join("/run/pecan/nsjail", strconv.Itoa(pid)) }

// isTool reports whether exe is one of the sandbox tools of toolsBin.
func isTool(exe string) bool {
	bin := toolsBin()
	return bin != "" && exe != "" && filepath.Dir(exe) == bin
}

// gvisorState is the gvisor backend's state directory of the server pid
// under the default state_dir: runsc's sandboxes, gofers and stubs carry
// it on their command lines.
func gvisorState(pid int) string { return fmt.Sprintf("/run/pecan-gvisor/%d", pid) }

// gvisorLeftovers lists the gVisor sandboxes (runsc processes), state and
// cgroups (in every hierarchy runsc uses) a server left.
func gvisorLeftovers(pid int) []string {
	var found []string
	state := gvisorState(pid)
	for _, p := range proctable.List() {
		if strings.Contains(p.Cmdline, state+"/") || strings.Contains(p.Cmdline, state+" ") {
			found = append(found, fmt.Sprintf("gVisor process %d: %q", p.PID, p.Cmdline))
		}
	}
	if _, err := os.Stat(state); err == nil {
		found = append(found, "gVisor state "+state)
	}
	audited := map[string]bool{}
	for _, d := range cgroupDirs() {
		audited[d] = true
	}
	cgs, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/*/pecan-%d", pid))
	for _, cg := range cgs {
		if !audited[filepath.Dir(cg)] {
			found = append(found, "cgroup "+cg)
		}
	}
	return found
}
