package main

import (
	"github.com/pecan-judge/pecan/async"
	"github.com/pecan-judge/pecan/config"
	pecanhttp "github.com/pecan-judge/pecan/http"
	"github.com/pecan-judge/pecan/http/judge0"
	"github.com/pecan-judge/pecan/http/piston"
)

// asyncKinds are the async job kinds of the compatible APIs: how their
// jobs are rendered and delivered. They are registered whether or not the
// API is enabled, so jobs stored while it was still render after a
// restart without it.
func asyncKinds() map[string]async.Kind {
	return map[string]async.Kind{
		judge0.Kind: {
			Render:      judge0.Render,
			Webhook:     judge0.Callback,
			Method:      judge0.CallbackMethod,
			MaxAttempts: judge0.CallbackTries(),
		},
	}
}

// compatRoutes are the compatible APIs the main listener serves.
func compatRoutes(cfg config.Config) []pecanhttp.Routes {
	var out []pecanhttp.Routes
	if cfg.Judge0.Enabled {
		out = append(out, judge0Routes(cfg, cfg.Judge0.Prefix))
	}
	if cfg.Piston.Enabled {
		out = append(out, piston.Routes())
	}
	return out
}

func judge0Routes(cfg config.Config, prefix string) pecanhttp.Routes {
	return judge0.Routes(prefix, judge0.Options{Retention: config.Seconds(cfg.Judge0.Retention)})
}
