package async

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"

	"github.com/pecan-judge/pecan/messages"
)

// errNotQueued skips a queue entry whose job is no longer queued (a stale
// duplicate in the in-memory queue).
var errNotQueued = errors.New("async: job not queued")

// work takes jobs off the queue one at a time until ctx ends. With
// Options.Workers of these, async jobs hold at most that many sandboxes.
func (m *Manager) work(ctx context.Context, exec Executor) {
	for {
		id, ok := m.jobs.pop(ctx)
		if !ok {
			return
		}
		m.run(ctx, exec, id)
	}
}

// run claims a queued job, judges it, and finishes or requeues it.
func (m *Manager) run(ctx context.Context, exec Executor, id string) {
	log := m.log.WithField("request_id", id)
	rec, err := m.store.update(id, func(r *Record) error {
		if r.State != StateQueued {
			return errNotQueued
		}
		r.State = StateRunning
		r.StartedAt = time.Now().UTC()
		return nil
	})
	if errors.Is(err, errNotQueued) || errors.Is(err, ErrNotFound) {
		return
	}
	if err != nil {
		// The store failing is not the job's fault; try again later.
		log.WithError(err).Error("async: claim job")
		m.after(ctx, m.opts.BusyBackoff, m.jobs, id)
		return
	}
	m.running.Add(1)
	defer m.running.Add(-1)

	req := &messages.ExecuteRequest{}
	if err := proto.Unmarshal(rec.Request, req); err != nil {
		// Cannot get better by retrying: finish with the error.
		log.WithError(err).Error("async: stored request unreadable")
		m.finish(ctx, rec, &messages.ExecuteResponse{RequestId: id, Failure: messages.Failure_FAILURE_INTERNAL, Error: "stored request unreadable"})
		return
	}
	if rec.Runs >= m.opts.MaxRuns {
		// Every earlier run ended with the server (restore counts a run
		// that was going on then): do not let this job take it down again.
		log.WithField("runs", rec.Runs).Error("async job was running each time the server died; finished with an error")
		m.finish(ctx, rec, &messages.ExecuteResponse{RequestId: id, Failure: messages.Failure_FAILURE_INTERNAL,
			Error: fmt.Sprintf("the server stopped %d times while judging this job", rec.Runs)})
		return
	}
	resp, took, err := m.judge(ctx, exec, req, rec.Budget)
	if ctx.Err() != nil {
		// Stopping: the job stays in the store and runs after restart.
		if _, err := m.store.update(id, func(r *Record) error { r.State = StateQueued; return nil }); err != nil {
			log.WithError(err).Warn("async: requeue on stop (recovered at next start anyway)")
		}
		return
	}
	if err == nil && resp != nil && resp.Failure == messages.Failure_FAILURE_NONE {
		log.WithFields(logrus.Fields{"status": resp.Status, "took": took.Round(time.Millisecond)}).Debug("async job judged")
		m.finish(ctx, rec, resp)
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// No answer within the budget: the pool's queue was held by
		// synchronous work past the queue timeout and dropped it (a job
		// that runs too long is answered by its sandbox). Not the job's
		// fault, so no run is counted.
		log.WithField("error", err).Warn("async job waited past its budget for a sandbox; requeued")
		m.requeue(ctx, id, false, m.opts.BusyBackoff)
		return
	}
	reason := describe(resp, err)
	runs := rec.Runs + 1
	log = log.WithFields(logrus.Fields{"attempt": runs, "error": reason})
	if runs >= m.opts.MaxRuns {
		log.Error("async job failed on every attempt; finished with an error")
		m.finish(ctx, rec, &messages.ExecuteResponse{RequestId: id, Failure: messages.Failure_FAILURE_INTERNAL,
			Error: fmt.Sprintf("the job could not be judged after %d attempts: %s", runs, reason)})
		return
	}
	log.Warn("async job not judged; retrying")
	m.requeue(ctx, id, true, m.opts.BusyBackoff*time.Duration(1<<runs))
}

// judge runs req until the pool takes it: a BUSY answer (the pool is full
// of synchronous work, not the job's fault) is retried here after
// BusyBackoff, holding the job, so a saturated pool costs neither store
// writes nor a spin through the queue. Each attempt gets the whole budget
// from its own start. It returns when the pool answered otherwise, or
// when ctx ends.
func (m *Manager) judge(ctx context.Context, exec Executor, req *messages.ExecuteRequest, budget time.Duration) (*messages.ExecuteResponse, time.Duration, error) {
	for {
		jctx, cancel := context.WithTimeout(ctx, budget)
		req.DeadlineUnixMs = 0 // set from jctx by the pool
		start := time.Now()
		resp, err := m.execute(jctx, exec, req)
		cancel()
		if err != nil || resp == nil || resp.Failure != messages.Failure_FAILURE_BUSY {
			return resp, time.Since(start), err
		}
		t := time.NewTimer(m.opts.BusyBackoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return resp, time.Since(start), ctx.Err()
		case <-t.C:
		}
	}
}

// execute calls the Executor and turns a panic into an error: a worker
// must survive whatever the Executor does.
func (m *Manager) execute(ctx context.Context, exec Executor, req *messages.ExecuteRequest) (resp *messages.ExecuteResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, fmt.Errorf("executor panicked: %v", r)
		}
	}()
	if sub := req.GetSubmission(); sub != nil {
		// A worker holds one sandbox at a time, so that async jobs take
		// at most their share of the pool: its submissions' tests run
		// one after another.
		sub.MaxParallelTests = 1
	}
	if pe, ok := exec.(ProgressExecutor); ok && req.GetSubmission() != nil {
		id := req.GetRequestId()
		defer m.clearProgress(id)
		return pe.ExecuteWithProgress(ctx, req, func(t *messages.TestResult, done, total int) { m.addProgress(id, t, done, total) })
	}
	return exec.Execute(ctx, req)
}

func describe(resp *messages.ExecuteResponse, err error) string {
	switch {
	case err != nil:
		return err.Error()
	case resp == nil:
		return "no response"
	case resp.Error != "":
		return resp.Failure.String() + ": " + resp.Error
	}
	return resp.Failure.String()
}

// requeue puts a job back in the queue after wait; countRun counts it as
// a failed run.
func (m *Manager) requeue(ctx context.Context, id string, countRun bool, wait time.Duration) {
	_, err := m.persist(ctx, id, func(r *Record) error {
		r.State = StateQueued
		if countRun {
			r.Runs++
		}
		return nil
	})
	if err != nil {
		return // stopping: restore queues it again at the next start
	}
	m.after(ctx, wait, m.jobs, id)
}

// finish stores the result and hands the job to delivery.
func (m *Manager) finish(ctx context.Context, rec *Record, resp *messages.ExecuteResponse) {
	body, err := m.render(rec, resp)
	if err != nil {
		m.log.WithError(err).WithField("request_id", rec.ID).Error("async: render result")
		body, resp = []byte(`{"error":"internal error: result could not be rendered"}`), &messages.ExecuteResponse{Failure: messages.Failure_FAILURE_INTERNAL, Error: "result could not be rendered"}
	}
	now := time.Now().UTC()
	rec, err = m.persist(ctx, rec.ID, func(r *Record) error {
		r.State = StateDone
		r.FinishedAt = now
		r.Result = body
		if resp.Failure != messages.Failure_FAILURE_NONE {
			r.Error = resp.Error
		}
		if r.WebhookURL != "" {
			r.Webhook = &Delivery{State: DeliveryPending, NextAttempt: now}
		}
		return nil
	})
	if err != nil {
		return // stopping: left running in the store, it runs again after a restart
	}
	m.mu.Lock()
	m.pending--
	m.mu.Unlock()
	if rec.Webhook != nil {
		m.deliveries.push(rec.ID)
	}
}

// render is the stored result of a job: by its kind's Render, else the
// native one.
func (m *Manager) render(rec *Record, resp *messages.ExecuteResponse) ([]byte, error) {
	if k, ok := m.opts.Kinds[rec.Kind]; ok && k.Render != nil {
		return k.Render(resp, rec.Meta)
	}
	return m.opts.Render(resp)
}

// persist applies fn to the job's record, retrying with backoff while the
// store fails (a full disk, say) until it succeeds or ctx ends: a state
// change that was given up on would leave the job stuck until a restart.
func (m *Manager) persist(ctx context.Context, id string, fn func(*Record) error) (*Record, error) {
	wait := 100 * time.Millisecond
	for {
		rec, err := m.store.update(id, fn)
		if err == nil || errors.Is(err, ErrNotFound) {
			return rec, err
		}
		m.log.WithError(err).WithField("request_id", id).Error("async: store update failed; retrying")
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}
