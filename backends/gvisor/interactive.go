package gvisor

import (
	"context"
	"fmt"

	"github.com/pecan-judge/pecan/backends"
)

// Start is not built for gvisor yet: interactive problems need two
// programs connected by pipes, each in its own sandbox, and a run here is
// a runsc exec whose stdio carries the runner's framing (README, "The
// gvisor backend").
func (s *sandbox) Start(context.Context, backends.RunSpec, backends.Stdio) (backends.Process, error) {
	return nil, fmt.Errorf("gvisor: a program with given stdio: %w", backends.ErrUnsupported)
}

// Beside is not built for gvisor yet; see Start.
func (s *sandbox) Beside(context.Context) (backends.Sandbox, error) {
	return nil, fmt.Errorf("gvisor: a second sandbox for an interactive validator: %w", backends.ErrUnsupported)
}
