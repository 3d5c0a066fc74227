// Package faulty wraps any backend and injects the faults a sandbox can
// suffer in production: creation fails, reset fails, a run panics, a run
// hangs past its deadline, the sandbox's init process is killed. Operators
// turn it on in pecan.toml [faults] to prove on their own deployment that
// the pool heals itself; tests use it against the real backend.
package faulty

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
)

// Kind names one fault.
type Kind string

// The faults that can be injected.
const (
	CreateFail Kind = "create_fail" // Backend.New returns an error
	ResetFail  Kind = "reset_fail"  // Sandbox.Reset reports a broken sandbox
	RunPanic   Kind = "run_panic"   // Sandbox.Run panics
	RunHang    Kind = "run_hang"    // Sandbox.Run blocks, ignoring its context, until the sandbox is destroyed
	KillInit   Kind = "kill_init"   // the sandbox's init process gets SIGKILL just before a run
)

// Kinds lists every fault kind.
var Kinds = []Kind{CreateFail, ResetFail, RunPanic, RunHang, KillInit}

// Rule says when a fault fires: each time with Probability, and on the
// next Next occasions regardless.
type Rule struct {
	Probability float64 `json:"probability"`
	Next        int     `json:"next"`
}

// Injector holds the rules and counts what fired. It is safe for
// concurrent use; rules change at run time.
type Injector struct {
	mu    sync.Mutex
	rules map[Kind]Rule
	fired map[Kind]int64
	rng   *rand.Rand
}

// NewInjector starts with the given rules.
func NewInjector(rules map[Kind]Rule) (*Injector, error) {
	in := &Injector{rules: map[Kind]Rule{}, fired: map[Kind]int64{}, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	for k, r := range rules {
		if err := in.Set(k, r); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// ParseKind checks a fault name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return "", fmt.Errorf("unknown fault %q (valid: %s)", s, strings.Join(names, ", "))
}

// Set replaces the rule of one kind; a zero rule turns it off.
func (in *Injector) Set(k Kind, r Rule) error {
	if _, err := ParseKind(string(k)); err != nil {
		return err
	}
	if !(r.Probability >= 0 && r.Probability <= 1) {
		return fmt.Errorf("fault %s: probability must be in [0, 1], got %v", k, r.Probability)
	}
	if r.Next < 0 {
		return fmt.Errorf("fault %s: next must not be negative, got %d", k, r.Next)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if r == (Rule{}) {
		delete(in.rules, k)
	} else {
		in.rules[k] = r
	}
	return nil
}

// Clear turns every fault off.
func (in *Injector) Clear() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = map[Kind]Rule{}
}

// Snapshot is the current rules and how often each kind fired.
type Snapshot struct {
	Rules map[Kind]Rule  `json:"rules"`
	Fired map[Kind]int64 `json:"fired"`
}

// Snapshot returns a copy of the state.
func (in *Injector) Snapshot() Snapshot {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := Snapshot{Rules: map[Kind]Rule{}, Fired: map[Kind]int64{}}
	for k, r := range in.rules {
		s.Rules[k] = r
	}
	for k, n := range in.fired {
		s.Fired[k] = n
	}
	return s
}

// String lists the active rules, for logs.
func (in *Injector) String() string {
	s := in.Snapshot()
	var parts []string
	for k, r := range s.Rules {
		parts = append(parts, fmt.Sprintf("%s(p=%g,next=%d)", k, r.Probability, r.Next))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// fire decides whether the fault happens now.
func (in *Injector) fire(k Kind) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	r, ok := in.rules[k]
	if !ok {
		return false
	}
	hit := false
	if r.Next > 0 {
		r.Next--
		hit = true
		if r == (Rule{}) {
			delete(in.rules, k)
		} else {
			in.rules[k] = r
		}
	} else if r.Probability > 0 && in.rng.Float64() < r.Probability {
		hit = true
	}
	if hit {
		in.fired[k]++
	}
	return hit
}
