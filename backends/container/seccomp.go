package container

import (
	"fmt"

	"github.com/criyle/go-sandbox/pkg/seccomp"
	"github.com/criyle/go-sandbox/pkg/seccomp/libseccomp"
	seccompbpf "github.com/elastic/go-seccomp-bpf"
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
}

// namespaceFlags may not be passed to clone: a program must not make
// itself new namespaces (a new user namespace grants capabilities there).
var namespaceFlags = []uint64{
	unix.CLONE_NEWNS, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC, unix.CLONE_NEWUSER,
	unix.CLONE_NEWPID, unix.CLONE_NEWNET, unix.CLONE_NEWCGROUP,
}

// newSeccompFilter builds the filter: allow by default, deny the list.
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
	f, err := libseccomp.ExportBPF(prog)
	if err != nil {
		return nil, fmt.Errorf("export seccomp filter: %w", err)
	}
	return f, nil
}
