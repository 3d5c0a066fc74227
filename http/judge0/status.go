package judge0

import (
	"fmt"

	"github.com/pecan-judge/pecan/messages"
)

// Judge0's statuses (CE 1.13.1), by id.
const (
	statusInQueue      = 1
	statusProcessing   = 2
	statusAccepted     = 3
	statusWrongAnswer  = 4
	statusTLE          = 5
	statusCompileError = 6
	statusSIGSEGV      = 7
	statusSIGXFSZ      = 8
	statusSIGFPE       = 9
	statusSIGABRT      = 10
	statusNZEC         = 11
	statusOther        = 12
	statusInternal     = 13
	statusExecFormat   = 14
)

var statusDescriptions = map[int]string{
	statusInQueue:      "In Queue",
	statusProcessing:   "Processing",
	statusAccepted:     "Accepted",
	statusWrongAnswer:  "Wrong Answer",
	statusTLE:          "Time Limit Exceeded",
	statusCompileError: "Compilation Error",
	statusSIGSEGV:      "Runtime Error (SIGSEGV)",
	statusSIGXFSZ:      "Runtime Error (SIGXFSZ)",
	statusSIGFPE:       "Runtime Error (SIGFPE)",
	statusSIGABRT:      "Runtime Error (SIGABRT)",
	statusNZEC:         "Runtime Error (NZEC)",
	statusOther:        "Runtime Error (Other)",
	statusInternal:     "Internal Error",
	statusExecFormat:   "Exec Format Error",
}

// Pecan's verdict codes (DESIGN §4).
const (
	verdictAccepted = iota
	verdictWrongAnswer
	verdictCompileError
	verdictRuntimeError
	verdictTLE
	verdictMLE
	verdictInternal
	verdictOLE
)

// signalStatus is the Judge0 status of a run killed by a signal.
var signalStatus = map[int32]int{11: statusSIGSEGV, 25: statusSIGXFSZ, 8: statusSIGFPE, 6: statusSIGABRT}

// statusOf converts a judged response's verdict into a Judge0 status and
// message. Judge0 has no memory or output limit statuses: a run killed at
// its memory limit is "Runtime Error (Other)" and one killed at its output
// limit "Runtime Error (SIGXFSZ)" (Judge0 bounds output by file size), each
// with a message saying which limit.
func statusOf(resp *messages.ExecuteResponse) (int, string) {
	if resp.Failure != messages.Failure_FAILURE_NONE {
		return statusInternal, orDefault(resp.Error, "the submission could not be judged")
	}
	switch resp.Code {
	case verdictAccepted:
		return statusAccepted, ""
	case verdictWrongAnswer:
		return statusWrongAnswer, ""
	case verdictCompileError:
		return statusCompileError, ""
	case verdictTLE:
		return statusTLE, "Time limit exceeded"
	case verdictMLE:
		return statusOther, "Memory limit exceeded"
	case verdictOLE:
		return statusSIGXFSZ, "Output limit exceeded"
	case verdictRuntimeError:
		if resp.Signal != 0 {
			if id, ok := signalStatus[resp.Signal]; ok {
				return id, fmt.Sprintf("Exited with signal %d", resp.Signal)
			}
			return statusOther, fmt.Sprintf("Exited with signal %d", resp.Signal)
		}
		return statusNZEC, fmt.Sprintf("Exited with error status %d", resp.ExitCode)
	}
	return statusInternal, orDefault(resp.Error, "internal error")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
