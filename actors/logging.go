package actors

import (
	"context"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"
)

// NewActorSystem makes an actor system whose own logging goes to logger
// at warning level and above: protoactor's default logger prints coloured
// INFO lines (system started, every dead letter, every recovery) that
// would drown Pecan's structured logs. Pecan logs failures and restarts
// itself, with sandbox ids.
func NewActorSystem(logger logrus.FieldLogger, opts ...actor.ConfigOption) *actor.ActorSystem {
	return actor.NewActorSystem(append([]actor.ConfigOption{WithLogrus(logger, slog.LevelWarn)}, opts...)...)
}

// WithLogrus is the config option that routes protoactor's slog output to
// logger, dropping records below min. Use it when building the system
// yourself (for example with remoting or cluster options).
func WithLogrus(logger logrus.FieldLogger, min slog.Level) actor.ConfigOption {
	return actor.WithLoggerFactory(func(system *actor.ActorSystem) *slog.Logger {
		return slog.New(&logrusHandler{
			logger: logger.WithFields(logrus.Fields{"component": "protoactor", "system": system.ID}),
			min:    min,
		})
	})
}

// logrusHandler is a slog.Handler writing into a logrus logger.
type logrusHandler struct {
	logger logrus.FieldLogger
	min    slog.Level
	group  string
}

func (h *logrusHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }

func (h *logrusHandler) Handle(_ context.Context, r slog.Record) error {
	fields := logrus.Fields{}
	r.Attrs(func(a slog.Attr) bool {
		fields[h.key(a.Key)] = a.Value.Resolve().Any()
		return true
	})
	e := h.logger.WithFields(fields)
	switch {
	case r.Level >= slog.LevelWarn:
		// protoactor logs a cluster's ordinary churn (a member not up
		// yet, a connection lost to one that left) as errors; Pecan logs
		// what those mean for jobs itself, so they stay warnings here.
		e.Warn(r.Message)
	case r.Level >= slog.LevelInfo:
		e.Info(r.Message)
	default:
		e.Debug(r.Message)
	}
	return nil
}

func (h *logrusHandler) key(k string) string {
	if h.group == "" {
		return k
	}
	return h.group + "." + k
}

func (h *logrusHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	fields := logrus.Fields{}
	for _, a := range attrs {
		fields[h.key(a.Key)] = a.Value.Resolve().Any()
	}
	return &logrusHandler{logger: h.logger.WithFields(fields), min: h.min, group: h.group}
}

func (h *logrusHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &logrusHandler{logger: h.logger, min: h.min, group: h.key(name)}
}
