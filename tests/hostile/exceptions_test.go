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
	testserver.GVisor: {
		"seccomp_denied":      "no per-program seccomp filter: gVisor's own kernel serves ptrace(PTRACE_TRACEME), unshare of user and mount namespaces, chroot and io_uring_setup inside the sandbox; they act on gVisor's kernel, never on the host's (mounts, ptrace of pid 1, setns and the rest are refused)",
		"abi32_syscalls":      "gVisor answers 32-bit (int 0x80) calls with ENOSYS instead of a seccomp kill, and serves ptrace(PTRACE_TRACEME) in its own kernel (see seccomp_denied)",
		"abi32_unshare_kills": "gVisor answers a 32-bit (int 0x80) unshare with ENOSYS (-38) instead of killing the process: refused all the same, the process lives on",
		"abi32_python_ctypes": "gVisor answers a 32-bit (int 0x80) unshare with ENOSYS (-38) instead of killing the process: refused all the same, the process lives on",
		"device_nodes":        "gVisor's /dev is its own, in the sandbox's kernel, not bind mounts of the host's nodes: utime changes that copy's times, never a host inode, and the sandbox is replaced after the job",
		"host_information":    "gVisor's /proc/cmdline is gVisor's own fixed text, not the host's kernel command line (kallsyms, config.gz, modules, boot_id and the cgroup names are absent)",
		"mqueue_left_behind":  "gVisor's 2022 kernel opens POSIX message queues but mq_send fails, so the case cannot leave a message; the probe still checks that no queue survives into the next job",
		"host_secrets":        "gVisor lets a process read any process's /proc/<pid>/environ: pid 1 is the sandbox's own idle init, whose environment is PATH=/usr/bin:/bin and HOME=/, nothing of the host's",
	},
}
