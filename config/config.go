// Package config defines Pecan's configuration file (pecan.toml) and loads
// it strictly: a key the program does not know is an error that names it,
// so a typo never silently falls back to a default.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"path"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole of pecan.toml.
type Config struct {
	Listen   string `toml:"listen"`
	PoolSize int    `toml:"pool_size"`
	// QueueLength bounds the requests waiting for an idle sandbox.
	QueueLength int `toml:"queue_length"`
	// QueueTimeout is how long, in seconds, a request may wait for an
	// idle sandbox.
	QueueTimeout float64 `toml:"queue_timeout"`
	Backend      string  `toml:"backend"`
	DataDir      string  `toml:"data_dir"`
	LogLevel     string  `toml:"log_level"`
	LogFormat    string  `toml:"log_format"`
	// BodyLimitKiB caps the size of a request body.
	BodyLimitKiB int `toml:"body_limit_kib"`

	// Env is the base environment of every compile and run; a
	// language's own env is added after it.
	Env []string `toml:"env"`

	Limits      Limits              `toml:"limits"`
	Container   Container           `toml:"container"`
	Isolate     Isolate             `toml:"isolate"`
	Nsjail      Nsjail              `toml:"nsjail"`
	GVisor      GVisor              `toml:"gvisor"`
	Faults      Faults              `toml:"faults"`
	Cluster     Cluster             `toml:"cluster"`
	Async       Async               `toml:"async"`
	Auth        Auth                `toml:"auth"`
	Problems    Problems            `toml:"problems"`
	Submissions Submissions         `toml:"submissions"`
	Judge0      Judge0              `toml:"judge0"`
	Piston      Piston              `toml:"piston"`
	Languages   map[string]Language `toml:"languages"`
}

// Judge0 configures the Judge0 CE compatible API.
type Judge0 struct {
	Enabled bool `toml:"enabled"`
	// Prefix is where it is mounted on the main listener ("/judge0").
	Prefix string `toml:"prefix"`
	// Listen, when set, also serves it at the root of a listener of its
	// own (HOST:PORT), as Judge0's clients expect.
	Listen string `toml:"listen"`
	// Retention is how long, in seconds, a finished submission is kept.
	Retention float64 `toml:"retention"`
}

// Piston configures the Piston v2 compatible API (/api/v2).
type Piston struct {
	Enabled bool `toml:"enabled"`
}

// reservedPrefixes are the native API's paths, which a Judge0 prefix must
// not shadow.
var reservedPrefixes = []string{"/v1", "/api", "/metrics"}

func (j *Judge0) validate() []error {
	var errs []error
	p := j.Prefix
	switch {
	case !strings.HasPrefix(p, "/") || p == "/" || strings.HasSuffix(p, "/"):
		errs = append(errs, fmt.Errorf(`judge0.prefix must be a path like "/judge0" (a leading "/", no trailing one), got %q`, p))
	case strings.ContainsAny(p, ":*?#% "):
		errs = append(errs, fmt.Errorf("judge0.prefix may hold no route pattern characters (: * ? # %% space), got %q", p))
	default:
		for _, r := range reservedPrefixes {
			if strings.EqualFold(p, r) || strings.HasPrefix(strings.ToLower(p), r+"/") {
				errs = append(errs, fmt.Errorf("judge0.prefix %q is under %s, which the server already serves", p, r))
			}
		}
	}
	if j.Listen != "" {
		if _, _, err := net.SplitHostPort(j.Listen); err != nil {
			errs = append(errs, fmt.Errorf("judge0.listen must be HOST:PORT, got %q: %v", j.Listen, err))
		}
	}
	if !(j.Retention > 0) || math.IsInf(j.Retention, 0) {
		errs = append(errs, fmt.Errorf("judge0.retention must be a positive number of seconds, got %v", j.Retention))
	}
	return errs
}

// Limits are the defaults and maxima applied to client requests.
type Limits struct {
	DefaultTime      float64 `toml:"default_time"`       // CPU seconds
	MaxTime          float64 `toml:"max_time"`           // CPU seconds
	DefaultMemoryKiB int64   `toml:"default_memory_kib"` // KiB
	MaxMemoryKiB     int64   `toml:"max_memory_kib"`     // KiB
	// WallFactor sets the default wall limit as a multiple of the CPU limit.
	WallFactor  float64 `toml:"wall_factor"`
	MaxWallTime float64 `toml:"max_wall_time"` // seconds
	OutputKiB   int64   `toml:"output_kib"`    // stdout and stderr, each
	MaxStdinKiB int64   `toml:"max_stdin_kib"`
	MaxCodeKiB  int64   `toml:"max_code_kib"`
	// MaxFiles bounds the source files of one submission; MaxCodeKiB
	// bounds their bytes in all.
	MaxFiles    int    `toml:"max_files"`
	Processes   uint64 `toml:"processes"`
	OpenFiles   uint64 `toml:"open_files"`
	FileSizeKiB uint64 `toml:"file_size_kib"`
	// StackKiB of 0 means unlimited stack (bounded by memory).
	StackKiB uint64 `toml:"stack_kib"`

	// ResponseOutputKiB caps the stdout and the stderr (each) that an
	// answer carries and the async store keeps; OutputKiB, far larger,
	// is what kills the program. The verdict is decided on all the output.
	ResponseOutputKiB int64 `toml:"response_output_kib"`
}

// MaxResponseOutputKiB bounds limits.response_output_kib so that an answer
// stays within a few MiB even when JSON escapes every byte of stdout and
// stderr (a control character takes six bytes, \u0001).
const MaxResponseOutputKiB = 256

// DefaultResponseOutputKiB is limits.response_output_kib where pecan.toml
// is silent.
const DefaultResponseOutputKiB = 64

// DefaultMaxFiles is limits.max_files where pecan.toml is silent, and
// MaxMaxFiles its largest accepted value: every file is one write into a
// sandbox and one argument to a compiler.
const (
	DefaultMaxFiles = 64
	MaxMaxFiles     = 4096
)

// Container holds the settings of the container backend.
type Container struct {
	// WorkDirMiB and TmpMiB size the two writable tmpfs mounts.
	WorkDirMiB int `toml:"work_dir_mib"`
	TmpMiB     int `toml:"tmp_mib"`
	// CgroupPrefix names the cgroup under which runs get their cgroups.
	CgroupPrefix string `toml:"cgroup_prefix"`
	// Mounts are read-only host paths bound into every sandbox at the
	// same path, on top of the toolchain mounts of each language.
	Mounts []string `toml:"mounts"`
	// EtcFiles are the files of /etc programs need; nothing else of /etc
	// is visible.
	EtcFiles []string `toml:"etc_files"`
	// UID is the highest of the unprivileged host uids programs run as,
	// one per sandbox: it and the 63 below it.
	UID int `toml:"uid"`
	// Seccomp applies the seccomp filter to every compile and run.
	Seccomp bool `toml:"seccomp"`
}

// Isolate holds the settings of the isolate backend.
type Isolate struct {
	// Binary is the isolate executable, looked up in PATH unless it is a
	// path. Its own configuration (box_root, uids) is compiled into it.
	Binary string `toml:"binary"`
	// FirstBox and Boxes are the box ids this server may claim; servers of
	// one host share the range, each box locked by one of them.
	FirstBox int `toml:"first_box"`
	Boxes    int `toml:"boxes"`
	// WorkDirMiB and TmpMiB size the tmpfs mounts of a box's work
	// directory and its /tmp.
	WorkDirMiB int `toml:"work_dir_mib"`
	TmpMiB     int `toml:"tmp_mib"`
	// CgroupPrefix names the cgroup under which runs get their cgroups.
	CgroupPrefix string `toml:"cgroup_prefix"`
	// LockDir holds the box locks and isolate's meta files.
	LockDir string `toml:"lock_dir"`
	// Dirs are host directories bound read-only at the same path, on top
	// of isolate's own and each language's toolchain mounts.
	Dirs []string `toml:"dirs"`
}

// containerUIDs is how many uids the container backend runs sandboxes
// as, [container] uid and those below it (backends/container's
// UIDsPerBackend).
const containerUIDs = 64

func (c *Container) validate() []error {
	if c.UID != 0 && (c.UID < containerUIDs || c.UID > 65534) {
		return []error{fmt.Errorf("container: uid must be in [%d, 65534] (it and the %d below it are the sandboxes' uids), got %d", containerUIDs, containerUIDs-1, c.UID)}
	}
	return nil
}

func (i *Isolate) validate() []error {
	var errs []error
	if i.Binary == "" {
		errs = append(errs, errors.New("isolate: binary must not be empty"))
	}
	if i.FirstBox < 0 || i.Boxes < 1 {
		errs = append(errs, fmt.Errorf("isolate: need first_box >= 0 and boxes >= 1, got %d and %d", i.FirstBox, i.Boxes))
	}
	if i.WorkDirMiB < 1 || i.TmpMiB < 1 {
		errs = append(errs, fmt.Errorf("isolate: work_dir_mib and tmp_mib must be at least 1, got %d and %d", i.WorkDirMiB, i.TmpMiB))
	}
	if i.CgroupPrefix == "" || strings.ContainsAny(i.CgroupPrefix, "/ ") {
		errs = append(errs, fmt.Errorf("isolate: cgroup_prefix %q must be a non-empty name without / or spaces", i.CgroupPrefix))
	}
	if !path.IsAbs(i.LockDir) {
		errs = append(errs, fmt.Errorf("isolate: lock_dir %q must be an absolute path", i.LockDir))
	}
	for _, d := range i.Dirs {
		if !path.IsAbs(d) {
			errs = append(errs, fmt.Errorf("isolate: dirs: %q must be an absolute path", d))
		}
	}
	return errs
}

// Nsjail holds the settings of the nsjail backend.
type Nsjail struct {
	// Binary is the nsjail executable, looked up in PATH unless it is a
	// path.
	Binary string `toml:"binary"`
	// StateDir holds the sandboxes' work directories and nsjail's logs.
	StateDir string `toml:"state_dir"`
	// WorkDirMiB and TmpMiB size the work directory and /tmp tmpfs mounts.
	WorkDirMiB int `toml:"work_dir_mib"`
	TmpMiB     int `toml:"tmp_mib"`
	// CgroupPrefix names the cgroup under which runs get their cgroups.
	CgroupPrefix string `toml:"cgroup_prefix"`
	// UID is the unprivileged host uid programs run as.
	UID int `toml:"uid"`
	// Mounts are host paths (directories or files) bound read-only at the
	// same path, on top of the system directories and each language's
	// toolchain mounts.
	Mounts []string `toml:"mounts"`
	// Seccomp applies the seccomp policy to every compile and run.
	Seccomp bool `toml:"seccomp"`
}

func (n *Nsjail) validate() []error {
	var errs []error
	if n.Binary == "" {
		errs = append(errs, errors.New("nsjail: binary must not be empty"))
	}
	if !path.IsAbs(n.StateDir) {
		errs = append(errs, fmt.Errorf("nsjail: state_dir %q must be an absolute path", n.StateDir))
	}
	if n.WorkDirMiB < 1 || n.TmpMiB < 1 {
		errs = append(errs, fmt.Errorf("nsjail: work_dir_mib and tmp_mib must be at least 1, got %d and %d", n.WorkDirMiB, n.TmpMiB))
	}
	if n.CgroupPrefix == "" || strings.ContainsAny(n.CgroupPrefix, "/ ") {
		errs = append(errs, fmt.Errorf("nsjail: cgroup_prefix %q must be a non-empty name without / or spaces", n.CgroupPrefix))
	}
	if n.UID < 1 || n.UID > 65534 {
		errs = append(errs, fmt.Errorf("nsjail: uid must be in [1, 65534], got %d", n.UID))
	}
	for _, m := range n.Mounts {
		if !path.IsAbs(m) {
			errs = append(errs, fmt.Errorf("nsjail: mounts: %q must be an absolute path", m))
		}
	}
	return errs
}

// GVisor holds the settings of the gvisor backend (runsc).
type GVisor struct {
	// Runsc is the runsc binary, a path or a name looked up in PATH.
	Runsc string `toml:"runsc"`
	// Platform is runsc's --platform: "ptrace" (works everywhere) or
	// "kvm" (needs /dev/kvm).
	Platform string `toml:"platform"`
	// Flags are more global runsc flags, each "--name=value".
	Flags []string `toml:"flags"`
	// StateDir holds runsc's state and the sandboxes' bundles.
	StateDir string `toml:"state_dir"`
	// WorkDirMiB and TmpMiB size the sandbox's own tmpfs mounts.
	WorkDirMiB int `toml:"work_dir_mib"`
	TmpMiB     int `toml:"tmp_mib"`
	// SandboxMemoryMiB and SandboxPids bound a whole sandbox (gVisor's
	// kernel and every program in it) in its host cgroup.
	SandboxMemoryMiB int `toml:"sandbox_memory_mib"`
	SandboxPids      int `toml:"sandbox_pids"`
	// Mounts and EtcFiles are read-only host paths bound into every
	// sandbox, as [container]'s.
	Mounts   []string `toml:"mounts"`
	EtcFiles []string `toml:"etc_files"`
}

// gvisorPlatforms are the runsc platforms a gvisor backend may use.
var gvisorPlatforms = map[string]bool{"ptrace": true, "kvm": true, "systrap": true}

func (g *GVisor) validate(c *Config) []error {
	var errs []error
	if g.Runsc == "" {
		errs = append(errs, errors.New("gvisor: runsc must name the runsc binary"))
	}
	if !gvisorPlatforms[g.Platform] {
		errs = append(errs, fmt.Errorf("gvisor: platform must be ptrace, kvm or systrap, got %q", g.Platform))
	}
	for _, f := range g.Flags {
		if !strings.HasPrefix(f, "--") || strings.ContainsAny(f, " \t\n") {
			errs = append(errs, fmt.Errorf("gvisor: flags: %q is not one runsc flag such as --overlay2=root:memory", f))
		}
		for _, own := range []string{"--root", "--network", "--platform"} {
			if f == own || strings.HasPrefix(f, own+"=") {
				errs = append(errs, fmt.Errorf("gvisor: flags: %s is set by Pecan (state_dir, platform; the network is always none)", own))
			}
		}
	}
	if !path.IsAbs(g.StateDir) {
		errs = append(errs, fmt.Errorf("gvisor: state_dir must be an absolute path, got %q", g.StateDir))
	}
	if g.WorkDirMiB < 1 || g.TmpMiB < 1 {
		errs = append(errs, errors.New("gvisor: work_dir_mib and tmp_mib must be at least 1"))
	}
	// The sandbox's bound holds the largest run, the tmpfs mounts that
	// count against it and gVisor's own kernel.
	need := c.Limits.MaxMemoryKiB/1024 + int64(g.WorkDirMiB+g.TmpMiB)
	if int64(g.SandboxMemoryMiB) < need {
		errs = append(errs, fmt.Errorf("gvisor: sandbox_memory_mib must be at least limits.max_memory_kib + work_dir_mib + tmp_mib (%d MiB), got %d", need, g.SandboxMemoryMiB))
	}
	if g.SandboxPids < 64 {
		errs = append(errs, fmt.Errorf("gvisor: sandbox_pids must be at least 64, got %d", g.SandboxPids))
	}
	for _, p := range append(append([]string(nil), g.Mounts...), g.EtcFiles...) {
		if !path.IsAbs(p) {
			errs = append(errs, fmt.Errorf("gvisor: mount %q must be an absolute path", p))
		}
	}
	return errs
}

// Faults configures fault injection into the configured backend, for
// proving on a real deployment that the pool heals itself. Off by default;
// when off, the run-time endpoint refuses too.
type Faults struct {
	Enabled bool `toml:"enabled"`
	// Rules by fault kind: create_fail, reset_fail, run_panic, run_hang,
	// kill_init.
	Rules map[string]FaultRule `toml:"rules"`
}

// FaultRule fires a fault with a probability per occasion, and on the next
// Next occasions regardless.
type FaultRule struct {
	Probability float64 `toml:"probability"`
	Next        int     `toml:"next"`
}

// Cluster makes this node a member of a Pecan cluster (DESIGN §1, §7):
// nodes share their sandbox pools through protoactor remoting.
type Cluster struct {
	// Bind is the remoting address HOST:PORT this node listens on and
	// other members reach it at; empty means no cluster. Remoting listens
	// on this address only.
	Bind string `toml:"bind"`
	// Name separates clusters that share seeds or an etcd.
	Name string `toml:"name"`
	// Provider finds the members: "automanaged" (a static list of seeds,
	// no external service) or "etcd".
	Provider string `toml:"provider"`
	// Seeds are the remoting addresses of the other members
	// (automanaged provider).
	Seeds []string `toml:"seeds"`
	// EtcdEndpoints and EtcdPrefix locate the member registry (etcd
	// provider).
	EtcdEndpoints []string `toml:"etcd_endpoints"`
	EtcdPrefix    string   `toml:"etcd_prefix"`
	// TLS, when CA, Cert and Key are set, makes remoting mutual TLS: a
	// node accepts only peers with a certificate signed by CA and
	// presents Cert itself.
	TLS TLS `toml:"tls"`
	// Insecure lets remoting listen on an address other machines can
	// reach without TLS. Anyone who reaches it can then send any message
	// a member could, and protoactor trusts what it receives; a node
	// refuses to start that way unless the operator says so here.
	Insecure bool `toml:"insecure"`
}

// TLS names PEM files.
type TLS struct {
	CA   string `toml:"ca"`
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// Enabled reports whether all three files are set.
func (t TLS) Enabled() bool { return t.CA != "" && t.Cert != "" && t.Key != "" }

// Loopback reports whether the bind address can be reached from this
// machine only: a literal loopback IP, or "localhost". Any other name
// counts as reachable from elsewhere, since validation does not resolve
// names and a name may point anywhere.
func (c Cluster) Loopback() bool {
	host, _, err := net.SplitHostPort(c.Bind)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// OpenRemoting reports whether remoting would accept unauthenticated
// messages from other machines: a bind that is not loopback, without TLS.
// Validation allows it only with Insecure.
func (c Cluster) OpenRemoting() bool { return c.Bind != "" && !c.TLS.Enabled() && !c.Loopback() }

// Cluster providers.
const (
	ProviderAutomanaged = "automanaged"
	ProviderEtcd        = "etcd"
)

// Async configures asynchronous judging (judge-single-async): the durable
// queue, its share of the pool and webhook delivery. Times are seconds.
type Async struct {
	// PoolShare is the fraction of the pool that async jobs may occupy
	// at once (at least one sandbox), so synchronous clients are not
	// starved by a burst of async submissions.
	PoolShare float64 `toml:"pool_share"`
	// QueueLength bounds the async jobs accepted and not yet judged;
	// past it submissions get 503.
	QueueLength int `toml:"queue_length"`
	// ResultTTL is how long a finished job (and its idempotency key) is
	// kept after its webhook was delivered or given up.
	ResultTTL float64 `toml:"result_ttl"`
	// WebhookSecret signs every webhook body (HMAC-SHA256); empty sends
	// no signature header.
	WebhookSecret  string  `toml:"webhook_secret"`
	WebhookTimeout float64 `toml:"webhook_timeout"`
	// RetryFor is how long after a job finished its webhook is retried
	// before the delivery is given up.
	RetryFor       float64 `toml:"retry_for"`
	BackoffInitial float64 `toml:"backoff_initial"`
	BackoffMax     float64 `toml:"backoff_max"`
	// AllowPrivateWebhooks lets webhooks reach loopback, private,
	// link-local and other special-purpose addresses and this host's own
	// addresses, which are refused by default (SSRF).
	AllowPrivateWebhooks bool `toml:"allow_private_webhooks"`
	// StorePath is the queue's bbolt file; empty means
	// <data_dir>/async.db.
	StorePath string `toml:"store_path"`
}

// Problems configures the problem store behind /v1/problems: where it
// keeps its files and how large an uploaded package may be.
type Problems struct {
	// StoreDir holds the blob store (blobs/, which the judging pipeline
	// shares for its artifacts) and the problems' manifests (problems/);
	// empty means data_dir.
	StoreDir string `toml:"store_dir"`
	// MaxUploadMiB caps an uploaded archive (its own limit, not
	// body_limit_kib's: packages with large tests are large).
	MaxUploadMiB int64 `toml:"max_upload_mib"`
	// MaxFiles caps an archive's entries (files and directories).
	MaxFiles int `toml:"max_files"`
	// MaxBytesMiB caps what an archive's files expand to, in all.
	MaxBytesMiB int64 `toml:"max_bytes_mib"`
	// MaxRatio caps that expansion at this many times the archive's own
	// size, past the first 64 MiB (archive bombs); 0 turns it off.
	MaxRatio float64 `toml:"max_ratio"`
	// UploadTimeout is how long, in seconds, a client may take to send a
	// package; other requests must arrive whole within 15 seconds.
	UploadTimeout float64 `toml:"upload_timeout"`
}

// MaxUploadMiB bounds problems.max_upload_mib: the archive is spooled to
// disk before it is read.
const MaxUploadMiB = 16 << 10

func (p *Problems) validate() []error {
	var errs []error
	if p.MaxUploadMiB < 1 || p.MaxUploadMiB > MaxUploadMiB {
		errs = append(errs, fmt.Errorf("problems.max_upload_mib must be in [1, %d], got %d", MaxUploadMiB, p.MaxUploadMiB))
	}
	if p.MaxFiles < 1 {
		errs = append(errs, fmt.Errorf("problems.max_files must be at least 1, got %d", p.MaxFiles))
	}
	if p.MaxBytesMiB < 1 || p.MaxBytesMiB > 1<<20 {
		errs = append(errs, fmt.Errorf("problems.max_bytes_mib must be in [1, %d], got %d", 1<<20, p.MaxBytesMiB))
	}
	if !(p.MaxRatio >= 0) || math.IsInf(p.MaxRatio, 0) {
		errs = append(errs, fmt.Errorf("problems.max_ratio must be a number >= 0 (0: no ratio check), got %v", p.MaxRatio))
	}
	if !(p.UploadTimeout > 0) || math.IsInf(p.UploadTimeout, 0) {
		errs = append(errs, fmt.Errorf("problems.upload_timeout must be a positive number of seconds, got %v", p.UploadTimeout))
	}
	return errs
}

// Submissions configures how a submission's tests are spread over the
// sandboxes and how compiled programs are kept.
type Submissions struct {
	// MaxParallelTests bounds the tests of one submission running at
	// once (on this node's sandboxes and members'); 0 means the pool
	// size, 1 one after another.
	MaxParallelTests int `toml:"max_parallel_tests"`
	// ArtifactCacheMiB bounds the compile cache on disk (compiled
	// programs, least recently used evicted).
	ArtifactCacheMiB int64 `toml:"artifact_cache_mib"`
}

// MaxParallelTests bounds submissions.max_parallel_tests.
const MaxParallelTests = 1024

func (s *Submissions) validate() []error {
	var errs []error
	if s.MaxParallelTests < 0 || s.MaxParallelTests > MaxParallelTests {
		errs = append(errs, fmt.Errorf("submissions.max_parallel_tests must be in [0, %d] (0: the pool size), got %d", MaxParallelTests, s.MaxParallelTests))
	}
	if s.ArtifactCacheMiB < 1 || s.ArtifactCacheMiB > 1<<20 {
		errs = append(errs, fmt.Errorf("submissions.artifact_cache_mib must be in [1, %d], got %d", 1<<20, s.ArtifactCacheMiB))
	}
	return errs
}

// ParallelTests is max_parallel_tests, with 0 resolved to the pool size.
func (c Config) ParallelTests() int {
	if c.Submissions.MaxParallelTests > 0 {
		return c.Submissions.MaxParallelTests
	}
	return max(c.PoolSize, 1)
}

// Auth guards the HTTP API with bearer tokens. With no token at all the
// API is open, which suits a server on loopback (pecan serve warns when it
// listens elsewhere without tokens); with any token, every endpoint but
// /v1/health needs one.
type Auth struct {
	// Tokens are accepted on every guarded endpoint, and on /v1/manager/*
	// and /metrics too while AdminTokens is empty.
	Tokens []string `toml:"tokens"`
	// AdminTokens, when set, are the only tokens accepted on
	// /v1/manager/* and /metrics; they are accepted everywhere else too.
	AdminTokens []string `toml:"admin_tokens"`
}

// MinTokenLength is the shortest API token accepted: shorter ones can be
// guessed by anyone who may try often enough.
const MinTokenLength = 16

// Enabled reports whether any token is configured.
func (a Auth) Enabled() bool { return len(a.Tokens) > 0 || len(a.AdminTokens) > 0 }

func (a *Auth) validate() []error {
	var errs []error
	check := func(key string, tokens []string) {
		for i, t := range tokens {
			// A token travels in a header: it must be one header word.
			// Only its index is named, never the token itself, so
			// errors can be logged.
			if len(t) < MinTokenLength {
				errs = append(errs, fmt.Errorf("auth.%s[%d]: a token needs at least %d characters, got %d", key, i, MinTokenLength, len(t)))
			}
			if strings.IndexFunc(t, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
				errs = append(errs, fmt.Errorf("auth.%s[%d]: a token may hold only printable ASCII without spaces", key, i))
			}
		}
	}
	check("tokens", a.Tokens)
	check("admin_tokens", a.AdminTokens)
	return errs
}

// Step is a compile or run step's limits.
type Step struct {
	Time      float64 `toml:"time"`       // CPU seconds
	WallTime  float64 `toml:"wall_time"`  // seconds
	MemoryMiB int64   `toml:"memory_mib"` // MiB
	OutputKiB int64   `toml:"output_kib"`
	Processes uint64  `toml:"processes"`
}

// Language is one [languages.<id>] table.
type Language struct {
	Name    string   `toml:"name"`
	Aliases []string `toml:"aliases"`
	// Source names the file of a single-file submission (judge-single's
	// code), unless SourceNamePattern names it from the code.
	Source string `toml:"source"`
	// SourceNamePattern, when set, is a regular expression whose first
	// group, matched against a single-file submission, names its file
	// (with Source's extension): Java's public class.
	SourceNamePattern string `toml:"source_name_pattern"`
	// Extensions are the file name endings of the language's sources
	// among a submission's files ({files}); by default Source's extension.
	Extensions []string `toml:"extensions"`
	// Main lists the files a submission starts from ({main}), the first
	// one present wins; without any, the first source file sent.
	Main []string `toml:"main"`
	// Compile is empty for interpreted languages. Arguments may use the
	// placeholders of languages.Expand.
	Compile []string `toml:"compile"`
	Run     []string `toml:"run"`
	// Version is run on the host at start to report the toolchain version.
	Version []string `toml:"version"`
	// Setup runs once on the host, trusted, before the pool starts (for
	// example to precompile a header or a standard library); it gets the
	// language's state directory as $PECAN_STATE, which sandboxes see
	// read-only at the same path.
	Setup []string `toml:"setup"`
	// Mounts are toolchain paths bound read-only into every sandbox.
	Mounts []string `toml:"mounts"`
	Env    []string `toml:"env"`
	// Extra allowances added to the client's limits for this language's
	// runtime (a JVM needs memory of its own).
	ExtraTime      float64 `toml:"extra_time"`
	ExtraMemoryMiB int64   `toml:"extra_memory_mib"`
	// RunProcesses overrides the process limit of runs (JVMs start threads).
	RunProcesses uint64 `toml:"run_processes"`
	// MemoryErrorMarkers are texts a runtime prints to stderr when it
	// stops at its own heap limit (a JVM's -Xmx, Node's old space) before
	// the cgroup's: a failed run showing one is MemoryLimitExceeded.
	MemoryErrorMarkers []string `toml:"memory_error_markers"`
	CompileLimits      Step     `toml:"compile_limits"`
}

// Default returns the configuration used where pecan.toml is silent.
func Default() Config {
	return Config{
		Listen:       "127.0.0.1:8080",
		Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8"},
		PoolSize:     runtime.NumCPU(),
		QueueLength:  256,
		QueueTimeout: 60,
		Backend:      "container",
		DataDir:      "/var/lib/pecan",
		LogLevel:     "info",
		LogFormat:    "text",
		BodyLimitKiB: 16 * 1024,
		Limits: Limits{
			DefaultTime:      2,
			MaxTime:          30,
			DefaultMemoryKiB: 256 * 1024,
			MaxMemoryKiB:     2 * 1024 * 1024,
			WallFactor:       3,
			MaxWallTime:      90,
			OutputKiB:        64 * 1024,
			MaxStdinKiB:      8 * 1024,
			MaxCodeKiB:       512,
			MaxFiles:         DefaultMaxFiles,
			Processes:        64,
			OpenFiles:        256,
			FileSizeKiB:      64 * 1024,

			ResponseOutputKiB: DefaultResponseOutputKiB,
		},
		Cluster: Cluster{
			Name:       "pecan",
			Provider:   ProviderAutomanaged,
			EtcdPrefix: "/pecan",
		},
		Async: Async{
			PoolShare:      0.5,
			QueueLength:    10000,
			ResultTTL:      24 * 3600,
			WebhookTimeout: 10,
			RetryFor:       3600,
			BackoffInitial: 1,
			BackoffMax:     300,
		},
		Judge0: Judge0{
			Enabled:   true,
			Prefix:    "/judge0",
			Retention: 24 * 3600,
		},
		Piston: Piston{Enabled: true},
		Problems: Problems{
			MaxUploadMiB:  256,
			MaxFiles:      10000,
			MaxBytesMiB:   1024,
			MaxRatio:      100,
			UploadTimeout: 300,
		},
		Submissions: Submissions{ArtifactCacheMiB: 1024},
		Container: Container{
			WorkDirMiB:   256,
			TmpMiB:       64,
			CgroupPrefix: "pecan",
			UID:          65533,
			Seccomp:      true,
		},
		Isolate: Isolate{
			Binary:       "isolate",
			Boxes:        1000,
			WorkDirMiB:   256,
			TmpMiB:       64,
			CgroupPrefix: "pecan",
			LockDir:      "/run/pecan/isolate",
		},
		Nsjail: Nsjail{
			Binary:       "nsjail",
			StateDir:     "/run/pecan/nsjail",
			WorkDirMiB:   256,
			TmpMiB:       64,
			CgroupPrefix: "pecan",
			UID:          65533,
			Seccomp:      true,
		},
		GVisor: GVisor{
			Runsc:            "runsc",
			Platform:         "ptrace",
			StateDir:         "/run/pecan-gvisor",
			WorkDirMiB:       256,
			TmpMiB:           64,
			SandboxMemoryMiB: 3072,
			SandboxPids:      4096,
		},
	}
}

// Load reads path over the defaults. Unknown keys are an error.
func Load(path string) (Config, error) {
	cfg := Default()
	md, err := toml.DecodeFile(path, &cfg)
	if err != nil {
		return Config{}, fmt.Errorf("load config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("load config %s: unknown key(s): %s", path, strings.Join(keys, ", "))
	}
	return cfg, nil
}

// Validate checks values that would make the server misbehave.
func (c *Config) Validate() error {
	var errs []error
	if c.PoolSize < 1 {
		errs = append(errs, fmt.Errorf("pool_size must be at least 1, got %d", c.PoolSize))
	}
	if c.QueueLength < 0 {
		errs = append(errs, fmt.Errorf("queue_length must not be negative, got %d", c.QueueLength))
	}
	if c.Limits.DefaultTime <= 0 || c.Limits.MaxTime < c.Limits.DefaultTime {
		errs = append(errs, errors.New("limits: need 0 < default_time <= max_time"))
	}
	if c.Limits.DefaultMemoryKiB <= 0 || c.Limits.MaxMemoryKiB < c.Limits.DefaultMemoryKiB {
		errs = append(errs, errors.New("limits: need 0 < default_memory_kib <= max_memory_kib"))
	}
	if c.Limits.WallFactor < 1 {
		errs = append(errs, errors.New("limits: wall_factor must be at least 1"))
	}
	if c.Limits.ResponseOutputKiB < 1 || c.Limits.ResponseOutputKiB > MaxResponseOutputKiB {
		errs = append(errs, fmt.Errorf("limits: response_output_kib must be in [1, %d], got %d", MaxResponseOutputKiB, c.Limits.ResponseOutputKiB))
	}
	if c.Backend == "gvisor" {
		errs = append(errs, c.GVisor.validate(c)...)
	}
	errs = append(errs, c.Cluster.validate()...)
	errs = append(errs, c.Async.validate()...)
	errs = append(errs, c.Auth.validate()...)
	errs = append(errs, c.Problems.validate()...)
	errs = append(errs, c.Judge0.validate()...)
	errs = append(errs, c.Submissions.validate()...)
	errs = append(errs, c.Isolate.validate()...)
	errs = append(errs, c.Nsjail.validate()...)
	errs = append(errs, c.Container.validate()...)
	if len(c.Languages) == 0 {
		errs = append(errs, errors.New("no [languages] configured"))
	}
	if c.Limits.MaxFiles < 1 || c.Limits.MaxFiles > MaxMaxFiles {
		errs = append(errs, fmt.Errorf("limits: max_files must be in [1, %d], got %d", MaxMaxFiles, c.Limits.MaxFiles))
	}
	for id, l := range c.Languages {
		errs = append(errs, l.validate(id)...)
	}
	return errors.Join(errs...)
}

// FilesPlaceholder is the placeholder of a command line that stands for
// every source file, one argument each (languages.Expand).
const FilesPlaceholder = "{files}"

func (l *Language) validate(id string) []error {
	var errs []error
	if l.Source == "" || len(l.Run) == 0 {
		errs = append(errs, fmt.Errorf("languages.%s: source and run are required", id))
	}
	if l.SourceNamePattern != "" {
		re, err := regexp.Compile(l.SourceNamePattern)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("languages.%s: source_name_pattern: %v", id, err))
		case re.NumSubexp() < 1:
			errs = append(errs, fmt.Errorf("languages.%s: source_name_pattern needs a group that names the file", id))
		}
	}
	for _, e := range l.Extensions {
		if len(e) < 2 || e[0] != '.' || strings.ContainsAny(e, "/ ") {
			errs = append(errs, fmt.Errorf("languages.%s: extensions: %q is not a file name ending such as \".c\"", id, e))
		}
	}
	for _, m := range l.Main {
		if m == "" || m == "." || strings.HasPrefix(m, "/") || path.Clean(m) != m || m == ".." || strings.HasPrefix(m, "../") {
			errs = append(errs, fmt.Errorf("languages.%s: main: %q is not a clean relative path", id, m))
		}
	}
	for name, cmd := range map[string][]string{"compile": l.Compile, "run": l.Run} {
		for _, a := range cmd {
			if a != FilesPlaceholder && strings.Contains(a, FilesPlaceholder) {
				errs = append(errs, fmt.Errorf("languages.%s: %s: %s must be an argument of its own, not part of %q", id, name, FilesPlaceholder, a))
			}
		}
	}
	return errs
}

func (c *Cluster) validate() []error {
	if c.Bind == "" {
		return nil
	}
	var errs []error
	if host, _, err := net.SplitHostPort(c.Bind); err != nil {
		errs = append(errs, fmt.Errorf("cluster.bind %q: %w", c.Bind, err))
	} else if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		// Members reach a node at its bind address, and remoting listens
		// there only: it must be one address others can dial.
		errs = append(errs, fmt.Errorf("cluster.bind %q: needs the host members reach this node at, not an unspecified one", c.Bind))
	}
	switch c.Provider {
	case ProviderAutomanaged:
		for _, s := range c.Seeds {
			if _, _, err := net.SplitHostPort(s); err != nil {
				errs = append(errs, fmt.Errorf("cluster.seeds %q: %w", s, err))
			}
		}
	case ProviderEtcd:
		if len(c.EtcdEndpoints) == 0 {
			errs = append(errs, errors.New("cluster: provider etcd needs etcd_endpoints"))
		}
	default:
		errs = append(errs, fmt.Errorf("cluster.provider %q: want %s or %s", c.Provider, ProviderAutomanaged, ProviderEtcd))
	}
	if t := c.TLS; (t.CA != "" || t.Cert != "" || t.Key != "") && !t.Enabled() {
		errs = append(errs, errors.New("cluster.tls: set all of ca, cert and key, or none"))
	}
	switch {
	case c.OpenRemoting() && !c.Insecure:
		// protoactor crashes or obeys whatever reaches its port: never
		// open it to a network by accident.
		errs = append(errs, fmt.Errorf("cluster.bind %q is not a loopback address and remoting has no TLS: "+
			"anyone who reaches it could send this node any message; configure [cluster.tls] (ca, cert, key), "+
			"or set [cluster] insecure = true if only trusted machines can reach it", c.Bind))
	case c.Insecure && c.TLS.Enabled():
		errs = append(errs, errors.New("cluster: insecure = true contradicts [cluster.tls]; remove one"))
	}
	return errs
}

func (a *Async) validate() []error {
	var errs []error
	if !(a.PoolShare > 0 && a.PoolShare <= 1) {
		errs = append(errs, fmt.Errorf("async.pool_share must be in (0, 1], got %v", a.PoolShare))
	}
	if a.QueueLength < 1 {
		errs = append(errs, fmt.Errorf("async.queue_length must be at least 1, got %d", a.QueueLength))
	}
	if !(a.ResultTTL > 0) {
		errs = append(errs, fmt.Errorf("async.result_ttl must be positive, got %v", a.ResultTTL))
	}
	if !(a.WebhookTimeout > 0) {
		errs = append(errs, fmt.Errorf("async.webhook_timeout must be positive, got %v", a.WebhookTimeout))
	}
	if !(a.RetryFor >= 0) {
		errs = append(errs, fmt.Errorf("async.retry_for must not be negative, got %v", a.RetryFor))
	}
	if !(a.BackoffInitial > 0) || !(a.BackoffMax >= a.BackoffInitial) {
		errs = append(errs, fmt.Errorf("async: need 0 < backoff_initial <= backoff_max, got %v and %v", a.BackoffInitial, a.BackoffMax))
	}
	return errs
}

// AsyncWorkers is how many async jobs may run at once in a pool of
// poolSize: the configured share, rounded down, at least one.
func (a *Async) AsyncWorkers(poolSize int) int {
	return max(1, int(math.Floor(a.PoolShare*float64(poolSize))))
}

// Seconds converts float seconds to a Duration.
func Seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
