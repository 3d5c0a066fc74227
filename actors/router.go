package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/messages"
)

// maxAttempts bounds how many sandboxes may die under one job before its
// requester gets FAILURE_INTERNAL. A sandbox killed from outside (an OOM
// killer, an operator, a host in trouble) is not the job's doing, so a job
// is retried for as long as its deadline allows; but a program that kills
// its sandbox itself would then destroy one sandbox after another until
// its deadline, so the attempts are bounded too. The bound is generous:
// under a SIGKILL every 0.4 s in a pool of 3 (tests/chaos), a job of half
// a second loses about two attempts in five, at most six in a row were
// seen in 60 jobs, and sixteen in a row happen to about one job in a
// million.
const maxAttempts = 16

// sandboxEntry is the router's view of one sandbox actor.
type sandboxEntry struct {
	pid       *actor.PID
	state     state
	sandboxID string
	job       *job // the job it runs, while busy
}

// router leases idle sandbox actors to requests and queues the rest. It
// is the only owner of the pool's bookkeeping, so Status is exact.
type router struct {
	pool     *poolShared
	node     string
	queueCap int
	// limits bounds what members may ask of this node's sandboxes.
	limits config.Limits
	logger logrus.FieldLogger

	sandboxes map[string]*sandboxEntry // by PID id
	queue     []*job                   // FIFO; retried jobs go to the front
	restarts  int64
	vacant    int // slots whose actor was stopped and not yet respawned
	draining  bool

	peers peers // the other cluster members; empty outside a cluster
}

func newRouter(pool *poolShared, queueCap int, logger logrus.FieldLogger) *router {
	return &router{
		pool:      pool,
		node:      pool.job.Node,
		queueCap:  queueCap,
		limits:    pool.job.Limits,
		logger:    logger,
		sandboxes: map[string]*sandboxEntry{},
		peers:     newPeers(),
	}
}

func (r *router) Receive(ctx actor.Context) {
	r.receive(ctx)
	// Members learn of this node's idle sandboxes as they change, so a
	// saturated member can hand them work at once.
	r.announce(ctx, false)
}

func (r *router) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.ExecuteRequest:
		r.execute(ctx, m)
	case *messages.ExecuteResponse:
		r.remoteDone(ctx, m)
	case *messages.PoolStatus:
		r.peerStatus(ctx, m)
	case *joinCluster:
		r.peers.self = m.address
		r.node = m.node
	case *membersChanged:
		r.setMembers(ctx, m.addresses)
	case *endpointLost:
		r.memberLost(ctx, m.address, "connection to it lost")
	case *announceTick:
		r.peers.sweep(time.Now())
		r.announce(ctx, true)
	case *actor.DeadLetterResponse:
		// A job sent to a member whose router is gone; the job is given
		// up on when the member is lost or its deadline passes.
	case *sandboxState:
		r.sandboxState(ctx, m)
	case *sandboxRestarted:
		r.restarts++
	case *slotVacant:
		r.vacant++
		if e, ok := r.sandboxes[m.pid.Id]; ok {
			delete(r.sandboxes, m.pid.Id)
			if e.job != nil {
				// It should have reported the job already; never lose it.
				r.retry(ctx, e.job, m.pid, m.reason)
			}
		}
	case *slotFilled:
		r.vacant--
	case *submitWithProgress:
		if ctx.Sender() != nil {
			r.submit(ctx, &job{req: m.req, replyTo: ctx.Sender()}, m.progress)
		}
	case *cancelJob:
		r.cancelJob(ctx, m.requestID)
	case *messages.CancelStep:
		// From the member whose coordinator gave the step up.
		r.pool.cancels.cancel(m.GetRequestId())
		r.cancelJob(ctx, m.GetRequestId())
	case *statusRequest:
		ctx.Respond(r.status())
	case *drain:
		r.draining = true
		for _, j := range r.queue {
			r.fail(ctx, j, messages.Failure_FAILURE_INTERNAL, "pool is stopping")
		}
		r.queue = nil
		ctx.Respond(&drained{})
	case *actor.Stopping:
		// Members still judging for this node would answer a router
		// that is gone: answer their requesters now.
		for _, j := range r.peers.takeAll() {
			r.fail(ctx, j, messages.Failure_FAILURE_INTERNAL, "pool stopped while a member was judging the request")
		}
	}
}

func (r *router) execute(ctx actor.Context, req *messages.ExecuteRequest) {
	if ctx.Sender() == nil {
		// Nobody to answer: running it would only waste a sandbox.
		r.logger.WithField("request_id", req.GetRequestId()).Warn("execute request without a sender dropped")
		return
	}
	j := &job{req: req, replyTo: ctx.Sender()}
	log := r.logger.WithField("request_id", req.GetRequestId())
	if r.peers.isRemote(ctx.Sender()) {
		r.executeForMember(ctx, j)
		return
	}
	if sub := req.GetSubmission(); sub != nil && sub.GetStep() == nil {
		r.submit(ctx, j, nil)
		return
	}
	switch {
	case r.draining:
		r.fail(ctx, j, messages.Failure_FAILURE_INTERNAL, "pool is stopping")
		return
	case j.expired(time.Now()):
		log.Debug("request arrived after its deadline; dropped")
		return
	}
	r.prune(time.Now())
	if len(r.queue) == 0 {
		if e := r.pickIdle(nil); e != nil {
			r.assign(ctx, e, j)
			return
		}
		if m := r.peers.pick(j, time.Now()); m != nil {
			r.forward(ctx, m, j)
			return
		}
	}
	if len(r.queue) >= r.queueCap {
		log.WithField("queue_length", len(r.queue)).Info("queue full; request refused")
		r.fail(ctx, j, messages.Failure_FAILURE_BUSY, "all sandboxes are busy and the queue is full")
		return
	}
	r.queue = append(r.queue, j)
	r.dispatch(ctx)
}

func (r *router) sandboxState(ctx actor.Context, m *sandboxState) {
	e, ok := r.sandboxes[m.pid.Id]
	if !ok {
		e = &sandboxEntry{pid: m.pid}
		r.sandboxes[m.pid.Id] = e
	}
	if m.sandboxID != "" {
		e.sandboxID = m.sandboxID
	}
	e.state = m.state
	// Any report from the actor ends the job it was leased: either it
	// answered the requester itself, or it hands the job back in retry.
	e.job = nil
	if m.state == stateBroken {
		r.logger.WithFields(logrus.Fields{"sandbox": e.sandboxID, "reason": m.reason}).Warn("sandbox down")
		if m.retry != nil {
			r.retry(ctx, m.retry, m.pid, m.reason)
		}
	}
	r.dispatch(ctx)
}

// submit starts the coordinator of a whole submission, which hands its
// steps back to this router as jobs; progress, when set, hears of each
// test as it is decided.
func (r *router) submit(ctx actor.Context, j *job, progress Progress) {
	if r.draining {
		r.fail(ctx, j, messages.Failure_FAILURE_INTERNAL, "pool is stopping")
		return
	}
	if j.expired(time.Now()) {
		return
	}
	if on := r.pool.job.OnTestResult; on != nil {
		id, inner := j.req.GetRequestId(), progress
		progress = func(t *messages.TestResult, finished, total int) {
			if t != nil {
				on(id, t)
			}
			if inner != nil {
				inner(t, finished, total)
			}
		}
	}
	ctx.SpawnPrefix(actor.PropsFromProducer(func() actor.Actor {
		return newCoordinator(r.pool, j, r.pool.parallel, progress)
	}), "submission-")
}

// cancelJob drops a step its coordinator gave up on from the queue, or
// tells the member running it; one a sandbox here runs is stopped by the
// coordinator itself.
func (r *router) cancelJob(ctx actor.Context, id string) {
	if j, ok := r.peers.running[id]; ok {
		delete(r.peers.running, id)
		if m := r.peers.members[j.member]; m != nil {
			ctx.Send(m.router, &messages.CancelStep{RequestId: id})
		}
		return
	}
	for i, j := range r.queue {
		if j.req.GetRequestId() == id {
			r.queue = append(r.queue[:i], r.queue[i+1:]...)
			return
		}
	}
}

// retry gives a job whose sandbox died another chance, on another
// sandbox where one is idle, ahead of the queue: while its deadline has
// not passed and fewer than maxAttempts sandboxes died under it; at
// maxAttempts it answers FAILURE_INTERNAL with the last reason.
func (r *router) retry(ctx actor.Context, j *job, failed *actor.PID, reason string) {
	j.attempts++
	j.avoid = failed
	j.lastErr = reason
	log := r.logger.WithFields(logrus.Fields{"request_id": j.req.GetRequestId(), "attempt": j.attempts, "reason": reason})
	if r.peers.isRemote(j.replyTo) {
		// A member's job: its node counts the attempts and picks where
		// the retry runs, so one bad job cannot go round the cluster
		// killing a sandbox on every member.
		log.Warn("sandbox failed under a member's job; handing it back")
		r.fail(ctx, j, messages.Failure_FAILURE_INTERNAL, "sandbox failed on "+r.node+": "+reason)
		return
	}
	switch {
	case r.draining:
		r.fail(ctx, j, messages.Failure_FAILURE_INTERNAL, "pool is stopping; sandbox failed: "+reason)
	case j.attempts >= maxAttempts:
		log.Error("sandboxes kept failing under the job; giving up")
		r.fail(ctx, j, messages.Failure_FAILURE_INTERNAL,
			fmt.Sprintf("%d sandboxes failed one after another while judging this request; last error: %s", j.attempts, reason))
	case j.expired(time.Now()):
		log.Info("sandbox failed under a job whose deadline passed; dropped")
	default:
		log.Warn("job lost with its sandbox or member; retrying it elsewhere")
		r.queue = append([]*job{j}, r.queue...)
	}
}

// dispatch hands queued jobs to idle sandboxes, oldest first.
func (r *router) dispatch(ctx actor.Context) {
	if r.draining {
		return
	}
	now := time.Now()
	for len(r.queue) > 0 {
		j := r.queue[0]
		if j.expired(now) {
			r.queue = r.queue[1:]
			r.logger.WithField("request_id", j.req.GetRequestId()).Info("request deadline passed while queued; dropped")
			continue
		}
		e := r.pickIdle(j.avoid)
		var m *peer
		if e == nil {
			// Local sandboxes first; then an idle one on a member.
			if m = r.peers.pick(j, now); m == nil {
				return
			}
		}
		r.queue[0] = nil // let the job be collected once done
		r.queue = r.queue[1:]
		if e != nil {
			r.assign(ctx, e, j)
		} else {
			r.forward(ctx, m, j)
		}
	}
}

// prune drops queued jobs whose deadline passed, so they do not take
// queue places from live requests.
func (r *router) prune(now time.Time) {
	kept := r.queue[:0]
	for _, j := range r.queue {
		if j.expired(now) {
			r.logger.WithField("request_id", j.req.GetRequestId()).Info("request deadline passed while queued; dropped")
			continue
		}
		kept = append(kept, j)
	}
	clear(r.queue[len(kept):])
	r.queue = kept
}

// pickIdle returns an idle sandbox, preferring one other than avoid. The
// avoided actor is still acceptable: after its restart it owns a fresh
// sandbox, and with a pool of one there is no other.
func (r *router) pickIdle(avoid *actor.PID) *sandboxEntry {
	var fallback *sandboxEntry
	for _, e := range r.sandboxes {
		if e.state != stateIdle {
			continue
		}
		if avoid != nil && e.pid.Id == avoid.Id {
			fallback = e
			continue
		}
		return e
	}
	return fallback
}

func (r *router) assign(ctx actor.Context, e *sandboxEntry, j *job) {
	e.state = stateBusy
	e.job = j
	ctx.Send(e.pid, j)
}

// fail answers a job without judging it.
func (r *router) fail(ctx actor.Context, j *job, f messages.Failure, msg string) {
	resp := &messages.ExecuteResponse{
		RequestId: j.req.GetRequestId(),
		Failure:   f,
		Error:     msg,
		Node:      r.node,
	}
	if f == messages.Failure_FAILURE_INTERNAL {
		internalError(resp, msg)
	}
	ctx.Send(j.replyTo, resp)
}

func (r *router) status() *messages.PoolStatus {
	s := r.localStatus()
	if r.peers.self != "" {
		s.Members = r.peers.statuses(r.localStatus())
	}
	return s
}

// localStatus is this node's pool alone.
func (r *router) localStatus() *messages.PoolStatus {
	s := &messages.PoolStatus{
		Restarts:    r.restarts,
		QueueLength: int32(len(r.queue)),
		Node:        r.node,
		Address:     r.peers.self,
		Error:       int32(r.vacant),
	}
	for _, e := range r.sandboxes {
		switch e.state {
		case stateStarting:
			s.Starting++
		case stateIdle:
			s.Idle++
		case stateBusy:
			s.Running++
		case stateBroken:
			s.Error++
		}
	}
	s.Available = s.Idle + s.Running
	s.SubmissionsRunning = int32(r.pool.stats.submissions.Load())
	s.TestsInFlight = int32(r.pool.stats.testsInFlight.Load())
	if r.draining {
		// Members must not send work to a pool that is stopping.
		s.Idle = 0
	}
	return s
}
