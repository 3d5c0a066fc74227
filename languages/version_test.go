package languages

import "testing"

func TestVersionNumber(t *testing.T) {
	for in, want := range map[string]string{
		"go version go1.26 linux/amd64":        "1.26.0",
		"v20.19.2":                             "20.19.2",
		`openjdk version "17.0.13" 2024-10-15`: "17.0.13",
		"Python 3.11.2":                        "3.11.2",
		"rustc 1.86.0 (05f9846f8 2025-03-31)":  "1.86.0",
		"Version 5.9.3":                        "5.9.3",
		"12.2.0":                               "12.2.0",
		"1.2.3.4":                              "1.2.3",
		"unknown":                              "",
		"":                                     "",
	} {
		l := &Language{ToolVersion: in}
		if got := l.VersionNumber(); got != want {
			t.Errorf("VersionNumber(%q) = %q, want %q", in, got, want)
		}
	}
}
