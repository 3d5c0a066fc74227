package container

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/criyle/go-sandbox/container"
	"github.com/criyle/go-sandbox/runner"

	"github.com/pecan-judge/pecan/backends"
)

// sandbox is one pre-forked container.
type sandbox struct {
	id      string
	env     container.Environment
	backend *Backend
	initPID int // 0 when it could not be found

	destroyOnce sync.Once
	destroyErr  error
}

func (s *sandbox) ID() string { return s.id }

// InitPID is the host pid of the container's init process, for operators
// and fault injection that kill it from outside.
func (s *sandbox) InitPID() int { return s.initPID }

// WriteFile creates a file in the work directory through the container's
// init, so the host never resolves a path inside the sandbox: a symlink a
// program planted cannot redirect the write onto the host.
func (s *sandbox) WriteFile(name string, data []byte, executable bool) error {
	if name == "" || strings.Contains(name, "/") || name == "." || name == ".." {
		return fmt.Errorf("write %q in sandbox %s: name must be a plain file name", name, s.id)
	}
	perm := os.FileMode(0o644)
	if executable {
		perm = 0o755
	}
	res, err := s.env.Open([]container.OpenCmd{{
		Path: path.Join(WorkDir, name),
		Flag: os.O_CREATE | os.O_WRONLY | os.O_TRUNC | os.O_EXCL,
		Perm: perm,
	}})
	if err != nil {
		return fmt.Errorf("write %s in sandbox %s: %w: %w", name, s.id, backends.ErrBroken, err)
	}
	if res[0].Err != nil {
		return fmt.Errorf("write %s in sandbox %s: %w", name, s.id, res[0].Err)
	}
	f := res[0].File
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s in sandbox %s: %w", name, s.id, err)
	}
	return nil
}

// Reset empties the work directory and /tmp. The container killed every
// process of the last run when it ended; each run's cgroup is already gone.
func (s *sandbox) Reset(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("reset sandbox %s: %w", s.id, err)
	}
	if err := s.env.Reset(); err != nil {
		return fmt.Errorf("reset sandbox %s: %w: %w", s.id, backends.ErrBroken, err)
	}
	return s.removeIPC(ctx)
}

// ipcrm removes System V IPC objects. The sandbox's IPC namespace lives as
// long as the sandbox, so shared memory, semaphores and message queues a
// job created would otherwise be there for the next job to read.
const ipcrm = "/usr/bin/ipcrm"

// removeIPC runs `ipcrm -a` inside the sandbox, as the same unprivileged
// user the jobs ran as. It runs after the answer was sent, so it costs
// throughput, not latency.
func (s *sandbox) removeIPC(ctx context.Context) error {
	if !s.backend.haveIPCRM {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res := s.env.Execve(ctx, container.ExecveParam{Args: []string{ipcrm, "-a"}})
	if res.Status != runner.StatusNormal {
		return fmt.Errorf("reset sandbox %s: %w: ipcrm: %v %s", s.id, backends.ErrBroken, res.Status, res.Error)
	}
	return nil
}

func (s *sandbox) Ping() error {
	if err := s.env.Ping(); err != nil {
		return fmt.Errorf("ping sandbox %s: %w: %w", s.id, backends.ErrBroken, err)
	}
	return nil
}

func (s *sandbox) Destroy() error {
	s.destroyOnce.Do(func() {
		if err := s.env.Destroy(); err != nil && !isKilled(err) {
			s.destroyErr = fmt.Errorf("destroy sandbox %s: %w", s.id, err)
		}
	})
	return s.destroyErr
}

// isKilled reports the expected outcome of killing the container's init.
func isKilled(err error) bool {
	return err != nil && strings.Contains(err.Error(), "signal: killed")
}
