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
	n, err := startNode(ctx, cfg, logger)
	if err != nil {
		return err
	}
	var faults pecanhttp.Faults
	if n.faults != nil { // a nil *faultControl in the interface would not be nil
		faults = n.faults
	}
	app := pecanhttp.New(pecanhttp.Options{
		Faults:       faults,
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
