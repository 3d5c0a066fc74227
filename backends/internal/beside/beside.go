// Package beside keeps the second sandbox a backend's sandbox
// gives by Beside (an interactive validator's): built on first use,
// the same one until the owner's next Reset drops it, destroyed with the
// owner.
package beside

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pecan-judge/pecan/backends"
)

// ErrClosed is the error of a Slot whose owner was destroyed.
var ErrClosed = errors.New("the owner is destroyed")

// Slot holds at most one sandbox beside its owner.
type Slot struct {
	mu     sync.Mutex
	sb     backends.Sandbox
	closed bool
	nested bool // the owner is itself beside another: it has none
}

// Nest marks the slot of a sandbox that Get built: a sandbox beside
// another has none beside it.
func (s *Slot) Nest() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nested = true
}

// Get is the owner's Beside (owner names it in errors): the sandbox held,
// or one built with build when there is none. Concurrent calls wait for
// one build.
func (s *Slot) Get(ctx context.Context, owner string, build func(context.Context) (backends.Sandbox, error)) (backends.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("beside sandbox %s: %w", owner, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.nested:
		return nil, fmt.Errorf("sandbox %s is itself beside another", owner)
	case s.closed:
		return nil, fmt.Errorf("beside sandbox %s: %w: %w", owner, backends.ErrBroken, ErrClosed)
	case s.sb != nil:
		return s.sb, nil
	}
	sb, err := build(ctx)
	if err != nil {
		return nil, fmt.Errorf("beside sandbox %s: %w", owner, err)
	}
	s.sb = sb
	return sb, nil
}

// Drop destroys the sandbox held, if any: whatever a program left there
// goes with it.
func (s *Slot) Drop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drop()
}

// Close drops the sandbox held and refuses to build another.
func (s *Slot) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.drop()
}

func (s *Slot) drop() error {
	sb := s.sb
	s.sb = nil
	if sb == nil {
		return nil
	}
	if err := sb.Destroy(); err != nil {
		return fmt.Errorf("the sandbox beside: %w", err)
	}
	return nil
}
