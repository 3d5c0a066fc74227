package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pecan-judge/pecan/config"
	pecanhttp "github.com/pecan-judge/pecan/http"
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
	am, err := openAsync(cfg, logger)
	if err != nil {
		return err
	}
	n, err := startNode(ctx, cfg, logger)
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
	app := pecanhttp.New(pecanhttp.Options{
		Faults:       faults,
		Async:        asyncAPI{am},
		Version:      version,
		Limits:       cfg.Limits,
		BodyLimit:    cfg.BodyLimitKiB * 1024,
		QueueTimeout: config.Seconds(cfg.QueueTimeout),
		Logger:       logger.WithField("component", "http"),
	}, n.langs, n.pool)

	listenErr := make(chan error, 1)
	go func() { listenErr <- app.Listen(cfg.Listen) }()
	logger.WithField("listen", cfg.Listen).Info("serving")

	select {
	case err = <-listenErr:
		err = fmt.Errorf("listen %s: %w", cfg.Listen, err)
	case <-ctx.Done():
		logger.Info("shutting down: finishing in-flight requests")
	}
	stopSignals()
	shutErr := app.ShutdownWithTimeout(shutdownGrace)
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
