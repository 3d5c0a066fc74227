package container

import "testing"

func TestUIDPoolGivesEachSandboxItsOwn(t *testing.T) {
	p := &uidPool{first: 65533}
	seen := map[int]bool{}
	for i := 0; i < UIDsPerBackend; i++ {
		uid, err := p.take()
		if err != nil {
			t.Fatal(err)
		}
		if seen[uid] || uid > 65533 || uid <= 65533-UIDsPerBackend {
			t.Fatalf("take %d gave %d (seen %v)", i, uid, seen[uid])
		}
		seen[uid] = true
	}
	if _, err := p.take(); err == nil {
		t.Fatal("a uid was given with every one in use")
	}
	p.give(65500)
	if uid, err := p.take(); err != nil || uid != 65500 {
		t.Fatalf("after giving 65500 back: %d, %v", uid, err)
	}
}
