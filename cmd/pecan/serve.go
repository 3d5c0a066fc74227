package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	log "github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/actors"
	"github.com/pecan-judge/pecan/async"
	"github.com/pecan-judge/pecan/config"
	pecanhttp "github.com/pecan-judge/pecan/http"
)

// The pool streams a submission's progress to HTTP clients and to the
// async queue's status.
var (
	_ pecanhttp.ProgressJudge = (*actors.Pool)(nil)
	_ async.ProgressExecutor  = (*actors.Pool)(nil)
)

// shutdownGrace bounds how long in-flight requests may finish after
// SIGTERM or SIGINT.
const shutdownGrace = 2 * time.Minute

func serve(args []string) error {
	f := newServerFlags("serve")
	if err := f.parse(args); err != nil {
		return err
	}
	cfg, logger, err := f.loadWithLogger()
	if err != nil {
		return err
	}
	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stopSignals()

	logger.WithFields(map[string]any{"pool_size": cfg.PoolSize, "backend": cfg.Backend, "version": version}).Info("starting")
	logAuth(logger, cfg)
	am, err := openAsync(cfg, logger)
	if err != nil {
		return err
	}
	stores, err := openProblems(cfg, logger)
	if err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return errors.Join(err, am.Stop(closeCtx))
	}
	defer func() {
		if e := stores.close(); e != nil {
			logger.WithError(e).Error("closing the problem store")
		}
	}()
	n, err := startNode(ctx, cfg, logger, nodeExtras{problems: stores, artifacts: stores.artifacts})
	if err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return errors.Join(err, am.Stop(closeCtx))
	}
	// Async jobs run through the same pool as synchronous ones, on at most
	// their share of it.
	am.Start(n.pool)
	logger.WithField("workers", cfg.Async.AsyncWorkers(cfg.PoolSize)).Info("async judging started")
	var faults pecanhttp.Faults
	if n.faults != nil { // a nil *faultControl in the interface would not be nil
		faults = n.faults
	}
	opts := pecanhttp.Options{
		Faults:           faults,
		Async:            asyncAPI{am},
		Problems:         stores.problems,
		MaxUploadBytes:   cfg.Problems.MaxUploadMiB << 20,
		UploadTimeout:    config.Seconds(cfg.Problems.UploadTimeout),
		Version:          version,
		Limits:           cfg.Limits,
		BodyLimit:        cfg.BodyLimitKiB * 1024,
		Auth:             cfg.Auth,
		QueueTimeout:     config.Seconds(cfg.QueueTimeout),
		Logger:           logger.WithField("component", "http"),
		Compat:           compatRoutes(cfg),
		WebhookTimeout:   config.Seconds(cfg.Async.WebhookTimeout),
		AsyncQueueLength: cfg.Async.QueueLength,
	}
	var app, j0 *fiber.App
	if cfg.Judge0.Enabled && cfg.Judge0.Listen != "" {
		// Judge0's clients expect its API at the root of a server.
		app, j0 = pecanhttp.NewWithRoot(opts, n.langs, n.pool, judge0Routes(cfg, ""))
	} else {
		app = pecanhttp.New(opts, n.langs, n.pool)
	}
	apps := []*fiber.App{app}

	listenErr := make(chan error, 2)
	go func() { listenErr <- listen(app, cfg.Listen) }()
	logger.WithField("listen", cfg.Listen).Info("serving")
	if j0 != nil {
		apps = append(apps, j0)
		go func() { listenErr <- listen(j0, cfg.Judge0.Listen) }()
		logger.WithField("listen", cfg.Judge0.Listen).Info("serving the Judge0 API at the root")
	}

	select {
	case err = <-listenErr:
	case <-ctx.Done():
		logger.Info("shutting down: finishing in-flight requests")
	}
	stopSignals()
	var shutErr error
	for _, a := range apps {
		shutErr = errors.Join(shutErr, a.ShutdownWithTimeout(shutdownGrace))
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The async workers stop before the pool: jobs they were running stay
	// queued in the store and run again at the next start.
	if e := am.Stop(stopCtx); e != nil {
		logger.WithError(e).Error("stopping async judging")
		err = errors.Join(err, e)
	}
	if e := n.stop(stopCtx); e != nil {
		logger.WithError(e).Error("stopping the pool")
		err = errors.Join(err, e)
	}
	if shutErr != nil {
		err = errors.Join(err, shutErr)
	}
	logger.Info("stopped")
	if err != nil {
		return err
	}
	os.Stdout.Sync()
	return nil
}

// listen serves app on addr until it is shut down.
func listen(app *fiber.App, addr string) error {
	if err := app.Listen(addr); err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return nil
}

// logAuth says whether the API needs tokens, and warns when it does not
// on an address others can reach: anyone there may then run code on this
// host and change fault injection.
func logAuth(logger log.FieldLogger, cfg config.Config) {
	if cfg.Auth.Enabled() {
		logger.WithFields(log.Fields{"tokens": len(cfg.Auth.Tokens), "admin_tokens": len(cfg.Auth.AdminTokens)}).Info("API tokens required on every endpoint but /v1/health")
		return
	}
	addrs := []string{cfg.Listen}
	if cfg.Judge0.Enabled && cfg.Judge0.Listen != "" {
		addrs = append(addrs, cfg.Judge0.Listen)
	}
	for _, addr := range addrs {
		if !loopbackOnly(addr) {
			logger.WithField("listen", addr).Warn("listening on a non-loopback address without API tokens: anyone who reaches it can submit code; set [auth] tokens or PECAN_AUTH_TOKENS")
		}
	}
}

// loopbackOnly reports whether listen (HOST:PORT) accepts connections
// from this host only: a loopback IP or "localhost". An empty or
// unspecified host listens everywhere, and another name may resolve to
// anything, so neither counts.
func loopbackOnly(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
