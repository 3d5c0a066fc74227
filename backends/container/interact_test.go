package container

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/internal/interacttest"
)

// noNewPipes wants at most before pipes open, within a deadline: the
// init lets go of a program's pipes as the run ends, not before.
func noNewPipes(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for n := interacttest.Pipes(t); n > before; n = interacttest.Pipes(t) {
		if time.Now().After(deadline) {
			t.Errorf("%d pipes open after the interaction, %d before", n, before)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInteractConverses(t *testing.T) {
	sb := newTestSandbox(t)
	before := interacttest.Pipes(t)
	lim := backends.Limits{CPU: 2 * time.Second, Wall: 5 * time.Second}
	got := interacttest.Interact(t, sb,
		interacttest.Shell(`read n; echo $((n + 1)); read verdict; echo "$verdict" >&2`, lim),
		interacttest.Shell(`echo 41; read m; if [ "$m" = 42 ]; then echo right; exit 42; fi; echo wrong; exit 43`, lim))
	prog, val := got.Results[0], got.Results[1]
	if val.ExitCode != 42 || prog.ExitCode != 0 || string(prog.Stderr) != "right\n" {
		t.Fatalf("program %+v (stderr %q), validator %+v", prog, prog.Stderr, val)
	}
	noNewPipes(t, before)
}

func TestInteractDeadlockEndsAtTheWallLimit(t *testing.T) {
	sb := newTestSandbox(t)
	before := interacttest.Pipes(t)
	got := interacttest.Interact(t, sb,
		interacttest.Shell(`read x`, backends.Limits{CPU: time.Second, Wall: 500 * time.Millisecond}),
		interacttest.Shell(`read y; exit 43`, backends.Limits{CPU: time.Second, Wall: 10 * time.Second}))
	prog, val := got.Results[0], got.Results[1]
	if !prog.WallExceeded || got.First != 0 {
		t.Fatalf("program %+v, first %d: want it stopped at its wall limit, first", prog, got.First)
	}
	if val.ExitCode != 43 || val.WallExceeded || val.Wall > 5*time.Second {
		t.Errorf("validator %+v: it should have read EOF once the program was gone", val)
	}
	noNewPipes(t, before)
}

// The validator's sandbox shares nothing with the program's: neither
// files nor processes, and it is new after every Reset.
func TestBesideIsolated(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()
	vsb, err := sb.Beside(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := sb.Beside(ctx); again != vsb {
		t.Error("a second Beside before a Reset gave another sandbox")
	}
	if err := vsb.PutFile(ctx, "answer", strings.NewReader("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	lim := backends.Limits{CPU: time.Second, Wall: 5 * time.Second}
	got := interacttest.Interact(t, sb,
		interacttest.Shell(`ls /w >&2; ls /proc | grep -c '^[0-9]' >&2; cat /proc/*/cmdline 2>/dev/null | tr '\0' ' ' >&2; read x`, lim),
		interacttest.Shell(`sleep 0.3; echo go`, lim))
	seen := string(got.Results[0].Stderr)
	if strings.Contains(seen, "answer") || strings.Contains(seen, "sleep") {
		t.Errorf("the program saw the validator's files or processes:\n%s", seen)
	}
	if err := sb.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	fresh, err := sb.Beside(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := fresh.Run(ctx, interacttest.Shell(`ls /w`, lim))
	if err != nil || strings.Contains(string(res.Stdout), "answer") {
		t.Errorf("after Reset the validator's sandbox still has %q (%v)", res.Stdout, err)
	}
	if _, err := fresh.Beside(ctx); err == nil {
		t.Error("a Beside sandbox gave one of its own")
	}
}
