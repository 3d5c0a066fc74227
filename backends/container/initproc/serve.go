package initproc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/criyle/go-sandbox/pkg/forkexec"
	"github.com/criyle/go-sandbox/pkg/unixsocket"
	"golang.org/x/sys/unix"
)

// server is the init's side of the socket.
type server struct {
	conn    conn
	cfg     *Config
	seccomp *syscall.SockFprog
	// lastPid is the pid namespace's ns_last_pid, and firstLastPid its
	// value when the container was new.
	lastPid      *os.File
	firstLastPid int
	// requests delivers what the server sends, read ahead so that a kill
	// can arrive while a program runs.
	requests chan incoming
}

type incoming struct {
	req request
	fds []int
	err error
}

func newServer() (*server, error) {
	sock, err := unixsocket.NewSocket(socketFD)
	if err != nil {
		return nil, fmt.Errorf("container init: socket: %w", err)
	}
	s := &server{conn: conn{sock}, requests: make(chan incoming)}
	go s.readRequests()
	return s, nil
}

func (s *server) readRequests() {
	buf := make([]byte, maxMessage)
	for {
		var in incoming
		in.fds, in.err = s.conn.recv(&in.req, buf)
		for _, fd := range in.fds {
			// Nothing received may reach a program but what the
			// runner places at its descriptors 0 to 2.
			syscall.CloseOnExec(fd)
		}
		s.requests <- in
		if in.err != nil {
			return
		}
	}
}

func (s *server) serve() error {
	for in := range s.requests {
		if in.err != nil {
			if errors.Is(in.err, ErrInitGone) {
				return nil // the server is done with this container
			}
			return in.err
		}
		if err := s.handle(in.req, in.fds); err != nil {
			return err
		}
	}
	return nil
}

// handle answers one request; an error ends the init.
func (s *server) handle(req request, fds []int) error {
	switch req.Op {
	case opSetup:
		closeAll(fds)
		return s.setup(req.Setup)
	case opPing:
		closeAll(fds)
		return s.conn.send(reply{})
	case opOpen:
		closeAll(fds)
		return s.openWorkDir()
	case opExec:
		return s.exec(req.Exec, fds)
	case opKill:
		closeAll(fds)
		return nil // the program it was meant for has ended already
	case opRenew:
		closeAll(fds)
		return s.renew()
	}
	closeAll(fds)
	return fmt.Errorf("container init: unknown request %q", req.Op)
}

func (s *server) setup(cfg *Config) error {
	if s.cfg != nil || cfg == nil {
		return s.conn.send(reply{Err: "setup: already set up, or no configuration"})
	}
	lastPid, err := buildRoot(cfg)
	if err == nil {
		s.cfg, s.lastPid = cfg, lastPid
		if len(cfg.Seccomp) > 0 {
			s.seccomp = &syscall.SockFprog{Len: uint16(len(cfg.Seccomp)), Filter: &cfg.Seccomp[0]}
		}
		err = s.settle()
	}
	if err != nil {
		_ = s.conn.send(reply{Err: err.Error()})
		return err
	}
	return s.conn.send(reply{})
}

// settle makes the container as every job will find it: programs in an
// IPC namespace of their own (the init's other threads keep the first,
// which would never be freed), every thread the init will need made (one
// made during a job would have a pid that tells of that job; see
// noThreadSince), and the pid counter at the value every job starts from.
func (s *server) settle() error {
	if err := syscall.Unshare(syscall.CLONE_NEWIPC); err != nil {
		return fmt.Errorf("settle: new IPC namespace: %w", err)
	}
	s.warmUp()
	makeThreads(spareThreads)
	last, err := lastThreadID()
	if err != nil {
		return err
	}
	s.firstLastPid = last
	return s.resetPidCounter()
}

// warmUp runs /bin/true the way a job's programs run, but in no cgroup
// of its own (it is the init's): only the init's threads matter. A
// container without it does without.
func (s *server) warmUp() {
	null, err := syscall.Open("/dev/null", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer syscall.Close(null)
	r, _, err := s.runner(&execRequest{Args: []string{"/bin/true"}, Placement: placeNone}, []int{null, null, null}, nil)
	if err != nil {
		return
	}
	pid, err := r.Start()
	if err != nil {
		return
	}
	ended := make(chan ExitStatus, 1)
	go func() { ended <- waitStatus(pid) }()
	<-ended
	killAll()
	reapAll()
}

// spareThreads is how many idle threads the init keeps: more than a run
// ever has goroutines blocked in system calls at once.
const spareThreads = 8

// makeThreads has Go make n threads and keep them idle: each of n
// goroutines holds a thread of its own (LockOSThread) until all have
// one, then lets go of it and ends, and Go keeps the thread for later
// (it ends only threads whose goroutine ends locked).
func makeThreads(n int) {
	release := make(chan struct{})
	var locked, done sync.WaitGroup
	for i := 0; i < n; i++ {
		locked.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			locked.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	locked.Wait()
	close(release)
	done.Wait()
}

func (s *server) resetPidCounter() error {
	if _, err := s.lastPid.WriteAt([]byte(strconv.Itoa(s.firstLastPid)), 0); err != nil {
		return fmt.Errorf("reset the pid counter: %w", err)
	}
	return nil
}

// renew makes the container new for the next job (Init.Renew). A
// failure leaves it in no known state: the init answers and ends.
func (s *server) renew() error {
	if s.cfg == nil {
		return s.conn.send(reply{Err: "renew: not set up"})
	}
	killAll()
	reapAll()
	err := renewFileSystems(s.cfg)
	if err == nil {
		// This thread forks every program (Main), so they all get it.
		err = syscall.Unshare(syscall.CLONE_NEWIPC)
	}
	if err == nil {
		err = noThreadSince(s.firstLastPid)
	}
	if err == nil {
		err = noSocketLeft()
	}
	if err == nil {
		err = s.resetPidCounter()
	}
	if err != nil {
		err = fmt.Errorf("renew: %w", err)
		_ = s.conn.send(reply{Err: err.Error()})
		return err
	}
	return s.conn.send(reply{})
}

func (s *server) openWorkDir() error {
	if s.cfg == nil {
		return s.conn.send(reply{Err: "open: not set up"})
	}
	fd, err := syscall.Open(s.cfg.WorkDir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return s.conn.send(reply{Err: fmt.Sprintf("open %s: %v", s.cfg.WorkDir, err)})
	}
	defer syscall.Close(fd)
	return s.conn.send(reply{}, fd)
}

// exec starts the program, answers that it started (or why not), waits
// for its end or a kill, kills whatever is left and reports the end.
// An error ends the init: the container is in no known state.
func (s *server) exec(req *execRequest, fds []int) error {
	if s.cfg == nil || req == nil || len(req.Args) == 0 || len(fds) < 3 {
		closeAll(fds)
		return s.conn.send(reply{Err: "exec: not set up, or no command or descriptors"})
	}
	stdio, place := fds[:3], fds[3:]
	defer closeAll(place)
	r, th, err := s.runner(req, stdio, place)
	if err != nil {
		closeAll(stdio)
		return s.conn.send(reply{Err: err.Error()})
	}
	pid, err := startIn(r, th)
	if err != nil {
		closeAll(stdio)
		if _, ok := err.(fatalError); ok {
			return err
		}
		return s.conn.send(reply{Err: fmt.Sprintf("start %s: %v", req.Args[0], err)})
	}
	// The program's descriptors stay open until its end is stamped (see
	// ExitStatus.Ended); waitExit closes them.
	if err := s.conn.send(reply{Started: true}); err != nil {
		killAll()
		return err
	}
	ended := make(chan ExitStatus, 1)
	go func() { ended <- waitExit(pid, stdio) }()
	var status ExitStatus
	select {
	case status = <-ended:
	case in := <-s.requests:
		// A kill, or the socket closed: the run ends either way.
		closeAll(in.fds)
		killAll()
		status = <-ended
		if in.err != nil {
			return in.err // nothing more will be read: the init ends
		}
	}
	killAll()
	reapAll()
	if th != nil {
		if err := writePid(th.leaveAtEnd, th.tid); err != nil {
			return fmt.Errorf("exec: the init's thread cannot leave the run's cgroup: %w", err)
		}
	}
	return s.conn.send(reply{Exit: &status})
}

// threadPlacement is ThreadPlacement's descriptors, for the thread tid.
type threadPlacement struct {
	tid                     int
	join, leave, leaveAtEnd []int
}

// fatalError is a failure that leaves the container in no known state.
type fatalError struct{ error }

// startIn starts the program, in the cgroups th's thread joins for it
// when th is set.
func startIn(r *forkexec.Runner, th *threadPlacement) (int, error) {
	if th == nil {
		return r.Start()
	}
	if err := writePid(th.join, th.tid); err != nil {
		if lerr := writePid(slices.Concat(th.leave, th.leaveAtEnd), th.tid); lerr != nil {
			return 0, fatalError{fmt.Errorf("exec: the init's thread is stuck in a run's cgroup: %w", lerr)}
		}
		return 0, err
	}
	pid, err := r.Start()
	if lerr := writePid(th.leave, th.tid); lerr != nil {
		return 0, fatalError{fmt.Errorf("exec: the init's thread cannot leave the run's cgroup: %w", lerr)}
	}
	if err != nil {
		if lerr := writePid(th.leaveAtEnd, th.tid); lerr != nil {
			return 0, fatalError{fmt.Errorf("exec: the init's thread cannot leave the run's cgroup: %w", lerr)}
		}
		return 0, err
	}
	return pid, nil
}

// runner is how the program is started: as the unprivileged uid with no
// capability, no new privileges and the filter, in its cgroup before it
// executes, in a cgroup namespace of its own.
func (s *server) runner(req *execRequest, stdio, place []int) (*forkexec.Runner, *threadPlacement, error) {
	env := req.Env
	if !hasPath(env) {
		env = append(env[:len(env):len(env)], "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	argv0, err := lookPath(req.Args[0], env)
	if err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", req.Args[0], err)
	}
	args := append([]string{argv0}, req.Args[1:]...)
	r := &forkexec.Runner{
		Args:                   args,
		Env:                    env,
		RLimits:                req.RLimits,
		Files:                  []uintptr{uintptr(stdio[0]), uintptr(stdio[1]), uintptr(stdio[2])},
		WorkDir:                s.cfg.WorkDir,
		NoNewPrivs:             true,
		DropCaps:               true,
		Credential:             &syscall.Credential{Uid: uint32(s.cfg.UID), Gid: uint32(s.cfg.GID)},
		Seccomp:                s.seccomp,
		UnshareCgroupAfterSync: true,
	}
	switch req.Placement {
	case placeClone:
		if len(place) != 1 {
			return nil, nil, errors.New("exec: clone placement needs one cgroup directory")
		}
		r.CgroupFd = uintptr(place[0])
		return r, nil, nil
	case placeThread:
		n := req.Thread
		if n[0] == 0 || n[0] != n[1]+n[2] || len(place) != n[0]+n[1]+n[2] {
			return nil, nil, errors.New("exec: thread placement needs as many cgroups to leave for as to join")
		}
		// Main locked this goroutine to the thread every program is
		// forked from.
		return r, &threadPlacement{
			tid:        unix.Gettid(),
			join:       place[:n[0]],
			leave:      place[n[0] : n[0]+n[1]],
			leaveAtEnd: place[n[0]+n[1]:],
		}, nil
	case placeNone:
		if len(place) == 0 && req.Args[0] == "/bin/true" {
			return r, nil, nil
		}
	case placeProcs:
		if len(place) == 0 {
			return nil, nil, errors.New("exec: no cgroup to place the program in")
		}
		r.SyncFunc = func(pid int) error { return writePid(place, pid) }
		return r, nil, nil
	}
	return nil, nil, fmt.Errorf("exec: unknown placement %q", req.Placement)
}

// writePid moves pid into each cgroup whose cgroup.procs is open at fds.
// The pid is read in this namespace, which is the program's.
func writePid(fds []int, pid int) error {
	b := []byte(strconv.Itoa(pid))
	for _, fd := range fds {
		if _, err := syscall.Write(fd, b); err != nil {
			return fmt.Errorf("place program in its cgroup: %w", err)
		}
	}
	return nil
}

// waitExit waits for pid to end. A program that stops instead (it asked
// to be traced, and the init is its tracer) is killed: that is its own
// failure.
// Its end is stamped before its descriptors are closed.
func waitExit(pid int, stdio []int) ExitStatus {
	st := waitStatus(pid)
	st.Ended = time.Now().UnixNano()
	closeAll(stdio)
	return st
}

func waitStatus(pid int) ExitStatus {
	for {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return ExitStatus{Signal: int(syscall.SIGKILL)}
		case ws.Exited():
			return ExitStatus{Code: ws.ExitStatus()}
		case ws.Signaled():
			return ExitStatus{Signal: int(ws.Signal())}
		case ws.Stopped():
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return waitKilled(pid)
		}
	}
}

func waitKilled(pid int) ExitStatus {
	for {
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != syscall.EINTR && (err != nil || ws.Exited() || ws.Signaled()) {
			return ExitStatus{Signal: int(syscall.SIGKILL)}
		}
	}
}

// killAll kills every process of the container but the init.
func killAll() { _ = syscall.Kill(-1, syscall.SIGKILL) }

// reapAll waits for every child left, once all are killed.
func reapAll() {
	for {
		_, err := syscall.Wait4(-1, nil, unix.WALL, nil)
		if err != nil && err != syscall.EINTR {
			return
		}
	}
}

func hasPath(env []string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			return true
		}
	}
	return false
}

// lookPath finds name in env's PATH unless it names a path already.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v // the last one wins, as for the program
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, fs.ErrNotExist)
}
