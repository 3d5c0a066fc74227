package piston

import (
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/pecan-judge/pecan/messages"
)

// stage is Piston's result of the compile or the run.
type stage struct {
	Stdout  string  `json:"stdout"`
	Stderr  string  `json:"stderr"`
	Output  string  `json:"output"`
	Code    *int32  `json:"code"`
	Signal  *string `json:"signal"`
	Message *string `json:"message"`
	Status  *string `json:"status"`
	// CPUTime and WallTime are milliseconds, Memory bytes.
	CPUTime  float64 `json:"cpu_time"`
	WallTime float64 `json:"wall_time"`
	Memory   int64   `json:"memory"`
}

// result is the execute answer.
type result struct {
	Language string `json:"language"`
	Version  string `json:"version"`
	Run      stage  `json:"run"`
	Compile  *stage `json:"compile,omitempty"`
}

// Pecan's verdict codes (DESIGN §4).
const (
	verdictCompileError = 2
	verdictRuntimeError = 3
	verdictTLE          = 4
	verdictMLE          = 5
	verdictInternal     = 6
	verdictOLE          = 7
)

// answer converts a judged response into Piston's stages. A compiled
// language has a compile stage, from compile_output (Pecan keeps the
// compiler's streams together, so they are stderr and output); when the
// compile failed, the run stage is a copy of it, as in Piston. output is
// stdout then stderr: Pecan captures the two apart, not their
// interleaving.
func answer(rt runtime, resp *messages.ExecuteResponse) result {
	res := result{Language: rt.Language, Version: rt.Version}
	if rt.lang.Compiled() {
		res.Compile = compileStage(resp)
	}
	if resp.Code == verdictCompileError {
		res.Run = *res.Compile
		return res
	}
	res.Run = runStage(resp)
	return res
}

func compileStage(resp *messages.ExecuteResponse) *stage {
	s := &stage{Stderr: resp.CompileOutput, Output: resp.CompileOutput, Code: ptr(int32(0))}
	if resp.Code == verdictCompileError {
		s.Code, s.Status, s.Message = ptr(int32(1)), ptr("RE"), ptr("Compilation failed")
	}
	return s
}

func runStage(resp *messages.ExecuteResponse) stage {
	s := stage{
		Stdout:   string(resp.Stdout),
		Stderr:   string(resp.Stderr),
		Output:   string(resp.Stdout) + string(resp.Stderr),
		CPUTime:  resp.Time * 1000,
		WallTime: resp.WallTime * 1000,
		Memory:   resp.MemoryKib * 1024,
	}
	killed := func(status, msg string) {
		s.Status, s.Message, s.Signal = ptr(status), ptr(msg), ptr(signalName(resp.Signal, unix.SIGKILL))
	}
	switch resp.Code {
	case verdictTLE:
		killed("TO", "Time limit exceeded")
	case verdictMLE:
		killed("SG", "Memory limit exceeded")
	case verdictOLE:
		if resp.StdoutTruncated || !resp.StderrTruncated {
			killed("OL", "stdout length exceeded")
		} else {
			killed("EL", "stderr length exceeded")
		}
	case verdictInternal:
		s.Status, s.Message = ptr("XX"), ptr(orDefault(resp.Error, "internal error"))
	case verdictRuntimeError:
		if resp.Signal != 0 {
			s.Status, s.Signal = ptr("SG"), ptr(signalName(resp.Signal, 0))
		} else {
			s.Status, s.Code = ptr("RE"), ptr(resp.ExitCode)
		}
	default: // ran to the end (the output is not compared)
		s.Code = ptr(resp.ExitCode)
	}
	return s
}

// signalName is "SIGSEGV" for 11; def stands in for a signal of 0.
func signalName(sig int32, def unix.Signal) string {
	if sig == 0 {
		sig = int32(def)
	}
	if n := unix.SignalName(unix.Signal(sig)); n != "" {
		return n
	}
	return "SIG" + itoa(sig)
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
func ptr[T any](v T) *T   { return &v }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
