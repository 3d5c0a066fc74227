package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/tests/testserver"
)

// goJudgeVersion is the peer Pecan is measured against: the judge sandbox
// users pick for speed, built from the release snapshot beside the
// repository (../shared/third_party), never from the network's copy of
// its source.
const goJudgeVersion = "1.12.2"

// tinyPython is the smallest job a judge can be given: no input, one line
// of output.
const tinyPython = "print(1)\n"

// goJudge is a running go-judge server.
type goJudge struct {
	url    string
	cmd    *exec.Cmd
	dir    string // its working directory
	cgroup string // the name of its cgroups, which it leaves behind
	client *http.Client
}

// errNoPeer says why a comparison cannot run on this machine (go-judge's
// snapshot or the baseline commit is not there).
type errNoPeer struct{ reason string }

func (e errNoPeer) Error() string { return e.reason }

// goJudgeBinary builds go-judge from its tarball, once, into .tools/ of
// the repository; later runs reuse the binary. The source is unpacked and
// built in a temporary directory: only the binary is kept.
func goJudgeBinary() (string, error) {
	root, err := testserver.RepoRoot()
	if err != nil {
		return "", err
	}
	tarball := filepath.Join(root, "..", "shared", "third_party", "go-judge-"+goJudgeVersion+".tar.gz")
	if _, err := os.Stat(tarball); err != nil {
		return "", errNoPeer{fmt.Sprintf("%s is absent (go-judge is measured only where ../shared holds its release snapshot)", tarball)}
	}
	tools := filepath.Join(root, ".tools")
	bin := filepath.Join(tools, "go-judge-"+goJudgeVersion)
	if st, err := os.Stat(bin); err == nil && st.Mode().IsRegular() {
		return bin, nil
	}
	fmt.Fprintf(os.Stderr, "bench: building go-judge %s into %s (about a minute)\n", goJudgeVersion, bin)
	if err := os.MkdirAll(tools, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(tools, "go-judge-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.Command("tar", "-xzf", tarball, "-C", tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("unpack %s: %w\n%s", tarball, err, out)
	}
	build := exec.Command("go", "build", "-o", bin+".new", "./cmd/go-judge")
	build.Dir = filepath.Join(tmp, "go-judge-"+goJudgeVersion)
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build go-judge: %w\n%s", err, out)
	}
	return bin, os.Rename(bin+".new", bin)
}

// startGoJudge starts go-judge on a free loopback port with as many
// pre-forked containers, and runs at once, as Pecan has sandboxes.
func startGoJudge(parallel int) (*goJudge, error) {
	bin, err := goJudgeBinary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pecan-bench-gojudge-")
	if err != nil {
		return nil, err
	}
	n := strconv.Itoa(parallel)
	g := &goJudge{
		url: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir, client: &http.Client{Timeout: time.Minute},
		cgroup: fmt.Sprintf("pecan-bench-gojudge-%d", os.Getpid()),
	}
	g.cmd = exec.Command(bin, "-http-addr", fmt.Sprintf("127.0.0.1:%d", port), "-parallelism", n, "-pre-fork", n,
		"-no-fallback", "-silent", "-cgroup-prefix", g.cgroup)
	g.cmd.Dir = dir // it looks for mount.yaml there; none means its default mounts
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Its shutdown prints its containers' ends to stderr: not the bench's news.
	g.cmd.Stderr = nil
	if err := g.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start go-judge: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		if resp, err := g.client.Get(g.url + "/version"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g, nil
			}
		}
		select {
		case <-ctx.Done():
			g.stop()
			return nil, fmt.Errorf("go-judge did not answer /version: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop ends go-judge and removes its directory and the cgroups it
// leaves.
func (g *goJudge) stop() {
	defer removeCgroups(g.cgroup)
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = g.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	os.RemoveAll(g.dir)
}

// removeCgroups removes the cgroup tree name in every hierarchy, the
// innermost first; a cgroup still holding a process stays, with a note.
func removeCgroups(name string) {
	trees, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", name))
	if st, err := os.Stat(filepath.Join("/sys/fs/cgroup", name)); err == nil && st.IsDir() {
		trees = append(trees, filepath.Join("/sys/fs/cgroup", name)) // cgroup v2
	}
	for _, t := range trees {
		var dirs []string
		_ = filepath.WalkDir(t, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !os.IsNotExist(err) {
				fmt.Fprintln(os.Stderr, "bench: go-judge's cgroup:", err)
			}
		}
	}
}

// gjFile is one of go-judge's file descriptions.
type gjFile struct {
	Content *string `json:"content,omitempty"`
	FileID  string  `json:"fileId,omitempty"`
	Name    string  `json:"name,omitempty"`
	Max     int64   `json:"max,omitempty"`
}

type gjCmd struct {
	Args          []string          `json:"args"`
	Env           []string          `json:"env"`
	Files         []gjFile          `json:"files"`
	CPULimit      uint64            `json:"cpuLimit"`
	ClockLimit    uint64            `json:"clockLimit"`
	MemoryLimit   uint64            `json:"memoryLimit"`
	ProcLimit     uint64            `json:"procLimit"`
	CopyIn        map[string]gjFile `json:"copyIn"`
	CopyOutCached []string          `json:"copyOutCached,omitempty"`
}

type gjResult struct {
	Status     string            `json:"status"`
	ExitStatus int               `json:"exitStatus"`
	Error      string            `json:"error"`
	Files      map[string]string `json:"files"`
	FileIDs    map[string]string `json:"fileIds"`
}

// run runs one command with stdin and returns its result.
func (g *goJudge) run(c gjCmd, stdin string) (gjResult, error) {
	c.Files = []gjFile{{Content: &stdin}, {Name: "stdout", Max: 1 << 20}, {Name: "stderr", Max: 1 << 20}}
	body, err := json.Marshal(map[string]any{"cmd": []gjCmd{c}})
	if err != nil {
		return gjResult{}, err
	}
	resp, err := g.client.Post(g.url+"/run", "application/json", bytes.NewReader(body))
	if err != nil {
		return gjResult{}, err
	}
	defer resp.Body.Close()
	var rs []gjResult
	if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil {
		return gjResult{}, fmt.Errorf("go-judge /run: %s: %w", resp.Status, err)
	}
	if len(rs) != 1 {
		return gjResult{}, fmt.Errorf("go-judge /run: %d results", len(rs))
	}
	if rs[0].Status != "Accepted" {
		return rs[0], fmt.Errorf("go-judge ran %s: %s %s%s", strings.Join(c.Args, " "), rs[0].Status, rs[0].Error, rs[0].Files["stderr"])
	}
	return rs[0], nil
}

func (g *goJudge) deleteFile(id string) error {
	req, err := http.NewRequest(http.MethodDelete, g.url+"/file/"+id, nil)
	if err != nil {
		return err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil
}

// judge does on go-judge what Pecan does for the job and bare does on
// the host: the language's compile command (its outputs kept in go-judge's
// file store), then its run command on stdin with the outputs and the
// source copied in, the output compared with want. outputs are the files
// the compile makes that the run needs.
func (g *goJudge) judge(l *languages.Language, src string, outputs []string, stdin, want string) error {
	name := l.SourceName([]byte(src))
	files, main, err := l.Sources([]string{name})
	if err != nil {
		return err
	}
	vars := languages.Vars{MemoryMiB: 256, Files: files, Main: main}
	env := append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, l.Env...)
	in := map[string]gjFile{name: {Content: &src}}
	if l.Compiled() {
		res, err := g.run(gjCmd{
			Args: l.Expand(l.Compile, vars), Env: env, CPULimit: uint64(10 * time.Second), ClockLimit: uint64(20 * time.Second),
			MemoryLimit: 512 << 20, ProcLimit: 16, CopyIn: in, CopyOutCached: outputs,
		}, "")
		for _, id := range res.FileIDs {
			defer g.deleteFile(id)
		}
		if err != nil {
			return fmt.Errorf("compile: %w", err)
		}
		for _, o := range outputs {
			id, ok := res.FileIDs[o]
			if !ok {
				return fmt.Errorf("compile made no %s", o)
			}
			in[o] = gjFile{FileID: id}
		}
	}
	res, err := g.run(gjCmd{
		Args: l.Expand(l.Run, vars), Env: env, CPULimit: uint64(2 * time.Second), ClockLimit: uint64(7 * time.Second),
		MemoryLimit: 256 << 20, ProcLimit: 64, CopyIn: in,
	}, stdin)
	if err != nil {
		return err
	}
	if got := res.Files["stdout"]; strings.TrimSpace(got) != strings.TrimSpace(want) {
		return fmt.Errorf("go-judge run printed %q, want %q", got, want)
	}
	return nil
}

// processCPU is the user and system time of process pid and of the
// children it has waited for, from /proc/pid/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing parenthesis (state is field 3).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0, errors.New("unexpected /proc stat format")
	}
	var ticks int64
	for _, s := range f[11:15] { // utime, stime, cutime, cstime
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / clockTicks), nil
}

// clockTicks is USER_HZ, which Linux fixes at 100 on every architecture
// Go supports.
const clockTicks = 100

// childrenCPU is the CPU time of the bench's own waited-for children:
// the bare runs.
func childrenCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
