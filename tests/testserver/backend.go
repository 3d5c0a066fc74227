package testserver

import (
	"fmt"
	"os"
	"path/filepath"
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
	GVisor    = "gvisor"
)

// Backend is the backend the suites' servers use (--backend).
func Backend() string {
	if b := os.Getenv(BackendEnv); b != "" {
		return b
	}
	return Container
}

// SandboxInits is how many processes a settled sandbox of backend keeps
// between jobs: a container's init and its spare's; none for the tools
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
