package container

import (
	"context"
	"io"
	"io/fs"
	"sort"
	"strings"
	"testing"

	"github.com/pecan-judge/pecan/backends"
)

func collect(t *testing.T, sb backends.Sandbox) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := sb.Collect(context.Background(), "", 100, 1<<20, func(p string, mode fs.FileMode, r io.Reader) error {
		b, err := io.ReadAll(r)
		got[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPutFileAndCollect(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()
	if err := sb.PutFile(ctx, "com/example/Main.java", strings.NewReader("class Main {}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sb.PutFile(ctx, "run.sh", strings.NewReader("#!/bin/sh\necho ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"../x", "/etc/x", "a/../b", "", ".", "a//b", "com/example/Main.java"} {
		if err := sb.PutFile(ctx, bad, strings.NewReader("x"), 0o644); err == nil {
			t.Errorf("PutFile(%q) succeeded", bad)
		}
	}
	// Programs may add files beside the put ones, and read and run them,
	// never change them; links they make are not followed.
	script := `./run.sh && cat com/example/Main.java && echo && echo new > com/example/Made.class &&
ln -s /etc/passwd com/link && mkfifo fifo && (echo x >> run.sh || echo refused)`
	r := run(t, sb, []string{"/bin/sh", "-c", script}, "", backends.Limits{})
	if got := string(r.Stdout); got != "ran\nclass Main {}\nrefused\n" {
		t.Errorf("run over put files: %q %s", got, r.Stderr)
	}
	got := collect(t, sb)
	want := map[string]string{"com/example/Main.java": "class Main {}", "run.sh": "#!/bin/sh\necho ran\n", "com/example/Made.class": "new\n"}
	if len(got) != len(want) {
		t.Errorf("collected %v, want %v", keys(got), keys(want))
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("collected %s = %q, want %q", p, got[p], w)
		}
	}
	sub := map[string]bool{}
	if err := sb.Collect(ctx, "com/example", 100, 1<<20, func(p string, _ fs.FileMode, _ io.Reader) error { sub[p] = true; return nil }); err != nil || len(sub) != 2 || !sub["com/example/Made.class"] {
		t.Errorf("collect com/example: %v %v", sub, err)
	}
	if err := sb.Collect(ctx, "missing", 100, 1<<20, func(string, fs.FileMode, io.Reader) error { return nil }); err != nil {
		t.Errorf("collect a missing dir: %v", err)
	}
	if err := sb.Collect(ctx, "", 2, 1<<20, func(string, fs.FileMode, io.Reader) error { return nil }); err == nil {
		t.Error("Collect over maxFiles succeeded")
	}
	if err := sb.Collect(ctx, "", 100, 8, func(string, fs.FileMode, io.Reader) error { return nil }); err == nil {
		t.Error("Collect over maxBytes succeeded")
	}
}

func TestPutFileDoesNotFollowLinks(t *testing.T) {
	sb := newTestSandbox(t)
	run(t, sb, []string{"/bin/sh", "-c", "ln -s /tmp /w/d && ln -s /tmp/f /w/f"}, "", backends.Limits{})
	for _, p := range []string{"d/x", "f"} {
		if err := sb.PutFile(context.Background(), p, strings.NewReader("x"), 0o644); err == nil {
			t.Errorf("PutFile(%q) through a planted link succeeded", p)
		}
	}
	r := run(t, sb, []string{"/bin/sh", "-c", "ls -A /tmp"}, "", backends.Limits{})
	if strings.TrimSpace(string(r.Stdout)) != "" {
		t.Errorf("a put went through a link into /tmp: %q", r.Stdout)
	}
}

func keys(m map[string]string) []string {
	var k []string
	for p := range m {
		k = append(k, p)
	}
	sort.Strings(k)
	return k
}
