package problems

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pecan-judge/pecan/blob"
)

// Defaults of Options.
const (
	DefaultMaxFiles   = 10000
	DefaultMaxBytes   = 1 << 30
	DefaultMaxRatio   = 100
	DefaultRatioFloor = 64 << 20
)

// Options configure a Store.
type Options struct {
	// Languages are the languages a validator may be written in: each
	// id's source file extensions, with the dot (".cpp").
	Languages map[string][]string
	// MaxFiles bounds an archive's entries (files and directories).
	MaxFiles int
	// MaxBytes bounds what an archive's files expand to, in all.
	MaxBytes int64
	// MaxRatio bounds that expansion to this many times the archive's
	// size, once past RatioFloor; less than 0 turns the ratio check off.
	MaxRatio float64
	// RatioFloor is how far any archive may expand before MaxRatio
	// applies.
	RatioFloor int64
}

func (o Options) withDefaults() Options {
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxRatio == 0 {
		o.MaxRatio = DefaultMaxRatio
	}
	if o.RatioFloor <= 0 {
		o.RatioFloor = DefaultRatioFloor
	}
	return o
}

// Store keeps problems: their files in a blob store, and one JSON
// manifest per problem in its directory, read at start. Its methods are
// safe for concurrent use.
//
// Adds and deletes take turns (write): a package is staged into the blob
// store and its manifest written last, and a failed add removes the blobs
// it created that no problem uses. Taking turns is what makes "no problem
// uses" true when it is checked. Reads are never held up by a write for
// longer than a map update.
type Store struct {
	dir   string
	blobs *blob.Store
	opt   Options

	write sync.Mutex

	mu       sync.RWMutex
	problems map[string]*Problem
}

// manifestExt names manifest files: <hex of the id>.json.
const manifestExt = ".json"

// OpenStore opens the store whose manifests are in dir (created if
// needed), its files in blobs, and loads every problem. An upload half
// done when a process died is removed.
func OpenStore(dir string, blobs *blob.Store, opt Options) (*Store, error) {
	opt = opt.withDefaults()
	for id, exts := range opt.Languages {
		for _, e := range exts {
			if !strings.HasPrefix(e, ".") || len(e) < 2 {
				return nil, fmt.Errorf("problem store: language %s: extension %q must start with a dot", id, e)
			}
		}
	}
	s := &Store{dir: dir, blobs: blobs, opt: opt, problems: map[string]*Problem{}}
	if err := os.MkdirAll(s.tmpDir(), 0o755); err != nil {
		return nil, fmt.Errorf("problem store %s: %w", dir, err)
	}
	if err := s.removeUploads(); err != nil {
		return nil, err
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) tmpDir() string { return filepath.Join(s.dir, "tmp") }

func (s *Store) manifestPath(id string) string {
	return filepath.Join(s.dir, strings.TrimPrefix(id, "sha256:")+manifestExt)
}

func (s *Store) removeUploads() error {
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return fmt.Errorf("problem store %s: %w", s.dir, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.tmpDir(), e.Name())); err != nil {
			return fmt.Errorf("problem store %s: remove an unfinished upload: %w", s.dir, err)
		}
	}
	return nil
}

// load reads every manifest. A manifest that cannot be read, or whose
// files are missing, fails the start: judging with half a problem would
// give wrong verdicts.
func (s *Store) load() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("problem store %s: %w", s.dir, err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), manifestExt) {
			continue
		}
		file := filepath.Join(s.dir, e.Name())
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("problem store: %w", err)
		}
		var p Problem
		if err := json.Unmarshal(b, &p); err != nil {
			return fmt.Errorf("problem store: manifest %s: %w", file, err)
		}
		if s.manifestPath(p.ID) != file {
			return fmt.Errorf("problem store: manifest %s holds problem %q", file, p.ID)
		}
		for _, d := range p.Digests() {
			if !s.blobs.Has(d) {
				return fmt.Errorf("problem store: problem %s (%s): file %s is missing from the blob store", p.ID, p.Name, d)
			}
		}
		s.problems[p.ID] = &p
	}
	return nil
}

// Add reads a package archive (zip, tar or tar.gz; contentType may name
// it, the content decides) and stores its problem, unless a problem with
// the same id is stored already: then it returns that one and created is
// false. A package that is refused is a *BadPackageError, and leaves
// nothing behind. An error of r is returned wrapped.
func (s *Store) Add(r io.Reader, contentType string) (p *Problem, created bool, err error) {
	// The archive is copied to disk first, without holding up anyone:
	// zip needs random access, and a slow client must not keep other
	// uploads waiting.
	spool, size, err := s.spool(r)
	if err != nil {
		return nil, false, err
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	head := make([]byte, 512)
	n, err := spool.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, fmt.Errorf("read upload: %w", err)
	}
	format, err := detectFormat(head[:n], contentType)
	if err != nil {
		return nil, false, err
	}

	s.write.Lock()
	defer s.write.Unlock()
	c := newCollector(s.blobs, s.opt.MaxFiles, newBudget(s.opt.MaxBytes, s.opt.MaxRatio, s.opt.RatioFloor, size))
	p, err = s.read(c, spool, size, format)
	if err != nil {
		// A refusal is the BadPackageError itself, whatever wrapped it
		// on the way (a blob write that read past the budget).
		var be *BadPackageError
		if errors.As(err, &be) {
			err = be
		}
		if uerr := s.unstage(c.created, nil); uerr != nil {
			return nil, false, errors.Join(err, uerr)
		}
		return nil, false, err
	}
	if old := s.lookup(p.ID); old != nil {
		return old, false, s.unstage(c.created, nil)
	}
	p.Added = time.Now().UTC().Truncate(time.Millisecond)
	if err := s.writeManifest(p); err != nil {
		return nil, false, errors.Join(err, s.unstage(c.created, nil))
	}
	s.mu.Lock()
	s.problems[p.ID] = p
	s.mu.Unlock()
	// Files staged because they might have been needed (a package's
	// validator when validation is default, say) go again.
	return p, true, s.unstage(c.created, referenced(p))
}

func (s *Store) spool(r io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp(s.tmpDir(), "upload-*")
	if err != nil {
		return nil, 0, fmt.Errorf("spool upload: %w", err)
	}
	n, err := io.Copy(f, r)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, fmt.Errorf("spool upload: %w", err)
	}
	return f, n, nil
}

// read walks the archive into c and reads the package c collected.
func (s *Store) read(c *collector, f *os.File, size int64, format archiveFormat) (*Problem, error) {
	if err := walkArchive(f, size, format, c.visit); err != nil {
		return nil, err
	}
	prefix, err := c.root()
	if err != nil {
		return nil, err
	}
	return newPkg(c, prefix, s.opt.Languages).problem()
}

// unstage removes the blobs an add created, except those in keep and
// those a stored problem uses. The caller holds write.
func (s *Store) unstage(created []blob.Digest, keep map[blob.Digest]bool) error {
	if len(created) == 0 {
		return nil
	}
	used := s.used("")
	var errs []error
	for _, d := range created {
		if keep[d] || used[d] {
			continue
		}
		if err := s.blobs.Remove(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// used is every blob a stored problem other than except uses.
func (s *Store) used(except string) map[blob.Digest]bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := map[blob.Digest]bool{}
	for id, p := range s.problems {
		if id == except {
			continue
		}
		for _, d := range p.Digests() {
			m[d] = true
		}
	}
	return m
}

// writeManifest writes p's manifest atomically: a complete file, synced,
// renamed into place, the directory synced. Once it is there the problem
// exists, after a crash too.
func (s *Store) writeManifest(p *Problem) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest of %s: %w", p.ID, err)
	}
	tmp, err := os.CreateTemp(s.tmpDir(), "manifest-*")
	if err != nil {
		return fmt.Errorf("manifest of %s: %w", p.ID, err)
	}
	defer os.Remove(tmp.Name()) // gone already once renamed
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.manifestPath(p.ID))
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		return fmt.Errorf("manifest of %s: %w", p.ID, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func (s *Store) lookup(id string) *Problem {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.problems[id]
}

// Get returns the problem id, or ErrNotFound. The Problem is shared: do
// not modify it.
func (s *Store) Get(id string) (*Problem, error) {
	if p := s.lookup(id); p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("problem %q: %w", id, ErrNotFound)
}

// List returns every problem, oldest first (then by id).
func (s *Store) List() []*Problem {
	s.mu.RLock()
	out := make([]*Problem, 0, len(s.problems))
	for _, p := range s.problems {
		out = append(out, p)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Added.Equal(out[j].Added) {
			return out[i].Added.Before(out[j].Added)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Delete removes the problem id (ErrNotFound if there is none) and the
// blobs no other problem uses. The manifest goes first: a crash after it
// leaves unreferenced blobs, never a problem with missing files.
func (s *Store) Delete(id string) error {
	s.write.Lock()
	defer s.write.Unlock()
	p := s.lookup(id)
	if p == nil {
		return fmt.Errorf("problem %q: %w", id, ErrNotFound)
	}
	if err := os.Remove(s.manifestPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete problem %s: %w", id, err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("delete problem %s: %w", id, err)
	}
	s.mu.Lock()
	delete(s.problems, id)
	s.mu.Unlock()
	used := s.used(id)
	var errs []error
	for d := range referenced(p) {
		if !used[d] {
			if err := s.blobs.Remove(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete problem %s: %w", id, err)
	}
	return nil
}
