package initproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/criyle/go-sandbox/pkg/rlimit"
	"github.com/criyle/go-sandbox/pkg/unixsocket"
)

// namespaces are the init's own. No user namespace (see the package
// comment) and no cgroup namespace: the init places programs in cgroups
// outside its own, and each program gets a cgroup namespace of its own
// after it was placed.
const namespaces = syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC |
	syscall.CLONE_NEWNET | syscall.CLONE_NEWUTS

// Init is a running container init: the server's end of its socket.
// Its methods may be called from several goroutines; they take turns.
type Init struct {
	cmd  *exec.Cmd
	conn conn

	mu  sync.Mutex // one request at a time
	buf []byte

	closeOnce sync.Once
	waitErr   error
}

// Start starts a container init and builds its container.
func Start(cfg Config) (*Init, error) {
	host, child, err := unixsocket.NewSocketPair()
	if err != nil {
		return nil, fmt.Errorf("start container init: %w", err)
	}
	childFile, err := child.File()
	child.Close()
	if err != nil {
		host.Close()
		return nil, fmt.Errorf("start container init: %w", err)
	}
	bin := cfg.Binary
	if bin == "" {
		bin = "/proc/self/exe"
	}
	cmd := &exec.Cmd{
		Path: bin,
		Args: []string{bin, InitArg},
		// One P from the start: the init does one thing at a time.
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "GOMAXPROCS=1"},
		ExtraFiles: []*os.File{childFile},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: namespaces,
			// The container dies with the server.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	err = cmd.Start()
	// The init's end is the init's alone: an init that dies must close
	// the socket.
	childFile.Close()
	if err != nil {
		host.Close()
		return nil, fmt.Errorf("start container init: %w", err)
	}
	in := &Init{cmd: cmd, conn: conn{host}, buf: make([]byte, 64<<10)}
	fds, err := in.ask(context.Background(), request{Op: opSetup, Setup: &cfg})
	closeAll(fds)
	if err != nil {
		in.Destroy()
		return nil, fmt.Errorf("build container: %w", err)
	}
	return in, nil
}

// Pid is the init's host pid.
func (in *Init) Pid() int { return in.cmd.Process.Pid }

// answerTimeout bounds how long the init may take to answer anything
// but a running program's end: an init that takes longer is destroyed.
const answerTimeout = 10 * time.Second

// watch destroys the init if ctx ends (or answerTimeout passes) before
// the returned function is called: a hung init must not hold its caller,
// and closing its socket fails the receive it is blocked in.
func (in *Init) watch(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	stopAfter := context.AfterFunc(ctx, func() { in.Destroy() })
	return func() {
		stopAfter()
		cancel()
	}
}

// ask sends a request without descriptors and waits for its answer; the
// descriptors that come with it are returned.
func (in *Init) ask(ctx context.Context, req request) ([]int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	defer in.watch(ctx)()
	if err := in.conn.send(req); err != nil {
		return nil, err
	}
	var rep reply
	fds, err := in.conn.recv(&rep, in.buf)
	if err != nil {
		return nil, err
	}
	if rep.Err != "" {
		closeAll(fds)
		return nil, errors.New(rep.Err)
	}
	return fds, nil
}

// Ping checks that the init answers.
func (in *Init) Ping() error {
	fds, err := in.ask(context.Background(), request{Op: opPing})
	closeAll(fds)
	return err
}

// Renew makes the container as the next job must find it, in place: no
// process is left, the work directory and /tmp are new empty file
// systems, programs get a new IPC namespace (System V objects whatever
// their mode, POSIX message queues), no socket is left, and the pid
// counter is back where a new container's would be. An init that cannot
// renew its container ends, and the error wraps ErrInitGone then.
func (in *Init) Renew(ctx context.Context) error {
	fds, err := in.ask(ctx, request{Op: opRenew})
	closeAll(fds)
	return err
}

// OpenWorkDir is a descriptor of the work directory, opened by the init
// (O_DIRECTORY, O_NOFOLLOW): the host never resolves a path in it.
func (in *Init) OpenWorkDir() (*os.File, error) {
	fds, err := in.ask(context.Background(), request{Op: opOpen})
	if err != nil {
		return nil, fmt.Errorf("open work directory: %w", err)
	}
	if len(fds) != 1 {
		closeAll(fds)
		return nil, fmt.Errorf("%w: open work directory: %d descriptors", ErrInitGone, len(fds))
	}
	return os.NewFile(uintptr(fds[0]), "workdir"), nil
}

// Exec describes one program to run.
type Exec struct {
	Args, Env []string
	RLimits   []rlimit.RLimit
	// Stdin, Stdout and Stderr are the program's descriptors 0 to 2.
	Stdin, Stdout, Stderr *os.File
	// Where the program starts, one of three. CgroupDir: a cgroup v2
	// directory it is created in. Thread: on cgroup v1 the init's forking
	// thread moves itself into the run's cgroups, creates the program
	// there (vfork: nothing runs between fork and exec) and leaves.
	// CgroupProcs: cgroup.procs files the init writes the program's pid
	// to between fork and exec (a v2 hierarchy the init may not create
	// into), which costs a fork of the init.
	CgroupDir   *os.File
	Thread      *ThreadPlacement
	CgroupProcs []*os.File
	// Started, if set, is called once the init holds its own copies of
	// the descriptors.
	Started func()
}

// ThreadPlacement is the tasks files of cgroup v1 hierarchies for the
// init's forking thread: it joins the run's cgroups (Join), forks the
// program, and goes back to its own (Leave) at once, except in the
// hierarchies of LeaveAtEnd, which it leaves when the run is over. A
// pids limit must count that thread: the program's processes are then
// bounded exactly, and the thread can never be the one left out of it.
type ThreadPlacement struct {
	Join, Leave, LeaveAtEnd []*os.File
}

// StartError is a program that could not be started (no such file, not
// executable): the container is fine.
type StartError struct{ Msg string }

func (e *StartError) Error() string { return e.Msg }

// Run runs one program and waits for its end. When ctx ends first the
// init kills it; either way every process it left is killed before Run
// returns. Errors are a *StartError or wrap ErrInitGone.
func (in *Init) Run(ctx context.Context, x Exec) (ExitStatus, error) {
	req := execRequest{Args: x.Args, Env: x.Env, RLimits: x.RLimits, Placement: placeProcs}
	fds := []int{int(x.Stdin.Fd()), int(x.Stdout.Fd()), int(x.Stderr.Fd())}
	switch {
	case x.CgroupDir != nil:
		req.Placement = placeClone
		fds = append(fds, int(x.CgroupDir.Fd()))
	case x.Thread != nil:
		req.Placement = placeThread
		t := x.Thread
		req.Thread = [3]int{len(t.Join), len(t.Leave), len(t.LeaveAtEnd)}
		for _, f := range slices.Concat(t.Join, t.Leave, t.LeaveAtEnd) {
			fds = append(fds, int(f.Fd()))
		}
	default:
		for _, f := range x.CgroupProcs {
			fds = append(fds, int(f.Fd()))
		}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.conn.send(request{Op: opExec, Exec: &req}, fds...); err != nil {
		return ExitStatus{}, err
	}
	var rep reply
	stopWatch := in.watch(context.Background())
	err := in.recvReply(&rep)
	stopWatch()
	if err != nil {
		return ExitStatus{}, err
	}
	if x.Started != nil {
		x.Started()
	}
	if rep.Err != "" {
		return ExitStatus{}, &StartError{Msg: rep.Err}
	}
	ended := make(chan error, 1)
	go func() { ended <- in.recvReply(&rep) }()
	select {
	case err = <-ended:
	case <-ctx.Done():
		// The answer to a kill is the program's end; if the socket is
		// broken the receive fails too, and an init that does not answer
		// is destroyed.
		_ = in.conn.send(request{Op: opKill})
		stopWatch := in.watch(context.Background())
		err = <-ended
		stopWatch()
	}
	if err != nil {
		return ExitStatus{}, err
	}
	if rep.Exit == nil {
		return ExitStatus{}, fmt.Errorf("%w: run: %s", ErrInitGone, rep.Err)
	}
	return *rep.Exit, nil
}

func (in *Init) recvReply(rep *reply) error {
	*rep = reply{}
	fds, err := in.conn.recv(rep, in.buf)
	closeAll(fds)
	return err
}

// Destroy kills the init, and with it every process of the container,
// and waits for it. It returns the init's wait error, which is a kill.
func (in *Init) Destroy() error {
	in.closeOnce.Do(func() {
		in.conn.s.Close()
		_ = in.cmd.Process.Kill()
		in.waitErr = in.cmd.Wait()
	})
	return in.waitErr
}
