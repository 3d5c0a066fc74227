package languages

import (
	"regexp"
	"strings"
)

// versionNumber is the first dotted number of a toolchain's version text.
var versionNumber = regexp.MustCompile(`\d+(?:\.\d+)+`)

// VersionNumber is the toolchain's version as MAJOR.MINOR.PATCH, taken
// from the first dotted number in its reported version ("go version
// go1.26 linux/amd64" is 1.26.0, "v20.19.2" 20.19.2); "" when it reported
// none. The compatible APIs name languages by it.
func (l *Language) VersionNumber() string {
	v := versionNumber.FindString(l.ToolVersion)
	if v == "" {
		return ""
	}
	parts := strings.Split(v, ".")
	for len(parts) < 3 {
		parts = append(parts, "0")
	}
	return strings.Join(parts[:3], ".")
}
