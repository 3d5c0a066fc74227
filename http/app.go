// Package http is Pecan's HTTP API (DESIGN §3): a Fiber app that validates
// client input, turns it into a messages.ExecuteRequest, hands it to a
// Judge and maps the reply to JSON. It holds no judging logic, so the same
// handlers serve an in-process pool, a cluster, or a fake in tests.
package http

import (
	"context"
	"io"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
)

// Judge is what the handlers need from the judging machinery. The HTTP layer
// only sends and awaits, so the actor system stays behind this interface.
type Judge interface {
	// Execute judges one request. It must return once ctx is done; a reply
	// with Failure set means the request was not judged.
	Execute(ctx context.Context, req *messages.ExecuteRequest) (*messages.ExecuteResponse, error)
	// Status reports the sandbox pool.
	Status(ctx context.Context) (*messages.PoolStatus, error)
}

// Options configure the app.
type Options struct {
	Version string
	// Limits bound client requests. A zero field takes the value of
	// config.Default(), so a partly filled Limits never rejects everything.
	Limits config.Limits
	// BodyLimit caps a request body in bytes; 0 means config.Default()'s.
	BodyLimit int
	// Auth holds the API tokens; none leaves the API open.
	Auth config.Auth
	// QueueTimeout is how long a request may wait for a sandbox.
	QueueTimeout time.Duration
	// Faults controls fault injection at run time; nil when disabled.
	Faults Faults
	// Async is the queue of judge-single-async; nil answers 503 there.
	Async Async
	// Problems is the problem store of /v1/problems; nil answers 503
	// there.
	Problems Problems
	// MaxUploadBytes caps an uploaded problem package (0: 256 MiB), and
	// UploadTimeout the time to send one (0: 5 minutes).
	MaxUploadBytes int64
	UploadTimeout  time.Duration
	// Logger receives request logs (debug) and faults; nil discards them.
	Logger logrus.FieldLogger
	// Compat are the compatible APIs mounted beside v1 (Judge0, Piston).
	Compat []Routes
	// WebhookTimeout and AsyncQueueLength describe the async queue to the
	// compatible APIs that report them.
	WebhookTimeout   time.Duration
	AsyncQueueLength int
}

// server carries what the handlers share.
type server struct {
	opts    Options
	langs   *languages.Registry
	judge   Judge
	log     logrus.FieldLogger
	metrics *metrics
	auth    *authenticator
}

// New builds the Fiber app with every v1 route and the compatible APIs of
// opts.Compat. The caller owns Listen and Shutdown.
func New(opts Options, langs *languages.Registry, j Judge) *fiber.App {
	return newServer(opts, langs, j).mainApp()
}

// NewWithRoot is New and a second app that serves only root (a
// compatible API at the root of a listener of its own) behind the same
// middleware, tokens, limits and metrics.
func NewWithRoot(opts Options, langs *languages.Registry, j Judge, root Routes) (main, compat *fiber.App) {
	s := newServer(opts, langs, j)
	compat = s.newApp()
	compat.Use(s.readBody)
	root(compat, &Engine{s})
	return s.mainApp(), compat
}

func (s *server) mainApp() *fiber.App {
	app := s.newApp()
	// Problem uploads are routed before readBody, which would buffer
	// them: they stream into the store under a limit of their own.
	app.Post("/v1/problems", s.addProblem)
	app.Use(s.readBody)
	s.v1Routes(app)
	for _, r := range s.opts.Compat {
		r(app, &Engine{s})
	}
	return app
}

func newServer(opts Options, langs *languages.Registry, j Judge) *server {
	opts.Limits = withDefaults(opts.Limits)
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = config.Default().BodyLimitKiB * 1024
	}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = defaultMaxUpload
	}
	if opts.UploadTimeout <= 0 {
		opts.UploadTimeout = defaultUploadTimeout
	}
	if opts.Logger == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		opts.Logger = l
	}
	return &server{opts: opts, langs: langs, judge: j, log: opts.Logger, metrics: newMetrics(j, opts.Async), auth: newAuthenticator(opts.Auth)}
}

// newApp is the Fiber app with the middleware every route sits behind, up
// to the token check; the body is read by the routes' own chain.
func (s *server) newApp() *fiber.App {
	app := fiber.New(fiber.Config{
		// Bodies are streamed and readBody enforces the limit (body.go
		// says why); fasthttp's own limit then only bounds what it reads
		// ahead of the handlers.
		StreamRequestBody: true,
		BodyLimit:         s.opts.BodyLimit,
		ErrorHandler:      s.errorHandler,
		// main logs its own listen line through logrus.
		DisableStartupMessage: true,
		// Shutdown waits for open connections; fasthttp counts a
		// connection on which no request has arrived yet as busy, so
		// without these a client's idle keep-alive holds a SIGTERM'd
		// server until the client gives up. ReadTimeout covers reading a
		// whole request, body included.
		ReadTimeout: 15 * time.Second,
		IdleTimeout: 5 * time.Second,
	})

	// Order matters: the logger is outermost so it sees the final status
	// even of panics, which recoverer turns into errors; an unread body is
	// drained after whatever answered; CORS runs before routing so 404/405
	// answers carry its headers too, and before the token check so that
	// preflights (which carry no token) are answered and refusals are
	// readable by browsers; the token check comes before the body is read,
	// so a client without one cannot make the server buffer a body.
	app.Use(s.requestLogger)
	app.Use(s.drainUnreadBody)
	app.Use(s.recoverer)
	app.Use(cors.New(cors.Config{AllowOrigins: "*"}))
	app.Use(s.requireToken)
	return app
}

// v1Routes adds the native API.
func (s *server) v1Routes(app *fiber.App) {
	v1 := app.Group("/v1")
	v1.Get("/health", s.health)
	v1.Get("/version", s.version)
	v1.Get("/languages", s.languages)
	v1.Post("/judge/judge-single", s.judgeSingle)
	v1.Post("/judge/judge-single-async", s.judgeSingleAsync)
	v1.Post("/judge/submission", s.judgeSubmission)
	v1.Post("/judge/submission-async", s.judgeSubmissionAsync)
	v1.Get("/judge/result/:request_id", s.asyncResult)
	v1.Get("/problems", s.listProblems)
	v1.Get("/problems/:id", s.getProblem)
	v1.Delete("/problems/:id", s.deleteProblem)
	manager := v1.Group("/manager", s.requireAdmin)
	manager.Get("/sandbox-status", s.sandboxStatus)
	manager.Get("/faults", s.getFaults)
	manager.Post("/faults", s.setFaults)
	app.Get("/metrics", s.requireAdmin, s.metrics.handler())
	v1.Get("/openapi.json", s.openAPIDocument)
	app.Get("/", s.playgroundPage)
	app.Get(playgroundPrefix+":asset", s.playgroundAsset)
}

// withDefaults fills zero limits from config.Default().
func withDefaults(l config.Limits) config.Limits {
	d := config.Default().Limits
	if l.DefaultTime <= 0 {
		l.DefaultTime = d.DefaultTime
	}
	if l.MaxTime <= 0 {
		l.MaxTime = d.MaxTime
	}
	if l.DefaultMemoryKiB <= 0 {
		l.DefaultMemoryKiB = d.DefaultMemoryKiB
	}
	if l.MaxMemoryKiB <= 0 {
		l.MaxMemoryKiB = d.MaxMemoryKiB
	}
	if l.WallFactor <= 0 {
		l.WallFactor = d.WallFactor
	}
	if l.MaxWallTime <= 0 {
		l.MaxWallTime = d.MaxWallTime
	}
	if l.MaxStdinKiB <= 0 {
		l.MaxStdinKiB = d.MaxStdinKiB
	}
	if l.MaxCodeKiB <= 0 {
		l.MaxCodeKiB = d.MaxCodeKiB
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = d.MaxFiles
	}
	return l
}
