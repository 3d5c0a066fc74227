// Package blob is a content-addressed store of files on disk: test data,
// validator sources, compiled artifacts. A file is named by the SHA-256
// digest of its bytes, so storing the same bytes twice keeps one file, and
// a stored file is never rewritten: it is written in full to a temporary
// file, flushed to disk, and only then linked under its digest, read-only.
//
// One process owns a store's directory at a time: Open takes a lock on it,
// which Close releases.
package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Digest names stored bytes: "sha256:" and 64 lowercase hex digits.
type Digest string

const digestPrefix = "sha256:"

// ErrNotFound is returned (wrapped) for a digest the store does not hold.
var ErrNotFound = errors.New("blob not found")

// ParseDigest checks that s is a well-formed digest.
func ParseDigest(s string) (Digest, error) {
	hexPart, ok := strings.CutPrefix(s, digestPrefix)
	if !ok || len(hexPart) != 2*sha256.Size || !isLowerHex(hexPart) {
		return "", fmt.Errorf("malformed digest %q: want %s followed by %d lowercase hex digits", s, digestPrefix, 2*sha256.Size)
	}
	return Digest(s), nil
}

// DigestOf is the digest of b.
func DigestOf(b []byte) Digest {
	sum := sha256.Sum256(b)
	return Digest(digestPrefix + hex.EncodeToString(sum[:]))
}

// Valid reports whether d is well-formed.
func (d Digest) Valid() bool {
	_, err := ParseDigest(string(d))
	return err == nil
}

// Hex is the digest without its algorithm prefix.
func (d Digest) Hex() string { return strings.TrimPrefix(string(d), digestPrefix) }

func (d Digest) String() string { return string(d) }

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Store is a blob directory. Its methods are safe for concurrent use.
//
// Layout: sha256/<hex> holds the blobs, tmp/ the files being written (left
// over only by a crash, and removed by the next Open), lock the lock.
type Store struct {
	dir  string
	lock *os.File
}

// Open opens (creating it if needed) the store in dir and locks it
// against other processes. Files half-written by a crashed process are
// removed.
func Open(dir string) (*Store, error) {
	s := &Store{dir: dir}
	for _, d := range []string{dir, s.blobDir(), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("blob store %s: %w", dir, err)
		}
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", dir, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("blob store %s is in use by another process", dir)
		}
		return nil, fmt.Errorf("blob store %s: lock: %w", dir, err)
	}
	s.lock = lock
	if err := s.removeTemporaries(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the store's lock. The Store must not be used after.
func (s *Store) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close() // closing the descriptor releases the flock
	s.lock = nil
	return err
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) blobDir() string { return filepath.Join(s.dir, "sha256") }
func (s *Store) tmpDir() string  { return filepath.Join(s.dir, "tmp") }

// path is where d lives; d must be valid.
func (s *Store) path(d Digest) string { return filepath.Join(s.blobDir(), d.Hex()) }

func (s *Store) removeTemporaries() error {
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return fmt.Errorf("blob store %s: %w", s.dir, err)
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(s.tmpDir(), e.Name())); err != nil {
			return fmt.Errorf("blob store %s: remove a temporary file: %w", s.dir, err)
		}
	}
	return nil
}

// Put stores everything r yields and returns its digest and size.
func (s *Store) Put(r io.Reader) (Digest, int64, error) {
	d, n, _, err := s.PutNew(r)
	return d, n, err
}

// PutNew is Put that also reports whether the bytes were new to the
// store, so that a caller undoing its work removes only what it added.
// The bytes are streamed to a temporary file, never held in memory.
func (s *Store) PutNew(r io.Reader) (d Digest, size int64, created bool, err error) {
	tmp, err := os.CreateTemp(s.tmpDir(), "put-*")
	if err != nil {
		return "", 0, false, fmt.Errorf("blob put: %w", err)
	}
	tmpPath := tmp.Name()
	defer func() {
		// Whatever happened, the temporary name goes: on success the
		// blob has its own name (a hard link) by now.
		if rmErr := os.Remove(tmpPath); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
			err = fmt.Errorf("blob put: %w", rmErr)
		}
	}()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(tmp, h), r)
	if err == nil {
		err = tmp.Chmod(0o444)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, false, fmt.Errorf("blob put: %w", err)
	}
	d = Digest(digestPrefix + hex.EncodeToString(h.Sum(nil)))
	created, err = s.commit(tmpPath, d, size)
	if err != nil {
		return "", 0, false, fmt.Errorf("blob put %s: %w", d, err)
	}
	return d, size, created, nil
}

// commit gives the complete, synced file tmpPath the name of d. A link
// never replaces an existing file, so a stored blob is never rewritten;
// one of the wrong size (damaged outside the store) is replaced.
func (s *Store) commit(tmpPath string, d Digest, size int64) (bool, error) {
	final := s.path(d)
	err := os.Link(tmpPath, final)
	if errors.Is(err, fs.ErrExist) {
		if fi, serr := os.Stat(final); serr == nil && fi.Size() == size && fi.Mode().IsRegular() {
			return false, nil
		}
		if err = os.Rename(tmpPath, final); err != nil {
			return false, err
		}
	} else if err != nil {
		return false, err
	}
	return true, syncDir(s.blobDir())
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Open opens the blob d for reading. A malformed digest is an error, never
// a path; a missing blob is ErrNotFound.
func (s *Store) Open(d Digest) (*os.File, error) {
	if _, err := ParseDigest(string(d)); err != nil {
		return nil, fmt.Errorf("blob open: %w", err)
	}
	f, err := os.OpenFile(s.path(d), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob open %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob open %s: %w", d, err)
	}
	return f, nil
}

// Has reports whether the store holds d.
func (s *Store) Has(d Digest) bool {
	_, err := s.Size(d)
	return err == nil
}

// Size is the length of the blob d.
func (s *Store) Size(d Digest) (int64, error) {
	if _, err := ParseDigest(string(d)); err != nil {
		return 0, fmt.Errorf("blob size: %w", err)
	}
	fi, err := os.Lstat(s.path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("blob size %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("blob size %s: %w", d, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("blob size %s: not a regular file", d)
	}
	return fi.Size(), nil
}

// Remove deletes the blob d; removing a blob the store does not hold is
// not an error. A reader that has it open keeps reading it.
func (s *Store) Remove(d Digest) error {
	if _, err := ParseDigest(string(d)); err != nil {
		return fmt.Errorf("blob remove: %w", err)
	}
	if err := os.Remove(s.path(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob remove %s: %w", d, err)
	}
	return nil
}
