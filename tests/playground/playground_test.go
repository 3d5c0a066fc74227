package playground

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// chromium is Debian's browser, which make test-deps installs.
const chromium = "/usr/bin/chromium"

// driveTimeout bounds the whole browser session.
const driveTimeout = 5 * time.Minute

// aPlusB is the package the page uploads: A + B, four tests, one of which
// has a wrong answer on purpose so that the table shows two verdicts.
var aPlusB = testserver.Package{
	"problem.yaml":      "name: A plus B (playground)\n",
	".timelimit":        "2\n",
	"data/sample/1.in":  "1 2\n",
	"data/sample/1.ans": "3\n",
	"data/secret/1.in":  "20 22\n",
	"data/secret/1.ans": "42\n",
	"data/secret/2.in":  "-5 5\n",
	"data/secret/2.ans": "1\n", // wrong on purpose: 0
	"data/secret/3.in":  "1000000 1\n",
	"data/secret/3.ans": "1000001\n",
}

// seen is what drive.cjs reports of the page.
type seen struct {
	Steps              []string `json:"steps"`
	Error              string   `json:"error"`
	PageErrors         []string `json:"pageErrors"`
	NoticeWithoutToken string   `json:"noticeWithoutToken"`
	Languages          []string `json:"languages"`
	TokenStored        string   `json:"tokenStored"`
	Typed              string   `json:"typed"`
	Accepted           run      `json:"accepted"`
	Wrong              run      `json:"wrong"`
	CompileError       run      `json:"compileError"`
	UploadStatus       int      `json:"uploadStatus"`
	ProblemInfo        string   `json:"problemInfo"`
	Progress           []struct {
		State string   `json:"state"`
		Rows  []string `json:"rows"`
	} `json:"progress"`
	Submission struct {
		Verdict string `json:"verdict"`
		Tests   []struct {
			Name, Verdict, Time string
		} `json:"tests"`
	} `json:"submission"`
	Notice   string   `json:"notice"`
	External []string `json:"external"`
	Answers  []struct {
		Method, Path, ContentType, Body, Unreadable string
		Status                                      int
	} `json:"answers"`
}

type run struct {
	Verdict       string `json:"verdict"`
	Time          string `json:"time"`
	Memory        string `json:"memory"`
	Stdout        string `json:"stdout"`
	CompileOutput string `json:"compileOutput"`
}

// puppeteer is the node_modules directory that holds puppeteer-core.
func puppeteer(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(env.Repo, ".tools", "puppeteer", "node_modules")
	if _, err := os.Stat(filepath.Join(dir, "puppeteer-core")); err != nil {
		t.Fatalf("puppeteer-core is not installed in %s: run make test-deps", dir)
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s: %v: run make test-deps", chromium, err)
	}
	return dir
}

// problemID is the id the server gives the package: uploaded here first
// (through the suite's checked client), so the page's upload answers 200.
func uploadFirst(t *testing.T, archive []byte) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, baseURL+"/v1/problems", bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/zip")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var s testserver.ProblemSummary
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &s) != nil {
		t.Fatalf("upload: HTTP %d %s", resp.StatusCode, body)
	}
	return s.ID
}

func TestPlaygroundInChromium(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	modules := puppeteer(t)
	out := t.ArtifactDir()
	archive, err := aPlusB.Zip("")
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(t.TempDir(), "aplusb.zip")
	if err := os.WriteFile(pkg, archive, 0o644); err != nil {
		t.Fatal(err)
	}
	id := uploadFirst(t, archive)

	cfg, _ := json.Marshal(map[string]any{
		"url": baseURL, "token": token, "chromium": chromium, "profile": t.TempDir(),
		"screenshots": out, "timeoutMs": (2 * time.Minute).Milliseconds(),
		"program": "print(sum(map(int, input().split())))", "stdin": "20 22\n", "expected": "42\n",
		"wrongExpected": "41\n", "brokenProgram": "print(1\n",
		// Slow enough per test for the page's polls to see the tests
		// arrive one by one.
		"slowProgram": "import time\ntime.sleep(0.5)\nprint(sum(map(int, input().split())))\n",
		"package":     pkg, "problemID": id,
	})
	ctx, cancel := context.WithTimeout(context.Background(), driveTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "drive.cjs", string(cfg))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	// A group of its own, killed whole at the deadline: node's Chromium
	// must not outlive a driver that hung.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, runErr := cmd.Output()
	var s seen
	if err := json.Unmarshal(bytes.TrimSpace(stdout), &s); err != nil {
		t.Fatalf("drive.cjs: %v, %v; stdout %q; stderr %s", runErr, err, stdout, stderr.String())
	}
	t.Logf("steps: %v; screenshots in %s", s.Steps, out)
	if runErr != nil || s.Error != "" {
		t.Fatalf("drive.cjs: %v: %s\nstderr: %s", runErr, s.Error, testserver.Clip(stderr.String(), 2000))
	}
	// What the page received from the API goes through the suite's
	// OpenAPI check too.
	if len(s.Answers) < 10 {
		t.Errorf("the page saw %d API answers, want every call it made", len(s.Answers))
	}
	for _, a := range s.Answers {
		if a.Unreadable != "" {
			t.Errorf("%s %s: the page could not read the answer: %s", a.Method, a.Path, a.Unreadable)
			continue
		}
		apiCheck.Record(a.Method, a.Path, a.Status, a.ContentType, []byte(a.Body))
	}
	if len(s.PageErrors) > 0 {
		t.Errorf("errors in the page: %v", s.PageErrors)
	}
	if len(s.External) > 0 {
		t.Errorf("the page fetched from elsewhere than the server: %v", s.External)
	}

	// Without a token the page says it needs one; with it, it works.
	if !strings.Contains(s.NoticeWithoutToken, "401") || !strings.Contains(s.NoticeWithoutToken, "token") {
		t.Errorf("notice without a token %q, want the 401 and a hint to enter a token", s.NoticeWithoutToken)
	}
	if s.TokenStored != token {
		t.Errorf("sessionStorage holds %q, want the token", s.TokenStored)
	}
	if !contains(s.Languages, "python") || !contains(s.Languages, "cpp") {
		t.Errorf("languages %v, want the configured ones", s.Languages)
	}

	if s.Typed != "print(sum(map(int, input().split())))" {
		t.Errorf("the editor holds %q after typing the program", s.Typed)
	}
	if s.Accepted.Verdict != "Accepted" || s.Accepted.Stdout != "42\n" {
		t.Errorf("run: %+v, want Accepted with output 42", s.Accepted)
	}
	var secs float64
	var kib int
	if _, err := fmt.Sscan(s.Accepted.Time, &secs); err != nil || secs <= 0 {
		t.Errorf("time %q, want a positive number of seconds", s.Accepted.Time)
	}
	if _, err := fmt.Sscan(s.Accepted.Memory, &kib); err != nil || kib <= 0 {
		t.Errorf("memory %q, want a positive number of KiB", s.Accepted.Memory)
	}
	if s.Wrong.Verdict != "WrongAnswer" {
		t.Errorf("run with a wrong expected output: %+v, want WrongAnswer", s.Wrong)
	}
	if s.CompileError.Verdict != "CompileError" || !strings.Contains(s.CompileError.CompileOutput, "SyntaxError") {
		t.Errorf("run of a broken program: %+v, want CompileError with Python's SyntaxError", s.CompileError)
	}

	if s.UploadStatus != http.StatusOK {
		t.Errorf("the page's upload answered %d, want 200 (the package was stored already)", s.UploadStatus)
	}
	if !strings.Contains(s.ProblemInfo, "A plus B (playground)") || !strings.Contains(s.ProblemInfo, "4 tests") {
		t.Errorf("problem info %q", s.ProblemInfo)
	}
	// The tests were on the page, pending, before their verdicts came.
	progress := s.Progress
	for len(progress) > 0 && len(progress[0].Rows) == 0 {
		progress = progress[1:] // before the page listed the tests
	}
	if len(progress) < 2 || !allAre(progress[0].Rows, "pending") || len(progress[0].Rows) != 4 || progress[0].State == "done" {
		t.Errorf("progress %+v, want four pending rows before the verdicts", s.Progress)
	}
	// Then some had their verdicts while the submission still ran.
	partial := false
	for _, p := range progress {
		decided := 0
		for _, r := range p.Rows {
			if r != "pending" {
				decided++
			}
		}
		partial = partial || (p.State != "done" && decided > 0 && decided < len(p.Rows))
	}
	if !partial {
		t.Errorf("progress %+v: no test had its verdict before the submission was done", s.Progress)
	}
	want := map[string]string{"sample/1": "Accepted", "secret/1": "Accepted", "secret/2": "WrongAnswer", "secret/3": "Accepted"}
	if s.Submission.Verdict != "WrongAnswer" || len(s.Submission.Tests) != len(want) {
		t.Fatalf("submission: %+v, want WrongAnswer over 4 tests", s.Submission)
	}
	for _, tr := range s.Submission.Tests {
		if want[tr.Name] != tr.Verdict || tr.Time == "" {
			t.Errorf("test %s: %q in %.3s s, want %s", tr.Name, tr.Verdict, tr.Time, want[tr.Name])
		}
	}
	if s.Notice != "" {
		t.Errorf("the page shows an error: %q", s.Notice)
	}
	for _, f := range []string{"run.png", "problem.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() < 10_000 {
			t.Errorf("screenshot %s: %v", f, err)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func allAre(list []string, s string) bool {
	for _, x := range list {
		if x != s {
			return false
		}
	}
	return len(list) > 0
}
