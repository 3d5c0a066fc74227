// Command pecan-sandbox-init is the program the sandboxes start: the
// container backend's init process, and, inside a gVisor sandbox, the gvisor
// backend's runner (its idle init and the command of every `runsc exec`).
// The server starts one container init per sandbox, and a new one after
// every job; it imports nothing but the sandbox libraries, so it starts in
// a fraction of the time the whole server binary would take (the container
// backend falls back to re-executing the server when this binary is not
// installed beside it). It is not meant to be run by hand.
package main

import (
	"fmt"
	"os"

	"github.com/pecan-judge/pecan/backends/container"
	"github.com/pecan-judge/pecan/backends/gvisor/runner"
)

func main() {
	if runner.IsCommand(os.Args) {
		os.Exit(runner.Main(os.Args))
	}
	// Init returns only in a process that is not a container init.
	container.Init()
	fmt.Fprintln(os.Stderr, "pecan-sandbox-init: started by hand; the pecan server runs it as a sandbox's init")
	os.Exit(2)
}
