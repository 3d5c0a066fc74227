package plan

import (
	"testing"
	"time"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
)

func registry(t *testing.T) *languages.Registry {
	t.Helper()
	reg, err := languages.New(map[string]config.Language{
		"py": {Source: "main.py", Run: []string{"/usr/bin/python3", "main.py"}, ExtraTime: 0.5},
		"c":  {Source: "main.c", Compile: []string{"/usr/bin/gcc", "main.c"}, Run: []string{"./a.out"}, CompileLimits: config.Step{Time: 4}},
	}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestJobTimeAndBudget(t *testing.T) {
	reg := registry(t)
	py, _ := reg.Lookup("py")
	c, _ := reg.Lookup("c")
	req := &messages.ExecuteRequest{Limits: &messages.Limits{CpuSeconds: 1, WallSeconds: 3}}
	lim := config.Default().Limits

	// Run wall 3 s + the language's 0.5 s + 5 s of grace.
	if got, want := JobTime(py, req, lim), 8500*time.Millisecond; got != want {
		t.Errorf("JobTime(python) = %s, want %s", got, want)
	}
	// A compiled language adds its compile wall limit: 2 x 4 s + 5 s.
	if got, want := JobTime(c, req, lim), 3*time.Second+13*time.Second+5*time.Second; got != want {
		t.Errorf("JobTime(c) = %s, want %s", got, want)
	}
	if got, want := Budget(py, req, lim, 30*time.Second), 30*time.Second+8500*time.Millisecond+5*time.Second; got != want {
		t.Errorf("Budget = %s, want %s", got, want)
	}
	// No wall limit: the backend's default, a few times the CPU limit.
	noWall := &messages.ExecuteRequest{Limits: &messages.Limits{CpuSeconds: 2}}
	if got, want := JobTime(py, noWall, lim), 5*time.Second+3*2500*time.Millisecond+time.Second; got != want {
		t.Errorf("JobTime without a wall limit = %s, want %s", got, want)
	}
}

func TestCompileDefaults(t *testing.T) {
	c, _ := registry(t).Lookup("c")
	lim := config.Default().Limits
	s := Compile(c, &messages.ExecuteRequest{Code: []byte("int main;")}, lim).Limits
	if s.CPU != 4*time.Second || s.Wall != 13*time.Second || s.MemoryBytes != DefaultCompileMemoryMiB<<20 ||
		s.OutputBytes != DefaultCompileOutputKiB<<10 || s.Processes != max(lim.Processes, DefaultCompileProcesses) {
		t.Errorf("compile limits %+v", s)
	}
}

func TestTestLimitsFromTheProblem(t *testing.T) {
	py, _ := registry(t).Lookup("py")
	lim := config.Default().Limits
	req := &messages.ExecuteRequest{Code: []byte("print(1)"), Limits: &messages.Limits{CpuSeconds: 1, WallSeconds: 3, MemoryKib: 65536}}

	// The request's limits when the problem has none.
	s := Test(py, req, lim, Problem{}).Limits
	if s.CPU != 1500*time.Millisecond || s.MemoryBytes != 64<<20 || s.OutputBytes != lim.OutputKiB*1024 {
		t.Errorf("no problem limits: %+v", s)
	}
	// The problem's time, memory and output win (plus the language's
	// 0.5 s), within the operator's maxima.
	s = Test(py, req, lim, Problem{TimeLimit: 2, MemoryMiB: 128, OutputMiB: 1}).Limits
	wall := config.Seconds(min(2*lim.WallFactor+1, lim.MaxWallTime)) + 500*time.Millisecond
	if s.CPU != 2500*time.Millisecond || s.Wall != wall || s.MemoryBytes != 128<<20 || s.OutputBytes != 1<<20 {
		t.Errorf("problem limits: %+v, want cpu 2.5s wall %s memory 128 MiB output 1 MiB", s, wall)
	}
	s = Test(py, req, lim, Problem{TimeLimit: 10 * lim.MaxTime, MemoryMiB: 1 << 30}).Limits
	if s.CPU != config.Seconds(lim.MaxTime)+500*time.Millisecond || s.MemoryBytes != uint64(lim.MaxMemoryKiB)*1024 {
		t.Errorf("limits over the maxima: %+v", s)
	}
	// The run still sees the submission's files.
	if args := Test(py, req, lim, Problem{TimeLimit: 2}).Args; len(args) == 0 || args[len(args)-1] != "main.py" {
		t.Errorf("run command %v lost the source file", args)
	}
}

func TestInteractValidatorOutlastsTheProgram(t *testing.T) {
	py, _ := registry(t).Lookup("py")
	lim := config.Default().Limits
	p := Problem{ValidationTime: 1}
	vreq := &messages.ExecuteRequest{}
	own := Validate(py, vreq, lim, p, []string{"input"}).Limits
	// A program whose wall limit is past the validator's own: the
	// validator waits as long as it, and a second more.
	long := Interact(py, vreq, lim, p, []string{"input"}, Test(py, vreq, lim, Problem{TimeLimit: 5}).Limits)
	if long.Limits.Wall != Test(py, vreq, lim, Problem{TimeLimit: 5}).Limits.Wall+time.Second || long.Limits.CPU != own.CPU {
		t.Errorf("validator beside a slow program: %+v (own %+v)", long.Limits, own)
	}
	if args := long.Args; args[len(args)-1] != "input" {
		t.Errorf("validator arguments %v", args)
	}
	// A quick program: the validator keeps its own limit.
	quick := Interact(py, vreq, lim, p, nil, Test(py, vreq, lim, Problem{TimeLimit: 0.1}).Limits)
	if quick.Limits.Wall != own.Wall {
		t.Errorf("validator beside a quick program: wall %s, want its own %s", quick.Limits.Wall, own.Wall)
	}
}
