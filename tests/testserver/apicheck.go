package testserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/pecan-judge/pecan/http/openapi"
	"github.com/pecan-judge/pecan/http/openapi/check"
)

// maxAPIFailures bounds the failures an APICheck keeps to report.
const maxAPIFailures = 20

// APICheck is an http.RoundTripper for a suite's clients that checks
// every native API response they receive (paths under /v1/, and /metrics)
// against the OpenAPI document, and keeps what did not match. Suite runs
// it: RunMain fails the suite on a mismatch, or when nothing was checked.
// Other paths (the compatibility APIs) pass through unchecked.
type APICheck struct {
	next      http.RoundTripper
	validator *check.Validator
	err       error // from loading the document

	mu       sync.Mutex
	checked  int
	failures []string
	dropped  int
}

// NewAPICheck checks the responses of next (nil: http.DefaultTransport).
func NewAPICheck(next http.RoundTripper) *APICheck {
	if next == nil {
		next = http.DefaultTransport
	}
	v, err := check.New(openapi.Document())
	return &APICheck{next: next, validator: v, err: err}
}

// isNative reports whether path is one of the API's the document covers.
func isNative(path string) bool {
	return strings.HasPrefix(path, "/v1/") || path == "/metrics"
}

// RoundTrip sends req and checks the answer. It reads the whole body
// first and hands the caller a copy; a body that fails to read is handed
// on, failing where it did, and not checked.
func (a *APICheck) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(req)
	if err != nil || !isNative(req.URL.Path) {
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rerr != nil {
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{rerr}))
		return resp, nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	a.Record(req.Method, req.URL.EscapedPath(), resp.StatusCode, resp.Header.Get("Content-Type"), body)
	return resp, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// Record checks one response against the document. A request the
// document has no operation for (an unknown route, a wrong method, which
// tests send on purpose) must have been refused with the API's error
// body.
func (a *APICheck) Record(method, path string, status int, contentType string, body []byte) {
	if a.err != nil {
		return
	}
	err := a.validator.Check(method, path, status, contentType, body)
	if errors.Is(err, check.ErrUndocumented) {
		err = nil
		if status < 400 || status >= 500 {
			err = fmt.Errorf("%s %s answered %d: an undocumented operation must be refused", method, path, status)
		} else if method != http.MethodHead {
			if serr := a.validator.CheckSchema("Error", body); serr != nil {
				err = fmt.Errorf("%s %s answered %d without the error body: %w", method, path, status, serr)
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checked++
	if err == nil {
		return
	}
	if len(a.failures) < maxAPIFailures {
		a.failures = append(a.failures, err.Error())
	} else {
		a.dropped++
	}
}

// RecordWebhook checks the body of a webhook the server posted against
// the document's callback (components/schemas/WebhookPayload).
func (a *APICheck) RecordWebhook(body []byte) {
	if a.err != nil {
		return
	}
	err := a.validator.CheckSchema("WebhookPayload", body)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checked++
	if err != nil && len(a.failures) < maxAPIFailures {
		a.failures = append(a.failures, "webhook: "+err.Error())
	} else if err != nil {
		a.dropped++
	}
}

// Checked is how many responses were checked so far.
func (a *APICheck) Checked() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.checked
}

// Err reports the responses that did not match the document, or that
// none was checked (the check then proves nothing: its clients were not
// wired through it).
func (a *APICheck) Err() error {
	if a.err != nil {
		return fmt.Errorf("API check: %w", a.err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.checked == 0:
		return errors.New("API check: no native API response was checked")
	case len(a.failures) > 0:
		more := ""
		if a.dropped > 0 {
			more = fmt.Sprintf("\n(and %d more)", a.dropped)
		}
		return fmt.Errorf("API check: %d of %d responses do not match the OpenAPI document:\n%s%s",
			len(a.failures)+a.dropped, a.checked, strings.Join(a.failures, "\n"), more)
	}
	return nil
}
