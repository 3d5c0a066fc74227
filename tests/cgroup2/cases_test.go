package cgroup2

// guestTests are the guest suite's top-level tests. The host test wants
// each of them to have passed in the guest: one that is missing, skipped
// or failed fails it.
var guestTests = []string{
	"TestUnifiedHierarchy",
	"TestAccepted",
	"TestVerdicts",
	"TestCPULimit",
	"TestMemoryLimit",
	"TestForkBomb",
	"TestOutputFlood",
	"TestNothingSurvivesAJob",
	"TestKilledSandboxesUnderLoad",
	"TestProblem",
}

// guestLanguages are the languages the guest server has: the suite's, so
// that its start under TCG probes and sets up no others.
var guestLanguages = []string{"c", "cpp", "python", "java"}
