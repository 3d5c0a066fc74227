// Package interacttest holds the tests of Start and Beside that every
// wrapping backend (isolate, nsjail) passes against its real tool: two
// programs conversing through pipes, a deadlock ending at the wall limit,
// each side's limits its own, and nothing left open.
package interacttest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/exec"
)

// Shell is a run of script by /bin/sh under lim.
func Shell(script string, lim backends.Limits) backends.RunSpec {
	return backends.RunSpec{Args: []string{"/bin/sh", "-c", script}, Env: []string{"PATH=/usr/bin:/bin"}, Limits: lim}
}

// Pipes counts this process's descriptors that are pipes.
func Pipes(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "pipe:") {
			n++
		}
	}
	return n
}

// Interact runs program in sb and validator beside it, connected.
func Interact(t *testing.T, sb backends.Sandbox, program, validator backends.RunSpec) exec.Interaction {
	t.Helper()
	ctx := context.Background()
	vsb, err := sb.Beside(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := exec.Interact(ctx, [2]exec.Side{{Sandbox: sb, Spec: program}, {Sandbox: vsb, Spec: validator}})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Leftovers checks what a backend may leave after a run: it is called
// with the number of pipes open before.
type Leftovers func(t *testing.T, pipesBefore int)

// Converses: each reads what the other writes, each one's stderr is its
// own, and both are measured.
func Converses(t *testing.T, sb backends.Sandbox, left Leftovers) {
	before := Pipes(t)
	lim := backends.Limits{CPU: 2 * time.Second, Wall: 5 * time.Second}
	got := Interact(t, sb,
		Shell(`read n; echo $((n + 1)); read verdict; echo "$verdict" >&2`, lim),
		Shell(`echo 41; read m; if [ "$m" = 42 ]; then echo right; echo validated >&2; exit 42; fi; echo wrong; exit 43`, lim))
	prog, val := got.Results[0], got.Results[1]
	if val.ExitCode != 42 || string(val.Stderr) != "validated\n" || prog.ExitCode != 0 || string(prog.Stderr) != "right\n" {
		t.Fatalf("program %+v (stderr %q), validator %+v (stderr %q)", prog, prog.Stderr, val, val.Stderr)
	}
	if len(prog.Stdout) != 0 || len(val.Stdout) != 0 || prog.CPU <= 0 || prog.MemoryPeak == 0 || val.MemoryPeak == 0 {
		t.Errorf("program %+v, validator %+v: stdout goes to the other, each run is measured", prog, val)
	}
	left(t, before)
}

// DeadlockEndsAtTheWallLimit: both read; the program is stopped at its
// wall limit, and the validator then reads EOF.
func DeadlockEndsAtTheWallLimit(t *testing.T, sb backends.Sandbox, left Leftovers) {
	before := Pipes(t)
	got := Interact(t, sb,
		Shell(`read x`, backends.Limits{CPU: time.Second, Wall: 500 * time.Millisecond}),
		Shell(`read y; exit 43`, backends.Limits{CPU: time.Second, Wall: 10 * time.Second}))
	prog, val := got.Results[0], got.Results[1]
	if !prog.WallExceeded || prog.CPUExceeded || got.First != 0 {
		t.Fatalf("program %+v, first %d: want it stopped at its wall limit, first", prog, got.First)
	}
	if val.ExitCode != 43 || val.WallExceeded || val.Wall > 5*time.Second {
		t.Errorf("validator %+v: it should have read EOF once the program was gone", val)
	}
	left(t, before)
}

// LimitsAreEachSides: a validator spinning is stopped at its own CPU
// limit, and none of its time is the program's.
func LimitsAreEachSides(t *testing.T, sb backends.Sandbox, left Leftovers) {
	before := Pipes(t)
	got := Interact(t, sb,
		Shell(`read x`, backends.Limits{CPU: 2 * time.Second, Wall: 8 * time.Second}),
		Shell(`while :; do :; done`, backends.Limits{CPU: 500 * time.Millisecond, Wall: 8 * time.Second}))
	prog, val := got.Results[0], got.Results[1]
	if !val.CPUExceeded || got.First != 1 {
		t.Fatalf("validator %+v, first %d: want it stopped at its CPU limit, first", val, got.First)
	}
	if prog.CPUExceeded || prog.WallExceeded || prog.CPU > 200*time.Millisecond || prog.Signal != 0 {
		t.Errorf("program %+v: it should have read EOF, charged none of the validator's time", prog)
	}
	left(t, before)
}

// StartClosesStdioOnFailure: Start owns the files it is given even when
// it starts nothing.
func StartClosesStdioOnFailure(t *testing.T, sb backends.Sandbox, left Leftovers) {
	before := Pipes(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Start(context.Background(), backends.RunSpec{}, backends.Stdio{Stdin: r, Stdout: w}); err == nil {
		t.Fatal("a start with no command succeeded")
	}
	left(t, before)
}

// OrderFollowsCause: a program that ends because the validator did (it
// reads end of file) is always the second to end, however the host's
// clean-up of either run is scheduled. Repeated, since a wrong order
// shows only now and then.
func OrderFollowsCause(t *testing.T, sb backends.Sandbox, left Leftovers) {
	before := Pipes(t)
	lim := backends.Limits{CPU: time.Second, Wall: 5 * time.Second}
	for i := range 10 {
		got := Interact(t, sb, Shell(`read x; exit 1`, lim), Shell(`exit 43`, lim))
		if got.First != 1 || got.Results[1].ExitCode != 43 || got.Results[0].ExitCode != 1 {
			t.Fatalf("round %d: first %d, program %+v, validator %+v: the validator ended first", i, got.First, got.Results[0], got.Results[1])
		}
		got = Interact(t, sb, Shell(`exit 1`, lim), Shell(`read x; exit 43`, lim))
		if got.First != 0 {
			t.Fatalf("round %d: first %d: the program ended first", i, got.First)
		}
	}
	left(t, before)
}
