package gvisor

import (
	"context"
	"errors"
	"fmt"

	"sync"

	"github.com/pecan-judge/pecan/backends"
)

// sandbox is one gVisor sandbox serving jobs, replaced by its spare at
// every Reset.
type sandbox struct {
	id      string
	backend *Backend

	mu        sync.Mutex
	cur       *gcontainer // nil once destroyed or broken by a reset
	spare     *spare
	broken    error // set when the current sandbox must not serve again
	destroyed bool
}

// spare is a sandbox being started, or started, for the next Reset.
type spare struct {
	ready chan struct{}
	c     *gcontainer
	err   error
}

var errDestroyed = errors.New("sandbox destroyed")

// startSpare starts the next sandbox in the background; the caller holds
// s.mu.
func (s *sandbox) startSpare() {
	sp := &spare{ready: make(chan struct{})}
	s.spare = sp
	go func() {
		sp.c, sp.err = s.backend.start(context.Background(), s.id)
		close(sp.ready)
	}()
}

// discard destroys sp once it has started, in the background.
func (s *sandbox) discard(sp *spare) {
	s.backend.background(func() {
		<-sp.ready
		if sp.c != nil {
			_ = s.backend.destroy(sp.c)
		}
	})
}

// retire destroys c in the background: runsc takes a second or two to
// delete a sandbox, which no job should wait for.
func (s *sandbox) retire(c *gcontainer) {
	s.backend.background(func() {
		if err := s.backend.destroy(c); err != nil {
			s.backend.logger.WithError(err).WithField("sandbox", s.id).Warn("destroy gVisor sandbox")
		}
	})
}

func (s *sandbox) ID() string { return s.id }

// current is the gVisor sandbox serving jobs, or an error wrapping
// ErrBroken.
func (s *sandbox) current() (*gcontainer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.cur == nil || s.destroyed:
		return nil, fmt.Errorf("sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
	case s.broken != nil:
		return nil, fmt.Errorf("sandbox %s: %w: %w", s.id, backends.ErrBroken, s.broken)
	}
	return s.cur, nil
}

// markBroken records that the current sandbox must not serve again.
func (s *sandbox) markBroken(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken == nil {
		s.broken = err
	}
}

// Reset replaces the sandbox with its spare. Emptying the work directory
// would not do: System V IPC objects, message queues, data queued on a
// socket and the pid counter live in the sandbox's kernel, and only a new
// kernel has none of them.
func (s *sandbox) Reset(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("reset sandbox %s: %w", s.id, err)
	}
	s.mu.Lock()
	old, sp, destroyed := s.cur, s.spare, s.destroyed
	s.cur, s.spare, s.broken = nil, nil, nil
	s.mu.Unlock()
	if old != nil {
		s.retire(old)
	}
	if destroyed || old == nil {
		if sp != nil {
			s.discard(sp)
		}
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
	}
	c, err := s.takeSpare(ctx, sp)
	if err != nil {
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		s.retire(c)
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
	}
	s.cur = c
	s.startSpare()
	return nil
}

// takeSpare is the spare once it runs, else a sandbox started now.
func (s *sandbox) takeSpare(ctx context.Context, sp *spare) (*gcontainer, error) {
	if sp != nil {
		select {
		case <-sp.ready:
			if sp.err == nil && sp.c.alive() {
				return sp.c, nil
			}
			if sp.c != nil {
				s.retire(sp.c)
			}
		case <-ctx.Done():
			s.discard(sp)
			return nil, ctx.Err()
		}
	}
	return s.backend.start(ctx, s.id)
}

// Ping reports whether the sandbox serving jobs is alive.
func (s *sandbox) Ping() error {
	c, err := s.current()
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if !c.alive() {
		return fmt.Errorf("ping sandbox %s: %w: gVisor sandbox %s exited", s.id, backends.ErrBroken, c.id)
	}
	return nil
}

// Destroy deletes the sandbox and its spare; it waits for the sandbox,
// not for the spare, which Close waits for.
func (s *sandbox) Destroy() error {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return nil
	}
	s.destroyed = true
	c, sp := s.cur, s.spare
	s.cur, s.spare = nil, nil
	s.mu.Unlock()
	if sp != nil {
		s.discard(sp)
	}
	if c != nil {
		if err := s.backend.destroy(c); err != nil {
			return fmt.Errorf("destroy sandbox %s: %w", s.id, err)
		}
	}
	return nil
}
