// Command pecan-sandbox-init is the program the sandboxes start: the
// container backend's init process, and, inside a gVisor sandbox, the
// gvisor backend's runner (its idle init and the command of every `runsc
// exec`). A container backend's server starts one container init per
// sandbox, and a new one after every job; it imports nothing but what
// those two need, so it starts in a fraction of the time the whole server
// binary would take (the container backend falls back to re-executing the
// server when this binary is not installed beside it). It is not meant to
// be run by hand.
package main

import (
	"fmt"
	"os"

	"github.com/pecan-judge/pecan/backends/container/initproc"
	"github.com/pecan-judge/pecan/backends/gvisor/runner"
)

func main() {
	if runner.IsCommand(os.Args) {
		os.Exit(runner.Main(os.Args))
	}
	if initproc.IsInit() {
		if err := initproc.Main(); err != nil {
			fmt.Fprintln(os.Stderr, "container init:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	fmt.Fprintln(os.Stderr, "pecan-sandbox-init: started by hand; the pecan server runs it as a sandbox's init")
	os.Exit(2)
}
