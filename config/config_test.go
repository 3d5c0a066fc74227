package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pecan.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadRejectsUnknownKeys(t *testing.T) {
	_, err := Load(write(t, "listen = \"x:1\"\npool_sise = 3\n[limits]\nmax_tme = 2\n"))
	if err == nil {
		t.Fatal("unknown keys accepted")
	}
	for _, key := range []string{"pool_sise", "limits.max_tme"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

func TestLoadOverDefaults(t *testing.T) {
	cfg, err := Load(write(t, "pool_size = 3\n[languages.c]\nsource = \"main.c\"\nrun = [\"./main\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PoolSize != 3 || cfg.Limits.DefaultTime != Default().Limits.DefaultTime || cfg.Listen != Default().Listen {
		t.Errorf("unexpected config: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
}

func TestValidate(t *testing.T) {
	cfg := Default()
	cfg.PoolSize = 0
	cfg.Limits.WallFactor = 0.5
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"pool_size", "wall_factor", "no [languages]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// The shipped pecan.toml must load strictly and validate.
func TestShippedConfig(t *testing.T) {
	cfg, err := Load("../pecan.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"c", "cpp", "go", "java", "kotlin", "node", "python", "rust", "typescript"} {
		if _, ok := cfg.Languages[id]; !ok {
			t.Errorf("language %s missing", id)
		}
	}
}

func TestValidateAsync(t *testing.T) {
	cfg := Default()
	cfg.Languages = map[string]Language{"c": {Source: "main.c", Run: []string{"./main"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	cfg.Async.PoolShare = 1.5
	cfg.Async.QueueLength = 0
	cfg.Async.BackoffMax = 0.1
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid [async] accepted")
	}
	for _, want := range []string{"pool_share", "queue_length", "backoff_initial"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestProblems(t *testing.T) {
	cfg, err := Load(write(t, "[problems]\nstore_dir = \"/srv/pecan-problems\"\nmax_upload_mib = 64\nmax_files = 500\n"+
		"max_bytes_mib = 2048\nmax_ratio = 0\nupload_timeout = 60\n[languages.c]\nsource = \"main.c\"\nrun = [\"./main\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Problems{StoreDir: "/srv/pecan-problems", MaxUploadMiB: 64, MaxFiles: 500, MaxBytesMiB: 2048, MaxRatio: 0, UploadTimeout: 60}
	if cfg.Problems != want {
		t.Errorf("[problems] = %+v, want %+v", cfg.Problems, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid [problems] rejected: %v", err)
	}
	if d := Default().Problems; d.MaxUploadMiB != 256 || d.StoreDir != "" || d.MaxRatio <= 0 {
		t.Errorf("default [problems] = %+v", d)
	}
	if _, err := Load(write(t, "[problems]\nmax_uplod_mib = 3\n")); err == nil || !strings.Contains(err.Error(), "problems.max_uplod_mib") {
		t.Errorf("unknown [problems] key: %v", err)
	}
	cfg.Problems = Problems{MaxUploadMiB: 0, MaxFiles: 0, MaxBytesMiB: -1, MaxRatio: -2, UploadTimeout: 0}
	err = cfg.Validate()
	if err == nil {
		t.Fatal("invalid [problems] accepted")
	}
	for _, key := range []string{"max_upload_mib", "max_files", "max_bytes_mib", "max_ratio", "upload_timeout"} {
		if !strings.Contains(err.Error(), "problems."+key) {
			t.Errorf("error %q does not mention problems.%s", err, key)
		}
	}
}

func TestAsyncWorkers(t *testing.T) {
	for _, c := range []struct {
		share float64
		pool  int
		want  int
	}{{0.5, 2, 1}, {0.5, 1, 1}, {0.5, 8, 4}, {0.3, 8, 2}, {1, 3, 3}, {0.01, 4, 1}} {
		a := Async{PoolShare: c.share}
		if got := a.AsyncWorkers(c.pool); got != c.want {
			t.Errorf("share %v of pool %d: %d workers, want %d", c.share, c.pool, got, c.want)
		}
	}
}

var fullTLS = TLS{CA: "/ca.pem", Cert: "/node.pem", Key: "/node.key"}

func TestValidateCluster(t *testing.T) {
	base := Default()
	base.Languages = map[string]Language{"c": {Source: "main.c", Run: []string{"./main"}}}
	for name, c := range map[string]struct {
		edit func(*Cluster)
		want string // "" means valid
	}{
		"off":           {func(c *Cluster) {}, ""},
		"automanaged":   {func(c *Cluster) { c.Bind, c.Seeds = "127.0.0.1:7100", []string{"127.0.0.1:7102"} }, ""},
		"bad bind":      {func(c *Cluster) { c.Bind = "7100" }, "cluster.bind"},
		"any address":   {func(c *Cluster) { c.Bind = "0.0.0.0:7100" }, "cluster.bind"},
		"no host":       {func(c *Cluster) { c.Bind = ":7100" }, "cluster.bind"},
		"bad seed":      {func(c *Cluster) { c.Bind, c.Seeds = "localhost:1", []string{"nohost"} }, "cluster.seeds"},
		"etcd, no etcd": {func(c *Cluster) { c.Bind, c.Provider = "localhost:1", ProviderEtcd }, "etcd_endpoints"},
		"etcd": {func(c *Cluster) {
			c.Bind, c.Provider, c.EtcdEndpoints = "localhost:1", ProviderEtcd, []string{"e:2379"}
		}, ""},
		"unknown provider": {func(c *Cluster) { c.Bind, c.Provider = "localhost:1", "consul" }, "cluster.provider"},
		"half TLS":         {func(c *Cluster) { c.Bind, c.TLS.CA = "localhost:1", "/ca.pem" }, "cluster.tls"},

		// Remoting reachable from other machines needs TLS, or the
		// operator's insecure = true.
		"network, no TLS":       {func(c *Cluster) { c.Bind = "10.0.0.1:7100" }, "[cluster.tls]"},
		"name, no TLS":          {func(c *Cluster) { c.Bind = "node1.example:7100" }, "[cluster.tls]"},
		"IPv6, no TLS":          {func(c *Cluster) { c.Bind = "[2001:db8::1]:7100" }, "[cluster.tls]"},
		"any address, no TLS":   {func(c *Cluster) { c.Bind = "0.0.0.0:7100" }, "[cluster.tls]"},
		"network, TLS":          {func(c *Cluster) { c.Bind, c.TLS = "10.0.0.1:7100", fullTLS }, ""},
		"network, insecure":     {func(c *Cluster) { c.Bind, c.Insecure = "10.0.0.1:7100", true }, ""},
		"insecure and TLS":      {func(c *Cluster) { c.Bind, c.Insecure, c.TLS = "10.0.0.1:7100", true, fullTLS }, "contradicts"},
		"IPv6 loopback, no TLS": {func(c *Cluster) { c.Bind = "[::1]:7100" }, ""},
		"127/8, no TLS":         {func(c *Cluster) { c.Bind = "127.0.0.2:7100" }, ""},
	} {
		cfg := base
		c.edit(&cfg.Cluster)
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: rejected: %v", name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one naming %s", name, err, c.want)
		}
	}
}

func TestAuth(t *testing.T) {
	cfg, err := Load(write(t, `[auth]
tokens = ["0123456789abcdef", "fedcba9876543210"]
admin_tokens = ["admin-0123456789"]
[languages.c]
source = "main.c"
run = ["./main"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid tokens rejected: %v", err)
	}
	if !cfg.Auth.Enabled() || len(cfg.Auth.Tokens) != 2 || cfg.Auth.AdminTokens[0] != "admin-0123456789" {
		t.Errorf("auth not loaded: %+v", cfg.Auth)
	}
	if Default().Auth.Enabled() {
		t.Error("auth is on by default")
	}

	cfg.Auth = Auth{Tokens: []string{"short", "has a space in it!"}, AdminTokens: []string{"tab\tinside-0123456789", "ünicode-0123456789"}}
	err = cfg.Validate()
	if err == nil {
		t.Fatal("bad tokens accepted")
	}
	for _, want := range []string{"auth.tokens[0]: a token needs at least 16", "auth.tokens[1]: a token may hold only printable ASCII", "auth.admin_tokens[0]", "auth.admin_tokens[1]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	for _, secret := range []string{"short", "has a space", "tab\tinside"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q quotes a token", err)
		}
	}

	if _, err := Load(write(t, "[auth]\ntoken = [\"0123456789abcdef\"]\n")); err == nil || !strings.Contains(err.Error(), "auth.token") {
		t.Errorf("misspelt auth key: %v", err)
	}
}

func TestResponseOutputKiB(t *testing.T) {
	cfg, err := Load(write(t, "[limits]\nresponse_output_kib = 128\n[languages.c]\nsource = \"main.c\"\nrun = [\"./main\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.ResponseOutputKiB != 128 {
		t.Errorf("response_output_kib = %d, want 128", cfg.Limits.ResponseOutputKiB)
	}
	if Default().Limits.ResponseOutputKiB != 64 {
		t.Errorf("default response_output_kib = %d, want 64", Default().Limits.ResponseOutputKiB)
	}
	for _, kib := range []int64{1, 64, MaxResponseOutputKiB} {
		cfg.Limits.ResponseOutputKiB = kib
		if err := cfg.Validate(); err != nil {
			t.Errorf("response_output_kib %d rejected: %v", kib, err)
		}
	}
	for _, kib := range []int64{0, -1, MaxResponseOutputKiB + 1} {
		cfg.Limits.ResponseOutputKiB = kib
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "response_output_kib") {
			t.Errorf("response_output_kib %d: error %v, want one naming the key", kib, err)
		}
	}
}

func TestClusterOpenRemoting(t *testing.T) {
	for _, c := range []struct {
		cluster Cluster
		open    bool
	}{
		{Cluster{}, false}, // no cluster
		{Cluster{Bind: "127.0.0.1:7100"}, false},
		{Cluster{Bind: "LOCALHOST:7100"}, false},
		{Cluster{Bind: "[::1]:7100"}, false},
		{Cluster{Bind: "10.0.0.1:7100"}, true},
		{Cluster{Bind: "0.0.0.0:7100"}, true},
		{Cluster{Bind: "localhost.example:7100"}, true},
		{Cluster{Bind: "10.0.0.1:7100", Insecure: true}, true}, // allowed, still open
		{Cluster{Bind: "10.0.0.1:7100", TLS: fullTLS}, false},
	} {
		if got := c.cluster.OpenRemoting(); got != c.open {
			t.Errorf("%+v: OpenRemoting %v, want %v", c.cluster, got, c.open)
		}
	}
}

func TestMaxFiles(t *testing.T) {
	cfg, err := Load(write(t, "[limits]\nmax_files = 8\n[languages.c]\nsource = \"main.c\"\nrun = [\"./main\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.MaxFiles != 8 {
		t.Errorf("max_files = %d, want 8", cfg.Limits.MaxFiles)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("max_files 8 rejected: %v", err)
	}
	if Default().Limits.MaxFiles != 64 {
		t.Errorf("default max_files = %d, want 64", Default().Limits.MaxFiles)
	}
	for _, n := range []int{0, -1, MaxMaxFiles + 1} {
		cfg.Limits.MaxFiles = n
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "max_files") {
			t.Errorf("max_files %d: error %v, want one naming the key", n, err)
		}
	}
}

// The keys that say how a language finds its files are checked at load.
func TestLanguageSourceKeys(t *testing.T) {
	cfg, err := Load(write(t, `[languages.java]
source = "Main.java"
source_name_pattern = 'public\s+class\s+(\w+)'
extensions = [".java"]
main = ["Main.java", "app/Main.java"]
compile = ["/bin/sh", "-c", "javac \"$@\"", "sh", "{files}"]
run = ["java", "Main"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid language rejected: %v", err)
	}
	j := cfg.Languages["java"]
	if j.SourceNamePattern != `public\s+class\s+(\w+)` || len(j.Extensions) != 1 || len(j.Main) != 2 {
		t.Errorf("keys not loaded: %+v", j)
	}
	bad := map[string]func(l *Language){
		"source_name_pattern": func(l *Language) { l.SourceNamePattern = "(" },
		"needs a group":       func(l *Language) { l.SourceNamePattern = `public class \w+` },
		`"java"`:              func(l *Language) { l.Extensions = []string{"java"} },
		`"."`:                 func(l *Language) { l.Extensions = []string{"."} },
		`"../Main.java"`:      func(l *Language) { l.Main = []string{"../Main.java"} },
		`"/Main.java"`:        func(l *Language) { l.Main = []string{"/Main.java"} },
		`"./Main.java"`:       func(l *Language) { l.Main = []string{"./Main.java"} },
		"{files} must be an argument of its own": func(l *Language) {
			l.Compile = []string{"/bin/sh", "-c", "javac {files}"}
		},
	}
	for want, breakIt := range bad {
		c := cfg
		l := j
		l.Extensions = append([]string(nil), j.Extensions...)
		breakIt(&l)
		c.Languages = map[string]Language{"java": l}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "languages.java") {
			t.Errorf("%s: error %v, want one naming languages.java and %s", want, err, want)
		}
	}
}

func TestCompatAPIs(t *testing.T) {
	cfg, err := Load(write(t, "[judge0]\nenabled = false\nprefix = \"/compat/judge0\"\nlisten = \"127.0.0.1:2358\"\nretention = 600\n"+
		"[piston]\nenabled = false\n[languages.c]\nsource = \"main.c\"\nrun = [\"./main\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Judge0{Enabled: false, Prefix: "/compat/judge0", Listen: "127.0.0.1:2358", Retention: 600}
	if cfg.Judge0 != want || cfg.Piston.Enabled {
		t.Errorf("[judge0] = %+v, [piston] = %+v, want %+v and disabled", cfg.Judge0, cfg.Piston, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid [judge0] rejected: %v", err)
	}
	if d := Default(); !d.Judge0.Enabled || d.Judge0.Prefix != "/judge0" || d.Judge0.Listen != "" || d.Judge0.Retention != 86400 || !d.Piston.Enabled {
		t.Errorf("defaults: [judge0] %+v, [piston] %+v", d.Judge0, d.Piston)
	}
	if _, err := Load(write(t, "[judge0]\nprefx = \"/j\"\n")); err == nil || !strings.Contains(err.Error(), "judge0.prefx") {
		t.Errorf("unknown [judge0] key: %v", err)
	}
	for _, bad := range []Judge0{
		{Prefix: "judge0", Retention: 1},
		{Prefix: "/", Retention: 1},
		{Prefix: "/judge0/", Retention: 1},
		{Prefix: "/j:id", Retention: 1},
		{Prefix: "/v1/judge0", Retention: 1},
		{Prefix: "/API", Retention: 1},
		{Prefix: "/judge0", Listen: "2358", Retention: 1},
		{Prefix: "/judge0", Retention: 0},
	} {
		cfg.Judge0 = bad
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "judge0.") {
			t.Errorf("[judge0] %+v: %v, want an error naming judge0", bad, err)
		}
	}
}

func TestSubmissions(t *testing.T) {
	cfg, err := Load(write(t, "pool_size = 3\n[submissions]\nmax_parallel_tests = 2\nartifact_cache_mib = 64\n[languages.c]\nsource = \"main.c\"\nrun = [\"./main\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Submissions{MaxParallelTests: 2, ArtifactCacheMiB: 64}); cfg.Submissions != want {
		t.Errorf("[submissions] = %+v, want %+v", cfg.Submissions, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid [submissions] rejected: %v", err)
	}
	if n := cfg.ParallelTests(); n != 2 {
		t.Errorf("ParallelTests = %d, want 2", n)
	}
	cfg.Submissions.MaxParallelTests = 0
	if n := cfg.ParallelTests(); n != 3 {
		t.Errorf("ParallelTests with 0 = %d, want the pool size 3", n)
	}
	if d := Default().Submissions; d.MaxParallelTests != 0 || d.ArtifactCacheMiB != 1024 {
		t.Errorf("default [submissions] = %+v", d)
	}
	if _, err := Load(write(t, "[submissions]\nmax_paralel_tests = 3\n")); err == nil || !strings.Contains(err.Error(), "submissions.max_paralel_tests") {
		t.Errorf("unknown [submissions] key: %v", err)
	}
	cfg.Submissions = Submissions{MaxParallelTests: -1, ArtifactCacheMiB: 0}
	err = cfg.Validate()
	if err == nil {
		t.Fatal("invalid [submissions] accepted")
	}
	for _, key := range []string{"max_parallel_tests", "artifact_cache_mib"} {
		if !strings.Contains(err.Error(), "submissions."+key) {
			t.Errorf("error %q does not mention submissions.%s", err, key)
		}
	}
}

func TestIsolate(t *testing.T) {
	cfg := Default()
	if errs := cfg.Isolate.validate(); len(errs) > 0 {
		t.Fatalf("default [isolate] invalid: %v", errs)
	}
	cfg.Isolate = Isolate{Binary: "", FirstBox: -1, Boxes: 0, WorkDirMiB: 0, TmpMiB: 8, CgroupPrefix: "a/b", LockDir: "run", Dirs: []string{"usr"}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid [isolate] accepted")
	}
	for _, want := range []string{"isolate: binary", "first_box", "work_dir_mib", "cgroup_prefix", "lock_dir", `dirs: "usr"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	path := filepath.Join(t.TempDir(), "pecan.toml")
	if err := os.WriteFile(path, []byte("[isolate]\nbinary = \"/opt/isolate\"\nfirst_box = 100\nboxes = 8\ndirs = [\"/opt/jdk\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Isolate.Binary != "/opt/isolate" || got.Isolate.FirstBox != 100 || got.Isolate.Boxes != 8 || got.Isolate.WorkDirMiB != 256 || len(got.Isolate.Dirs) != 1 {
		t.Errorf("loaded [isolate] = %+v", got.Isolate)
	}
	if err := os.WriteFile(path, []byte("[isolate]\nbox_root = \"/x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "isolate.box_root") {
		t.Errorf("unknown key isolate.box_root: err = %v", err)
	}
}

func TestContainerUID(t *testing.T) {
	cfg := Default()
	if errs := cfg.Container.validate(); len(errs) > 0 {
		t.Fatalf("default [container] invalid: %v", errs)
	}
	for _, uid := range []int{1, 63, 65535} {
		cfg.Container.UID = uid
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "container: uid") {
			t.Errorf("[container] uid = %d: err = %v, want it refused", uid, err)
		}
	}
	cfg.Container.UID = 64
	if errs := cfg.Container.validate(); len(errs) > 0 {
		t.Errorf("[container] uid = 64 refused: %v", errs)
	}
}

func TestNsjail(t *testing.T) {
	cfg := Default()
	if errs := cfg.Nsjail.validate(); len(errs) > 0 {
		t.Fatalf("default [nsjail] invalid: %v", errs)
	}
	cfg.Nsjail = Nsjail{StateDir: "run", WorkDirMiB: 0, TmpMiB: 1, CgroupPrefix: "", UID: 0, Mounts: []string{"opt"}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid [nsjail] accepted")
	}
	for _, want := range []string{"nsjail: binary", "state_dir", "work_dir_mib", "cgroup_prefix", "nsjail: uid", `mounts: "opt"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	path := filepath.Join(t.TempDir(), "pecan.toml")
	if err := os.WriteFile(path, []byte("[nsjail]\nbinary = \"/opt/nsjail\"\nuid = 64000\nseccomp = false\nmounts = [\"/etc/ld.so.cache\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Nsjail.Binary != "/opt/nsjail" || got.Nsjail.UID != 64000 || got.Nsjail.Seccomp || got.Nsjail.TmpMiB != 64 || len(got.Nsjail.Mounts) != 1 {
		t.Errorf("loaded [nsjail] = %+v", got.Nsjail)
	}
	if err := os.WriteFile(path, []byte("[nsjail]\nchroot = \"/x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "nsjail.chroot") {
		t.Errorf("unknown key nsjail.chroot: err = %v", err)
	}
}

func TestGVisor(t *testing.T) {
	base := "backend = \"gvisor\"\n[languages.c]\nsource = \"main.c\"\nrun = [\"./main\"]\n"
	cfg, err := Load(write(t, base))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	if g := cfg.GVisor; g.Runsc != "runsc" || g.Platform != "ptrace" || g.StateDir != "/run/pecan-gvisor" || g.SandboxMemoryMiB != 3072 {
		t.Errorf("defaults: %+v", g)
	}
	cfg, err = Load(write(t, base+"[gvisor]\nrunsc = \"/opt/runsc\"\nplatform = \"kvm\"\nflags = [\"--overlay2=root:memory\"]\nmounts = [\"/opt/x\"]\netc_files = [\"/etc/ld.so.cache\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil || cfg.GVisor.Runsc != "/opt/runsc" || cfg.GVisor.Flags[0] != "--overlay2=root:memory" {
		t.Errorf("valid [gvisor] table: %+v, %v", cfg.GVisor, err)
	}
	for _, c := range []struct{ table, want string }{
		{"platform = \"vm\"", "platform"},
		{"runsc = \"\"", "runsc"},
		{"flags = [\"--network=host\"]", "--network"},
		{"flags = [\"--root=/x\"]", "--root"},
		{"flags = [\"debug\"]", "flags"},
		{"state_dir = \"run\"", "state_dir"},
		{"sandbox_memory_mib = 512", "sandbox_memory_mib"},
		{"sandbox_pids = 10", "sandbox_pids"},
		{"work_dir_mib = 0", "work_dir_mib"},
		{"mounts = [\"opt\"]", "mount"},
	} {
		cfg, err := Load(write(t, base+"[gvisor]\n"+c.table+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s", c.table, err, c.want)
		}
	}
	// Another backend ignores the table.
	cfg, _ = Load(write(t, strings.Replace(base, "gvisor", "container", 1)+"[gvisor]\nplatform = \"vm\"\n"))
	if err := cfg.Validate(); err != nil {
		t.Errorf("[gvisor] checked for the container backend: %v", err)
	}
	if _, err := Load(write(t, base+"[gvisor]\nplatfrom = \"kvm\"\n")); err == nil || !strings.Contains(err.Error(), "gvisor.platfrom") {
		t.Errorf("unknown [gvisor] key: %v", err)
	}
}
