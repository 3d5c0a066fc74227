package isolate

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/internal/interacttest"
)

// leftovers wants no more pipes open than before and no run cgroup left
// below the backend's: Wait returns once the run is gone.
func leftovers(b *Backend) interacttest.Leftovers {
	return func(t *testing.T, pipesBefore int) {
		t.Helper()
		if n := interacttest.Pipes(t); n > pipesBefore {
			t.Errorf("%d pipes open after the interaction, %d before", n, pipesBefore)
		}
		for _, pattern := range []string{"/sys/fs/cgroup/*/" + b.cgroups.Name() + "/run-*", "/sys/fs/cgroup/" + b.cgroups.Name() + "/run-*"} {
			if left, _ := filepath.Glob(pattern); len(left) > 0 {
				t.Errorf("run cgroups left: %v", left)
			}
		}
	}
}

func TestInteract(t *testing.T) {
	b := newTestBackend(t)
	s := newTestSandbox(t, b)
	for name, test := range map[string]func(*testing.T, backends.Sandbox, interacttest.Leftovers){
		"converses":                     interacttest.Converses,
		"deadlock_ends_at_wall_limit":   interacttest.DeadlockEndsAtTheWallLimit,
		"limits_are_each_sides":         interacttest.LimitsAreEachSides,
		"start_closes_stdio_on_failure": interacttest.StartClosesStdioOnFailure,
		"order_follows_cause":           interacttest.OrderFollowsCause,
	} {
		t.Run(name, func(t *testing.T) {
			test(t, s, leftovers(b))
			if err := s.Reset(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The validator's box shares nothing with the program's: neither files
// nor processes, and it is new after every Reset.
func TestBesideIsolated(t *testing.T) {
	b := newTestBackend(t)
	s := newTestSandbox(t, b)
	ctx := context.Background()
	vb, err := s.Beside(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := vb.(*sandbox)
	if again, _ := s.Beside(ctx); again != vb {
		t.Error("a second Beside before a Reset gave another sandbox")
	}
	if v.box == s.box || v.dir == s.dir {
		t.Fatalf("the sandbox beside is on the program's box %d", s.box)
	}
	if err := vb.PutFile(ctx, "answer", strings.NewReader("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	lim := backends.Limits{CPU: time.Second, Wall: 5 * time.Second}
	got := interacttest.Interact(t, s,
		interacttest.Shell(`ls -A . /tmp >&2; cat `+v.dir+`/box/answer ../../`+filepath.Base(v.dir)+`/box/answer >&2; ls /proc | grep -c '^[0-9]' >&2; cat /proc/*/cmdline 2>/dev/null | tr '\0' ' ' >&2; read x`, lim),
		interacttest.Shell(`sleep 0.3; echo go`, lim))
	seen := string(got.Results[0].Stderr)
	if strings.Contains(seen, "answer\n") || strings.Contains(seen, "secret") || strings.Contains(seen, "sleep") {
		t.Errorf("the program saw the validator's files or processes:\n%s", seen)
	}
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if mounted(t, v.dir) {
		t.Errorf("the old box beside %s is still mounted after Reset", v.dir)
	}
	fresh, err := s.Beside(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := fresh.Run(ctx, interacttest.Shell(`ls -A`, lim))
	if err != nil || strings.Contains(string(res.Stdout), "answer") {
		t.Errorf("after Reset the validator's sandbox still has %q (%v)", res.Stdout, err)
	}
	if _, err := fresh.Beside(ctx); err == nil {
		t.Error("a Beside sandbox gave one of its own")
	}
	fdir := fresh.(*sandbox).dir
	if err := s.Destroy(); err != nil {
		t.Fatal(err)
	}
	if mounted(t, fdir) {
		t.Errorf("the box beside %s is still mounted after Destroy", fdir)
	}
}
