package main

import (
	"fmt"
	"os"
	"strings"

	log "github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"github.com/pecan-judge/pecan/config"
)

// serverFlags are the flags shared by commands that load the config.
type serverFlags struct {
	fs         *pflag.FlagSet
	configPath string
	listen     string
	poolSize   int
	backend    string
	dataDir    string
	logLevel   string
	logFormat  string
	queueLen   int

	clusterBind     string
	clusterSeeds    []string
	clusterProvider string
	clusterEtcd     []string
	asyncStore      string
	problemStore    string

	authTokens      []string
	authAdminTokens []string
}

func newServerFlags(name string) *serverFlags {
	f := &serverFlags{fs: pflag.NewFlagSet(name, pflag.ContinueOnError)}
	f.fs.StringVar(&f.configPath, "config", "pecan.toml", "configuration file")
	f.fs.StringVar(&f.listen, "listen", "", "HTTP listen address HOST:PORT")
	f.fs.IntVar(&f.poolSize, "pool-size", 0, "number of sandboxes (default: number of CPUs)")
	f.fs.StringVar(&f.backend, "backend", "", "sandbox backend")
	f.fs.StringVar(&f.dataDir, "data-dir", "", "directory for durable state")
	f.fs.StringVar(&f.logLevel, "log-level", "", "log level: debug, info, warn, error")
	f.fs.StringVar(&f.logFormat, "log-format", "", "log format: text or json")
	f.fs.IntVar(&f.queueLen, "queue-length", -1, "requests that may wait for a sandbox")
	f.fs.StringVar(&f.clusterBind, "cluster-bind", "", "join a cluster: remoting address HOST:PORT of this node")
	f.fs.StringSliceVar(&f.clusterSeeds, "cluster-seeds", nil, "remoting addresses HOST:PORT of the other members (automanaged provider)")
	f.fs.StringVar(&f.clusterProvider, "cluster-provider", "", "membership provider: automanaged or etcd")
	f.fs.StringSliceVar(&f.clusterEtcd, "cluster-etcd", nil, "etcd endpoints HOST:PORT (etcd provider)")
	f.fs.StringVar(&f.asyncStore, "async-store", "", "bbolt file of the async queue (default: <data-dir>/async.db)")
	f.fs.StringVar(&f.problemStore, "problem-store", "", "directory of the problem and blob stores (default: the data dir)")
	// Arguments are visible to every local user (ps, /proc): the help
	// steers operators to the environment variable or the config file.
	f.fs.StringSliceVar(&f.authTokens, "auth-tokens", nil, "API tokens, comma-separated; prefer PECAN_AUTH_TOKENS or [auth] tokens, arguments are visible to other users")
	f.fs.StringSliceVar(&f.authAdminTokens, "auth-admin-tokens", nil, "admin API tokens for /v1/manager/* and /metrics; prefer PECAN_AUTH_ADMIN_TOKENS or [auth] admin_tokens")
	return f
}

// parse reads the arguments, then fills every flag not given on the
// command line from its PECAN_* environment variable (--pool-size reads
// PECAN_POOL_SIZE).
func (f *serverFlags) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	var errs []string
	f.fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed {
			return
		}
		env := "PECAN_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := f.fs.Set(fl.Name, v); err != nil {
				if secretFlag(fl.Name) {
					// pflag's error quotes the value.
					errs = append(errs, fmt.Sprintf("%s: not a comma-separated list", env))
				} else {
					errs = append(errs, fmt.Sprintf("%s: %v", env, err))
				}
			}
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("environment: %s", strings.Join(errs, "; "))
	}
	return nil
}

// secretFlag reports whether a flag's value must never be echoed.
func secretFlag(name string) bool { return name == "token" || strings.HasPrefix(name, "auth-") }

// tokenList trims the tokens of a flag; a flag given but holding no token
// is an error rather than a silent "authentication off", which an empty
// PECAN_AUTH_TOKENS= left in an environment file would otherwise mean.
func tokenList(flag string, tokens []string) ([]string, error) {
	out := make([]string, 0, len(tokens))
	for _, t := range tokens {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		env := "PECAN_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
		return nil, fmt.Errorf("--%s (or %s) is set but holds no token; unset it to use the config file's", flag, env)
	}
	return out, nil
}

// load reads the config file and lays the flags over it.
func (f *serverFlags) load() (config.Config, error) {
	cfg, err := config.Load(f.configPath)
	if err != nil {
		return cfg, err
	}
	set := func(name string) bool { return f.fs.Changed(name) }
	if set("listen") {
		cfg.Listen = f.listen
	}
	if set("pool-size") {
		cfg.PoolSize = f.poolSize
	}
	if set("backend") {
		cfg.Backend = f.backend
	}
	if set("data-dir") {
		cfg.DataDir = f.dataDir
	}
	if set("log-level") {
		cfg.LogLevel = f.logLevel
	}
	if set("log-format") {
		cfg.LogFormat = f.logFormat
	}
	if set("queue-length") {
		cfg.QueueLength = f.queueLen
	}
	if set("cluster-bind") {
		cfg.Cluster.Bind = f.clusterBind
	}
	if set("cluster-seeds") {
		cfg.Cluster.Seeds = f.clusterSeeds
	}
	if set("cluster-provider") {
		cfg.Cluster.Provider = f.clusterProvider
	}
	if set("cluster-etcd") {
		cfg.Cluster.EtcdEndpoints = f.clusterEtcd
	}
	if set("async-store") {
		cfg.Async.StorePath = f.asyncStore
	}
	if set("problem-store") {
		cfg.Problems.StoreDir = f.problemStore
	}
	if set("auth-tokens") {
		if cfg.Auth.Tokens, err = tokenList("auth-tokens", f.authTokens); err != nil {
			return cfg, err
		}
	}
	if set("auth-admin-tokens") {
		if cfg.Auth.AdminTokens, err = tokenList("auth-admin-tokens", f.authAdminTokens); err != nil {
			return cfg, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", f.configPath, err)
	}
	return cfg, nil
}

// loadWithLogger loads the config and builds the logger it configures.
func (f *serverFlags) loadWithLogger() (config.Config, *log.Logger, error) {
	cfg, err := f.load()
	if err != nil {
		return cfg, nil, err
	}
	logger, err := newLogger(cfg)
	return cfg, logger, err
}

func newLogger(cfg config.Config) (*log.Logger, error) {
	l := log.New()
	l.SetOutput(os.Stderr)
	lvl, err := log.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("log level %q: %w", cfg.LogLevel, err)
	}
	l.SetLevel(lvl)
	switch cfg.LogFormat {
	case "", "text":
		l.SetFormatter(&log.TextFormatter{FullTimestamp: true})
	case "json":
		l.SetFormatter(&log.JSONFormatter{})
	default:
		return nil, fmt.Errorf("log format %q: want text or json", cfg.LogFormat)
	}
	return l, nil
}
