package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/pecan-judge/pecan/config"
	pecanhttp "github.com/pecan-judge/pecan/http"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
	"github.com/pecan-judge/pecan/plan"
)

// judgeFile judges one source file, against a running server when
// --server is given, otherwise in a one-sandbox pool of its own.
func judgeFile(args []string) error {
	f := newServerFlags("judge")
	server := f.fs.String("server", "", "URL of a running server (default: judge in-process)")
	token := f.fs.String("token", "", "API token sent to --server; prefer PECAN_TOKEN, arguments are visible to other users")
	lang := f.fs.String("language", "", "language (default: from the file extension)")
	stdinPath := f.fs.String("stdin", "", "file given as standard input")
	expectPath := f.fs.String("expected", "", "file with the expected output")
	timeLimit := f.fs.Float64("time", 2, "CPU time limit, seconds")
	memLimit := f.fs.Int64("memory", 262144, "memory limit, KiB")
	checker := f.fs.String("checker", "", "exact, lines, tokens or float:<eps>")
	problem := f.fs.String("problem", "", "judge FILE... against this problem package (a directory, .zip, .tar or .tar.gz)")
	mode := f.fs.String("mode", "first-failure", "with --problem: first-failure or all")
	if err := f.parse(args); err != nil {
		return err
	}
	if *problem != "" {
		return judgeProblem(f, problemJob{
			pkg: *problem, files: f.fs.Args(), language: *lang, mode: *mode,
			timeLimit: *timeLimit, memLimit: *memLimit, server: *server, token: *token,
			timeSet: f.fs.Changed("time"), memSet: f.fs.Changed("memory"),
		})
	}
	if f.fs.NArg() != 1 {
		return errors.New("usage: pecan judge [flags] FILE, or pecan judge --problem PACKAGE [flags] FILE...")
	}
	path := f.fs.Arg(0)
	code, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	read := func(p string) ([]byte, error) {
		if p == "" {
			return nil, nil
		}
		return os.ReadFile(p)
	}
	stdin, err := read(*stdinPath)
	if err != nil {
		return err
	}
	expected, err := read(*expectPath)
	if err != nil {
		return err
	}
	if *server != "" {
		if *lang == "" {
			*lang = strings.TrimPrefix(filepath.Ext(path), ".")
		}
		return judgeRemote(*server, *token, map[string]any{
			"code": string(code), "language": *lang, "stdin": string(stdin),
			"desired_stdout": string(expected), "time_limit": *timeLimit,
			"memory_limit": *memLimit, "checker": *checker,
		})
	}

	cfg, logger, err := f.loadWithLogger()
	if err != nil {
		return err
	}
	cfg.PoolSize = 1
	// A one-off pool of its own: it must not join (or take work from) a
	// cluster the config describes for `serve`.
	cfg.Cluster.Bind = ""
	if *lang == "" {
		*lang, err = languageByExtension(cfg, filepath.Ext(path))
		if err != nil {
			return err
		}
	}
	ctx := context.Background()
	n, err := startNode(ctx, cfg, logger, nodeExtras{})
	if err != nil {
		return err
	}
	defer n.stop(ctx)
	l, ok := n.langs.Lookup(*lang)
	if !ok {
		return fmt.Errorf("unknown language %q (valid: %s)", *lang, strings.Join(n.langs.Names(), ", "))
	}
	wall := *timeLimit*cfg.Limits.WallFactor + 1
	req := &messages.ExecuteRequest{
		RequestId: uuid.NewString(), Language: l.ID, Code: code, Stdin: stdin,
		DesiredStdout: expected, Checker: *checker,
		Limits: &messages.Limits{CpuSeconds: *timeLimit, WallSeconds: wall, MemoryKib: *memLimit},
	}
	runCtx, cancel := context.WithTimeout(ctx, plan.Budget(l, req, cfg.Limits, config.Seconds(cfg.QueueTimeout)))
	defer cancel()
	res, err := n.pool.Execute(runCtx, req)
	if err != nil {
		return err
	}
	// The answer a server gives, from the same mapping; the reason of an
	// InternalError, which the answer leaves out, goes to stderr.
	out, err := pecanhttp.RenderResult(res)
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out, "", "  "); err != nil {
		return err
	}
	pretty.WriteByte('\n')
	if _, err := os.Stdout.Write(pretty.Bytes()); err != nil {
		return err
	}
	if res.Error != "" && res.Failure == messages.Failure_FAILURE_NONE {
		fmt.Fprintln(os.Stderr, "pecan: judge:", res.Error)
	}
	return nil
}

func languageByExtension(cfg config.Config, ext string) (string, error) {
	for id, l := range cfg.Languages {
		if ext != "" && filepath.Ext(l.Source) == ext {
			return id, nil
		}
	}
	return "", fmt.Errorf("no language for extension %q: pass --language", ext)
}

func judgeRemote(server, token string, body map[string]any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(server, "/")+"/v1/judge/judge-single", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := tokenClient(5*time.Minute, token).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		out = append(pretty.Bytes(), '\n')
	}
	os.Stdout.Write(out)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("server answered %s", resp.Status)
	}
	return nil
}

// tokenClient is an HTTP client for the CLI's calls to a server: every
// request carries token (when set) as a bearer token.
func tokenClient(timeout time.Duration, token string) *http.Client {
	return &http.Client{Timeout: timeout, Transport: bearer{token: token, next: http.DefaultTransport}}
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.token != "" && r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}

// listLanguages prints the configured languages and whether their
// toolchains are present on this host.
func listLanguages(args []string) error {
	f := newServerFlags("languages")
	if err := f.parse(args); err != nil {
		return err
	}
	cfg, err := f.load()
	if err != nil {
		return err
	}
	langs, err := languages.New(cfg.Languages, cfg.Env, "")
	if err != nil {
		return err
	}
	for _, l := range langs.All() {
		status := "ok"
		if missing := l.MissingToolchain(); missing != "" {
			status = "toolchain not found: " + missing
		} else if v, err := l.ProbeVersion(context.Background()); err != nil {
			status = "version probe failed: " + err.Error()
		} else if v != "" {
			status = "ok  " + v
		}
		fmt.Printf("%-12s %-30s aliases=%s  %s\n", l.ID, l.Name, strings.Join(l.Aliases, ","), status)
	}
	return nil
}
