package container

import (
	"fmt"
	"slices"

	"github.com/criyle/go-sandbox/pkg/seccomp"
	"github.com/criyle/go-sandbox/pkg/seccomp/libseccomp"
	seccompbpf "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// deniedSyscalls fail with EPERM in every compile and run. The list
// follows the default profile of container runtimes (Docker/containerd):
// kernel and system administration, other processes' memory, kernel
// keyrings, eBPF and perf, io_uring (a frequent source of kernel bugs),
// new mounts and namespaces. Programs that judges run need none of them.
var deniedSyscalls = []string{
	"acct", "add_key", "adjtimex", "bpf", "chroot", "clock_adjtime", "clock_settime",
	"create_module", "delete_module", "fanotify_init", "finit_module", "fsconfig", "fsmount",
	"fsopen", "fspick", "get_kernel_syms", "init_module", "io_uring_enter", "io_uring_register",
	"io_uring_setup", "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl",
	"lookup_dcookie", "mount", "mount_setattr", "move_mount", "name_to_handle_at", "nfsservctl",
	"open_by_handle_at", "open_tree", "perf_event_open", "pidfd_getfd", "pivot_root",
	"process_vm_readv", "process_vm_writev", "ptrace", "query_module", "quotactl", "reboot",
	"request_key", "setns", "settimeofday", "swapoff", "swapon", "syslog", "umount2",
	"unshare", "uselib", "userfaultfd", "ustat", "vhangup",
	// Watches are per inode: a job watching a file every sandbox shares
	// would see other jobs open it, a channel between them.
	"inotify_init", "inotify_init1",
}

// namespaceFlags may not be passed to clone: a program must not make
// itself new namespaces (a new user namespace grants capabilities there).
var namespaceFlags = []uint64{
	unix.CLONE_NEWNS, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC, unix.CLONE_NEWUSER,
	unix.CLONE_NEWPID, unix.CLONE_NEWNET, unix.CLONE_NEWCGROUP,
}

// newSeccompFilter builds the filter: native x86_64 calls only, then
// allow by default and deny the list.
// clone3 answers ENOSYS rather than EPERM: its flags live in memory a
// filter cannot read, and ENOSYS makes glibc fall back to clone, whose
// flags the filter checks.
func newSeccompFilter() (seccomp.Filter, error) {
	var cloneNS []seccompbpf.NameWithConditions
	for _, f := range namespaceFlags {
		cloneNS = append(cloneNS, seccompbpf.NameWithConditions{
			Name:       "clone",
			Conditions: seccompbpf.ArgumentConditions{{Argument: 0, Operation: seccompbpf.BitsSet, Value: f}},
		})
	}
	policy := seccompbpf.Policy{
		DefaultAction: seccompbpf.ActionAllow,
		Syscalls: []seccompbpf.SyscallGroup{
			{
				Action:             seccompbpf.ActionErrno | seccompbpf.Action(unix.EPERM),
				Names:              deniedSyscalls,
				NamesWithCondtions: cloneNS,
			},
			{
				Action: seccompbpf.ActionErrno | seccompbpf.Action(unix.ENOSYS),
				Names:  []string{"clone3"},
			},
		},
	}
	prog, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("assemble seccomp filter: %w", err)
	}
	f, err := libseccomp.ExportBPF(slices.Concat(nativeABIOnly(), noLocks(), prog))
	if err != nil {
		return nil, fmt.Errorf("export seccomp filter: %w", err)
	}
	return f, nil
}

// seccompDataArch is the offset of the arch field in struct seccomp_data.
const seccompDataArch = 4

// nativeABIOnly kills the process on any system call made through
// another ABI than x86_64's (the 32-bit `int 0x80` entry). The policy's
// own program sends a foreign architecture to its default action, which
// is ALLOW; this check runs before it. x32 calls share x86_64's
// architecture value and are refused (ENOSYS) by the policy's program.
func nativeABIOnly() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: seccompDataArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(arch.X86_64.ID), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(seccompbpf.ActionKillProcess)},
	}
}

// Offsets in struct seccomp_data of the system call number and of the low
// half of the second argument (little endian).
const (
	seccompDataNr      = 0
	seccompDataArg1Low = 16 + 8*1
	retErrno           = uint32(seccompbpf.ActionErrno)
	retErrnoENOLCK     = retErrno | uint32(unix.ENOLCK)
)

// noLocks answers advisory locks without taking them. A lock on a file
// every sandbox shares (a toolchain binary, a library) is visible from
// every other sandbox, so locks would be a channel between jobs, and a job
// alone in its sandbox never needs one. flock and fcntl's lock-taking
// commands succeed doing nothing (errno 0); the lock-testing commands
// answer ENOLCK, since a no-op would leave the caller's struct saying
// "conflict". fcntl's command is an unsigned int to the kernel, so only
// the argument's low half is compared: high bits cannot smuggle a command
// past the check.
func noLocks() []bpf.Instruction {
	return []bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: seccompDataNr, Size: 4},
		/* 1 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_FLOCK, SkipTrue: 9}, // -> 11
		/* 2 */ bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.SYS_FCNTL, SkipTrue: 10}, // -> 13
		/* 3 */ bpf.LoadAbsolute{Off: seccompDataArg1Low, Size: 4},
		/* 4 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.F_GETLK, SkipTrue: 7}, // -> 12
		/* 5 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.F_OFD_GETLK, SkipTrue: 6}, // -> 12
		/* 6 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.F_SETLK, SkipTrue: 4}, // -> 11
		/* 7 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.F_SETLKW, SkipTrue: 3}, // -> 11
		/* 8 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.F_OFD_SETLK, SkipTrue: 2}, // -> 11
		/* 9 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.F_OFD_SETLKW, SkipTrue: 1}, // -> 11
		/* 10 */ bpf.Jump{Skip: 2}, // -> 13
		/* 11 */ bpf.RetConstant{Val: retErrno},
		/* 12 */ bpf.RetConstant{Val: retErrnoENOLCK},
		// 13: the policy, which loads what it needs itself.
	}
}
