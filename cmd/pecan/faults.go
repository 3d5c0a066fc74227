package main

import (
	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/faulty"
	"github.com/pecan-judge/pecan/config"
)

// withFaults wraps the backend with fault injection when the config
// enables it, and returns the run-time control for the HTTP API.
func withFaults(b backends.Backend, cfg config.Faults) (backends.Backend, *faultControl, error) {
	if !cfg.Enabled {
		return b, nil, nil
	}
	rules := map[faulty.Kind]faulty.Rule{}
	for name, r := range cfg.Rules {
		k, err := faulty.ParseKind(name)
		if err != nil {
			return nil, nil, err
		}
		rules[k] = faulty.Rule{Probability: r.Probability, Next: r.Next}
	}
	inj, err := faulty.NewInjector(rules)
	if err != nil {
		return nil, nil, err
	}
	return faulty.Wrap(b, inj), &faultControl{inj}, nil
}

// faultControl adapts the injector to the HTTP layer's Faults interface.
type faultControl struct{ inj *faulty.Injector }

func (f *faultControl) Set(kind string, probability float64, next int) error {
	k, err := faulty.ParseKind(kind)
	if err != nil {
		return err
	}
	return f.inj.Set(k, faulty.Rule{Probability: probability, Next: next})
}

func (f *faultControl) Clear()        { f.inj.Clear() }
func (f *faultControl) Snapshot() any { return f.inj.Snapshot() }
