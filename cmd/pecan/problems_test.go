package main

import (
	"io"
	"reflect"
	"strings"
	"testing"

	log "github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/config"
)

func TestProblemStoreFlagAndDefault(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = "/srv/pecan"
	if d := problemStoreDir(cfg); d != "/srv/pecan" {
		t.Errorf("default store dir %s", d)
	}
	cfg = serveConfigWithEnv(t, "PECAN_PROBLEM_STORE", "/elsewhere/problems")
	if d := problemStoreDir(cfg); d != "/elsewhere/problems" {
		t.Errorf("PECAN_PROBLEM_STORE ignored: store dir %s", d)
	}
}

func TestValidatorLanguagesOfTheShippedConfig(t *testing.T) {
	cfg, err := config.Load("../../pecan.toml")
	if err != nil {
		t.Fatal(err)
	}
	langs := validatorLanguages(cfg.Languages)
	for id, want := range map[string][]string{
		"c": {".c"}, "cpp": {".cpp", ".c++", ".cc", ".cxx"}, "python": {".py"}, "java": {".java"},
		"kotlin": {".kt"}, "go": {".go"}, "rust": {".rs"}, "node": {".js"}, "typescript": {".ts"},
	} {
		if !reflect.DeepEqual(langs[id], want) {
			t.Errorf("%s: %q, want %q", id, langs[id], want)
		}
	}
}

func TestOpenProblemsLocksTheStore(t *testing.T) {
	cfg := config.Default()
	cfg.Problems.StoreDir = t.TempDir()
	logger := log.New()
	logger.SetOutput(io.Discard)
	s, err := openProblems(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openProblems(cfg, logger); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a second server on the same store: %v", err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	s, err = openProblems(cfg, logger)
	if err != nil {
		t.Fatalf("reopening after close: %v", err)
	}
	s.close()
}
