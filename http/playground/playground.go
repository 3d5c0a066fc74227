// Package playground is the browser playground served at / : a page
// (static/index.html, static/style.css) and its script, static/app.js,
// which `make playground` bundles from src/ with CodeMirror at pinned
// versions. The bundle is a build output, not committed: a binary built
// without it (a plain `go build` of a fresh clone) still builds and says
// at / how to get the playground.
package playground

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Bundle is the name of the bundled script among the assets.
const Bundle = "app.js"

// Assets are the playground's files, by name (index.html, app.js, ...).
func Assets() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // "static" is embedded: cannot happen
	}
	return sub
}

// Built reports whether the bundle was built into this binary.
func Built() bool {
	_, err := fs.Stat(Assets(), Bundle)
	return err == nil
}
