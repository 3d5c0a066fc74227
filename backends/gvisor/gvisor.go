// Package gvisor is the backend for operators who want a second kernel
// between a submission and the host: every sandbox is a gVisor sandbox
// (`runsc run` of an OCI bundle), whose programs talk to gVisor's
// user-space kernel, never to the host's. A sandbox is started once and
// serves a whole job; each program is one `runsc exec` of the runner (see
// package runner), which applies the limits and measures from inside.
// Reset replaces the sandbox with a spare one started in the background,
// so nothing of a job (files, processes, IPC objects, the pid counter)
// reaches the next.
package gvisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	log "github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/gvisor/runner"
)

// Name is the name this backend is configured by.
const Name = "gvisor"

// WorkDir is the sandbox's writable work directory, as programs see it.
const WorkDir = runner.WorkDir

// runnerPath is where the runner binary is bound inside every sandbox.
const runnerPath = "/.pecan/runner"

// Options configure the backend.
type Options struct {
	// Runsc is the runsc binary.
	Runsc string
	// Platform is runsc's --platform: ptrace works everywhere, kvm
	// needs /dev/kvm.
	Platform string
	// Flags are more global runsc flags, e.g. "--overlay2=root:memory".
	Flags []string
	// StateDir holds runsc's state and the bundles; each server uses
	// <StateDir>/<pid>.
	StateDir string
	// Runner is the binary that runs inside each sandbox
	// (pecan-sandbox-init).
	Runner string
	// Mounts are host paths bound read-only at the same path.
	Mounts []string
	// EtcFiles are the files of /etc bound read-only.
	EtcFiles []string
	// WorkDirMiB and TmpMiB size the sandbox's own tmpfs mounts.
	WorkDirMiB, TmpMiB int
	// SandboxMemoryMiB and SandboxPids bound a whole sandbox on the host
	// (its host cgroup): gVisor's kernel, its gofer and every program.
	SandboxMemoryMiB int
	SandboxPids      int
	// UID is the uid programs run as inside the sandbox.
	UID    int
	Logger log.FieldLogger
}

// Backend makes gVisor sandboxes.
type Backend struct {
	opts   Options
	pid    int    // the server's, which names its state and cgroups
	root   string // <StateDir>/<pid>
	logger log.FieldLogger
	seq    sync.Mutex
	n      int
	// work counts sandboxes being destroyed in the background; Close
	// waits for them.
	work sync.WaitGroup
	mu   sync.Mutex
	// closed refuses new background work once Close began.
	closed bool
}

var runnerCaps = []string{"CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_PTRACE"}

// systemMounts are the read-only system paths every language needs.
var systemMounts = []string{"/usr", "/lib", "/lib64", "/bin"}

// New checks runsc, removes what dead servers left and prepares the
// state directory.
func New(opts Options) (*Backend, error) {
	if opts.Logger == nil {
		opts.Logger = log.StandardLogger()
	}
	if opts.Runsc == "" {
		opts.Runsc = "runsc"
	}
	if opts.Platform == "" {
		opts.Platform = "ptrace"
	}
	if opts.StateDir == "" {
		opts.StateDir = "/run/pecan-gvisor"
	}
	if opts.WorkDirMiB <= 0 {
		opts.WorkDirMiB = 256
	}
	if opts.TmpMiB <= 0 {
		opts.TmpMiB = 64
	}
	if opts.SandboxMemoryMiB <= 0 {
		opts.SandboxMemoryMiB = 3072
	}
	if opts.SandboxPids <= 0 {
		opts.SandboxPids = 4096
	}
	if opts.UID <= 0 {
		opts.UID = 1000
	}
	path, err := exec.LookPath(opts.Runsc)
	if err != nil {
		return nil, fmt.Errorf("gvisor backend: runsc: %w (install Debian's runsc, see README)", err)
	}
	opts.Runsc = path
	if opts.Runner == "" {
		return nil, errors.New("gvisor backend: pecan-sandbox-init not found beside the server binary (make build installs it)")
	}
	b := backendFor(opts, os.Getpid())
	b.removeStale()
	if err := os.MkdirAll(filepath.Join(b.root, "state"), 0o700); err != nil {
		return nil, fmt.Errorf("gvisor backend: state dir: %w", err)
	}
	if err := os.MkdirAll(b.rootfs(), 0o755); err != nil {
		return nil, fmt.Errorf("gvisor backend: rootfs: %w", err)
	}
	return b, nil
}

// backendFor is the backend of the server pid, whose state and cgroups
// are named for it.
func backendFor(opts Options, pid int) *Backend {
	return &Backend{opts: opts, pid: pid, root: filepath.Join(opts.StateDir, strconv.Itoa(pid)), logger: opts.Logger}
}

// Name implements backends.Backend.
func (b *Backend) Name() string { return Name }

// rootfs is the sandboxes' root: an empty directory, read-only, under
// which everything a program sees is mounted.
func (b *Backend) rootfs() string { return filepath.Join(b.root, "rootfs") }

// cgroupParent is the host cgroup under which each sandbox gets its own.
func (b *Backend) cgroupParent() string { return fmt.Sprintf("pecan-%d", b.pid) }

// runsc is a runsc command with the global flags every subcommand needs:
// runsc does not remember them between create and exec.
func (b *Backend) runsc(ctx context.Context, args ...string) *exec.Cmd {
	return b.runscIn(ctx, filepath.Join(b.root, "state"), args...)
}

func (b *Backend) runscIn(ctx context.Context, state string, args ...string) *exec.Cmd {
	global := []string{"--root", state, "--network=none", "--platform=" + b.opts.Platform}
	global = append(global, b.opts.Flags...)
	cmd := exec.CommandContext(ctx, b.opts.Runsc, append(global, args...)...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Close waits for the sandboxes being destroyed, then removes the state
// directory and the host cgroups. Every sandbox must be destroyed first.
func (b *Backend) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.work.Wait()
	err := os.RemoveAll(b.root)
	return errors.Join(err, removeCgroups(b.cgroupParent()))
}

// background runs fn unless the backend is closing, when it runs it now.
func (b *Backend) background(fn func()) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		fn()
		return
	}
	b.work.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.work.Done()
		fn()
	}()
}

// nextID names a new gVisor container: the server's pid, the sandbox's
// id and a sequence number, so a sandbox's successive containers never
// share a name.
func (b *Backend) nextID(id string) string {
	b.seq.Lock()
	defer b.seq.Unlock()
	b.n++
	return fmt.Sprintf("pecan-%d-%s-%d", b.pid, sanitize(id), b.n)
}

func sanitize(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, id)
}

// New starts one sandbox and, in the background, its spare.
func (b *Backend) New(ctx context.Context, id string) (backends.Sandbox, error) {
	c, err := b.start(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("build sandbox %s: %w", id, err)
	}
	s := &sandbox{id: id, backend: b, cur: c}
	s.mu.Lock()
	s.startSpare()
	s.mu.Unlock()
	return s, nil
}

// removeStale deletes the sandboxes, state and cgroups of servers that
// died without cleaning up: runsc's sandboxes outlive the process that
// started them.
func (b *Backend) removeStale() {
	entries, err := os.ReadDir(b.opts.StateDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() || pid == os.Getpid() || processExists(pid) {
			continue
		}
		dir := filepath.Join(b.opts.StateDir, e.Name())
		state := filepath.Join(dir, "state")
		out, _ := b.runscIn(context.Background(), state, "list", "--quiet").Output()
		for _, cid := range strings.Fields(string(out)) {
			_ = b.runscIn(context.Background(), state, "delete", "--force", cid).Run()
		}
		if err := os.RemoveAll(dir); err == nil {
			b.logger.WithField("dir", dir).Info("removed the gVisor sandboxes of a dead server")
		}
		_ = removeCgroups(fmt.Sprintf("pecan-%d", pid))
	}
}

func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// removeCgroups removes the host cgroup name, and the empty cgroups below
// it, from every v1 hierarchy and the v2 root.
func removeCgroups(name string) error {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", name))
	if st, err := os.Stat(filepath.Join("/sys/fs/cgroup", name)); err == nil && st.IsDir() {
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", name))
	}
	var errs []error
	for _, d := range dirs {
		children, _ := os.ReadDir(d)
		for _, c := range children {
			if c.IsDir() {
				_ = syscall.Rmdir(filepath.Join(d, c.Name()))
			}
		}
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// spec is the OCI runtime spec of one sandbox.
func (b *Backend) spec() map[string]any {
	mounts := []map[string]any{
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": WorkDir, "type": "tmpfs", "source": "tmpfs", "options": []string{fmt.Sprintf("size=%dm", b.opts.WorkDirMiB), "mode=0777"}},
		{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": []string{fmt.Sprintf("size=%dm", b.opts.TmpMiB), "mode=1777"}},
		{"destination": runnerPath, "type": "bind", "source": b.opts.Runner, "options": []string{"bind", "ro"}},
	}
	seen := map[string]bool{}
	bind := func(p string) {
		p = filepath.Clean(p)
		if seen[p] || !filepath.IsAbs(p) {
			return
		}
		seen[p] = true
		if _, err := os.Lstat(p); err != nil {
			return // a missing toolchain shows as an unavailable language
		}
		mounts = append(mounts, map[string]any{"destination": p, "type": "bind", "source": p, "options": []string{"rbind", "ro", "nosuid", "nodev"}})
	}
	for _, group := range [][]string{systemMounts, b.opts.EtcFiles, b.opts.Mounts} {
		for _, p := range group {
			bind(p)
		}
	}
	return map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"user": map[string]any{"uid": 0, "gid": 0},
			"args": []string{runnerPath, runner.CmdInit},
			"env":  []string{"PATH=/usr/bin:/bin"},
			"cwd":  "/",
			// The runner, the sandbox's root, needs these to start
			// programs as another uid, kill what they leave and read
			// what they write; programs, another uid, have none.
			"capabilities": map[string][]string{
				"bounding": runnerCaps, "effective": runnerCaps, "permitted": runnerCaps,
			},
			"noNewPrivileges": true,
		},
		"root":     map[string]any{"path": b.rootfs(), "readonly": true},
		"hostname": "pecan",
		"mounts":   mounts,
		"linux": map[string]any{
			"namespaces": []map[string]string{{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}},
			"resources": map[string]any{
				"memory": map[string]any{"limit": int64(b.opts.SandboxMemoryMiB) << 20},
				"pids":   map[string]any{"limit": b.opts.SandboxPids},
			},
		},
	}
}

// start runs a new gVisor sandbox, detached, and finds its host pid.
func (b *Backend) start(ctx context.Context, id string) (*gcontainer, error) {
	cid := b.nextID(id)
	bundle := filepath.Join(b.root, "bundles", cid)
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	spec := b.spec()
	cgroup := b.cgroupParent() + "/" + cid
	spec["linux"].(map[string]any)["cgroupsPath"] = "/" + cgroup
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		os.RemoveAll(bundle)
		return nil, fmt.Errorf("bundle: %w", err)
	}
	c := &gcontainer{id: cid, bundle: bundle, cgroup: cgroup}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := b.run(ctx, c); err != nil {
		b.destroy(c)
		return nil, err
	}
	out, err := b.runsc(ctx, "state", cid).Output()
	if err != nil {
		b.destroy(c)
		return nil, fmt.Errorf("runsc state %s: %w", cid, err)
	}
	var st struct {
		Status string `json:"status"`
		Pid    int    `json:"pid"`
	}
	if err := json.Unmarshal(out, &st); err != nil || st.Status != "running" || st.Pid <= 0 {
		b.destroy(c)
		return nil, fmt.Errorf("runsc state %s: not running (%s)", cid, strings.TrimSpace(string(out)))
	}
	c.pid = st.Pid
	return c, nil
}

// run starts the sandbox detached. Its output goes to a file in the
// bundle: the sandbox inherits runsc's stdio and would hold a pipe open.
func (b *Backend) run(ctx context.Context, c *gcontainer) error {
	logPath := filepath.Join(c.bundle, "runsc.out")
	log, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("runsc output: %w", err)
	}
	defer log.Close()
	cmd := b.runsc(ctx, "run", "--detach", "--bundle", c.bundle, c.id)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(logPath)
		return fmt.Errorf("runsc run %s: %w: %s", c.id, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// startTimeout bounds starting one sandbox on a loaded host.
const startTimeout = 60 * time.Second

// destroy deletes the gVisor container (killing everything in it) and its
// bundle; runsc removes its cgroup.
func (b *Backend) destroy(c *gcontainer) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	out, err := b.runsc(ctx, "delete", "--force", c.id).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "does not exist") {
		err = fmt.Errorf("runsc delete %s: %w: %s", c.id, err, strings.TrimSpace(string(out)))
	} else {
		err = nil
	}
	return errors.Join(err, os.RemoveAll(c.bundle))
}

// gcontainer is one running gVisor sandbox.
type gcontainer struct {
	id     string
	bundle string
	pid    int    // the sandbox process on the host
	cgroup string // its host cgroup, relative to a hierarchy's root
}

// dead reports whether the sandbox process is gone, or goes within
// within: one whose kernel failed takes a moment to exit.
func (c *gcontainer) dead(within time.Duration) bool {
	deadline := time.Now().Add(within)
	for c.alive() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// alive reports whether the sandbox process still runs.
func (c *gcontainer) alive() bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && len(b) > i+2 && b[i+2] != 'Z' && b[i+2] != 'X'
}
