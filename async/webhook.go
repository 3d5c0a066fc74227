package async

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Headers of a webhook request.
const (
	HeaderSignature = "X-Pecan-Signature"
	HeaderRequestID = "X-Pecan-Request-Id"
	HeaderAttempt   = "X-Pecan-Delivery-Attempt"
)

// WebhookOptions configure delivery.
type WebhookOptions struct {
	// Secret is the HMAC-SHA256 key; empty sends no signature.
	Secret string
	// Timeout bounds one attempt: connect, send, and the answer's headers.
	Timeout time.Duration
	// RetryFor is how long after the job finished delivery is retried.
	RetryFor time.Duration
	// BackoffInitial and BackoffMax bound the wait before a retry.
	BackoffInitial, BackoffMax time.Duration
	// AllowPrivate lets webhooks reach internal addresses (SSRF guard off).
	AllowPrivate bool
}

// payload is the body of a webhook: res is exactly the judge-single answer.
type payload struct {
	RequestID string          `json:"request_id"`
	Res       json.RawMessage `json:"res"`
}

// Sign is the X-Pecan-Signature value of body under secret:
// "sha256=" and the hex HMAC-SHA256 of the exact body bytes.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// backoff is the wait before retry number attempt (1 after the first
// failure): full jitter, uniform in [0, min(max, initial·2^(attempt-1))],
// so a burst of failed deliveries does not come back as a burst.
func backoff(attempt int, initial, max time.Duration, int64n func(int64) int64) time.Duration {
	ceil := initial
	for i := 1; i < attempt && ceil < max; i++ {
		ceil *= 2
	}
	ceil = min(ceil, max)
	if ceil <= 0 {
		return 0
	}
	return time.Duration(int64n(int64(ceil) + 1))
}

// hookClient sends webhook requests.
type hookClient struct {
	opts   WebhookOptions
	client *http.Client
}

func newHookClient(opts WebhookOptions, conns int) *hookClient {
	dialer := &net.Dialer{
		Timeout: opts.Timeout,
		Control: dialGuard(opts.AllowPrivate, interfaceAddrs),
	}
	tr := &http.Transport{
		// No proxy: the guard must see the real target, and an
		// environment proxy would be a way around it.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       30 * time.Second,
	}
	return &hookClient{opts: opts, client: &http.Client{
		Transport: tr,
		// A redirect is not a delivery: the receiver answers 2xx itself.
		// Not following also keeps redirects from steering the request.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// post makes one delivery attempt; nil means the receiver answered 2xx.
func (h *hookClient) post(ctx context.Context, url, id string, attempt int, body []byte) error {
	return h.send(ctx, http.MethodPost, url, id, attempt, body)
}

// send is post with another method; empty is POST.
func (h *hookClient) send(ctx context.Context, method, url, id string, attempt int, body []byte) error {
	if method == "" {
		method = http.MethodPost
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pecan-webhook")
	req.Header.Set(HeaderRequestID, id)
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	if h.opts.Secret != "" {
		req.Header.Set(HeaderSignature, Sign(h.opts.Secret, body))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused; a receiver's body is
	// not needed beyond that.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered HTTP %d", resp.StatusCode)
	}
	return nil
}

func (h *hookClient) close() { h.client.CloseIdleConnections() }
