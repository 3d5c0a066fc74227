package actors

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"
)

// stormPolicy bounds restart storms: a sandbox actor restarted more than
// maxRestarts times within window is stopped instead (a backend that
// cannot build sandboxes must not spin), and its slot is refilled after a
// backoff, so the pool still returns to full strength by itself. The
// backoff starts at respawnInitial and doubles with each storm of the
// slot, up to respawnMax; a slot that ran healthyAfter since its last
// refill without a storm starts again from respawnInitial.
type stormPolicy struct {
	maxRestarts    int
	window         time.Duration
	respawnInitial time.Duration
	respawnMax     time.Duration
	healthyAfter   time.Duration

	// afterFunc schedules a refill; nil means time.AfterFunc (tests
	// record the delays instead of waiting them out).
	afterFunc func(time.Duration, func())
}

func defaultStormPolicy() stormPolicy {
	return stormPolicy{
		// More than four restarts a second, sustained: sandboxes that
		// cannot be built, not ones killed from outside (a kill every
		// 0.4 s in a pool of 3 restarts each slot 0.8 times a second;
		// faults injected into jobs of a few milliseconds reached two a
		// second on a slot, and a storm's 2 s respawn then kept the pool
		// short past the 2 s it has to recover).
		maxRestarts:    20,
		window:         5 * time.Second,
		respawnInitial: 2 * time.Second,
		respawnMax:     2 * time.Minute,
		healthyAfter:   time.Minute,
	}
}

// slotStorms is one slot's restart-storm history.
type slotStorms struct {
	storms   int       // in a row, each within healthyAfter of the last refill
	refilled time.Time // zero until the first refill
}

// backoff counts a storm of the slot at now and returns how long its slot
// stays empty.
func (p stormPolicy) backoff(s *slotStorms, now time.Time) time.Duration {
	if !s.refilled.IsZero() && now.Sub(s.refilled) >= p.healthyAfter {
		s.storms = 0
	}
	s.storms++
	d := p.respawnInitial
	for i := 1; i < s.storms && d < p.respawnMax; i++ {
		d *= 2
	}
	return min(d, p.respawnMax)
}

func (p stormPolicy) schedule(d time.Duration, f func()) {
	if p.afterFunc != nil {
		p.afterFunc(d, f)
		return
	}
	time.AfterFunc(d, f)
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
	storms   []slotStorms // by slot
	stopping bool
}

func (s *supervisor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.slots = map[string]int{}
		s.gens = make([]*atomic.Int64, s.size)
		s.storms = make([]slotStorms, s.size)
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
		delay := s.pool.storm.backoff(&s.storms[slot], time.Now())
		s.pool.logger.WithFields(logrus.Fields{"slot": slot, "actor": m.Who.Id, "respawn_in": delay, "storms_in_a_row": s.storms[slot].storms}).
			Error("sandbox actor stopped after too many restarts; slot will be refilled")
		ctx.Send(s.pool.router, &slotVacant{pid: m.Who, reason: "restart storm"})
		// A timer, not a sleep: the supervisor keeps serving meanwhile.
		self, system := ctx.Self(), ctx.ActorSystem()
		s.pool.storm.schedule(delay, func() { system.Root.Send(self, &respawn{slot: slot}) })
	case *respawn:
		if s.stopping {
			return
		}
		s.storms[m.slot].refilled = time.Now()
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
