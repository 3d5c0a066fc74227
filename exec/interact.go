package exec

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/pecan-judge/pecan/backends"
)

// Side is one of the two programs Interact runs: what to run, and where.
type Side struct {
	Sandbox backends.Sandbox
	Spec    backends.RunSpec
}

// Interaction is what Interact measured of its two programs, in the order
// they were given (Stdout empty: each wrote to the other).
type Interaction struct {
	Results [2]backends.RunResult
	// First is the index of the program whose run ended first, as the
	// host saw them end (see exitReporter): the order in which they
	// exited, not a comparison of measured times.
	First int
}

// endReporter is a Process that says when the host saw its program end,
// stamped before the other program could see that end (see
// toolrun.Process.Ended): two programs' ends are ordered by it where the
// backend gives it, since Wait also waits for a clean-up (a wrapped
// tool's cgroup removal, its report read) that may take longer for the
// one that ended first. Otherwise by Wait's return.
type endReporter interface {
	Ended() time.Time
}

// Interact runs two programs at the same time, each in its sandbox and
// under its own limits, the first's stdout piped to the second's stdin and
// the second's stdout to the first's stdin, and waits for both. Each sees
// EOF (or a broken pipe) once the other is gone; a pair that waits on each
// other ends when their wall limits do. Every pipe is closed when it
// returns. Files must be in place already (see Put).
func Interact(ctx context.Context, sides [2]Side) (Interaction, error) {
	// toFirst carries the second's output to the first, toSecond the
	// first's to the second.
	toFirstR, toFirstW, err := os.Pipe()
	if err != nil {
		return Interaction{}, fmt.Errorf("interact: pipe: %w", err)
	}
	toSecondR, toSecondW, err := os.Pipe()
	if err != nil {
		toFirstR.Close()
		toFirstW.Close()
		return Interaction{}, fmt.Errorf("interact: pipe: %w", err)
	}
	// Start owns the ends it is given, even when it fails.
	first, err := sides[0].Sandbox.Start(ctx, sides[0].Spec, backends.Stdio{Stdin: toFirstR, Stdout: toSecondW})
	if err != nil {
		toSecondR.Close()
		toFirstW.Close()
		return Interaction{}, fmt.Errorf("interact: start the first program: %w", err)
	}
	second, err := sides[1].Sandbox.Start(ctx, sides[1].Spec, backends.Stdio{Stdin: toSecondR, Stdout: toFirstW})
	if err != nil {
		// The first sees its pipes' other ends closed and ends soon.
		_, _ = first.Wait()
		return Interaction{}, fmt.Errorf("interact: start the second program: %w", err)
	}
	type ended struct {
		i   int
		res backends.RunResult
		err error
	}
	done := make(chan ended, 2)
	for i, p := range []backends.Process{first, second} {
		go func() {
			res, err := p.Wait()
			done <- ended{i, res, err}
		}()
	}
	var out Interaction
	var errs [2]error
	for n := range 2 {
		e := <-done
		if n == 0 {
			out.First = e.i
		}
		out.Results[e.i], errs[e.i] = e.res, e.err
	}
	a, aok := first.(endReporter)
	b, bok := second.(endReporter)
	if aok && bok {
		out.First = 0
		if b.Ended().Before(a.Ended()) {
			out.First = 1
		}
	}
	for i, err := range errs {
		if err != nil {
			return Interaction{}, fmt.Errorf("interact: program %d: %w", i+1, err)
		}
	}
	return out, nil
}
