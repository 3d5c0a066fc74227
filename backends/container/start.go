package container

import (
	"context"
	"fmt"

	"github.com/pecan-judge/pecan/backends"
)

// process is a program Start started; done closes when its run is over.
type process struct {
	done chan struct{}
	res  backends.RunResult
	err  error
}

func (p *process) Wait() (backends.RunResult, error) {
	<-p.done
	return p.res, p.err
}

// Start runs one program as Run does, with the given stdin and stdout
// instead of a memfd and a captured pipe, and returns without waiting for
// it. Its cgroup, CPU watchdog and wall limit are its own. It closes
// stdio's files (once the container's init holds its own copies).
func (s *sandbox) Start(ctx context.Context, spec backends.RunSpec, stdio backends.Stdio) (backends.Process, error) {
	if stdio.Stdin == nil || stdio.Stdout == nil {
		closeStdio(stdio)
		return nil, fmt.Errorf("start in sandbox %s: stdin and stdout must be given", s.id)
	}
	if len(spec.Args) == 0 {
		closeStdio(stdio)
		return nil, fmt.Errorf("start in sandbox %s: no command", s.id)
	}
	env, err := s.current()
	if err != nil {
		closeStdio(stdio)
		return nil, fmt.Errorf("start: %w", err)
	}
	r, err := s.newRunning(spec, stdio)
	if err != nil {
		return nil, err
	}
	p := &process{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.res, p.err = r.execute(ctx, env, nil)
	}()
	return p, nil
}

func closeStdio(stdio backends.Stdio) {
	if stdio.Stdin != nil {
		stdio.Stdin.Close()
	}
	if stdio.Stdout != nil {
		stdio.Stdout.Close()
	}
}
