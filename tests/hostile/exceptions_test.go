package hostile

import "github.com/pecan-judge/pecan/tests/testserver"

// exceptions are the cases whose guarantee (DESIGN §6) a backend cannot
// give, each with the reason (DESIGN §12; README, "Backends"). Such a case
// still runs, its sandbox and the host must still be clean after it (the
// probe job and the host audit), and so must the next job; only its own
// verdict check is not held against the backend. It must still fail that
// check: an exception a backend no longer needs is an error.
var exceptions = testserver.Exceptions{
	testserver.Isolate: {
		"seccomp_denied":       "isolate's seccomp filter is a short deny list (keyctl, vsock, file locks), not a container runtime's default profile: ptrace(PTRACE_TRACEME) and add_key succeed (ptrace of another process, mounts, namespaces and setuid are refused by its namespaces and uid)",
		"abi32_syscalls":       "isolate refuses 32-bit and x32 calls by killing the process (SIGSYS) even for x32, where the case expects ENOSYS: refused all the same, but the case's parent dies with its first x32 call",
		"map_compiled_program": "isolate hands the whole box to the box's uid for each run (chown of every file), so a program owns the files put into its work directory and may change them; a Reset drops them before the next job",
		"host_information":     "isolate mounts a whole /proc (hidepid) with nothing masked and no cgroup namespace: /proc/cmdline, kallsyms, config.gz, boot_id and the server's cgroup name are readable",
		"shared_file_locks":    "isolate's filter refuses flock and taking locks but not F_GETLK/F_OFD_GETLK: a job can see that the host holds a lock on a shared read-only file, never take one",
	},
	testserver.Nsjail: {
		"host_secrets": "nsjail runs the program as pid 1 of its pid namespace, with no init above it: /proc/1 (environ, exe, root) is the program itself, which the case, written for a sandbox whose pid 1 is its init, counts as reaching the init",
	},
}
