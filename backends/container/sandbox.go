package container

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/criyle/go-sandbox/container"

	"github.com/pecan-judge/pecan/backends"
)

// sandbox is one pre-forked container, replaced by a new one at every
// Reset.
type sandbox struct {
	id      string
	backend *Backend

	mu      sync.Mutex
	env     container.Environment // nil once destroyed
	initPID int                   // 0 when it could not be found

	destroyed  bool
	destroyErr error
}

var errDestroyed = errors.New("sandbox destroyed")

func (s *sandbox) ID() string { return s.id }

// InitPID is the host pid of the container's init process, for operators
// and fault injection that kill it from outside.
func (s *sandbox) InitPID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.initPID
}

// current is the live container, or an error wrapping ErrBroken.
func (s *sandbox) current() (container.Environment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.env == nil {
		return nil, fmt.Errorf("sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
	}
	return s.env, nil
}

// Reset replaces the container with a new one. Emptying the old one's
// tmpfs mounts would not be enough: its IPC namespace (System V objects
// whatever their mode, POSIX message queues), its network namespace (data
// queued on a socket) and its pid namespace (the pid counter) would carry
// over into the next job. Destroying the container kills every process
// left in it; each run's cgroup is already gone.
func (s *sandbox) Reset(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("reset sandbox %s: %w", s.id, err)
	}
	s.mu.Lock()
	old := s.env
	s.env, s.initPID = nil, 0
	destroyed := s.destroyed
	s.mu.Unlock()
	if destroyed || old == nil {
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
	}
	if err := old.Destroy(); err != nil && !isKilled(err) {
		return fmt.Errorf("reset sandbox %s: %w: destroy: %w", s.id, backends.ErrBroken, err)
	}
	env, pid, err := s.backend.build()
	if err != nil {
		return fmt.Errorf("reset sandbox %s: %w: rebuild: %w", s.id, backends.ErrBroken, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed { // Destroy ran meanwhile: the new container is nobody's
		env.Destroy()
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
	}
	s.env, s.initPID = env, pid
	return nil
}

func (s *sandbox) Ping() error {
	env, err := s.current()
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if err := env.Ping(); err != nil {
		return fmt.Errorf("ping sandbox %s: %w: %w", s.id, backends.ErrBroken, err)
	}
	return nil
}

func (s *sandbox) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return s.destroyErr
	}
	s.destroyed = true
	if s.env != nil {
		if err := s.env.Destroy(); err != nil && !isKilled(err) {
			s.destroyErr = fmt.Errorf("destroy sandbox %s: %w", s.id, err)
		}
		s.env, s.initPID = nil, 0
	}
	return s.destroyErr
}

// isKilled reports the expected outcome of killing the container's init.
func isKilled(err error) bool {
	return err != nil && strings.Contains(err.Error(), "signal: killed")
}
