package piston

import "testing"

func TestSatisfies(t *testing.T) {
	v, _ := parseVersion("3.11.2")
	for rng, want := range map[string]bool{
		"*": true, "": true, "x": true, "3": true, "3.x": true, "3.11.x": true, "3.11": true, "3.11.2": true,
		"3.11.3": false, "2": false, "3.10.x": false, "4.x": false,
		">=3.10": true, ">=3.11.2": true, ">3.11.2": false, ">3.11": false, ">3.10": true,
		"<4": true, "<3.11": false, "<=3.11": true, "<=3.10": false,
		"^3.1": true, "^3.12": false, "^4": false, "~3.11": true, "~3.11.3": false, "~3.10": false, "~3": true,
		">=3 <4": true, ">=3 <3.11": false, "2.x || 3.x": true, "1 || 2": false,
		"3.0 - 3.11": true, "3.0 - 3.10": false, "3.11.2 - 4": true,
		"abc": false, ">=": false, "3.11.2.1": false, "=3.11.2": true,
	} {
		if got := satisfies(v, rng); got != want {
			t.Errorf("satisfies(3.11.2, %q) = %v, want %v", rng, got, want)
		}
	}
	z, _ := parseVersion("0.2.5")
	if !satisfies(z, "^0.2.1") || satisfies(z, "^0.3") || satisfies(z, "^0.1") {
		t.Error("^ on a 0.x version must keep the minor")
	}
}
