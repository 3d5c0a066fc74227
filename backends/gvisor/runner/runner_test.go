package runner

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestFrames(t *testing.T) {
	var b bytes.Buffer
	fw := &frameWriter{w: &b}
	big := bytes.Repeat([]byte("x"), MaxFrame+10)
	if err := fw.write(FrameStdout, big); err != nil {
		t.Fatal(err)
	}
	if err := fw.write(FrameResult, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	var kinds []byte
	var total int
	for {
		kind, n, err := ReadFrame(&b)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(io.Discard, &b, int64(n)); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, kind)
		if kind == FrameStdout {
			total += n
		}
	}
	if string(kinds) != "oor" || total != len(big) {
		t.Errorf("frames %q carrying %d bytes, want \"oor\" and %d", kinds, total, len(big))
	}
	// A frame longer than MaxFrame is refused, not read.
	if _, _, err := ReadFrame(bytes.NewReader([]byte{'o', 0xff, 0xff, 0xff, 0xff})); err == nil {
		t.Error("a 4 GiB frame was accepted")
	}
}

func TestSplitRelative(t *testing.T) {
	for _, bad := range []string{"", "/etc/passwd", "..", "../x", "a/../b", "a//b", "./a", "a/", strings.Repeat("d/", 20) + "f"} {
		if _, _, err := SplitRelative(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	dirs, name, err := SplitRelative("lib/calc/calc.h")
	if err != nil || strings.Join(dirs, ",") != "lib,calc" || name != "calc.h" {
		t.Errorf("lib/calc/calc.h: %v %q %v", dirs, name, err)
	}
}

func TestIsCommand(t *testing.T) {
	if !IsCommand([]string{"x", CmdRun}) || IsCommand([]string{"x", "container_init"}) || IsCommand([]string{"x"}) {
		t.Error("IsCommand tells the runner's commands apart wrongly")
	}
}
