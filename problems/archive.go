package problems

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// archiveFormat is how a package is packed.
type archiveFormat int

const (
	formatZip archiveFormat = iota + 1
	formatTar
	formatTarGz
)

func (f archiveFormat) String() string {
	switch f {
	case formatZip:
		return "zip"
	case formatTar:
		return "tar"
	case formatTarGz:
		return "tar.gz"
	}
	return "unknown"
}

// Content types accepted for each format.
var contentTypes = map[string]archiveFormat{
	"application/zip":              formatZip,
	"application/x-zip-compressed": formatZip,
	"application/x-tar":            formatTar,
	"application/gzip":             formatTarGz,
	"application/x-gzip":           formatTarGz,
}

// AcceptsContentType reports whether ct (parameters allowed) names an
// archive format Add reads.
func AcceptsContentType(ct string) bool {
	_, ok := formatOfContentType(ct)
	return ok
}

func formatOfContentType(ct string) (archiveFormat, bool) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, false
	}
	f, ok := contentTypes[strings.ToLower(mt)]
	return f, ok
}

// detectFormat decides the format from the archive's first bytes, which
// win over the declared content type: clients label archives carelessly,
// but a zip is a zip. Only a tar without the POSIX magic (old v7 tars) is
// taken on the content type's word.
func detectFormat(head []byte, contentType string) (archiveFormat, error) {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return formatZip, nil
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return formatTarGz, nil
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return formatTar, nil
	}
	if f, ok := formatOfContentType(contentType); ok && f == formatTar && len(head) >= 512 {
		return formatTar, nil
	}
	return 0, bad("", "not a zip, tar or tar.gz archive")
}

// entryKind is what an archive entry is, of the kinds a package may hold.
type entryKind int

const (
	entryFile entryKind = iota + 1
	entryDir
)

// visitFunc receives each entry: its raw name, kind, and for a file its
// content (read at most once, before visitFunc returns).
type visitFunc func(name string, kind entryKind, content io.Reader) error

// walkArchive calls visit for every entry of the archive in f (size bytes)
// in archive order. Links, devices, fifos and anything else that is not a
// plain file or directory are refused as they are met.
func walkArchive(f *os.File, size int64, format archiveFormat, visit visitFunc) error {
	switch format {
	case formatZip:
		return walkZip(f, size, visit)
	case formatTar:
		return walkTar(f, visit)
	case formatTarGz:
		zr, err := gzip.NewReader(bufio.NewReader(f))
		if err != nil {
			return bad("", "not a valid gzip stream: %v", err)
		}
		// One member only: a tar.gz is one gzip stream, and a second
		// member would be data after the tar's end anyway.
		zr.Multistream(false)
		if err := walkTar(zr, visit); err != nil {
			return err
		}
		return checkGzipEnd(zr)
	}
	return fmt.Errorf("unknown archive format %d", format)
}

// maxTrailing bounds what may follow a tar's end inside its gzip stream
// (tar pads to whole records of 10 KiB).
const maxTrailing = 1 << 20

// checkGzipEnd reads what follows the tar's end to the end of the gzip
// stream, where the stream's checksum is verified.
func checkGzipEnd(zr *gzip.Reader) error {
	n, err := io.Copy(io.Discard, io.LimitReader(zr, maxTrailing+1))
	if err != nil {
		return bad("", "the gzip stream is corrupt or truncated: %v", err)
	}
	if n > maxTrailing {
		return bad("", "more than %d bytes follow the end of the tar archive", maxTrailing)
	}
	return nil
}

func walkZip(f *os.File, size int64, visit visitFunc) error {
	zr, err := zip.NewReader(f, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // paths are judged below
		return bad("", "not a valid zip archive: %v", err)
	}
	for _, zf := range zr.File {
		mode := zf.Mode()
		if t := unsupportedType(mode); t != "" {
			return bad(zf.Name, "is a %s: a package may hold only regular files and directories", t)
		}
		if zf.Flags&0x1 != 0 {
			return bad(zf.Name, "is encrypted")
		}
		if mode.IsDir() || strings.HasSuffix(zf.Name, "/") {
			if err := visit(zf.Name, entryDir, nil); err != nil {
				return err
			}
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return bad(zf.Name, "cannot be read: %v", err)
		}
		err = visit(zf.Name, entryFile, archiveReader{rc, zf.Name})
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// unsupportedType names the kind of a zip entry's mode that a package
// may not hold, or is "" for files and directories.
func unsupportedType(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeDevice != 0, m&fs.ModeCharDevice != 0:
		return "device file"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (fifo)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeIrregular != 0:
		return "irregular file"
	}
	return ""
}

func walkTar(r io.Reader, visit visitFunc) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) { // paths are judged by the visitor
			return asPackageError("", err, "not a valid tar archive")
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			if err := visit(h.Name, entryFile, archiveReader{tr, h.Name}); err != nil {
				return err
			}
		case tar.TypeDir:
			if err := visit(h.Name, entryDir, nil); err != nil {
				return err
			}
		case tar.TypeSymlink:
			return bad(h.Name, "is a symbolic link (to %q): a package may hold only regular files and directories", h.Linkname)
		case tar.TypeLink:
			return bad(h.Name, "is a hard link (to %q): a package may hold only regular files and directories", h.Linkname)
		case tar.TypeChar, tar.TypeBlock:
			return bad(h.Name, "is a device file: a package may hold only regular files and directories")
		case tar.TypeFifo:
			return bad(h.Name, "is a named pipe (fifo): a package may hold only regular files and directories")
		default:
			return bad(h.Name, "is a tar entry of type %q: a package may hold only regular files and directories", h.Typeflag)
		}
	}
}

// archiveReader marks every read error of an entry (a corrupt or
// truncated archive, a checksum mismatch) as the package's fault, so that
// it is told apart from a failure to store what was read.
type archiveReader struct {
	r    io.Reader
	name string
}

func (a archiveReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = asPackageError(a.name, err, "cannot be read (corrupt or truncated archive)")
	}
	return n, err
}

// asPackageError keeps a *BadPackageError as it is and turns any other
// error into one.
func asPackageError(path string, err error, what string) error {
	var be *BadPackageError
	if errors.As(err, &be) {
		return be
	}
	return bad(path, "%s: %v", what, err)
}

// cleanPath normalises an entry's name to a slash-separated relative path
// without empty or "." components, and reports whether it names a
// directory (a trailing slash). Names that could point outside the
// package, or that no file system would store as given, are refused.
func cleanPath(raw string) (string, bool, error) {
	switch {
	case !utf8.ValidString(raw):
		return "", false, bad(fmt.Sprintf("%q", raw), "the name is not valid UTF-8")
	case strings.IndexFunc(raw, unicode.IsControl) >= 0:
		return "", false, bad(fmt.Sprintf("%q", raw), "the name holds a control character")
	case strings.Contains(raw, `\`):
		return "", false, bad(raw, `the name holds a backslash: paths are separated by "/"`)
	case strings.HasPrefix(raw, "/"):
		return "", false, bad(raw, "absolute path: every path must be relative to the package")
	}
	isDir := strings.HasSuffix(raw, "/")
	var parts []string
	for i, c := range strings.Split(raw, "/") {
		switch {
		case c == "" || c == ".":
			continue
		case c == "..":
			return "", false, bad(raw, `the path holds "..": every path must stay inside the package`)
		case i == 0 && len(c) == 2 && c[1] == ':':
			return "", false, bad(raw, "absolute path (a drive letter): every path must be relative to the package")
		}
		parts = append(parts, c)
	}
	return strings.Join(parts, "/"), isDir, nil
}

// budget caps the bytes all entries of an archive expand to, counted as
// they are read: no size an archive declares is believed.
type budget struct {
	left   int64
	reason string // why the cap is what it is, for the error
}

// newBudget allows maxBytes in all, and no more than maxRatio times the
// archive's own size once past floor: small packages of very repetitive
// data (answers of "0\n" lines) compress far better than real ones, but
// stay small.
func newBudget(maxBytes int64, maxRatio float64, floor, archiveSize int64) *budget {
	byRatio := int64(maxRatio * float64(archiveSize))
	if byRatio < floor {
		byRatio = floor
	}
	if maxRatio <= 0 || byRatio >= maxBytes {
		return &budget{left: maxBytes, reason: fmt.Sprintf("the archive expands to more than %s, the limit (max_bytes_mib)", sizeString(maxBytes))}
	}
	return &budget{left: byRatio, reason: fmt.Sprintf("the archive expands to more than %g times its own size (max_ratio): an archive bomb", maxRatio)}
}

// sizeString writes n bytes in MiB when it is whole MiB.
func sizeString(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// reader counts what r yields against the budget.
func (b *budget) reader(r io.Reader) io.Reader { return &budgetReader{r: r, b: b} }

type budgetReader struct {
	r io.Reader
	b *budget
}

func (br *budgetReader) Read(p []byte) (int, error) {
	if br.b.left < 0 {
		return 0, bad("", "%s", br.b.reason)
	}
	// Never ask for more than one byte past the budget, so that an
	// overrun is seen without decompressing further.
	if int64(len(p)) > br.b.left+1 {
		p = p[:br.b.left+1]
	}
	n, err := br.r.Read(p)
	br.b.left -= int64(n)
	if br.b.left < 0 {
		return n, bad("", "%s", br.b.reason)
	}
	return n, err
}
