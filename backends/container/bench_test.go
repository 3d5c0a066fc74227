package container

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pecan-judge/pecan/backends"
)

// BenchmarkRunTrue is the fixed cost of one run in a prewarmed sandbox:
// fresh cgroup, stdin memfd, pipes, execve in the container, teardown.
func BenchmarkRunTrue(b *testing.B) {
	sb := newTestSandboxB(b)
	for i := 0; i < b.N; i++ {
		if _, err := sb.Run(context.Background(), backends.RunSpec{Args: []string{"/bin/true"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareTrue is the same program run with os/exec on the host, the
// baseline for BenchmarkRunTrue.
func BenchmarkBareTrue(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
	}
}

func newTestSandboxB(b *testing.B) backends.Sandbox {
	be, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	sb, err := be.New(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sb.Destroy(); be.Close() })
	return sb
}

// BenchmarkReset is what a sandbox spends between two jobs: its
// container renewed in place.
func BenchmarkReset(b *testing.B) {
	sb := newTestSandboxB(b)
	for i := 0; i < b.N; i++ {
		if err := sb.Reset(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNew is what a new sandbox (or one rebuilt after a failure)
// costs: a container built and destroyed, with the dedicated init
// program and with this (test) binary re-executed as init.
func BenchmarkNew(b *testing.B) {
	initBin := filepath.Join(b.TempDir(), InitBinaryName)
	build := exec.Command("go", "build", "-o", initBin, "../../cmd/pecan-sandbox-init")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build links it
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build the sandbox init: %v\n%s", err, out)
	}
	for _, c := range []struct{ name, init string }{{"dedicated-init", initBin}, {"self-init", ""}} {
		b.Run(c.name, func(b *testing.B) {
			be, err := New(Options{InitBinary: c.init})
			if err != nil {
				b.Fatal(err)
			}
			defer be.Close()
			for i := 0; i < b.N; i++ {
				sb, err := be.New(context.Background(), "bench")
				if err != nil {
					b.Fatal(err)
				}
				if err := sb.Destroy(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
