package actors

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"google.golang.org/protobuf/proto"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/blob"
	"github.com/pecan-judge/pecan/exec"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
)

// compiled is a program ready to run: its files, what the compiler said,
// and its digest in the compile cache ("" when the node keeps none).
type compiled struct {
	art    exec.Artifact
	output string
	digest blob.Digest
}

// compileKey names a compile in the cache: the language, its toolchain's
// version, the compile command and its limits (a compile that ran out of
// time under one limit may succeed under another), and the sources by
// name, mode and digest. Anything that could change what the compile
// leaves changes the key.
func compileKey(lang *languages.Language, spec backends.RunSpec, sources []*messages.SourceFile) blob.Digest {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field("pecan compile v1")
	field(lang.ID)
	field(lang.ToolVersion)
	for _, list := range [][]string{spec.Args, spec.Env} {
		field(fmt.Sprint(len(list)))
		for _, a := range list {
			field(a)
		}
	}
	field(fmt.Sprintf("%+v", spec.Limits))
	for _, f := range sources {
		field(f.GetName())
		field(blob.DigestOf(f.GetContent()).String())
	}
	return blob.DigestOf(h.Sum(nil))
}

// loadArtifact reads a cached program.
func loadArtifact(c *blob.Cache, d blob.Digest) (compiled, error) {
	f, err := c.Open(d)
	if err != nil {
		return compiled{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, artifactMaxBytes*2))
	if err != nil {
		return compiled{}, fmt.Errorf("read artifact %s: %w", d, err)
	}
	return decodeArtifact(d, b)
}

// decodeArtifact checks that b is the artifact d and decodes it.
func decodeArtifact(d blob.Digest, b []byte) (compiled, error) {
	if got := blob.DigestOf(b); got != d {
		return compiled{}, fmt.Errorf("artifact %s: content has digest %s", d, got)
	}
	var m messages.Artifact
	if err := proto.Unmarshal(b, &m); err != nil {
		return compiled{}, fmt.Errorf("artifact %s: %w", d, err)
	}
	out := compiled{output: m.GetCompileOutput(), digest: d}
	for _, f := range m.GetFiles() {
		out.art = append(out.art, exec.File{Path: f.GetPath(), Mode: fs.FileMode(f.GetMode()).Perm(), Data: f.GetData()})
	}
	return out, nil
}

// storeArtifact puts a program into the cache under key.
func storeArtifact(c *blob.Cache, key blob.Digest, art exec.Artifact, output string) (blob.Digest, error) {
	m := &messages.Artifact{CompileOutput: output}
	for _, f := range art {
		m.Files = append(m.Files, &messages.ArtifactFile{Path: f.Path, Mode: uint32(f.Mode.Perm()), Data: f.Data})
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode artifact: %w", err)
	}
	return c.Put(key, bytes.NewReader(b))
}

// program is the compiled program d from this node's compile cache.
// origin, the node that sent the step, is where a member fetches one it
// lacks.
func (c JobConfig) program(ctx context.Context, d blob.Digest, origin string) (compiled, error) {
	if c.artifacts == nil {
		return compiled{}, errors.New("this node keeps no compiled programs (no compile cache)")
	}
	if !d.Valid() {
		return compiled{}, fmt.Errorf("malformed artifact digest %q", d)
	}
	if !c.artifacts.Has(d) && origin != "" {
		if err := c.fetchToCache(ctx, origin, d); err != nil {
			return compiled{}, err
		}
	}
	return loadArtifact(c.artifacts, d)
}
