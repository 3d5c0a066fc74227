package problems

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/pecan-judge/pecan/blob"
)

// maxSmallFile bounds each file read into memory (problem.yaml,
// testdata.yaml, .timelimit), and maxSmallTotal all of them together.
const (
	maxSmallFile  = 1 << 20
	maxSmallTotal = 16 << 20
)

// pkgFile is a regular file of the archive.
type pkgFile struct {
	path   string // as cleaned, before the top-level directory is taken off
	digest blob.Digest
	size   int64
	// stored says the bytes are in the blob store under digest.
	stored bool
	// content holds the bytes of a file that may be metadata; tooLarge
	// says it was over maxSmallFile and content is nil.
	content  []byte
	tooLarge bool
}

// collector takes in an archive's entries: it checks names and counts,
// stores the files a problem may need and hashes every other one.
type collector struct {
	blobs    *blob.Store
	maxFiles int
	budget   *budget

	entries int
	files   map[string]*pkgFile
	dirs    map[string]bool
	// folded maps each path, in lower case, to the one path (file or
	// directory) spelled that way, to find names that differ only in case.
	folded    map[string]string
	smallRead int64
	// created are the blobs this collector added to the store: those to
	// take out again if the package is refused.
	created []blob.Digest
}

func newCollector(blobs *blob.Store, maxFiles int, b *budget) *collector {
	return &collector{
		blobs: blobs, maxFiles: maxFiles, budget: b,
		files: map[string]*pkgFile{}, dirs: map[string]bool{}, folded: map[string]string{},
	}
}

// visit is the visitFunc of walkArchive.
func (c *collector) visit(raw string, kind entryKind, content io.Reader) error {
	c.entries++
	if c.entries > c.maxFiles {
		return bad("", "the archive holds more than %d entries (max_files)", c.maxFiles)
	}
	p, isDir, err := cleanPath(raw)
	if err != nil {
		return err
	}
	if p == "" {
		if kind == entryFile {
			return bad(raw, "a file without a name")
		}
		return nil // the archive's own root
	}
	if kind == entryDir {
		return c.addDir(p, raw)
	}
	if isDir {
		return bad(raw, "a file whose name ends in /")
	}
	if err := c.claimFile(p, raw); err != nil {
		return err
	}
	f, err := c.read(p, content)
	if err != nil {
		return err
	}
	c.files[p] = f
	return nil
}

// fold records that path p (a file or a directory) exists, and refuses it
// when another name differs from it only in case: such names would be one
// file on many file systems, and which one a judge means is anyone's guess.
func (c *collector) fold(p, raw string) error {
	key := strings.ToLower(p)
	if other, ok := c.folded[key]; ok && other != p {
		return bad(raw, "collides with %s: names may not differ only in case", other)
	}
	c.folded[key] = p
	return nil
}

func (c *collector) addDir(p, raw string) error {
	if _, ok := c.files[p]; ok {
		return bad(raw, "is both a file and a directory")
	}
	if err := c.fold(p, raw); err != nil {
		return err
	}
	return c.addParents(p, raw)
}

// addParents records the directories above p, and p itself when it is
// one, refusing any that is also a file.
func (c *collector) addParents(p, raw string) error {
	for dir := p; ; {
		if _, ok := c.files[dir]; ok {
			return bad(raw, "%s is both a file and a directory", dir)
		}
		if err := c.fold(dir, raw); err != nil {
			return err
		}
		c.dirs[dir] = true
		i := strings.LastIndexByte(dir, '/')
		if i < 0 {
			return nil
		}
		dir = dir[:i]
	}
}

func (c *collector) claimFile(p, raw string) error {
	if _, ok := c.files[p]; ok {
		return bad(raw, "appears twice in the archive (after normalising the path)")
	}
	if c.dirs[p] {
		return bad(raw, "is both a file and a directory")
	}
	if err := c.fold(p, raw); err != nil {
		return err
	}
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return c.addParents(p[:i], raw)
	}
	return nil
}

// read takes in a file's content: metadata is kept in memory, what a
// problem may need goes to the blob store, the rest is only hashed. Which
// is which depends on the path with and without its first component,
// since whether the archive has a top-level directory is known only at
// its end.
func (c *collector) read(p string, content io.Reader) (*pkgFile, error) {
	f := &pkgFile{path: p}
	small, store := roleOf(p)
	if i := strings.IndexByte(p, '/'); i >= 0 {
		s2, st2 := roleOf(p[i+1:])
		small, store = small || s2, store || st2
	}
	r := c.budget.reader(content)
	if small {
		head, err := io.ReadAll(io.LimitReader(r, maxSmallFile+1))
		if err != nil {
			return nil, asPackageError(p, err, "cannot be read")
		}
		if len(head) > maxSmallFile {
			f.tooLarge = true
		} else {
			c.smallRead += int64(len(head))
			if c.smallRead > maxSmallTotal {
				return nil, bad("", "the package's YAML and .timelimit files total more than %d bytes", maxSmallTotal)
			}
			f.content = head
		}
		r = io.MultiReader(bytes.NewReader(head), r)
	}
	if store {
		d, n, created, err := c.blobs.PutNew(r)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", p, err)
		}
		if created {
			c.created = append(c.created, d)
		}
		f.digest, f.size, f.stored = d, n, true
		return f, nil
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return nil, asPackageError(p, err, "cannot be read")
	}
	f.digest, f.size = blob.Digest("sha256:"+hex.EncodeToString(h.Sum(nil))), n
	return f, nil
}

// roleOf says whether a file at package path p may be metadata read into
// memory (small) and whether its bytes may be needed later (store).
func roleOf(p string) (small, store bool) {
	switch {
	case p == "problem.yaml" || p == ".timelimit":
		return true, false
	case strings.HasPrefix(p, "data/"):
		switch base := path.Base(p); {
		case base == testdataFile || base == testGroupFile:
			return true, false
		case strings.HasSuffix(base, ".in") || strings.HasSuffix(base, ".ans"):
			return false, true
		}
	case strings.HasPrefix(p, legacyValidatorDir+"/") || strings.HasPrefix(p, draftValidatorDir+"/"):
		return false, true
	}
	return false, false
}

// macOSMetadata is the directory macOS's archiver adds beside what was
// packed; it is no part of the package.
const macOSMetadata = "__MACOSX"

// root finds the package's root: the archive's, or its one top-level
// directory when problem.yaml is there. It returns the prefix to take off
// every path ("" or "dir/").
func (c *collector) root() (string, error) {
	if _, ok := c.files["problem.yaml"]; ok {
		return "", nil
	}
	top := ""
	for p := range c.files {
		first, _, _ := strings.Cut(p, "/")
		if first == macOSMetadata {
			continue
		}
		if top != "" && first != top {
			top = ""
			break
		}
		top = first
	}
	for d := range c.dirs {
		if first, _, _ := strings.Cut(d, "/"); first != top && first != macOSMetadata {
			top = ""
			break
		}
	}
	if top != "" {
		if _, ok := c.files[top+"/problem.yaml"]; ok {
			return top + "/", nil
		}
	}
	return "", bad("problem.yaml", "missing: it must be at the archive's root or in its single top-level directory")
}
