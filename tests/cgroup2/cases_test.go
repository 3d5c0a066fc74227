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
	"TestRunCost",
}
