// Package container is Pecan's default backend: each sandbox is a
// pre-forked go-sandbox container (its own user, mount, pid, network, IPC,
// UTS and cgroup namespaces, a read-only root built from bind mounts, and
// two size-limited tmpfs mounts for the work directory and /tmp). Every run
// gets a fresh cgroup, so memory and CPU figures never carry over between
// runs.
package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/criyle/go-sandbox/container"
	"github.com/criyle/go-sandbox/pkg/mount"
	"github.com/criyle/go-sandbox/pkg/seccomp"
	log "github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/backends"
)

// Name is the name this backend is configured by.
const Name = "container"

// WorkDir is the sandbox's writable work directory, as programs see it.
const WorkDir = "/w"

// Options configure the backend.
type Options struct {
	// Mounts are host paths bound read-only at the same path.
	Mounts []string
	// EtcFiles are the files of /etc bound read-only; nothing else of
	// /etc is visible.
	EtcFiles []string
	// WorkDirMiB and TmpMiB size the writable tmpfs mounts.
	WorkDirMiB, TmpMiB int
	// CgroupPrefix names this server's cgroup; runs get sub-cgroups.
	CgroupPrefix string
	// UID is the host uid programs run as (mapped to 1000 inside).
	UID int
	// NoSeccomp turns the seccomp filter off (see seccomp.go for the
	// policy). Only for diagnosing a toolchain the filter breaks.
	NoSeccomp bool
	Logger    log.FieldLogger
}

// Backend makes container sandboxes.
type Backend struct {
	opts    Options
	mounts  []mount.Mount
	cgroups *cgroupRoot
	logger  log.FieldLogger
	buildMu sync.Mutex
	seccomp seccomp.Filter // nil when disabled
	// haveIPCRM is false on a host without util-linux's ipcrm: running a
	// missing binary would kill the container.
	haveIPCRM bool
}

// Init must run first in main (and TestMain): go-sandbox re-executes the
// server binary as each container's init process, and this is where that
// copy takes over.
func Init() error { return container.Init() }

// New prepares the backend: the mount table and the parent cgroup.
func New(opts Options) (*Backend, error) {
	if opts.Logger == nil {
		opts.Logger = log.StandardLogger()
	}
	if opts.WorkDirMiB <= 0 {
		opts.WorkDirMiB = 256
	}
	if opts.TmpMiB <= 0 {
		opts.TmpMiB = 64
	}
	if opts.UID <= 0 {
		opts.UID = 65534
	}
	mounts, err := buildMounts(opts)
	if err != nil {
		return nil, err
	}
	if opts.CgroupPrefix == "" {
		opts.CgroupPrefix = "pecan"
	}
	removeStaleCgroups(opts.CgroupPrefix, opts.Logger)
	cg, err := newCgroupRoot(opts.CgroupPrefix)
	if err != nil {
		return nil, err
	}
	b := &Backend{opts: opts, mounts: mounts, cgroups: cg, logger: opts.Logger}
	if _, err := os.Stat(ipcrm); err == nil {
		b.haveIPCRM = true
	} else {
		opts.Logger.WithField("path", ipcrm).Warn("ipcrm not found: System V IPC objects are not removed between jobs")
	}
	if !opts.NoSeccomp {
		if b.seccomp, err = newSeccompFilter(); err != nil {
			cg.destroy()
			return nil, err
		}
	}
	return b, nil
}

// Name implements backends.Backend.
func (b *Backend) Name() string { return Name }

// Close removes the parent cgroup. Every sandbox must be destroyed first.
func (b *Backend) Close() error { return b.cgroups.destroy() }

// New builds and prewarms one container.
func (b *Backend) New(ctx context.Context, id string) (backends.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("build sandbox %s: %w", id, err)
	}
	builder := container.Builder{
		TmpRoot:       "pecan-root-*",
		Mounts:        b.mounts,
		SymbolicLinks: symlinks,
		WorkDir:       WorkDir,
		HostName:      "pecan",
		DomainName:    "pecan",
		CredGenerator: fixedCred{uid: uint32(b.opts.UID)},
	}
	// Builds are serialised so the new container's init pid can be told
	// apart from others'; a build takes a few milliseconds.
	b.buildMu.Lock()
	before := childPIDs()
	env, err := builder.Build()
	pid := 0
	if err == nil {
		pid = newInitPID(before)
	}
	b.buildMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("build sandbox %s: %w", id, err)
	}
	return &sandbox{id: id, env: env, backend: b, initPID: pid}, nil
}

// fixedCred runs every program as one unprivileged host uid. Each sandbox
// has its own user namespace, pid namespace and mounts, so sharing the
// host uid does not let sandboxes reach each other.
type fixedCred struct{ uid uint32 }

func (f fixedCred) Get() syscall.Credential {
	return syscall.Credential{Uid: f.uid, Gid: f.uid}
}

var symlinks = []container.SymbolicLink{
	{LinkPath: "/dev/fd", Target: "/proc/self/fd"},
	{LinkPath: "/dev/stdin", Target: "/proc/self/fd/0"},
	{LinkPath: "/dev/stdout", Target: "/proc/self/fd/1"},
	{LinkPath: "/dev/stderr", Target: "/proc/self/fd/2"},
}

// systemMounts are the read-only system paths every language needs.
var systemMounts = []string{"/usr", "/lib", "/lib64", "/bin"}

// devices are bound read-write: they hold no state a job could leave.
var devices = []string{"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"}

func buildMounts(opts Options) ([]mount.Mount, error) {
	b := mount.NewBuilder()
	seen := map[string]bool{}
	addRO := func(p string) error {
		p = filepath.Clean(p)
		if !filepath.IsAbs(p) {
			return fmt.Errorf("mount %q: path must be absolute", p)
		}
		if seen[p] {
			return nil
		}
		seen[p] = true
		if _, err := os.Lstat(p); err != nil {
			return nil // a missing toolchain shows as an unavailable language
		}
		b.WithBind(p, strings.TrimPrefix(p, "/"), true)
		return nil
	}
	for _, p := range systemMounts {
		if err := addRO(p); err != nil {
			return nil, err
		}
	}
	for _, p := range opts.EtcFiles {
		if err := addRO(p); err != nil {
			return nil, err
		}
	}
	for _, p := range opts.Mounts {
		if err := addRO(p); err != nil {
			return nil, err
		}
	}
	for _, d := range devices {
		b.WithBind(d, strings.TrimPrefix(d, "/"), false)
	}
	b.WithTmpfs(strings.TrimPrefix(WorkDir, "/"), fmt.Sprintf("size=%dm,nr_inodes=8k,mode=0777", opts.WorkDirMiB))
	b.WithTmpfs("tmp", fmt.Sprintf("size=%dm,nr_inodes=4k,mode=1777", opts.TmpMiB))
	b.WithProc()
	return b.FilterNotExist().Mounts, nil
}
