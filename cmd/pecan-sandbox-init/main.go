// Command pecan-sandbox-init is the init process of the container
// backend's sandboxes. The server starts one per sandbox, and a new one
// after every job; it imports nothing but the sandbox library, so it
// starts in a fraction of the time the whole server binary would take
// (the server falls back to re-executing itself when this binary is not
// installed beside it). It is not meant to be run by hand.
package main

import (
	"fmt"
	"os"

	"github.com/pecan-judge/pecan/backends/container"
)

func main() {
	// Init returns only in a process that is not a container init.
	if err := container.Init(); err != nil {
		fmt.Fprintln(os.Stderr, "pecan-sandbox-init:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "pecan-sandbox-init: started by hand; the pecan server runs it as a sandbox's init")
	os.Exit(2)
}
