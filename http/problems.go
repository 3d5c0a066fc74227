package http

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/pecan-judge/pecan/blob"
	"github.com/pecan-judge/pecan/problems"
)

// Problems is the problem store behind /v1/problems (problems.Store).
type Problems interface {
	// Add reads a package archive; created is false when the same
	// problem was stored already. A refused package is a
	// *problems.BadPackageError; an error of r comes back wrapped.
	Add(r io.Reader, contentType string) (p *problems.Problem, created bool, err error)
	// Get and Delete return problems.ErrNotFound for an unknown id.
	Get(id string) (*problems.Problem, error)
	List() []*problems.Problem
	Delete(id string) error
}

// Defaults for Options' upload settings.
const (
	defaultMaxUpload     = 256 << 20
	defaultUploadTimeout = 5 * time.Minute
)

// errUploadTooLarge marks an upload over MaxUploadBytes.
var errUploadTooLarge = errors.New("problem package too large")

// problemSummary is what POST /v1/problems and GET /v1/problems answer
// for a problem. Limits the package does not set are null: the
// submission's or the server's apply.
type problemSummary struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Tests      int    `json:"tests"`
	Groups     int    `json:"groups"`
	Validation string `json:"validation"`
	// TimeLimit is in seconds, MemoryLimit in KiB (as judge requests').
	TimeLimit   *float64 `json:"time_limit"`
	MemoryLimit *int64   `json:"memory_limit"`
}

// problemDetail is GET /v1/problems/{id}: the summary, the other limits,
// the tests, the groups and the validator.
type problemDetail struct {
	problemSummary
	FormatVersion    string            `json:"format_version"`
	Added            time.Time         `json:"added"`
	ValidatorFlags   []string          `json:"validator_flags"`
	TimeMultiplier   *float64          `json:"time_multiplier"`
	OutputLimit      int64             `json:"output_limit"` // KiB
	CompilationTime  *float64          `json:"compilation_time"`
	ValidationTime   *float64          `json:"validation_time"`
	ValidationMemory *int64            `json:"validation_memory"` // KiB
	TestCases        []testSummary     `json:"test_cases"`
	TestGroups       []groupSummary    `json:"test_groups"`
	RootSettings     map[string]any    `json:"root_settings"`
	Validator        *validatorSummary `json:"validator"`
}

type testSummary struct {
	Name       string      `json:"name"`
	Group      string      `json:"group"`
	Sample     bool        `json:"sample"`
	InputSize  int64       `json:"input_size"`
	AnswerSize int64       `json:"answer_size"`
	Input      blob.Digest `json:"input"`
	Answer     blob.Digest `json:"answer"`
}

type groupSummary struct {
	Name     string         `json:"name"`
	Settings map[string]any `json:"settings"`
}

type validatorSummary struct {
	Name     string          `json:"name"`
	Language string          `json:"language"`
	Protocol string          `json:"protocol"`
	Files    []problems.File `json:"files"`
}

func positiveOrNil[T int64 | float64](x T) *T {
	if x <= 0 {
		return nil
	}
	return &x
}

func summarize(p *problems.Problem) problemSummary {
	s := problemSummary{
		ID: p.ID, Name: p.Name, Type: p.Type, Tests: len(p.Tests), Groups: len(p.Groups), Validation: p.Validation,
		TimeLimit: positiveOrNil(p.TimeLimit), MemoryLimit: positiveOrNil(p.MemoryMiB * 1024),
	}
	return s
}

func detail(p *problems.Problem) problemDetail {
	d := problemDetail{
		problemSummary: summarize(p), FormatVersion: p.FormatVersion, Added: p.Added,
		ValidatorFlags: p.ValidatorFlags, TimeMultiplier: positiveOrNil(p.TimeMultiplier), OutputLimit: p.OutputMiB * 1024,
		CompilationTime: positiveOrNil(p.CompilationTimeSec), ValidationTime: positiveOrNil(p.ValidationTimeSec),
		ValidationMemory: positiveOrNil(p.ValidationMemoryMiB * 1024), RootSettings: p.RootSettings,
		TestCases: make([]testSummary, len(p.Tests)), TestGroups: make([]groupSummary, len(p.Groups)),
	}
	if d.ValidatorFlags == nil {
		d.ValidatorFlags = []string{}
	}
	for i, t := range p.Tests {
		d.TestCases[i] = testSummary{Name: t.Name, Group: t.Group, Sample: t.Sample, InputSize: t.InputSize, AnswerSize: t.AnswerSize, Input: t.Input, Answer: t.Answer}
	}
	for i, g := range p.Groups {
		d.TestGroups[i] = groupSummary{Name: g.Name, Settings: g.Settings}
	}
	if v := p.Validator; v != nil {
		d.Validator = &validatorSummary{Name: v.Name, Language: v.Language, Protocol: v.Protocol, Files: v.Files}
	}
	return d
}

func (s *server) problemStore() (Problems, error) {
	if s.opts.Problems == nil {
		return nil, fiber.NewError(fiber.StatusServiceUnavailable, "the problem store is not configured on this server")
	}
	return s.opts.Problems, nil
}

// addProblem is POST /v1/problems. It is routed before readBody: the
// archive streams into the store (which spools it to disk) under its own
// limit, never into memory.
func (s *server) addProblem(c *fiber.Ctx) error {
	store, err := s.problemStore()
	if err != nil {
		return err
	}
	req := c.Request()
	if enc := strings.TrimSpace(string(req.Header.ContentEncoding())); enc != "" && !strings.EqualFold(enc, "identity") {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %q is not supported: send the archive as it is (a tar.gz is application/gzip)", enc))
	}
	ct := string(req.Header.ContentType())
	if !problems.AcceptsContentType(ct) {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q is not a problem package archive: send application/zip, application/x-tar or application/gzip", ct))
	}
	if cl := req.Header.ContentLength(); cl > 0 && int64(cl) > s.opts.MaxUploadBytes {
		c.Context().SetConnectionClose()
		return s.uploadTooLarge()
	}
	// A package may take a while to send: longer than the read timeout
	// that bounds every other request.
	if conn := c.Context().Conn(); conn != nil {
		_ = conn.SetReadDeadline(time.Now().Add(s.opts.UploadTimeout))
	}
	var body io.Reader = bytes.NewReader(req.Body())
	if req.IsBodyStream() {
		body = req.BodyStream()
	}
	p, created, err := store.Add(&uploadReader{r: body, left: s.opts.MaxUploadBytes}, ct)
	if err != nil {
		return s.addProblemError(c, err)
	}
	status := fiber.StatusOK
	if created {
		status = fiber.StatusCreated
		s.log.WithField("problem", p.ID).WithField("name", p.Name).WithField("tests", len(p.Tests)).Info("problem added")
	}
	return c.Status(status).JSON(summarize(p))
}

func (s *server) uploadTooLarge() error {
	limit := fmt.Sprintf("%d bytes", s.opts.MaxUploadBytes)
	if s.opts.MaxUploadBytes%(1<<20) == 0 {
		limit = fmt.Sprintf("%d MiB", s.opts.MaxUploadBytes>>20)
	}
	return fiber.NewError(fiber.StatusRequestEntityTooLarge,
		fmt.Sprintf("problem package too large (limit %s, [problems] max_upload_mib)", limit))
}

func (s *server) addProblemError(c *fiber.Ctx, err error) error {
	var be *problems.BadPackageError
	var re *uploadReadError
	switch {
	case errors.Is(err, errUploadTooLarge):
		c.Context().SetConnectionClose()
		return s.uploadTooLarge()
	case errors.As(err, &be):
		return badRequest(be.Error())
	case errors.As(err, &re):
		c.Context().SetConnectionClose()
		return badRequest("incomplete or malformed request body")
	}
	return err
}

// uploadReader is an upload's body: at most left more bytes, and its
// read errors marked as the client's.
type uploadReader struct {
	r    io.Reader
	left int64
}

type uploadReadError struct{ err error }

func (e *uploadReadError) Error() string { return "read upload: " + e.err.Error() }
func (e *uploadReadError) Unwrap() error { return e.err }

func (u *uploadReader) Read(p []byte) (int, error) {
	if int64(len(p)) > u.left+1 {
		p = p[:u.left+1]
	}
	n, err := u.r.Read(p)
	u.left -= int64(n)
	if u.left < 0 {
		return n, errUploadTooLarge
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = &uploadReadError{err}
	}
	return n, err
}

func (s *server) listProblems(c *fiber.Ctx) error {
	store, err := s.problemStore()
	if err != nil {
		return err
	}
	list := store.List()
	out := make([]problemSummary, len(list))
	for i, p := range list {
		out[i] = summarize(p)
	}
	return c.JSON(out)
}

// problemID reads the {id} of a path: "sha256:<hex>", its colon possibly
// percent-encoded.
func problemID(c *fiber.Ctx) (string, error) {
	raw := c.Params("id")
	id, err := url.PathUnescape(raw)
	if err == nil {
		_, err = blob.ParseDigest(id)
	}
	if err != nil {
		return "", badRequest(fmt.Sprintf("%q is not a problem id: want sha256: followed by 64 lowercase hex digits", raw))
	}
	return id, nil
}

func (s *server) getProblem(c *fiber.Ctx) error {
	store, err := s.problemStore()
	if err != nil {
		return err
	}
	id, err := problemID(c)
	if err != nil {
		return err
	}
	p, err := store.Get(id)
	if err != nil {
		return problemLookupError(id, err)
	}
	return c.JSON(detail(p))
}

func (s *server) deleteProblem(c *fiber.Ctx) error {
	store, err := s.problemStore()
	if err != nil {
		return err
	}
	id, err := problemID(c)
	if err != nil {
		return err
	}
	if err := store.Delete(id); err != nil {
		return problemLookupError(id, err)
	}
	s.log.WithField("problem", id).Info("problem deleted")
	return c.SendStatus(fiber.StatusNoContent)
}

func problemLookupError(id string, err error) error {
	if errors.Is(err, problems.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("no problem %s", id))
	}
	return err
}
