package testserver

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
)

// Package is a problem package's files by path (problem.yaml,
// data/secret/1.in, ...), to be packed by Zip, Tar or TarGz.
type Package map[string]string

func (p Package) names() []string {
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Zip packs p as a zip archive, in path order, under prefix ("" or
// "dir/").
func (p Package) Zip(prefix string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range p.names() {
		w, err := zw.Create(prefix + name)
		if err != nil {
			return nil, fmt.Errorf("zip %s: %w", name, err)
		}
		if _, err := io.WriteString(w, p[name]); err != nil {
			return nil, fmt.Errorf("zip %s: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("zip: %w", err)
	}
	return buf.Bytes(), nil
}

// Tar packs p as a tar archive of regular files, in path order, under
// prefix.
func (p Package) Tar(prefix string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range p.names() {
		h := &tar.Header{Name: prefix + name, Mode: 0o644, Size: int64(len(p[name])), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", name, err)
		}
		if _, err := io.WriteString(tw, p[name]); err != nil {
			return nil, fmt.Errorf("tar %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return buf.Bytes(), nil
}

// TarGz is Tar, gzipped.
func (p Package) TarGz(prefix string) ([]byte, error) {
	t, err := p.Tar(prefix)
	if err != nil {
		return nil, err
	}
	return Gzip(t)
}

// Gzip compresses b.
func Gzip(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}

// ProblemSummary is the answer of POST /v1/problems and an item of
// GET /v1/problems.
type ProblemSummary struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Tests       int      `json:"tests"`
	Groups      int      `json:"groups"`
	Validation  string   `json:"validation"`
	TimeLimit   *float64 `json:"time_limit"`
	MemoryLimit *int64   `json:"memory_limit"`
}

// UploadProblem posts archive to /v1/problems with contentType and
// returns the status and the body, decoded into summary when the status
// is 200 or 201.
func UploadProblem(c *http.Client, baseURL string, archive []byte, contentType string) (status int, summary ProblemSummary, body []byte, err error) {
	resp, err := c.Post(baseURL+"/v1/problems", contentType, bytes.NewReader(archive))
	if err != nil {
		return 0, summary, nil, fmt.Errorf("POST /v1/problems: %w", err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, summary, nil, fmt.Errorf("POST /v1/problems: read answer: %w", err)
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(body, &summary); err != nil {
			return resp.StatusCode, summary, body, fmt.Errorf("POST /v1/problems: answer %s: %w", body, err)
		}
	}
	return resp.StatusCode, summary, body, nil
}
