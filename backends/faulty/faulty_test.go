package faulty

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/fake"
)

func TestInjectorNextAndProbability(t *testing.T) {
	in, err := NewInjector(map[Kind]Rule{ResetFail: {Next: 2}, RunPanic: {Probability: 1}})
	if err != nil {
		t.Fatal(err)
	}
	got := []bool{in.fire(ResetFail), in.fire(ResetFail), in.fire(ResetFail)}
	if !got[0] || !got[1] || got[2] {
		t.Errorf("next=2 fired %v", got)
	}
	for i := 0; i < 10; i++ {
		if !in.fire(RunPanic) {
			t.Fatal("probability 1 did not fire")
		}
	}
	if in.fire(CreateFail) {
		t.Error("fault without a rule fired")
	}
	s := in.Snapshot()
	if s.Fired[ResetFail] != 2 || s.Fired[RunPanic] != 10 {
		t.Errorf("fired counts %v", s.Fired)
	}
	in.Clear()
	if in.fire(RunPanic) {
		t.Error("fired after Clear")
	}
}

func TestInjectorRejectsBadRules(t *testing.T) {
	in, _ := NewInjector(nil)
	for _, r := range []Rule{{Probability: -0.1}, {Probability: 1.5}, {Next: -1}} {
		if err := in.Set(RunHang, r); err == nil {
			t.Errorf("rule %+v accepted", r)
		}
	}
	if err := in.Set("explode", Rule{Next: 1}); err == nil {
		t.Error("unknown kind accepted")
	}
}

func TestWrappedBackendFaults(t *testing.T) {
	inner := fake.New(func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		return backends.RunResult{}, nil
	})
	in, _ := NewInjector(map[Kind]Rule{CreateFail: {Next: 1}})
	b := Wrap(inner, in)
	if _, err := b.New(context.Background(), "a"); !errors.Is(err, ErrInjected) {
		t.Fatalf("create_fail: %v", err)
	}
	sb, err := b.New(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	_ = in.Set(ResetFail, Rule{Next: 1})
	if err := sb.Reset(context.Background()); !errors.Is(err, backends.ErrBroken) {
		t.Errorf("reset_fail: %v", err)
	}
	_ = in.Set(RunPanic, Rule{Next: 1})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("run_panic did not panic")
			}
		}()
		sb.Run(context.Background(), backends.RunSpec{Args: []string{"x"}})
	}()
	_ = in.Set(RunHang, Rule{Next: 1})
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	go func() { _, err := sb.Run(ctx, backends.RunSpec{Args: []string{"x"}}); done <- err }()
	select {
	case <-done:
		t.Fatal("run_hang returned before the sandbox was destroyed")
	case <-time.After(50 * time.Millisecond):
	}
	sb.Destroy()
	if err := <-done; !errors.Is(err, backends.ErrBroken) {
		t.Errorf("run_hang after destroy: %v", err)
	}
}
