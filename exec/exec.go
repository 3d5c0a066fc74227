// Package exec runs the steps plan decides on a backends.Sandbox: it puts
// files in, runs one program, and takes files out. Like go-judge's
// envexec it is mechanism only; it knows nothing of verdicts or problems.
package exec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"

	"github.com/pecan-judge/pecan/backends"
)

// File is a file to put into a sandbox, or one taken out of it.
type File struct {
	Path string
	Mode fs.FileMode
	Data []byte
}

// Artifact is what a compile left in the work directory: the files every
// run of the program gets, in a fresh sandbox each time.
type Artifact []File

// Size is the artifact's bytes in all.
func (a Artifact) Size() int64 {
	var n int64
	for _, f := range a {
		n += int64(len(f.Data))
	}
	return n
}

// Put puts files into sb.
func Put(ctx context.Context, sb backends.Sandbox, files []File) error {
	for _, f := range files {
		if err := sb.PutFile(ctx, f.Path, bytes.NewReader(f.Data), f.Mode); err != nil {
			return err
		}
	}
	return nil
}

// Opener opens a stored file (a test's input or answer) for reading.
type Opener func() (io.ReadCloser, error)

// PutFrom puts the file opened by open at path in sb.
func PutFrom(ctx context.Context, sb backends.Sandbox, path string, mode fs.FileMode, open Opener) error {
	r, err := open()
	if err != nil {
		return fmt.Errorf("put %s: %w", path, err)
	}
	defer r.Close()
	return sb.PutFile(ctx, path, r, mode)
}

// Collect takes the files below dir ("" for the whole work directory) out
// of sb, at most maxFiles and maxBytes in all.
func Collect(ctx context.Context, sb backends.Sandbox, dir string, maxFiles int, maxBytes int64) ([]File, error) {
	var out []File
	err := sb.Collect(ctx, dir, maxFiles, maxBytes, func(p string, mode fs.FileMode, r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		out = append(out, File{Path: p, Mode: mode.Perm(), Data: b})
		return nil
	})
	return out, err
}

// Find is the file at path among files, or nil.
func Find(files []File, path string) *File {
	for i := range files {
		if files[i].Path == path {
			return &files[i]
		}
	}
	return nil
}

// Run puts files into sb and runs spec there, streaming stdin from open
// when it is set.
func Run(ctx context.Context, sb backends.Sandbox, files []File, spec backends.RunSpec, stdin Opener) (backends.RunResult, error) {
	if err := Put(ctx, sb, files); err != nil {
		return backends.RunResult{}, err
	}
	if stdin != nil {
		r, err := stdin()
		if err != nil {
			return backends.RunResult{}, fmt.Errorf("stdin: %w", err)
		}
		defer r.Close()
		spec.StdinFrom = r
	}
	return sb.Run(ctx, spec)
}

// Bytes opens b, for inputs held in memory.
func Bytes(b []byte) Opener {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
