//go:build !cgroup2guest

package cgroup2

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/tests/testserver"
)

const (
	// guestDeadline bounds the whole guest, boot to power-off: qemu is
	// killed past it. Each step in the guest has a timeout of its own
	// (guestSteps), so that a hanging case still reports which one it was.
	guestDeadline = 10 * time.Minute
	// prepareTimeout is for the host server that prepares the languages'
	// state (a first run builds C++'s precompiled header).
	prepareTimeout = 10 * time.Minute
	guestMemoryMiB = 3072
)

// compileScale multiplies the compile limits of the guest's languages:
// programs run several times slower under TCG, and the CPU time the guest
// counts is emulated time.
const compileScale = 5

// assets are what booting the guest needs, all installed by make deps.
type assets struct {
	qemu, kernel, modules, busybox string
}

func findAssets(repo string) (assets, error) {
	var a assets
	var err error
	if a.qemu, err = exec.LookPath("qemu-system-x86_64"); err != nil {
		return a, fmt.Errorf("qemu-system-x86_64 not found: %w", err)
	}
	kernels, _ := filepath.Glob(filepath.Join(repo, ".vm", "kernel", "boot", "vmlinuz-*"))
	if len(kernels) != 1 {
		return a, fmt.Errorf("want one kernel in .vm/kernel/boot, found %d", len(kernels))
	}
	a.kernel = kernels[0]
	version := strings.TrimPrefix(filepath.Base(a.kernel), "vmlinuz-")
	a.modules = filepath.Join(repo, ".vm", "kernel", "lib", "modules", version)
	if _, err := os.Stat(a.modules); err != nil {
		return a, fmt.Errorf("modules of kernel %s: %w", version, err)
	}
	a.busybox = "/bin/busybox"
	return a, requireStatic(a.busybox)
}

// TestCgroupV2Guest boots the cgroup v2 guest and runs the guest suite in
// it (see the package comment).
func TestCgroupV2Guest(t *testing.T) {
	if reason := testserver.SkipReason("cgroup2"); reason != "" {
		t.Skip(reason)
	}
	repo, err := testserver.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	a, err := findAssets(repo)
	if err != nil {
		t.Fatalf("%v (make deps installs what the guest needs)", err)
	}
	// The run's files and the languages' state are outside /tmp, at the
	// same path on the host and in the guest (a data dir under /tmp is
	// refused: sandboxes mount their own /tmp), shared over 9p.
	base := filepath.Join(filepath.Dir(testserver.DataDir()), "cgroup2")
	data := filepath.Join(base, "data")
	run := filepath.Join(base, fmt.Sprintf("run-%d", os.Getpid()))
	removeDeadRuns(base)
	for _, d := range []string{data, filepath.Join(run, "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(run) })

	bin, err := testserver.Build(filepath.Join(run, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	guestBin := filepath.Join(run, "bin", "guest.test")
	containerBin := filepath.Join(run, "bin", "container.test")
	for _, args := range [][]string{
		{"test", "-c", "-tags", "cgroup2guest", "-o", guestBin, "./tests/cgroup2"},
		{"test", "-c", "-o", containerBin, "./backends/container"},
	} {
		build := exec.Command("go", args...)
		build.Dir = repo
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	steps := guestSteps(guestBin, containerBin)
	cfgPath := filepath.Join(run, "pecan.toml")
	if err := writeGuestConfig(filepath.Join(repo, "pecan.toml"), cfgPath); err != nil {
		t.Fatal(err)
	}
	prepareLanguages(t, repo, bin, cfgPath, data, run)

	modules, err := moduleOrder(a.modules, guestModules)
	if err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(run, "initramfs.cpio")
	var img bytes.Buffer
	if err := writeInitramfs(&img, a.busybox, a.modules, modules, guestInit(run, data, modules)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(initrd, img.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	script := guestScript(repo, run, bin, cfgPath, data, steps)
	if err := os.WriteFile(filepath.Join(run, "guest.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	console, err := bootGuest(t, a, initrd, run, data)
	took := time.Since(start).Round(time.Second)
	if err != nil {
		t.Fatalf("guest: %v after %s\n---- console (last lines) ----\n%s", err, took, tail(console, 60))
	}
	t.Logf("guest ran %s (deadline %s)", took, guestDeadline)
	checkGuestResults(t, run, console, steps)
}

// removeDeadRuns removes the run directories of host tests that died
// (their pid is gone) before cleaning up.
func removeDeadRuns(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "run-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "run-"))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
}

// prepareLanguages starts the server once on the host with the guest's
// configuration and data dir, so that the languages' state (C++'s
// precompiled header, Java's main-class finder) is there before the guest
// starts: the guest's setup commands then find it current.
func prepareLanguages(t *testing.T, repo, bin, cfg, data, run string) {
	t.Helper()
	rootsBefore := testserver.TmpRoots()
	srv, err := testserver.StartHealthy(testserver.Options{
		Bin: bin, Config: cfg, DataDir: data, Pool: 1, Dir: repo,
		LogPath: filepath.Join(run, "prepare.log"),
	}, prepareTimeout)
	if err != nil {
		t.Fatalf("prepare the languages on the host: %v", err)
	}
	if err := srv.Stop(time.Minute); err != nil {
		t.Fatalf("prepare the languages on the host: %v", err)
	}
	for _, l := range srv.Leftovers(rootsBefore) {
		t.Errorf("the host server that prepared the languages left behind: %s", l)
	}
}

// writeGuestConfig writes the repository's pecan.toml with only the
// guest's languages and their compile limits scaled for TCG.
func writeGuestConfig(from, to string) error {
	src, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	header := regexp.MustCompile(`^\[([A-Za-z0-9_.-]+)\]\s*(#.*)?$`)
	limit := regexp.MustCompile(`^(time|wall_time) = ([0-9.]+)(.*)$`)
	keep := map[string]bool{}
	for _, l := range guestLanguages {
		keep[l] = true
	}
	var out []string
	table, drop := "", false
	for _, line := range strings.Split(string(src), "\n") {
		if m := header.FindStringSubmatch(line); m != nil {
			table = m[1]
			parts := strings.Split(table, ".")
			drop = parts[0] == "languages" && len(parts) > 1 && !keep[parts[1]]
		}
		if drop {
			continue
		}
		if m := limit.FindStringSubmatch(line); m != nil && strings.HasSuffix(table, ".compile_limits") {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				return fmt.Errorf("%s: %q: %w", from, line, err)
			}
			line = fmt.Sprintf("%s = %g%s", m[1], v*compileScale, m[3])
		}
		if strings.HasPrefix(line, "queue_timeout = ") {
			line = "queue_timeout = 600.0"
		}
		out = append(out, line)
	}
	if err := os.WriteFile(to, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		return err
	}
	cfg, err := config.Load(to)
	if err != nil {
		return fmt.Errorf("guest config: %w", err)
	}
	if len(cfg.Languages) != len(guestLanguages) {
		return fmt.Errorf("guest config has %d languages, want %v", len(cfg.Languages), guestLanguages)
	}
	return nil
}

// guestInit is the initramfs's /init: it loads the 9p modules, mounts
// the host's root read-only with the run and data shares, /proc, /sys,
// /dev and the unified cgroup hierarchy (with nsdelegate, as systemd
// mounts it) under it, and switches to it to run guest.sh.
func guestInit(run, data string, modules []string) string {
	var ins strings.Builder
	for _, m := range modules {
		fmt.Fprintf(&ins, "$bb insmod /lib/modules/%s || fail insmod %s\n", filepath.Base(m), filepath.Base(m))
	}
	return `#!/bin/busybox sh
bb=/bin/busybox
fail() { echo "pecan-guest: init failed: $*"; $bb poweroff -f; }
$bb mount -t proc proc /proc || fail proc
$bb mount -t devtmpfs devtmpfs /dev || fail devtmpfs
` + ins.String() + `o=trans=virtio,version=9p2000.L,msize=262144
$bb mount -t 9p -o $o,ro,cache=loose hostroot /host || fail mount host root
$bb mount -t tmpfs -o mode=0755,size=512m tmpfs /host/run || fail /run
$bb mount -t 9p -o $o run /host` + run + ` || fail mount run share
$bb mount -t 9p -o $o,cache=loose data /host` + data + ` || fail mount data share
$bb mount -t sysfs sysfs /host/sys || fail sysfs
$bb mount -t cgroup2 -o nsdelegate cgroup2 /host/sys/fs/cgroup || fail cgroup2
$bb mount --move /dev /host/dev || fail move /dev
$bb mount --move /proc /host/proc || fail move /proc
$bb mkdir -p /host/dev/shm && $bb mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm
$bb ip link set lo up || fail loopback
echo "pecan-guest: cgroup2 controllers: $($bb cat /host/sys/fs/cgroup/cgroup.controllers)"
exec $bb switch_root /host /bin/sh ` + run + `/guest.sh
`
}

// guestStep is one test binary the guest runs, in dir (relative to the
// repository), with its output in <run>/<name>.log and its exit status in
// <run>/<name>.exit.
type guestStep struct {
	name, dir, binary string
	args              []string
}

// guestSteps are what the guest runs: the guest suite, the container
// backend's own tests (on cgroup v2 here; on v1 they run on the host),
// and the backend's per-run benchmark against bare fork/exec in the same
// guest (BENCHMARKS.md).
func guestSteps(guestBin, containerBin string) []guestStep {
	return []guestStep{
		{"guest", "tests/cgroup2", guestBin, []string{"-test.v", "-test.count=1", "-test.timeout=6m"}},
		// TestLocksSucceedWithoutEffect locks a file of the host's root,
		// which in the guest is 9p: there flock is emulated with POSIX
		// locks, and the two conflict where on a local filesystem they
		// do not. It runs on the host.
		{"container", "backends/container", containerBin, []string{"-test.v", "-test.count=1", "-test.timeout=2m", "-test.skip=^TestLocksSucceedWithoutEffect$"}},
		{"bench", "backends/container", containerBin, []string{"-test.run=^$", "-test.bench=^BenchmarkRunPlacement$", "-test.benchtime=40x", "-test.timeout=3m"}},
	}
}

// guestScript runs as the guest's pid 1 once its root is the host's: the
// steps, their output into the run share, then power-off.
func guestScript(repo, run, bin, cfg, data string, steps []guestStep) string {
	var b strings.Builder
	fmt.Fprintf(&b, `#!/bin/sh
export PATH=/usr/local/bin:/usr/bin:/bin HOME=/root TMPDIR=/run/tmp LANG=C.UTF-8
export %s=%s PECAN_CGROUP2_CONFIG=%s PECAN_CGROUP2_DATA=%s
mkdir -p /run/tmp
`, testserver.PrebuiltEnv, bin, cfg, data)
	for _, s := range steps {
		fmt.Fprintf(&b, "cd %s && { %s %s; echo $? > %s; } 2>&1 | tee %s\n",
			filepath.Join(repo, s.dir), s.binary, strings.Join(quoteAll(s.args), " "),
			filepath.Join(run, s.name+".exit"), filepath.Join(run, s.name+".log"))
	}
	b.WriteString("sync\necho o > /proc/sysrq-trigger\nsleep 60\n")
	return b.String()
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return out
}

// bootGuest runs qemu until the guest powers off, or kills it at the
// deadline; it returns the console's output.
func bootGuest(t *testing.T, a assets, initrd, run, data string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), guestDeadline)
	defer cancel()
	args := []string{
		"-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2", "-m", strconv.Itoa(guestMemoryMiB),
		"-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", a.kernel, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 quiet rdinit=/init",
		"-fsdev", "local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap",
		"-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
		"-fsdev", "local,id=run,path=" + run + ",security_model=passthrough",
		"-device", "virtio-9p-pci,fsdev=run,mount_tag=run",
		"-fsdev", "local,id=data,path=" + data + ",security_model=passthrough",
		"-device", "virtio-9p-pci,fsdev=data,mount_tag=data",
	}
	cmd := exec.CommandContext(ctx, a.qemu, args...)
	// qemu dies with this test's thread that started it (a killed go
	// test leaves no guest running) and at the deadline.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = cmd.Stdout
	var console bytes.Buffer
	lines := make(chan string)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(out)
		s.Buffer(make([]byte, 64<<10), 1<<20)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	done := make(chan error, 1)
	go func() {
		// Pdeathsig follows the thread that forked: keep it alive until
		// qemu has exited.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			done <- err
			return
		}
		for l := range lines {
			console.WriteString(l + "\n")
			t.Log("guest: " + l)
		}
		done <- cmd.Wait()
	}()
	err = <-done
	if ctx.Err() != nil {
		return console.String(), fmt.Errorf("no power-off within %s: qemu killed", guestDeadline)
	}
	if err != nil {
		return console.String(), fmt.Errorf("qemu: %w", err)
	}
	return console.String(), nil
}

// checkGuestResults wants every step's exit status 0, every test of
// guestTests passed, and logs the benchmark's figures.
func checkGuestResults(t *testing.T, run, console string, steps []guestStep) {
	t.Helper()
	logs := map[string][]byte{}
	for _, s := range steps {
		logs[s.name], _ = os.ReadFile(filepath.Join(run, s.name+".log"))
		exit, err := os.ReadFile(filepath.Join(run, s.name+".exit"))
		if err != nil {
			t.Errorf("guest step %s did not finish (no exit status): %v\n---- console (last lines) ----\n%s", s.name, err, tail(console, 60))
			continue
		}
		if code := strings.TrimSpace(string(exit)); code != "0" {
			t.Errorf("guest step %s exited with status %s\n---- its output (last lines) ----\n%s", s.name, code, tail(string(logs[s.name]), 150))
		}
	}
	for _, name := range guestTests {
		log := logs["guest"]
		switch {
		case bytes.Contains(log, []byte("--- PASS: "+name+" ")):
		case bytes.Contains(log, []byte("--- SKIP: "+name+" ")):
			t.Errorf("guest test %s was skipped", name)
		case bytes.Contains(log, []byte("--- FAIL: "+name+" ")):
			t.Errorf("guest test %s failed", name)
		default:
			t.Errorf("guest test %s did not run", name)
		}
	}
	if bytes.Contains(logs["container"], []byte("--- SKIP")) {
		t.Errorf("a container backend test was skipped in the guest:\n%s", tail(string(logs["container"]), 40))
	}
	logBenchmark(t, logs["bench"])
}

// placementLine is BenchmarkRunPlacement's result line, with its medians.
var placementLine = regexp.MustCompile(`BenchmarkRunPlacement-\d+\s+\d+\s+\S+ ns/op\s+([\d.]+) bare-ms\s+([\d.]+) clone-ms\s+([\d.]+) moved-ms`)

// logBenchmark logs the per-run cost in the guest against a bare
// fork/exec there, for each placement of a run into its cgroup: under TCG
// only the ratios mean anything. Speed is not asserted.
func logBenchmark(t *testing.T, out []byte) {
	t.Helper()
	m := placementLine.FindSubmatch(out)
	if m == nil {
		t.Errorf("no BenchmarkRunPlacement figures (bare, clone, moved) from the guest:\n%s", tail(string(out), 30))
		return
	}
	var v [3]float64
	for i := range v {
		v[i], _ = strconv.ParseFloat(string(m[i+1]), 64)
	}
	t.Logf("per-run cost in the cgroup v2 guest, /bin/true, medians: bare fork/exec %.1f ms; in a sandbox cloned into its cgroup %.1f ms (%.2f×), moved in by the server %.1f ms (%.2f×)",
		v[0], v[1], v[1]/v[0], v[2], v[2]/v[0])
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
