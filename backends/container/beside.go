package container

import (
	"context"
	"fmt"

	"github.com/pecan-judge/pecan/backends"
)

// Beside gives a container of its own, built on first use after each
// Reset, for a program that runs while this sandbox's runs (an
// interactive validator). It shares nothing with this sandbox's container:
// namespaces, work directory and per-run cgroups are its own. It is
// thrown away at the next Reset, so a settled sandbox keeps its one
// container.
func (s *sandbox) Beside(ctx context.Context) (backends.Sandbox, error) {
	if s.isBeside {
		return nil, fmt.Errorf("sandbox %s is itself beside another", s.id)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("beside sandbox %s: %w", s.id, err)
	}
	s.mu.Lock()
	b, destroyed := s.beside, s.destroyed
	s.mu.Unlock()
	if destroyed {
		return nil, fmt.Errorf("beside sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
	}
	if b != nil {
		return b, nil
	}
	if !s.backend.work.start() {
		return nil, fmt.Errorf("beside sandbox %s: %w: backend closed", s.id, backends.ErrBroken)
	}
	defer s.backend.work.finish()
	env, uid, err := s.backend.build()
	if err != nil {
		return nil, fmt.Errorf("beside sandbox %s: %w: build: %w", s.id, backends.ErrBroken, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed || s.beside != nil {
		// Destroyed meanwhile, or another call was quicker.
		env.Destroy()
		s.backend.uids.give(uid)
		if s.destroyed {
			return nil, fmt.Errorf("beside sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
		}
		return s.beside, nil
	}
	s.beside = &sandbox{id: s.id + "-beside", backend: s.backend, env: env, uid: uid, isBeside: true}
	return s.beside, nil
}

// dropBeside destroys the container Beside gave, if any: whatever a
// validator left there goes with it.
func (s *sandbox) dropBeside() {
	s.mu.Lock()
	b := s.beside
	s.beside = nil
	s.mu.Unlock()
	if b != nil {
		_ = b.Destroy()
	}
}
