package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	log "github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/config"
	pecanhttp "github.com/pecan-judge/pecan/http"
	"github.com/pecan-judge/pecan/messages"
)

// The adapter turns the async package's errors and states into the HTTP
// layer's, which is all the HTTP layer ever sees.
func TestAsyncAPI(t *testing.T) {
	cfg := config.Default()
	cfg.PoolSize = 2
	cfg.Async.QueueLength = 1
	cfg.Async.StorePath = filepath.Join(t.TempDir(), "async.db")
	m, err := openAsync(cfg, log.New())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.Stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	a := asyncAPI{m: m}
	ctx := context.Background()
	job := func(hook string) pecanhttp.AsyncJob {
		return pecanhttp.AsyncJob{Request: &messages.ExecuteRequest{RequestId: "id-" + hook, Language: "python"}, Budget: time.Second, WebhookURL: hook}
	}

	if _, err := a.Submit(ctx, job("http://10.0.0.1/hook"), ""); !errors.Is(err, pecanhttp.ErrAsyncInvalid) {
		t.Errorf("private webhook: %v, want ErrAsyncInvalid", err)
	}
	id, err := a.Submit(ctx, job("https://judge.example/hook"), "k")
	if err != nil || id != "id-https://judge.example/hook" {
		t.Fatalf("submit: %q %v", id, err)
	}
	if _, err := a.Submit(ctx, job(""), ""); !errors.Is(err, pecanhttp.ErrAsyncFull) {
		t.Errorf("second job with queue_length 1: %v, want ErrAsyncFull", err)
	}
	if _, err := a.Result(ctx, "nope"); !errors.Is(err, pecanhttp.ErrAsyncNotFound) {
		t.Errorf("unknown id: %v, want ErrAsyncNotFound", err)
	}
	r, err := a.Result(ctx, id)
	if err != nil || r.State != "queued" || r.RequestID != id || r.FinishedAt != nil || r.Res != nil || r.Webhook != nil {
		t.Errorf("result: %+v %v", r, err)
	}
	if s := a.Stats(); s.Queued != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestAsyncStoreFlagAndDefault(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = "/srv/pecan"
	if p := asyncStorePath(cfg); p != "/srv/pecan/async.db" {
		t.Errorf("default store %s", p)
	}
	cfg = serveConfigWithEnv(t, "PECAN_ASYNC_STORE", "/elsewhere/q.db")
	if p := asyncStorePath(cfg); p != "/elsewhere/q.db" {
		t.Errorf("PECAN_ASYNC_STORE ignored: store %s", p)
	}
}

// serveConfigWithEnv loads the default pecan.toml as `pecan serve` does,
// with the environment variable key set to value.
func serveConfigWithEnv(t *testing.T, key, value string) config.Config {
	t.Helper()
	t.Setenv(key, value)
	f := newServerFlags("serve")
	if err := f.parse([]string{"--config", "../../pecan.toml"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
