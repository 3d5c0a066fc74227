package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"

	log "github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/blob"
	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/problems"
)

// problemStores are the blob store, the problem store over it and the
// compile cache.
type problemStores struct {
	blobs     *blob.Store
	problems  *problems.Store
	artifacts *blob.Cache
}

// problemStoreDir is where both live: [problems] store_dir, else the data
// dir.
func problemStoreDir(cfg config.Config) string {
	if cfg.Problems.StoreDir != "" {
		return cfg.Problems.StoreDir
	}
	return cfg.DataDir
}

// openProblems opens <store>/blobs, <store>/problems and the compile
// cache <store>/artifacts. The blob stores are locked: a second server on
// the same directory fails here, at once.
func openProblems(cfg config.Config, logger log.FieldLogger) (*problemStores, error) {
	dir := problemStoreDir(cfg)
	blobs, err := blob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		return nil, err
	}
	p := cfg.Problems
	maxRatio := p.MaxRatio
	if maxRatio == 0 {
		maxRatio = -1 // 0 in pecan.toml turns the check off
	}
	store, err := problems.OpenStore(filepath.Join(dir, "problems"), blobs, problems.Options{
		Languages: validatorLanguages(cfg.Languages),
		MaxFiles:  p.MaxFiles,
		MaxBytes:  p.MaxBytesMiB << 20,
		MaxRatio:  maxRatio,
	})
	if err != nil {
		return nil, errors.Join(err, blobs.Close())
	}
	artifacts, err := blob.OpenCache(filepath.Join(dir, "artifacts"), cfg.Submissions.ArtifactCacheMiB<<20)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("compile cache: %w", err), blobs.Close())
	}
	logger.WithFields(log.Fields{"dir": dir, "problems": len(store.List()), "artifact_bytes": artifacts.Bytes()}).Info("problem store opened")
	return &problemStores{blobs: blobs, problems: store, artifacts: artifacts}, nil
}

func (s *problemStores) close() error { return errors.Join(s.artifacts.Close(), s.blobs.Close()) }

// Problem and Open make the stores the pool's actors.Problems.
func (s *problemStores) Problem(id string) (*problems.Problem, error) { return s.problems.Get(id) }

func (s *problemStores) Open(d blob.Digest) (io.ReadCloser, error) { return s.blobs.Open(d) }

// moreExtensions are the other extensions of a source file's language, by
// the extension of its configured source file: the Kattis format's
// language table names several for C++.
var moreExtensions = map[string][]string{
	".cpp": {".cc", ".cxx", ".c++"},
}

// validatorLanguages maps each configured language to the extensions of
// its sources, from its source file's name: what a package's validator
// may be written in.
func validatorLanguages(langs map[string]config.Language) map[string][]string {
	out := map[string][]string{}
	for id, l := range langs {
		ext := filepath.Ext(l.Source)
		if ext == "" {
			continue
		}
		exts := append([]string{ext}, moreExtensions[ext]...)
		sort.Strings(exts[1:])
		out[id] = exts
	}
	return out
}
