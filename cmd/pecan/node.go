package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	log "github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/actors"
	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/container"
	"github.com/pecan-judge/pecan/backends/gvisor"
	"github.com/pecan-judge/pecan/backends/isolate"
	"github.com/pecan-judge/pecan/backends/nsjail"
	"github.com/pecan-judge/pecan/blob"
	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
)

// node is one running Pecan: languages, backend, actor system and pool.
type node struct {
	cfg     config.Config
	logger  *log.Logger
	langs   *languages.Registry
	backend backends.Backend
	system  *actor.ActorSystem
	pool    *actors.Pool
	faults  *faultControl   // nil unless fault injection is enabled
	cluster *actors.Cluster // nil unless the node is a cluster member
}

// nodeExtras are what a node may be given besides its configuration.
type nodeExtras struct {
	// problems gives submissions their stored problems; nil for none.
	problems actors.Problems
	// artifacts is the compile cache; nil for none.
	artifacts *blob.Cache
	// onTestResult hears of each test as it is decided; nil for none.
	onTestResult func(requestID string, t *messages.TestResult)
}

// startNode prepares the languages, builds the backend and starts the
// pool, waiting until every sandbox is prewarmed.
func startNode(ctx context.Context, cfg config.Config, logger *log.Logger, extras nodeExtras) (*node, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	// Language state is bound into sandboxes at its host path, and every
	// sandbox mounts its own tmpfs over /tmp and /w, which would hide it.
	for _, hidden := range []string{"/tmp", container.WorkDir} {
		if dataDir == hidden || strings.HasPrefix(dataDir, hidden+"/") {
			return nil, fmt.Errorf("data dir %s: must not be under %s, which sandboxes mount their own tmpfs over", dataDir, hidden)
		}
	}
	langs, err := languages.New(cfg.Languages, cfg.Env, filepath.Join(dataDir, "languages"))
	if err != nil {
		return nil, err
	}
	langs.Prepare(ctx, logger)

	backend, err := newBackend(cfg, langs, logger)
	if err != nil {
		return nil, err
	}
	wrapped, faults, err := withFaults(backend, cfg.Faults)
	if err != nil {
		backend.Close()
		return nil, fmt.Errorf("faults: %w", err)
	}
	backend = wrapped
	if faults != nil {
		logger.WithField("rules", faults.inj.String()).Warn("fault injection is enabled")
	}
	host, _ := os.Hostname()
	system := actors.NewActorSystem(logger)
	var cl *actors.Cluster
	if cfg.Cluster.Bind != "" {
		if cl, err = actors.JoinCluster(system, cfg.Cluster, logger); err != nil {
			system.Shutdown()
			backend.Close()
			return nil, err
		}
		// Members on one host share its name; the address tells them apart.
		host = cl.Address()
	}
	pool, err := actors.Start(system, actors.Options{
		PoolSize:         cfg.PoolSize,
		QueueLength:      cfg.QueueLength,
		Backend:          backend,
		Languages:        langs,
		Limits:           cfg.Limits,
		Node:             host,
		Logger:           logger,
		Cluster:          cl,
		Problems:         extras.problems,
		Artifacts:        extras.artifacts,
		MaxParallelTests: cfg.Submissions.MaxParallelTests,
		OnTestResult:     extras.onTestResult,
	})
	if err != nil {
		if cl != nil {
			cl.Leave() // shuts the system down too
		} else {
			system.Shutdown()
		}
		backend.Close()
		return nil, err
	}
	n := &node{cfg: cfg, logger: logger, langs: langs, backend: backend, system: system, pool: pool, faults: faults, cluster: cl}
	if err := pool.WaitReady(ctx); err != nil {
		n.stop(context.Background())
		return nil, fmt.Errorf("prewarm %d sandboxes: %w", cfg.PoolSize, err)
	}
	return n, nil
}

func newBackend(cfg config.Config, langs *languages.Registry, logger *log.Logger) (backends.Backend, error) {
	switch cfg.Backend {
	case container.Name:
		initBin := sandboxInit(logger)
		return container.New(container.Options{
			InitBinary:   initBin,
			Mounts:       append(append([]string(nil), cfg.Container.Mounts...), langs.Mounts()...),
			EtcFiles:     cfg.Container.EtcFiles,
			WorkDirMiB:   cfg.Container.WorkDirMiB,
			TmpMiB:       cfg.Container.TmpMiB,
			CgroupPrefix: cfg.Container.CgroupPrefix,
			UID:          cfg.Container.UID,
			NoSeccomp:    !cfg.Container.Seccomp,
			Logger:       logger.WithField("backend", container.Name),
		})
	case isolate.Name:
		return isolate.New(isolate.Options{
			Binary:       cfg.Isolate.Binary,
			FirstBox:     cfg.Isolate.FirstBox,
			Boxes:        cfg.Isolate.Boxes,
			LockDir:      cfg.Isolate.LockDir,
			WorkDirMiB:   cfg.Isolate.WorkDirMiB,
			TmpMiB:       cfg.Isolate.TmpMiB,
			CgroupPrefix: cfg.Isolate.CgroupPrefix,
			Dirs:         append(append([]string(nil), cfg.Isolate.Dirs...), langs.Mounts()...),
			Logger:       logger.WithField("backend", isolate.Name),
		})
	case nsjail.Name:
		return nsjail.New(nsjail.Options{
			Binary:       cfg.Nsjail.Binary,
			StateDir:     cfg.Nsjail.StateDir,
			WorkDirMiB:   cfg.Nsjail.WorkDirMiB,
			TmpMiB:       cfg.Nsjail.TmpMiB,
			CgroupPrefix: cfg.Nsjail.CgroupPrefix,
			UID:          cfg.Nsjail.UID,
			Mounts:       append(append([]string(nil), cfg.Nsjail.Mounts...), langs.Mounts()...),
			NoSeccomp:    !cfg.Nsjail.Seccomp,
			Logger:       logger.WithField("backend", nsjail.Name),
		})
	case gvisor.Name:
		g := cfg.GVisor
		return gvisor.New(gvisor.Options{
			Runsc:            g.Runsc,
			Platform:         g.Platform,
			Flags:            g.Flags,
			StateDir:         g.StateDir,
			Runner:           sandboxInit(logger),
			Mounts:           append(append([]string(nil), g.Mounts...), langs.Mounts()...),
			EtcFiles:         g.EtcFiles,
			WorkDirMiB:       g.WorkDirMiB,
			TmpMiB:           g.TmpMiB,
			SandboxMemoryMiB: g.SandboxMemoryMiB,
			SandboxPids:      g.SandboxPids,
			Logger:           logger.WithField("backend", gvisor.Name),
		})
	default:
		return nil, fmt.Errorf("unknown backend %q (available: %s)", cfg.Backend, strings.Join([]string{container.Name, isolate.Name, nsjail.Name, gvisor.Name}, ", "))
	}
}

// sandboxInit is the dedicated sandbox init installed beside this binary
// (make build puts it there), or "" to re-execute this binary.
func sandboxInit(logger log.FieldLogger) string {
	exe, err := os.Executable()
	if err == nil {
		if p := container.InitBinaryBeside(exe); p != "" {
			return p
		}
	}
	logger.WithField("want", container.InitBinaryName).
		Info("no sandbox init beside the server binary; sandboxes re-execute the server, which makes each reset slower")
	return ""
}

// stop destroys every sandbox, then the backend's own resources.
func (n *node) stop(ctx context.Context) error {
	err := n.pool.Stop(ctx)
	if n.cluster != nil {
		// After the pool: jobs members handed this node are answered.
		// Leave shuts the actor system down itself.
		err = errors.Join(err, n.cluster.Leave())
	} else {
		n.system.Shutdown()
	}
	return errors.Join(err, n.backend.Close())
}
