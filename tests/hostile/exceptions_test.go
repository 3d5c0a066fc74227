package hostile

import "github.com/pecan-judge/pecan/tests/testserver"

// exceptions are the cases whose guarantee (DESIGN §6) a backend cannot
// give, each with the reason (DESIGN §12; README, "Backends"). Such a case
// still runs, its sandbox and the host must still be clean after it (the
// probe job and the host audit), and so must the next job; only its own
// verdict check is not held against the backend. It must still fail that
// check: an exception a backend no longer needs is an error.
var exceptions = testserver.Exceptions{
	testserver.GVisor: {},
}
