package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	log "github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/async"
	"github.com/pecan-judge/pecan/config"
	pecanhttp "github.com/pecan-judge/pecan/http"
)

// asyncStorePath is the configured store file, <data_dir>/async.db by
// default.
func asyncStorePath(cfg config.Config) string {
	if cfg.Async.StorePath != "" {
		return cfg.Async.StorePath
	}
	return filepath.Join(cfg.DataDir, "async.db")
}

// openAsync opens the async queue's store (not yet running any job). It
// comes before the pool so that a store locked by another server fails the
// start at once instead of after prewarming.
func openAsync(cfg config.Config, logger *log.Logger) (*async.Manager, error) {
	a := cfg.Async
	if a.WebhookSecret == "" {
		logger.Warn("async: [async] webhook_secret is empty: webhooks are sent unsigned, and receivers cannot tell them from forgeries")
	}
	return async.Open(async.Options{
		StorePath:   asyncStorePath(cfg),
		Workers:     a.AsyncWorkers(cfg.PoolSize),
		QueueLength: a.QueueLength,
		ResultTTL:   config.Seconds(a.ResultTTL),
		Webhook: async.WebhookOptions{
			Secret:         a.WebhookSecret,
			Timeout:        config.Seconds(a.WebhookTimeout),
			RetryFor:       config.Seconds(a.RetryFor),
			BackoffInitial: config.Seconds(a.BackoffInitial),
			BackoffMax:     config.Seconds(a.BackoffMax),
			AllowPrivate:   a.AllowPrivateWebhooks,
		},
		Render: pecanhttp.RenderResult,
		Kinds:  asyncKinds(),
		Logger: logger.WithField("component", "async"),
	})
}

// asyncAPI adapts the async Manager to the HTTP layer's Async interface,
// so neither package imports the other.
type asyncAPI struct {
	m *async.Manager
}

func (a asyncAPI) Submit(ctx context.Context, j pecanhttp.AsyncJob, key string) (string, error) {
	id, err := a.m.Submit(ctx, async.Job{
		Request: j.Request, Budget: j.Budget, WebhookURL: j.WebhookURL, IdempotencyKey: key,
		Kind: j.Kind, Meta: j.Meta, Retention: j.Retention,
	})
	switch {
	case errors.Is(err, async.ErrQueueFull):
		return "", pecanhttp.ErrAsyncFull
	case errors.Is(err, async.ErrBadWebhook):
		return "", fmt.Errorf("%w: %v", pecanhttp.ErrAsyncInvalid, err)
	}
	return id, err
}

func (a asyncAPI) Result(ctx context.Context, id string) (*pecanhttp.AsyncResult, error) {
	st, err := a.m.Result(ctx, id)
	if errors.Is(err, async.ErrNotFound) {
		return nil, pecanhttp.ErrAsyncNotFound
	}
	if err != nil {
		return nil, err
	}
	r := &pecanhttp.AsyncResult{RequestID: st.ID, State: string(st.State), CreatedAt: st.CreatedAt, Res: st.Result, Error: st.Error, Kind: st.Kind, Meta: st.Meta}
	if !st.FinishedAt.IsZero() {
		r.FinishedAt = &st.FinishedAt
	}
	if p := st.Progress; p != nil {
		r.TestsDone, r.TestsTotal, r.Progress = &p.Done, &p.Total, p.Tests
	}
	if d := st.Webhook; d != nil {
		r.Webhook = &pecanhttp.WebhookStatus{State: string(d.State), Attempts: d.Attempts, LastError: d.LastError}
	}
	return r, nil
}

func (a asyncAPI) Stats() pecanhttp.AsyncStats {
	s := a.m.Stats()
	return pecanhttp.AsyncStats{Queued: s.Queued, Running: s.Running, Delivered: s.Delivered, GaveUp: s.GaveUp, FailedDeliveries: s.FailedDeliveries}
}
