package compat

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// do sends one request with headers and returns the status and body.
func do(t *testing.T, method, url, contentType, body string, headers map[string]string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, b
}

func post(t *testing.T, url, contentType, body string, headers map[string]string) (int, []byte) {
	t.Helper()
	return do(t, http.MethodPost, url, contentType, body, headers)
}

func get(t *testing.T, url string, headers map[string]string) (int, []byte) {
	t.Helper()
	return do(t, http.MethodGet, url, "", "", headers)
}
