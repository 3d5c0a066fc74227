package nsjail

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/internal/toolrun"
)

// nsjailProcesses is nsjail itself, in the run's cgroup.
const nsjailProcesses = 1

// prlimit sets the run's resource limits on nsjail, which passes them on
// to the program (--disable_rlimits): nsjail's own flags count stacks and
// file sizes in MiB and cannot say "unlimited" for them.
const prlimit = "/usr/bin/prlimit"

// runArgs is the command line of spec under lim: nsjail under prlimit.
func (s *sandbox) runArgs(spec backends.RunSpec, lim backends.Limits) []string {
	b := s.backend
	uid := strconv.Itoa(b.opts.UID)
	// RLIMIT_CPU is a per-process backstop a second past the cgroup
	// watchdog. Memory is the cgroup's (an address-space limit would stop
	// JVMs), and so are processes: RLIMIT_NPROC counts every process of
	// the uid on the host, other sandboxes' too.
	cpu := int(math.Ceil(lim.CPU.Seconds())) + 1
	stack := "unlimited"
	if lim.StackBytes > 0 {
		stack = strconv.FormatUint(lim.StackBytes, 10)
	}
	args := []string{
		prlimit,
		fmt.Sprintf("--cpu=%d:%d", cpu, cpu+1),
		"--fsize=" + strconv.FormatUint(lim.FileBytes, 10),
		"--nofile=" + strconv.FormatUint(lim.OpenFiles, 10),
		"--stack=" + stack,
		"--core=0",
		"--",
		b.binary, "--mode", "o", "--log", s.logPath(), "--disable_rlimits",
		"--hostname", "pecan", "--cwd", WorkDir,
		// No user namespace: nsjail mounts as the host's root, which can
		// reach toolchains under directories only root may enter (say
		// /root/.rustup), and the program runs as the unprivileged host
		// uid itself, without capabilities, under no_new_privs and the
		// seccomp policy.
		"--disable_clone_newuser", "--user", uid, "--group", uid,
		"--iface_no_lo",
		// nsjail runs programs at nice 19 unless told: on a loaded host
		// they would starve and pass their wall limit.
		"--nice_level", "0",
		// Time: the cgroup watchdog and toolrun's wall clock are the
		// limits; nsjail's whole seconds are a backstop.
		"--time_limit", strconv.Itoa(int(math.Ceil(lim.Wall.Seconds())) + 2),
	}
	for _, m := range b.mounts {
		args = append(args, "--bindmount_ro", m)
	}
	// /proc is mounted here rather than by nsjail, which would mount it
	// last, over the masks.
	args = append(args, "--disable_proc", "--mount", "none:/proc:proc")
	for _, m := range b.masks {
		args = append(args, "--bindmount_ro", m)
	}
	for _, d := range devices {
		args = append(args, "--bindmount_ro", d)
	}
	args = append(args,
		"--bindmount", s.workPath()+":"+WorkDir,
		"--mount", fmt.Sprintf("none:/tmp:tmpfs:size=%d,nr_inodes=4k,mode=1777", uint64(b.opts.TmpMiB)<<20),
		"--symlink", "/proc/self/fd:/dev/fd",
		"--symlink", "/proc/self/fd/0:/dev/stdin",
		"--symlink", "/proc/self/fd/1:/dev/stdout",
		"--symlink", "/proc/self/fd/2:/dev/stderr",
	)
	if !b.opts.NoSeccomp {
		args = append(args, "--seccomp_string", seccompPolicy)
	}
	for _, e := range spec.Env {
		args = append(args, "--env", e)
	}
	return append(append(args, "--"), spec.Args...)
}

// Run runs one program in a new jail under a cgroup of its own.
func (s *sandbox) Run(ctx context.Context, spec backends.RunSpec) (backends.RunResult, error) {
	ts, lim, err := s.prepare(ctx, spec)
	if err != nil {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w", s.id, err)
	}
	var in io.Reader = bytes.NewReader(spec.Stdin)
	if spec.StdinFrom != nil {
		in = spec.StdinFrom
	}
	ts.Stdin = in
	tr, err := toolrun.Run(ctx, s.backend.cgroups, ts)
	if err != nil {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w", s.id, err)
	}
	return s.result(ctx, tr, lim)
}

// Start runs one program in a new jail as Run does, with the given stdin
// and stdout, and returns without waiting for it.
func (s *sandbox) Start(ctx context.Context, spec backends.RunSpec, stdio backends.Stdio) (backends.Process, error) {
	ts, lim, err := s.prepare(ctx, spec)
	if err != nil {
		for _, f := range []*os.File{stdio.Stdin, stdio.Stdout} {
			if f != nil {
				f.Close()
			}
		}
		return nil, fmt.Errorf("start in sandbox %s: %w", s.id, err)
	}
	ts.Stdio = &stdio
	p, err := toolrun.Start(ctx, s.backend.cgroups, ts, func(tr toolrun.Result) (backends.RunResult, error) {
		return s.result(ctx, tr, lim)
	})
	if err != nil {
		return nil, fmt.Errorf("start in sandbox %s: %w", s.id, err)
	}
	return p, nil
}

// prepare checks spec and the work directory, removes the last run's log
// and returns the nsjail command (its stdin left to the caller) and the
// limits with defaults.
func (s *sandbox) prepare(ctx context.Context, spec backends.RunSpec) (toolrun.Spec, backends.Limits, error) {
	if len(spec.Args) == 0 {
		return toolrun.Spec{}, backends.Limits{}, errors.New("no command")
	}
	wd, err := s.workDir(ctx)
	if err != nil {
		return toolrun.Spec{}, backends.Limits{}, err
	}
	wd.Close()
	lim := toolrun.WithDefaults(spec.Limits)
	_ = os.Remove(s.logPath())
	ts := toolrun.Spec{Argv: s.runArgs(spec, lim), Limits: lim, ToolProcesses: nsjailProcesses, EnforceWall: true}
	return ts, lim, nil
}

// result reads what nsjail's log and the run's cgroup say of a finished
// run.
func (s *sandbox) result(ctx context.Context, tr toolrun.Result, lim backends.Limits) (backends.RunResult, error) {
	if err := ctx.Err(); err != nil {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w", s.id, err)
	}
	end, logErr := readLog(s.logPath())
	if tr.WrapFailed || (!tr.Stopped && !end.known) {
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w: nsjail exited %d without the program's end (%v): %s",
			s.id, backends.ErrBroken, tr.ExitStatus, logErr, end.firstError)
	}
	res := backends.RunResult{
		ExitCode:       end.exitCode,
		Signal:         end.signal,
		CPU:            tr.CPU,
		Wall:           tr.Wall,
		MemoryPeak:     tr.Peak,
		Stdout:         tr.Stdout,
		Stderr:         tr.Stderr,
		OutputExceeded: tr.OutputExceeded,
	}
	res.CPUExceeded = tr.CPUExceeded || res.CPU > lim.CPU || res.Signal == int(syscall.SIGXCPU)
	res.WallExceeded = !res.CPUExceeded && !res.OutputExceeded && (tr.WallExceeded || end.timeLimit)
	res.OOM = tr.OOMKilled || (res.Signal != 0 && tr.Peak >= lim.MemoryBytes)
	if res.CPUExceeded || res.WallExceeded || res.OutputExceeded {
		res.Signal, res.ExitCode = int(syscall.SIGKILL), 0
	}
	return res, nil
}

// programEnd is what nsjail's log says of how the program ended.
type programEnd struct {
	// known is set when nsjail started the program and logged its end.
	known      bool
	exitCode   int
	signal     int
	timeLimit  bool   // nsjail killed it at its own time limit
	firstError string // the first error or fatal line: the cause of a failure
}

var (
	exitedRe     = regexp.MustCompile(`exited with status: (\d+)`)
	terminatedRe = regexp.MustCompile(`terminated with signal: \S+ \((\d+)\)`)
)

func readLog(path string) (programEnd, error) {
	f, err := os.Open(path)
	if err != nil {
		return programEnd{}, fmt.Errorf("nsjail log: %w", err)
	}
	defer f.Close()
	var e programEnd
	executed := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case (strings.HasPrefix(line, "[E]") || strings.HasPrefix(line, "[F]")) && e.firstError == "":
			e.firstError = line
		case strings.Contains(line, "run time >= time limit"):
			e.timeLimit = true
		case strings.Contains(line, "] Executing '"):
			executed = true
		}
		if m := exitedRe.FindStringSubmatch(line); m != nil {
			e.known, e.exitCode, e.signal = true, atoi(m[1]), 0
		} else if m := terminatedRe.FindStringSubmatch(line); m != nil {
			e.known, e.exitCode, e.signal = true, 0, atoi(m[1])
		}
	}
	e.known = e.known && executed && !strings.HasPrefix(e.firstError, "[F]")
	return e, sc.Err()
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// seccompPolicy is the kafel policy of every run, the container
// backend's (README, "Sandboxes") in kafel's terms: the calls a container
// runtime's default profile refuses fail with EPERM, and so does clone
// with a namespace flag; clone3 answers ENOSYS, so that glibc falls back
// to clone, whose flags the filter can read; advisory locks succeed
// without locking anything and testing for one answers ENOLCK (a lock on
// a file every sandbox shares would signal between jobs); every x32 call
// (the x86_64 ABI with bit 30 set, which rules keyed on x86_64 numbers
// would let through) answers ENOSYS. Calls of other ABIs (int 0x80) are
// killed by kafel's architecture check.
var seccompPolicy = buildPolicy()

// deniedCalls are refused with EPERM.
var deniedCalls = []string{
	"acct", "add_key", "bpf", "chroot", "clock_adjtime", "clock_settime", "create_module",
	"delete_module", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick", "init_module",
	"inotify_init", "inotify_init1", "io_uring_enter", "io_uring_register", "io_uring_setup",
	"ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie",
	"mount", "mount_setattr", "move_mount", "name_to_handle_at", "open_by_handle_at",
	"open_tree", "perf_event_open", "personality", "pivot_root", "process_vm_readv",
	"process_vm_writev", "ptrace", "quotactl", "reboot", "request_key", "setdomainname",
	"sethostname", "setns", "settimeofday", "swapoff", "swapon", "syslog", "umount",
	"unshare", "uselib", "userfaultfd", "vhangup",
	// Any namespace flag: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER,
	// NEWPID, NEWNET, NEWTIME.
	"clone { (clone_flags & 0x7e020080) != 0 }",
}

// fcntl commands of advisory locks (x86_64): F_GETLK, F_SETLK, F_SETLKW
// and their open-file-description forms.
const (
	fGetLK, fSetLK, fSetLKW          = 5, 6, 7
	fOFDGetLK, fOFDSetLK, fOFDSetLKW = 36, 37, 38
)

// x32Calls is how many x32 call numbers the policy refuses (the x86_64
// table has fewer than 600 calls).
const x32Calls = 600

func buildPolicy() string {
	var b strings.Builder
	b.WriteString("POLICY pecan {\n  ERRNO(1) {\n    ")
	b.WriteString(strings.Join(deniedCalls, ",\n    "))
	fmt.Fprintf(&b, "\n  },\n  ERRNO(0) {\n    flock,\n    fcntl { cmd == %d || cmd == %d || cmd == %d || cmd == %d }\n  },\n", fSetLK, fSetLKW, fOFDSetLK, fOFDSetLKW)
	fmt.Fprintf(&b, "  ERRNO(37) {\n    fcntl { cmd == %d || cmd == %d }\n  },\n", fGetLK, fOFDGetLK)
	b.WriteString("  ERRNO(38) {\n    clone3,\n    ")
	nums := make([]string, x32Calls)
	for i := range nums {
		nums[i] = fmt.Sprintf("SYSCALL[%d]", 0x40000000+i)
	}
	b.WriteString(strings.Join(nums, ", "))
	b.WriteString("\n  }\n}\nUSE pecan DEFAULT ALLOW\n")
	return b.String()
}
