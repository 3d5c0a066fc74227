package actors

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
)

// Time bounds for sandbox housekeeping. They do not depend on the job:
// a sandbox that cannot be built or reset in this time is broken.
const (
	newTimeout   = 2 * time.Minute
	resetTimeout = 30 * time.Second
)

// sandboxActor owns one sandbox. It runs one job at a time (the actor
// model gives that for free: a job is one message) and fails on purpose
// when its sandbox breaks, so the supervisor restarts it with a fresh one.
type sandboxActor struct {
	pool   *poolShared
	slot   int
	gen    *atomic.Int64 // shared by the incarnations of this slot, for unique ids
	logger logrus.FieldLogger

	sb backends.Sandbox
	id string
}

func (a *sandboxActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *job:
		a.run(ctx, m)
	case *healthCheck:
		if m.sandboxID == a.id { // not a timer left by an earlier incarnation
			a.checkHealth(ctx)
		}
	case *actor.Restarting, *actor.Stopping:
		// The old incarnation releases its sandbox; a restart builds a
		// new one in the new incarnation's Started.
		a.destroy(fmt.Sprintf("%T", m))
	}
}

func (a *sandboxActor) start(ctx actor.Context) {
	a.id = fmt.Sprintf("%s-%d-%d", a.pool.idPrefix, a.slot, a.gen.Add(1)-1)
	a.logger = a.pool.logger.WithField("sandbox", a.id)
	ctx.Send(a.pool.router, &sandboxState{pid: ctx.Self(), state: stateStarting, sandboxID: a.id})
	nctx, cancel := context.WithTimeout(context.Background(), newTimeout)
	defer cancel()
	sb, err := a.pool.backend.New(nctx, a.id)
	if err != nil {
		a.fail(ctx, fmt.Sprintf("build sandbox: %v", err), nil)
	}
	a.sb = sb
	ctx.Send(a.pool.router, &sandboxState{pid: ctx.Self(), state: stateIdle, sandboxID: a.id})
	a.scheduleHealthCheck(ctx)
}

// healthInterval is how often an idle sandbox is pinged, so one that died
// while idle is replaced before a job lands on it.
const healthInterval = time.Second

// healthCheck is sent by an actor to itself; it waits in the mailbox
// behind any job, so it never runs concurrently with one.
type healthCheck struct{ sandboxID string }

func (a *sandboxActor) scheduleHealthCheck(ctx actor.Context) {
	self, root, msg := ctx.Self(), ctx.ActorSystem().Root, &healthCheck{sandboxID: a.id}
	time.AfterFunc(healthInterval, func() { root.Send(self, msg) })
}

func (a *sandboxActor) checkHealth(ctx actor.Context) {
	if a.sb == nil {
		return
	}
	if err := a.sb.Ping(); err != nil {
		a.fail(ctx, fmt.Sprintf("died while idle: %v", err), nil)
	}
	a.scheduleHealthCheck(ctx)
}

// run judges one job, answers the requester directly, resets the sandbox
// and reports idle. Every path either answers the requester or hands the
// job back to the router: a requester is never left waiting.
func (a *sandboxActor) run(ctx actor.Context, j *job) {
	answered := false
	defer func() {
		// A bug in the pipeline must not strand the requester: hand the
		// job back and let the supervisor restart this actor.
		if p := recover(); p != nil {
			if _, ours := p.(*sandboxFailure); ours {
				panic(p)
			}
			var retry *job
			if !answered {
				retry = j
			}
			a.fail(ctx, fmt.Sprintf("panic while judging: %v", p), retry)
		}
	}()
	log := a.logger.WithField("request_id", j.req.GetRequestId())
	if a.sb == nil {
		// The router only leases actors that reported idle; if this ever
		// happens, hand the job back rather than judge without a sandbox.
		a.fail(ctx, "job arrived before the sandbox was built", j)
	}

	// The sandbox may have died since the last health check; then the
	// job goes to another sandbox rather than fail here.
	if err := a.sb.Ping(); err != nil {
		a.fail(ctx, fmt.Sprintf("died while idle: %v", err), j)
	}

	if j.expired(time.Now()) {
		log.Info("request deadline passed before the job started; dropped")
		ctx.Send(a.pool.router, &sandboxState{pid: ctx.Self(), state: stateIdle})
		return
	}

	jctx := context.Background()
	if d := j.deadline(); !d.IsZero() {
		var cancel context.CancelFunc
		jctx, cancel = context.WithDeadline(jctx, d)
		defer cancel()
	}
	if j.req.GetSubmission().GetStep() != nil {
		// Its coordinator may give up on it (first-failure mode): the
		// run is then killed, and the sandbox reset as after any job.
		var cancel context.CancelFunc
		jctx, cancel = context.WithCancel(jctx)
		defer cancel()
		id := j.req.GetRequestId()
		if !a.pool.cancels.start(id, cancel) {
			ctx.Send(j.replyTo, a.internal(j, "cancelled by its submission before it started"))
			ctx.Send(a.pool.router, &sandboxState{pid: ctx.Self(), state: stateIdle})
			return
		}
		defer a.pool.cancels.finish(id)
	}

	var resp *messages.ExecuteResponse
	var err error
	lang, ok := a.pool.languages.Lookup(j.req.GetLanguage())
	switch {
	case !ok:
		resp = a.internal(j, fmt.Sprintf("unknown language %q", j.req.GetLanguage()))
	case !lang.Available && lang.Problem != "":
		// Running a missing toolchain can kill the sandbox; refuse early.
		resp = a.internal(j, fmt.Sprintf("language %s is unavailable: %s", lang.ID, lang.Problem))
	default:
		resp, err = a.runGuarded(ctx, jctx, lang, j)
	}
	if err != nil && isBroken(err) {
		// Not answered: the router retries it on another sandbox.
		a.fail(ctx, err.Error(), j)
	}
	ctx.Send(j.replyTo, resp)
	answered = true
	if err != nil {
		log.WithError(err).Warn("backend error while judging; answered InternalError")
	}

	rctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
	defer cancel()
	if rerr := a.sb.Reset(rctx); rerr != nil {
		a.fail(ctx, fmt.Sprintf("reset: %v", rerr), nil)
	}
	if err != nil {
		// The backend failed without saying the sandbox is broken; make
		// sure it is alive before it serves anyone else.
		if perr := a.sb.Ping(); perr != nil {
			a.fail(ctx, fmt.Sprintf("ping after backend error: %v", perr), nil)
		}
	}
	ctx.Send(a.pool.router, &sandboxState{pid: ctx.Self(), state: stateIdle})
}

// runGuarded runs the job pipeline with a hard deadline. A backend that
// wedges and ignores its context would otherwise hold this actor, and the
// requester, forever: past the deadline the sandbox is declared broken, the
// job goes back to the router for one retry, and the restart destroys the
// sandbox (which is what unblocks the stuck call).
func (a *sandboxActor) runGuarded(ctx actor.Context, jctx context.Context, lang *languages.Language, j *job) (*messages.ExecuteResponse, error) {
	type outcome struct {
		resp  *messages.ExecuteResponse
		err   error
		panic any
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{panic: p}
			}
		}()
		run := RunJob
		if j.req.GetSubmission() != nil {
			run = RunStep
		}
		resp, err := run(jctx, a.sb, lang, j.req, a.pool.job)
		done <- outcome{resp: resp, err: err}
	}()
	timer := time.NewTimer(jobTime(lang, j.req, a.pool.job, a.pool.languages))
	defer timer.Stop()
	select {
	case o := <-done:
		if o.panic != nil {
			a.fail(ctx, fmt.Sprintf("panic while judging: %v", o.panic), j)
		}
		return o.resp, o.err
	case <-timer.C:
		a.fail(ctx, "job stuck past its hard deadline", j)
		return nil, nil // not reached: fail panics
	}
}

func (a *sandboxActor) internal(j *job, msg string) *messages.ExecuteResponse {
	return internalError(&messages.ExecuteResponse{
		RequestId: j.req.GetRequestId(),
		Sandbox:   a.id,
		Node:      a.pool.job.Node,
	}, msg)
}

// fail reports the sandbox down (with the job to retry, if it was not
// answered) and panics, so the supervisor restarts this actor. The
// router hears of it first: the panic itself tells nobody.
func (a *sandboxActor) fail(ctx actor.Context, reason string, retry *job) {
	a.logger.WithField("reason", reason).Error("sandbox broken; restarting it")
	ctx.Send(a.pool.router, &sandboxState{pid: ctx.Self(), state: stateBroken, sandboxID: a.id, reason: reason, retry: retry})
	panic(&sandboxFailure{sandboxID: a.id, reason: reason})
}

func (a *sandboxActor) destroy(why string) {
	if a.sb == nil {
		return
	}
	if err := a.sb.Destroy(); err != nil {
		a.logger.WithError(err).WithField("reason", why).Error("destroy sandbox")
	} else {
		a.logger.WithField("reason", why).Debug("sandbox destroyed")
	}
	a.sb = nil
}
