package e2e

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
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// Tokens of the guarded server. The file's ordinary token is replaced by
// the environment's, as every setting is by its PECAN_* variable.
const (
	fileToken  = "file-token-0123456789abcdef"
	envToken   = "env-token-0123456789abcdef"
	envToken2  = "env-token-fedcba9876543210"
	adminToken = "admin-token-0123456789abcdef"
	wrongToken = "env-token-0123456789abcdeg"
)

// authConfig writes the repository's pecan.toml with [auth] tokens and
// admin_tokens filled in.
func authConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(suite.Repo, "pecan.toml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for key, value := range map[string]string{"tokens": fileToken, "admin_tokens": adminToken} {
		re := regexp.MustCompile(`(?m)^` + key + ` = \[\].*$`)
		if n := len(re.FindAllStringIndex(text, -1)); n != 1 {
			t.Fatalf("pecan.toml: want exactly one line `%s = []` (under [auth]), found %d", key, n)
		}
		text = re.ReplaceAllLiteralString(text, key+` = ["`+value+`"]`)
	}
	path := filepath.Join(suite.Tmp, "pecan-auth.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAuth runs a server of its own with ordinary tokens from
// PECAN_AUTH_TOKENS and an admin token from the config file, and checks
// who gets what.
func TestAuth(t *testing.T) {
	start(t)
	bin, err := testserver.CopyBinary(suite.Bin, filepath.Join(suite.Tmp, "auth"))
	if err != nil {
		t.Fatal(err)
	}
	rootsBefore := testserver.TmpRoots()
	opts := suite.Options(bin, authConfig(t), 1, "auth")
	opts.Env = []string{"PECAN_AUTH_TOKENS=" + envToken + "," + envToken2}
	srv, err := testserver.StartHealthy(opts, startupTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Stop(promptShutdown); err != nil {
			t.Errorf("guarded server: %v", err)
		}
		for _, l := range srv.Leftovers(rootsBefore) {
			t.Errorf("guarded server left behind: %s", l)
		}
		if t.Failed() {
			t.Log(srv.LogTail(60))
		}
	}()
	base := srv.URL()
	job, _ := json.Marshal(testserver.Job{Language: "python", Code: sumProgram("python", "0"), Stdin: "1 2\n", DesiredStdout: "3\n"})

	type request struct {
		name, method, path string
		header, value      string
		status             int
	}
	for _, r := range []request{
		{"health without a token", "GET", "/v1/health", "", "", 200},
		{"judge without a token", "POST", "/v1/judge/judge-single", "", "", 401},
		{"judge with a wrong token", "POST", "/v1/judge/judge-single", "Authorization", "Bearer " + wrongToken, 401},
		{"judge with a wrong X-Auth-Token", "POST", "/v1/judge/judge-single", "X-Auth-Token", wrongToken, 401},
		{"judge with the file's token the environment replaced", "POST", "/v1/judge/judge-single", "Authorization", "Bearer " + fileToken, 401},
		{"judge with a bearer token", "POST", "/v1/judge/judge-single", "Authorization", "Bearer " + envToken, 200},
		{"judge with X-Auth-Token", "POST", "/v1/judge/judge-single", "X-Auth-Token", envToken2, 200},
		{"judge with the admin token", "POST", "/v1/judge/judge-single", "X-Auth-Token", adminToken, 200},
		{"languages without a token", "GET", "/v1/languages", "", "", 401},
		{"manager without a token", "GET", "/v1/manager/sandbox-status", "", "", 401},
		{"manager with an ordinary token", "GET", "/v1/manager/sandbox-status", "Authorization", "Bearer " + envToken, 403},
		{"manager with the admin token", "GET", "/v1/manager/sandbox-status", "Authorization", "Bearer " + adminToken, 200},
		{"metrics with an ordinary token", "GET", "/metrics", "X-Auth-Token", envToken, 403},
		{"metrics with the admin token", "GET", "/metrics", "X-Auth-Token", adminToken, 200},
	} {
		var body io.Reader
		if r.method == "POST" {
			body = bytes.NewReader(job)
		}
		req, err := http.NewRequest(r.method, base+r.path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if r.header != "" {
			req.Header.Set(r.header, r.value)
		}
		inFlight <- struct{}{}
		resp, err := client.Do(req)
		<-inFlight
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != r.status {
			t.Errorf("%s: HTTP %d %s, want %d", r.name, resp.StatusCode, clip(string(b)), r.status)
			continue
		}
		switch r.status {
		case 200:
			if r.path == "/v1/judge/judge-single" {
				var res testserver.Result
				if err := json.Unmarshal(b, &res); err != nil || res.Code != testserver.Accepted {
					t.Errorf("%s: verdict %s (%v), want Accepted", r.name, clip(string(b)), err)
				}
			}
		case 401, 403:
			var e struct{ Error string }
			if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
				t.Errorf("%s: body %q is not a JSON error", r.name, clip(string(b)))
			}
			if ch := resp.Header.Get("WWW-Authenticate"); r.status == 401 && !strings.HasPrefix(ch, "Bearer") {
				t.Errorf("%s: WWW-Authenticate %q, want a Bearer challenge", r.name, ch)
			}
		}
	}
	for _, tok := range []string{envToken, envToken2, adminToken, fileToken, wrongToken} {
		if b, _ := os.ReadFile(srv.LogPath()); bytes.Contains(b, []byte(tok)) {
			t.Errorf("the server log shows a token")
		}
	}

	// A client that sends a large body before reading, as Python's urllib
	// does, gets to read the 401 too.
	status, body, err := urllibPost(base+"/v1/judge/judge-single", 20_000_000, "")
	if err != nil {
		t.Fatal(err)
	}
	if status != 401 || !strings.Contains(body, `"error"`) {
		t.Errorf("urllib, 20 MB without a token: HTTP %d %q, want a JSON 401", status, clip(body))
	}

	// pecan judge --server sends the token from PECAN_TOKEN.
	src := filepath.Join(t.TempDir(), "sum.py")
	if err := os.WriteFile(src, []byte(sumProgram("python", "0")), 0o644); err != nil {
		t.Fatal(err)
	}
	in, expected := filepath.Join(t.TempDir(), "in.txt"), filepath.Join(t.TempDir(), "out.txt")
	if err := os.WriteFile(in, []byte("2 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(expected, []byte("5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cli := func(token string) (string, error) {
		cmd := exec.Command(bin, "judge", "--server", base, "--stdin", in, "--expected", expected, src)
		cmd.Env = append(os.Environ(), "PECAN_TOKEN="+token)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := cli(envToken); err != nil || !strings.Contains(out, `"Accepted"`) {
		t.Errorf("pecan judge with PECAN_TOKEN: %v\n%s", err, clip(out))
	}
	if out, err := cli(wrongToken); err == nil || (!strings.Contains(out, "401") && !strings.Contains(out, "invalid API token")) {
		t.Errorf("pecan judge with a wrong token: %v, want a failure naming 401\n%s", err, clip(out))
	}
}

// urllibPost posts a judge request of about size bytes with Python's
// urllib, which writes the whole body before it reads the answer, and
// returns the status and body it read. extraHeader is "Name: value" or "".
func urllibPost(url string, size int, extraHeader string) (int, string, error) {
	const script = `
import sys, urllib.request, urllib.error
url, size, extra = sys.argv[1], int(sys.argv[2]), sys.argv[3]
body = b'{"language":"python","code":"print(1)","stdin":"' + b'1' * size + b'"}'
headers = {"Content-Type": "application/json"}
if extra:
    name, value = extra.split(": ", 1)
    headers[name] = value
req = urllib.request.Request(url, data=body, headers=headers, method="POST")
try:
    with urllib.request.urlopen(req, timeout=120) as resp:
        status, answer = resp.status, resp.read()
except urllib.error.HTTPError as e:
    status, answer = e.code, e.read()
sys.stdout.write("%d\n" % status)
sys.stdout.write(answer.decode("utf-8", "replace"))
`
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "-c", script, url, fmt.Sprint(size), extraHeader)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, "", fmt.Errorf("python urllib: %v\n%s", err, stderr.String())
	}
	first, rest, _ := strings.Cut(string(out), "\n")
	var status int
	if _, err := fmt.Sscan(first, &status); err != nil {
		return 0, "", fmt.Errorf("python urllib printed %q", clip(string(out)))
	}
	return status, rest, nil
}
