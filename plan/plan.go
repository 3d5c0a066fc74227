// Package plan decides the steps of a job — its compile and its run — and
// their limits, from the language, the request and the operator's limits.
// It is pure: nothing here runs anything, so the actors that execute the
// steps and the transports that wait for them share one set of rules,
// including how long a job may take.
package plan

import (
	"time"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
	"github.com/pecan-judge/pecan/problems"
)

// Defaults for a language whose compile_limits leave a field at zero.
// They are generous because compilers (javac, rustc, go) are heavy, and a
// compile is not what the client's limits are about.
const (
	DefaultCompileTime      = 10 * time.Second
	DefaultCompileMemoryMiB = 1024
	DefaultCompileOutputKiB = 64
	DefaultCompileProcesses = 128
)

// Compile is the compile step of req's sources with the language's
// compile limits, the zero fields filled with defaults.
func Compile(lang *languages.Language, req *messages.ExecuteRequest, lim config.Limits) backends.RunSpec {
	cl := lang.CompileLimits
	cpu := config.Seconds(cl.Time)
	if cpu <= 0 {
		cpu = DefaultCompileTime
	}
	wall := config.Seconds(cl.WallTime)
	if wall <= 0 {
		// Compilers wait on disk and spawn helpers; give them room.
		wall = 2*cpu + 5*time.Second
	}
	mem := cl.MemoryMiB
	if mem <= 0 {
		mem = DefaultCompileMemoryMiB
	}
	out := cl.OutputKiB
	if out <= 0 {
		out = DefaultCompileOutputKiB
	}
	procs := cl.Processes
	if procs == 0 {
		procs = max(lim.Processes, DefaultCompileProcesses)
	}
	vars := sourceVars(lang, req)
	vars.MemoryMiB = mem
	return backends.RunSpec{
		Args: lang.Expand(lang.Compile, vars),
		Env:  lang.Env,
		Limits: backends.Limits{
			CPU:         cpu,
			Wall:        wall,
			MemoryBytes: uint64(mem) << 20,
			Processes:   procs,
			OutputBytes: out * 1024,
			FileBytes:   lim.FileSizeKiB * 1024,
			OpenFiles:   lim.OpenFiles,
			StackBytes:  lim.StackKiB * 1024,
		},
	}
}

// Run is the run step: the client's limits plus the language's
// allowances, the operator's limits for the rest.
func Run(lang *languages.Language, req *messages.ExecuteRequest, lim config.Limits) backends.RunSpec {
	l := req.GetLimits()
	extra := config.Seconds(lang.ExtraTime)
	memKiB := l.GetMemoryKib()
	memMiB := (memKiB + 1023) / 1024 // the command sees the client's limit, rounded up
	procs := lang.RunProcesses
	if procs == 0 {
		procs = lim.Processes
	}
	var wall time.Duration
	if w := l.GetWallSeconds(); w > 0 {
		wall = config.Seconds(w) + extra
	}
	vars := sourceVars(lang, req)
	vars.MemoryMiB = memMiB
	return backends.RunSpec{
		Args:  lang.Expand(lang.Run, vars),
		Env:   lang.Env,
		Stdin: req.GetStdin(),
		Limits: backends.Limits{
			CPU:         config.Seconds(l.GetCpuSeconds()) + extra,
			Wall:        wall,
			MemoryBytes: uint64(memKiB)*1024 + uint64(lang.ExtraMemoryMiB)<<20,
			Processes:   procs,
			OutputBytes: lim.OutputKiB * 1024,
			FileBytes:   lim.FileSizeKiB * 1024,
			OpenFiles:   lim.OpenFiles,
			StackBytes:  lim.StackKiB * 1024,
		},
	}
}

// jobGrace is the slack on top of a job's own wall limits for writing
// files, moving the compiled program and resetting.
const jobGrace = 5 * time.Second

// JobTime is the longest a job may take in a healthy sandbox: its compile
// and run wall limits plus a grace. Past it, the sandbox is stuck.
func JobTime(lang *languages.Language, req *messages.ExecuteRequest, lim config.Limits) time.Duration {
	d := jobGrace
	if lang.Compiled() {
		d += Compile(lang, req, lim).Limits.Wall
	}
	run := Run(lang, req, lim).Limits
	if run.Wall > 0 {
		d += run.Wall
	} else {
		// The backend's default wall limit is a few times the CPU limit.
		d += 3*run.CPU + time.Second
	}
	return d
}

// replySlack lets the answer of a job that used all of its time still
// reach the requester before the requester gives up.
const replySlack = 5 * time.Second

// Budget is how long a requester waits for a job's answer: the wait for a
// sandbox (queueWait), the job's own time, and the way back.
func Budget(lang *languages.Language, req *messages.ExecuteRequest, lim config.Limits, queueWait time.Duration) time.Duration {
	return queueWait + JobTime(lang, req, lim) + replySlack
}

// Problem is what plan needs to know of a submission's tests: how many
// there are, and the problem's own limits (0: the problem does not say).
type Problem struct {
	Tests               int
	TimeLimit           float64 // CPU seconds per test
	MemoryMiB           int64
	OutputMiB           int64
	ValidationTime      float64 // CPU seconds per validator run
	ValidationMemoryMiB int64
	CustomValidator     bool
}

// Validator defaults, where the problem leaves them unset.
const (
	DefaultValidationTime      = 10 * time.Second
	DefaultValidationMemoryMiB = 1024
)

// perTestGrace covers what a test costs besides its runs: a new sandbox,
// its files put in, the output handed to the validator.
const perTestGrace = time.Second

// Test is the run step of one test of a submission: the problem's limits
// where it has them, else the request's, never above the operator's.
func Test(lang *languages.Language, req *messages.ExecuteRequest, lim config.Limits, p Problem) backends.RunSpec {
	l := testLimits(req.GetLimits(), lim, p)
	if p.OutputMiB > 0 {
		lim.OutputKiB = min(p.OutputMiB*1024, lim.OutputKiB)
	}
	withLimits := &messages.ExecuteRequest{Language: req.GetLanguage(), Code: req.GetCode(), Files: req.GetFiles(), Limits: l}
	return Run(lang, withLimits, lim)
}

func testLimits(req *messages.Limits, lim config.Limits, p Problem) *messages.Limits {
	out := &messages.Limits{CpuSeconds: req.GetCpuSeconds(), WallSeconds: req.GetWallSeconds(), MemoryKib: req.GetMemoryKib()}
	if p.TimeLimit > 0 {
		out.CpuSeconds = min(p.TimeLimit, lim.MaxTime)
		out.WallSeconds = min(out.CpuSeconds*lim.WallFactor+1, lim.MaxWallTime)
	}
	if p.MemoryMiB > 0 {
		out.MemoryKib = min(p.MemoryMiB*1024, lim.MaxMemoryKiB)
	}
	return out
}

// Validate is the step that runs a custom validator of language vlang,
// made of vreq's files, on one test's output, with args after the
// language's run command (the protocol's file names and the problem's
// flags).
func Validate(vlang *languages.Language, vreq *messages.ExecuteRequest, lim config.Limits, p Problem, args []string) backends.RunSpec {
	// A package's own limits, never above the operator's.
	cpu := config.Seconds(min(p.ValidationTime, lim.MaxTime))
	if p.ValidationTime <= 0 {
		cpu = DefaultValidationTime
	}
	mem := min(p.ValidationMemoryMiB, lim.MaxMemoryKiB/1024)
	if p.ValidationMemoryMiB <= 0 {
		mem = DefaultValidationMemoryMiB
	}
	procs := vlang.RunProcesses
	if procs == 0 {
		procs = lim.Processes
	}
	vars := sourceVars(vlang, vreq)
	vars.MemoryMiB = mem
	return backends.RunSpec{
		Args: append(vlang.Expand(vlang.Run, vars), args...),
		Env:  vlang.Env,
		Limits: backends.Limits{
			CPU:         cpu + config.Seconds(vlang.ExtraTime),
			Wall:        min(2*cpu+time.Second, config.Seconds(lim.MaxWallTime)),
			MemoryBytes: uint64(mem)<<20 + uint64(vlang.ExtraMemoryMiB)<<20,
			Processes:   procs,
			OutputBytes: lim.OutputKiB * 1024,
			FileBytes:   lim.FileSizeKiB * 1024,
			OpenFiles:   lim.OpenFiles,
			StackBytes:  lim.StackKiB * 1024,
		},
	}
}

// SubmissionTime is the longest a submission may take in a healthy
// sandbox: one compile, then every test with its validator, one after
// another, plus a grace for each.
func SubmissionTime(lang, vlang *languages.Language, req *messages.ExecuteRequest, lim config.Limits, p Problem) time.Duration {
	d := jobGrace
	if lang.Compiled() {
		d += Compile(lang, req, lim).Limits.Wall
	}
	run := Test(lang, req, lim, p).Limits
	perTest := run.Wall
	if perTest <= 0 {
		perTest = 3*run.CPU + time.Second
	}
	perTest += perTestGrace
	if p.CustomValidator && vlang != nil {
		if vlang.Compiled() {
			d += Compile(vlang, &messages.ExecuteRequest{}, lim).Limits.Wall
		}
		perTest += Validate(vlang, &messages.ExecuteRequest{}, lim, p, nil).Limits.Wall + perTestGrace
	}
	return d + time.Duration(max(p.Tests, 1))*perTest
}

// SubmissionBudget is how long a requester waits for a submission's
// answer.
func SubmissionBudget(lang, vlang *languages.Language, req *messages.ExecuteRequest, lim config.Limits, p Problem, queueWait time.Duration) time.Duration {
	return queueWait + SubmissionTime(lang, vlang, req, lim, p) + replySlack
}

// FromProblem is what plan needs of a stored problem. Its time_multiplier
// is not applied: Pecan runs no judge solutions to multiply.
func FromProblem(p *problems.Problem) Problem {
	return Problem{
		Tests:               len(p.Tests),
		TimeLimit:           p.TimeLimit,
		MemoryMiB:           p.MemoryMiB,
		OutputMiB:           p.OutputMiB,
		ValidationTime:      p.ValidationTimeSec,
		ValidationMemoryMiB: p.ValidationMemoryMiB,
		CustomValidator:     p.Validator != nil,
	}
}

// Interact is the step that runs an interactive problem's validator
// beside the program, whose run step has the limits program: Validate's
// step, with a wall limit past the program's, so that a validator never
// times out waiting for a program still within its limits.
func Interact(vlang *languages.Language, vreq *messages.ExecuteRequest, lim config.Limits, p Problem, args []string, program backends.Limits) backends.RunSpec {
	spec := Validate(vlang, vreq, lim, p, args)
	wall := program.Wall
	if wall <= 0 {
		// The backend's default wall limit is a few times the CPU limit.
		wall = 3*program.CPU + time.Second
	}
	spec.Limits.Wall = max(spec.Limits.Wall, wall+time.Second)
	return spec
}
