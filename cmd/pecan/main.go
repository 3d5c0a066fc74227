// Command pecan is the Pecan judge server and its command-line tools:
// `pecan serve`, `pecan judge FILE`, `pecan languages`, `pecan chaos` and
// `pecan version`.
package main

import (
	"fmt"
	"os"

	"github.com/pecan-judge/pecan/backends/container"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const usage = `usage: pecan <command> [flags]

commands:
  serve       run the judge server
  judge FILE  judge one source file (against a running server, or in-process)
  languages   list the configured languages and whether their toolchains exist
  chaos       load a running server while killing its sandboxes; report losses and recovery
  version     print the version

Run "pecan <command> --help" for a command's flags.`

func main() {
	// The container backend re-executes this binary as each sandbox's init
	// process; that copy must take over before anything else runs.
	container.Init()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = serve(args)
	case "judge":
		err = judgeFile(args)
	case "languages":
		err = listLanguages(args)
	case "chaos":
		err = chaos(args)
	case "version", "--version":
		fmt.Println(version)
	case "help", "-h", "--help":
		fmt.Println(usage)
	default:
		fmt.Fprintf(os.Stderr, "pecan: unknown command %q\n\n%s\n", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pecan:", err)
		os.Exit(1)
	}
}
