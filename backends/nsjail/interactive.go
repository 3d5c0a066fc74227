package nsjail

import (
	"context"
	"fmt"

	"github.com/pecan-judge/pecan/backends"
)

// Start is not built for nsjail yet: interactive problems need two
// programs connected by pipes, each in its own box (README, "Backends").
func (s *sandbox) Start(context.Context, backends.RunSpec, backends.Stdio) (backends.Process, error) {
	return nil, fmt.Errorf("nsjail: a program with given stdio: %w", backends.ErrUnsupported)
}

// Beside is not built for nsjail yet; see Start.
func (s *sandbox) Beside(context.Context) (backends.Sandbox, error) {
	return nil, fmt.Errorf("nsjail: a second sandbox for an interactive validator: %w", backends.ErrUnsupported)
}
