package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/container/initproc"
)

// sandbox is one pre-forked container, replaced by a new one at every
// Reset. The next container is built in the background while the current
// one serves (the spare), so a Reset rarely waits for a build.
type sandbox struct {
	id      string
	backend *Backend

	mu    sync.Mutex
	env   *initproc.Init // nil once destroyed
	spare *spare         // the next container; nil once destroyed
	// netns is the network namespace every container of the sandbox
	// joins (see initproc.Init.OpenNetNS); nil when it could not be kept,
	// and each container makes its own.
	netns *os.File

	destroyed  bool
	destroyErr error

	beside   *sandbox // the container Beside gave since the last Reset, or nil
	isBeside bool     // this is such a container: no spare, no Beside of its own
}

// spare is a container being built, or built, for the next Reset.
type spare struct {
	ready chan struct{} // closed once built (or failed)
	env   *initproc.Init
	err   error
}

// startSpare builds the next container in the background; the caller
// holds s.mu.
func (s *sandbox) startSpare() {
	sp := &spare{ready: make(chan struct{})}
	s.spare = sp
	netns := s.dupNetNS()
	go func() {
		sp.env, sp.err = s.backend.build(netns)
		if netns != nil {
			netns.Close()
		}
		close(sp.ready)
	}()
}

// dupNetNS is a descriptor of the sandbox's network namespace of the
// caller's own (a build may outlive the sandbox's), or nil; the caller
// holds s.mu.
func (s *sandbox) dupNetNS() *os.File {
	if s.netns == nil {
		return nil
	}
	fd, err := unix.FcntlInt(s.netns.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(fd), "netns")
}

// keepNetNS keeps the network namespace of the sandbox's first container
// for the next ones; the caller holds s.mu.
func (s *sandbox) keepNetNS(env *initproc.Init) {
	if s.netns != nil {
		return
	}
	f, err := env.OpenNetNS()
	if err != nil {
		s.backend.logger.WithError(err).WithField("sandbox", s.id).Warn("each container of the sandbox makes its own network namespace")
		return
	}
	s.netns = f
}

// discard destroys sp once it is built, without waiting for it: a
// sandbox that breaks must not wait for its spare's build to be replaced.
// The backend's Close waits for every discard.
func (s *sandbox) discard(sp *spare) {
	if !s.backend.work.start() {
		// The backend is closing: no goroutine may outlive it.
		<-sp.ready
		if sp.env != nil {
			_ = sp.env.Destroy()
		}
		return
	}
	go func() {
		defer s.backend.work.finish()
		<-sp.ready
		if sp.env != nil {
			_ = sp.env.Destroy()
		}
	}()
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
	// A stuck job's Reset may run after its sandbox was destroyed and the
	// backend closed; it must build nothing then.
	if !s.backend.work.start() {
		return fmt.Errorf("reset sandbox %s: %w: backend closed", s.id, backends.ErrBroken)
	}
	defer s.backend.work.finish()
	s.dropBeside()
	s.mu.Lock()
	old, sp, destroyed := s.env, s.spare, s.destroyed
	s.env, s.spare = nil, nil
	s.mu.Unlock()
	if destroyed || old == nil {
		if sp != nil {
			s.discard(sp)
		}
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
	}
	if err := old.Destroy(); err != nil && !isKilled(err) {
		if sp != nil {
			s.discard(sp)
		}
		return fmt.Errorf("reset sandbox %s: %w: destroy: %w", s.id, backends.ErrBroken, err)
	}
	env, err := s.takeSpare(ctx, sp)
	if err != nil {
		return fmt.Errorf("reset sandbox %s: %w: rebuild: %w", s.id, backends.ErrBroken, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed { // Destroy ran meanwhile: the new container is nobody's
		env.Destroy()
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
	}
	s.env = env
	s.startSpare()
	return nil
}

// takeSpare is the spare container once it is built and alive, else a
// container built now (a spare can be killed from outside while it
// waits).
func (s *sandbox) takeSpare(ctx context.Context, sp *spare) (*initproc.Init, error) {
	if sp != nil {
		select {
		case <-sp.ready:
			if sp.err == nil && sp.env.Ping() == nil {
				return sp.env, nil
			}
			if sp.env != nil {
				_ = sp.env.Destroy()
			}
		case <-ctx.Done():
			s.discard(sp)
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	netns := s.dupNetNS()
	s.mu.Unlock()
	if netns != nil {
		defer netns.Close()
	}
	return s.backend.build(netns)
}

// checkSpare replaces a spare that was built and has died since (killed
// from outside), so that the next Reset need not build one.
func (s *sandbox) checkSpare() {
	s.mu.Lock()
	sp := s.spare
	s.mu.Unlock()
	if sp == nil {
		return
	}
	select {
	case <-sp.ready:
	default:
		return // still being built
	}
	if sp.err == nil && sp.env.Ping() == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spare == sp && !s.destroyed {
		s.discard(sp)
		s.startSpare()
	}
}

// Ping reports whether the container serving jobs is alive, and
// replaces the spare when it died.
func (s *sandbox) Ping() error {
	env, err := s.current()
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if err := env.Ping(); err != nil {
		return fmt.Errorf("ping sandbox %s: %w: %w", s.id, backends.ErrBroken, err)
	}
	s.checkSpare()
	return nil
}

func (s *sandbox) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return s.destroyErr
	}
	s.destroyed = true
	if s.beside != nil {
		_ = s.beside.Destroy()
		s.beside = nil
	}
	if s.env != nil {
		if err := s.env.Destroy(); err != nil && !isKilled(err) {
			s.destroyErr = fmt.Errorf("destroy sandbox %s: %w", s.id, err)
		}
		s.env = nil
	}
	if s.netns != nil {
		s.netns.Close()
		s.netns = nil
	}
	if s.spare != nil {
		s.discard(s.spare)
		s.spare = nil
	}
	return s.destroyErr
}

// isKilled reports the expected outcome of killing the container's init.
func isKilled(err error) bool {
	return err != nil && strings.Contains(err.Error(), "signal: killed")
}
