// Package container is Pecan's default backend: each sandbox is a
// pre-forked container (its own mount, pid, network, IPC and UTS
// namespaces, a read-only root built from bind mounts, and two
// size-limited tmpfs mounts for the work directory and /tmp) whose init,
// package initproc, runs the programs. Every run gets a fresh cgroup, so
// memory and CPU figures never carry over between runs.
package container

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/criyle/go-sandbox/pkg/mount"
	"github.com/criyle/go-sandbox/pkg/seccomp"
	log "github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/container/initproc"
	"github.com/pecan-judge/pecan/backends/internal/procmask"
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
	// UID is the highest of the uids (and gids) programs run as: each
	// sandbox has one of its own, from UID down (UIDsPerBackend).
	UID int
	// InitBinary is the program each container starts as its init:
	// pecan-sandbox-init (see InitBinaryBeside), or "" for this binary
	// re-executed, which works the same but starts several times slower.
	InitBinary string
	// NoSeccomp turns the seccomp filter off (see seccomp.go for the
	// policy). Only for diagnosing a toolchain the filter breaks.
	NoSeccomp bool
	Logger    log.FieldLogger
}

// DefaultUID is the highest host uid programs run as unless configured:
// the uids down from it are among those Debian reserves and never assigns
// (65000-65533), so they name no
// user and owns nothing on the host. Not nobody (65534), which owns files
// on many hosts.
const DefaultUID = 65533

// warnIfUIDOwnsSomething says so when a uid jobs run as is a host user
// or owns a device node jobs see: a job could then change what it owns.
func warnIfUIDOwnsSomething(first int, logger log.FieldLogger) {
	for uid := first; uid > first-UIDsPerBackend; uid-- {
		if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			logger.WithFields(log.Fields{"uid": uid, "user": u.Username}).
				Warn("sandboxes run as a uid that is a host user; configure [container] uid so that it and the uids below it own nothing")
		}
		for _, d := range devices {
			var st syscall.Stat_t
			if syscall.Stat(d, &st) == nil && int(st.Uid) == uid {
				logger.WithFields(log.Fields{"uid": uid, "path": d}).Warn("a sandbox uid owns a device node it is given")
			}
		}
	}
}

// Backend makes container sandboxes.
type Backend struct {
	opts    Options
	mounts  []mount.Mount
	cgroups *cgroupRoot
	logger  log.FieldLogger
	seccomp seccomp.Filter // nil when disabled
	uids    *uidPool
	// work counts what may still build containers (Beside); Close
	// waits for it.
	work background
}

// Init must run first in main (and TestMain): in a process started as a
// container's init it serves the server until the container ends, and
// exits; elsewhere it returns at once.
func Init() {
	if !initproc.IsInit() {
		return
	}
	if err := initproc.Main(); err != nil {
		fmt.Fprintln(os.Stderr, "container init:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// background counts work that outlives the call that started it. Unlike a
// sync.WaitGroup it may be asked to start work while it is being waited
// for: after closeAndWait, start refuses.
type background struct {
	mu     sync.Mutex
	done   sync.Cond
	n      int
	closed bool
}

// start reports whether work may begin; the caller calls finish after it.
func (b *background) start() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.n++
	return true
}

func (b *background) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n--
	if b.n == 0 && b.done.L != nil {
		b.done.Broadcast()
	}
}

// closeAndWait refuses new work and waits for what runs.
func (b *background) closeAndWait() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.done.L == nil {
		b.done.L = &b.mu
	}
	for b.n > 0 {
		b.done.Wait()
	}
}

// InitBinaryName is the dedicated init program's file name.
const InitBinaryName = "pecan-sandbox-init"

// InitBinaryBeside is the init program installed next to the executable
// exe, or "" when there is none.
func InitBinaryBeside(exe string) string {
	p := filepath.Join(filepath.Dir(exe), InitBinaryName)
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return ""
	}
	return p
}

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
		opts.UID = DefaultUID
	}
	if opts.UID < UIDsPerBackend {
		return nil, fmt.Errorf("container: uid %d: the %d uids down from it must all be above 0", opts.UID, UIDsPerBackend)
	}
	warnIfUIDOwnsSomething(opts.UID, opts.Logger)
	mounts, err := buildMounts(opts)
	if err != nil {
		return nil, err
	}
	if opts.CgroupPrefix == "" {
		opts.CgroupPrefix = "pecan"
	}
	removeStaleCgroups(opts.CgroupPrefix, opts.Logger)
	removeStaleRoots(opts.Logger)
	cg, err := newCgroupRoot(opts.CgroupPrefix)
	if err != nil {
		return nil, err
	}
	b := &Backend{opts: opts, mounts: mounts, cgroups: cg, logger: opts.Logger, uids: &uidPool{first: opts.UID}}
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

// Close removes the parent cgroup, once no Beside is being built. Every
// sandbox must be destroyed first.
func (b *Backend) Close() error {
	b.work.closeAndWait()
	removeOwnRoots()
	return b.cgroups.destroy()
}

// New builds and prewarms one container.
func (b *Backend) New(ctx context.Context, id string) (backends.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("build sandbox %s: %w", id, err)
	}
	env, uid, err := b.build()
	if err != nil {
		return nil, fmt.Errorf("build sandbox %s: %w", id, err)
	}
	return &sandbox{id: id, env: env, uid: uid, backend: b}, nil
}

// build starts one container: its own mount, pid, network, IPC and UTS
// namespaces, renewed in place between jobs (sandbox.Reset), and a uid
// of its own for its programs, to be given back when it is destroyed.
func (b *Backend) build() (*initproc.Init, int, error) {
	uid, err := b.uids.take()
	if err != nil {
		return nil, 0, err
	}
	env, err := b.start(uid)
	if err != nil {
		b.uids.give(uid)
		return nil, 0, err
	}
	return env, uid, nil
}

func (b *Backend) start(uid int) (*initproc.Init, error) {
	root, err := os.MkdirTemp("", rootPattern())
	if err != nil {
		return nil, fmt.Errorf("container root: %w", err)
	}
	// The init mounts the root on it in its own mount namespace: the
	// host's directory stays empty and is not needed once it is built.
	defer os.Remove(root)
	return initproc.Start(initproc.Config{
		Binary:     b.opts.InitBinary,
		RootDir:    root,
		Mounts:     b.mounts,
		Symlinks:   symlinks,
		MaskPaths:  procmask.Paths(),
		WorkDir:    WorkDir,
		HostName:   "pecan",
		DomainName: "pecan",
		UID:        uid,
		GID:        uid,
		Seccomp:    initproc.Filter(b.seccomp),
	})
}

var symlinks = []initproc.Symlink{
	{Path: "/dev/fd", Target: "/proc/self/fd"},
	{Path: "/dev/stdin", Target: "/proc/self/fd/0"},
	{Path: "/dev/stdout", Target: "/proc/self/fd/1"},
	{Path: "/dev/stderr", Target: "/proc/self/fd/2"},
}

// systemMounts are the read-only system paths every language needs.
var systemMounts = []string{"/usr", "/lib", "/lib64", "/bin"}

// devices are bound read-only: reading and writing a device node still
// work, but its inode on the host (times, mode, owner) cannot change.
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
		b.WithBind(d, strings.TrimPrefix(d, "/"), true)
	}
	b.WithTmpfs(strings.TrimPrefix(WorkDir, "/"), fmt.Sprintf("size=%dm,nr_inodes=8k,mode=0777", opts.WorkDirMiB))
	b.WithTmpfs("tmp", fmt.Sprintf("size=%dm,nr_inodes=4k,mode=1777", opts.TmpMiB))
	b.WithProc()
	mounts := b.FilterNotExist().Mounts
	for i := range mounts {
		if mounts[i].FsType == "proc" {
			// Programs see their own processes only: not the init,
			// whose threads' ids tell when they were made.
			mounts[i].Data = "hidepid=2"
		}
	}
	return mounts, nil
}
