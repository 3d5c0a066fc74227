package container

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/container/initproc"
	"github.com/pecan-judge/pecan/backends/internal/beside"
)

// sandbox is one pre-forked container, renewed in place by its init at
// every Reset (initproc.Init.Renew).
type sandbox struct {
	id      string
	backend *Backend

	mu  sync.Mutex
	env *initproc.Init // nil once destroyed
	uid int            // its programs', the backend's again once destroyed

	destroyed  bool
	destroyErr error

	beside beside.Slot // the container Beside gave since the last Reset
}

var errDestroyed = errors.New("sandbox destroyed")

func (s *sandbox) ID() string { return s.id }

// InitPID is the host pid of the container's init process, for operators
// and fault injection that kill it from outside.
func (s *sandbox) InitPID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.env == nil {
		return 0
	}
	return s.env.Pid()
}

// current is the live container, or an error wrapping ErrBroken.
func (s *sandbox) current() (*initproc.Init, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.env == nil {
		return nil, fmt.Errorf("sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
	}
	return s.env, nil
}

// Reset makes the container new for the next job: every process killed,
// new empty work directory and /tmp, a new IPC namespace for programs
// (System V objects whatever their mode, POSIX message queues) and the
// pid counter where a new container's starts; its network namespace
// holds nothing once its processes are gone (its loopback is down, and no
// program may raise it). The container Beside gave is destroyed. A
// container that cannot be renewed is broken.
func (s *sandbox) Reset(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("reset sandbox %s: %w", s.id, err)
	}
	// Whatever a validator left there goes with its container.
	_ = s.beside.Drop()
	env, err := s.current()
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	if err := env.Renew(ctx); err != nil {
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, err)
	}
	return nil
}

// Ping reports whether the container is alive.
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
	_ = s.beside.Close()
	if s.env != nil {
		if err := s.env.Destroy(); err != nil && !isKilled(err) {
			s.destroyErr = fmt.Errorf("destroy sandbox %s: %w", s.id, err)
		}
		s.env = nil
		// Every process that ran as it is gone with the container.
		s.backend.uids.give(s.uid)
	}
	return s.destroyErr
}

// isKilled reports the expected outcome of destroying the container's
// init: killed, or already ended on its own (an init that could not renew
// its container ends).
func isKilled(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit)
}
