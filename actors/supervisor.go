package actors

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"
)

// stormPolicy bounds restart storms: a sandbox actor restarted more than
// maxRestarts times within window is stopped instead (a backend that
// cannot build sandboxes must not spin), and its slot is refilled after
// respawnDelay so the pool still returns to full strength by itself.
type stormPolicy struct {
	maxRestarts  int
	window       time.Duration
	respawnDelay time.Duration
}

func defaultStormPolicy() stormPolicy {
	return stormPolicy{maxRestarts: 10, window: 10 * time.Second, respawnDelay: 2 * time.Second}
}

// supervisor spawns the sandbox actors as its children. Their
// supervision strategy (OneForOne, bounded) is on its props; it only
// refills slots whose actor the strategy gave up on.
type supervisor struct {
	pool    *poolShared
	size    int
	stopped chan<- struct{} // closed when this actor and all children stopped

	slots    map[string]int // child PID id -> slot
	gens     []*atomic.Int64
	stopping bool
}

func (s *supervisor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.slots = map[string]int{}
		s.gens = make([]*atomic.Int64, s.size)
		for i := range s.size {
			s.gens[i] = &atomic.Int64{}
			s.spawn(ctx, i)
		}
	case *actor.Terminated:
		slot, ok := s.slots[m.Who.Id]
		if !ok {
			return
		}
		delete(s.slots, m.Who.Id)
		if s.stopping {
			return
		}
		s.pool.logger.WithFields(logrus.Fields{"slot": slot, "actor": m.Who.Id, "respawn_in": s.pool.storm.respawnDelay}).
			Error("sandbox actor stopped after too many restarts; slot will be refilled")
		ctx.Send(s.pool.router, &slotVacant{pid: m.Who, reason: "restart storm"})
		// A timer, not a sleep: the supervisor keeps serving meanwhile.
		self, system := ctx.Self(), ctx.ActorSystem()
		time.AfterFunc(s.pool.storm.respawnDelay, func() { system.Root.Send(self, &respawn{slot: slot}) })
	case *respawn:
		if s.stopping {
			return
		}
		s.spawn(ctx, m.slot)
		ctx.Send(s.pool.router, &slotFilled{})
	case *actor.Stopping:
		// Children are stopped by protoactor right after this; their
		// Stopping handlers destroy the sandboxes.
		s.stopping = true
	case *actor.Stopped:
		close(s.stopped)
	}
}

func (s *supervisor) spawn(ctx actor.Context, slot int) {
	gen := s.gens[slot]
	props := actor.PropsFromProducer(func() actor.Actor {
		return &sandboxActor{pool: s.pool, slot: slot, gen: gen, logger: s.pool.logger}
	})
	pid := ctx.Spawn(props)
	s.slots[pid.Id] = slot
}

// countingStrategy is OneForOne with a bounded restart count per window,
// plus a log line and a router notification for each decision, so
// restarts are visible in logs and in the status.
type countingStrategy struct {
	inner  actor.SupervisorStrategy
	policy stormPolicy
	router *actor.PID
	logger logrus.FieldLogger
}

func newCountingStrategy(policy stormPolicy, router *actor.PID, logger logrus.FieldLogger) *countingStrategy {
	return &countingStrategy{
		inner:  actor.NewOneForOneStrategy(policy.maxRestarts, policy.window, actor.DefaultDecider),
		policy: policy,
		router: router,
		logger: logger,
	}
}

func (c *countingStrategy) HandleFailure(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, message interface{}) {
	fields := logrus.Fields{"actor": child.Id, "reason": reason}
	if f, ok := reason.(*sandboxFailure); ok {
		fields["sandbox"] = f.sandboxID
		fields["reason"] = f.reason
	}
	c.inner.HandleFailure(system, &countingSupervisor{Supervisor: sup, c: c, system: system, fields: fields}, child, rs, reason, message)
}

// countingSupervisor sees which directive the inner strategy chose.
type countingSupervisor struct {
	actor.Supervisor
	c      *countingStrategy
	system *actor.ActorSystem
	fields logrus.Fields
}

func (s *countingSupervisor) RestartChildren(pids ...*actor.PID) {
	for range pids {
		s.c.logger.WithFields(s.fields).Warn("restarting sandbox actor")
		s.system.Root.Send(s.c.router, &sandboxRestarted{})
	}
	s.Supervisor.RestartChildren(pids...)
}

func (s *countingSupervisor) StopChildren(pids ...*actor.PID) {
	s.c.logger.WithFields(s.fields).WithField("max_restarts", s.c.policy.maxRestarts).WithField("window", s.c.policy.window).
		Error("restart storm: stopping sandbox actor")
	s.Supervisor.StopChildren(pids...)
}
