package container

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/container/initproc"
)

// TestRunPlacement: where the container's init may create a run's process
// in its cgroup (cgroup v2 with the server in the root cgroup, as in the
// guest of tests/cgroup2), it is given the open cgroup directory and
// nothing runs between fork and exec; elsewhere (cgroup v1, the host of
// the other suites) the init's thread creates it inside the cgroups it joined.
func TestRunPlacement(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("cgroups need root; CI runs as root")
	}
	root, err := newCgroupRoot("pecan-test-placement")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := root.destroy(); err != nil {
			t.Error(err)
		}
	}()
	rc, err := root.newRun(64<<20, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.destroy()
	var x initproc.Exec
	closePlacement, err := rc.place(&x)
	if err != nil {
		t.Fatal(err)
	}
	defer closePlacement()

	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	inRoot := strings.TrimSpace(string(own)) == "0::/"
	switch {
	case root.v2 && inRoot:
		if x.CgroupDir == nil || len(x.CgroupProcs) != 0 {
			t.Errorf("cgroup v2, server in the root cgroup: want the run cloned into its cgroup, got directory %v and %d cgroup.procs files",
				x.CgroupDir, len(x.CgroupProcs))
		}
	case !root.v2:
		if x.CgroupDir != nil || x.Thread == nil || len(x.Thread.Join) != len(v1Hierarchies) ||
			len(x.Thread.Leave)+len(x.Thread.LeaveAtEnd) != len(v1Hierarchies) || len(x.Thread.LeaveAtEnd) != 1 {
			t.Errorf("cgroup v1: want the init's thread to join %d cgroups and leave all but pids at once, got %+v (directory %v)", len(v1Hierarchies), x.Thread, x.CgroupDir)
		}
	}
	if err := rc.destroy(); err != nil {
		t.Fatal(err)
	}
	if rc.dir != nil {
		t.Error("the run cgroup's directory is still open after destroy")
	}
}

func TestMountOption(t *testing.T) {
	// /proc is mounted read-write on every host these tests run on;
	// "nosuchoption" is on none.
	if !mountOption("/proc", "rw") {
		t.Error("mountOption does not find /proc's super-block option rw")
	}
	if mountOption("/proc", "nosuchoption") {
		t.Error("mountOption found an option that no mount has")
	}
	if !kernelAtLeast(2, 6) || kernelAtLeast(1000, 0) {
		t.Error("kernelAtLeast compares the running kernel's release wrongly")
	}
}

// BenchmarkRunPlacement runs /bin/true three ways, interleaved so that
// a machine's changing load falls on all three alike: bare with os/exec,
// in a sandbox cloned into its cgroup by the container's init (cgroup v2
// where the hierarchy allows it; left out elsewhere), and in a sandbox
// moved into its cgroup by the server between fork and exec. It reports
// the median of each in ms (bare-ms, clone-ms, moved-ms). tests/cgroup2
// runs it in its cgroup v2 guest (BENCHMARKS.md).
func BenchmarkRunPlacement(b *testing.B) {
	be, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	sb, err := be.New(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Destroy()
	canClone := be.cgroups.cloneInto
	defer func() { be.cgroups.cloneInto = canClone }()
	runIn := func(clone bool) time.Duration {
		be.cgroups.cloneInto = clone
		start := time.Now()
		if _, err := sb.Run(context.Background(), backends.RunSpec{Args: []string{"/bin/true"}}); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var bare, clone, moved []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
		bare = append(bare, time.Since(start))
		if canClone {
			clone = append(clone, runIn(true))
		}
		moved = append(moved, runIn(false))
	}
	b.ReportMetric(medianMs(bare), "bare-ms")
	if canClone {
		b.ReportMetric(medianMs(clone), "clone-ms")
	}
	b.ReportMetric(medianMs(moved), "moved-ms")
}

func medianMs(d []time.Duration) float64 {
	d = slices.Clone(d)
	slices.Sort(d)
	return float64(d[len(d)/2]) / float64(time.Millisecond)
}
