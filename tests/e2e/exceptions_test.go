package e2e

import "github.com/pecan-judge/pecan/tests/testserver"

// exceptions are the checks of this suite a backend cannot pass, each with
// the reason (README, "The gvisor backend"). The case still runs and
// every other check of it holds; what the excepted check finds is logged.
var exceptions = testserver.Exceptions{
	"gvisor": {
		"time_measured":  "gVisor counts a program's CPU time in 10 ms ticks of its own clock: a run shorter than a tick may show 0 s",
		"java/wall_time": "a JVM starting under gVisor's ptrace platform spends 0.5-1 s of CPU time before main, so a sleeping Java program is not under 0.5 s",
	},
}
