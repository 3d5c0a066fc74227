package initproc

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"
)

func TestFilterTravelsWhole(t *testing.T) {
	in := Filter{{Code: 0x20, Jt: 0, Jf: 0, K: 4}, {Code: 0x15, Jt: 1, Jf: 2, K: 0xc000003e}, {Code: 0x06, K: 0x7fff0000}}
	b, err := json.Marshal(Config{Seccomp: in})
	if err != nil {
		t.Fatal(err)
	}
	var out Config
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.Seccomp, in) {
		t.Fatalf("filter %v arrived as %v", in, out.Seccomp)
	}
	if err := json.Unmarshal([]byte(`{"Seccomp":"AAAA"}`), &out); err == nil {
		t.Fatal("a filter of 3 bytes was accepted")
	}
}

// An init that dies before it answers (here a program that is no init at
// all) is an error of Start, not a wait for ever.
func TestStartFailsWhenTheInitDies(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("namespaces need root; CI runs as root")
	}
	in, err := Start(Config{Binary: "/bin/true", RootDir: t.TempDir()})
	if err == nil {
		in.Destroy()
		t.Fatal("Start of /bin/true as an init succeeded")
	}
	if !errors.Is(err, ErrInitGone) {
		t.Errorf("Start: %v, want it to wrap ErrInitGone", err)
	}
}
