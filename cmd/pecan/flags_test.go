package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	log "github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/pecan-judge/pecan/config"
)

const minimalConfig = "[languages.c]\nsource = \"main.c\"\nrun = [\"./main\"]\n"

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pecan.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadWith(t *testing.T, configText string, args ...string) (config.Config, error) {
	t.Helper()
	f := newServerFlags("serve")
	if err := f.parse(append([]string{"--config", writeConfig(t, configText)}, args...)); err != nil {
		return config.Config{}, err
	}
	return f.load()
}

// Tokens come from [auth], PECAN_AUTH_TOKENS or --auth-tokens, each over
// the one before, like every other setting.
func TestAuthTokensFromFileEnvAndFlag(t *testing.T) {
	const fileTok, envTok, envTok2, flagTok, adminTok = "file-token-0123456789", "env-token-0123456789", "env-token-abcdefghij", "flag-token-0123456789", "admin-token-0123456789"
	withFile := "[auth]\ntokens = [\"" + fileTok + "\"]\n" + minimalConfig

	cfg, err := loadWith(t, withFile)
	if err != nil || len(cfg.Auth.Tokens) != 1 || cfg.Auth.Tokens[0] != fileTok {
		t.Fatalf("from the file: %v %v", cfg.Auth, err)
	}

	t.Setenv("PECAN_AUTH_TOKENS", " "+envTok+", "+envTok2+" ")
	t.Setenv("PECAN_AUTH_ADMIN_TOKENS", adminTok)
	cfg, err = loadWith(t, withFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Auth.Tokens, " "); got != envTok+" "+envTok2 {
		t.Errorf("PECAN_AUTH_TOKENS: tokens %q, want the two from the variable, trimmed", got)
	}
	if len(cfg.Auth.AdminTokens) != 1 || cfg.Auth.AdminTokens[0] != adminTok {
		t.Errorf("PECAN_AUTH_ADMIN_TOKENS: admin tokens %q", cfg.Auth.AdminTokens)
	}

	cfg, err = loadWith(t, withFile, "--auth-tokens", flagTok)
	if err != nil || len(cfg.Auth.Tokens) != 1 || cfg.Auth.Tokens[0] != flagTok {
		t.Errorf("--auth-tokens over the variable: %q %v", cfg.Auth.Tokens, err)
	}

	// Tokens from the environment are validated like the file's.
	t.Setenv("PECAN_AUTH_TOKENS", "short")
	if _, err = loadWith(t, minimalConfig); err == nil || !strings.Contains(err.Error(), "at least 16") || strings.Contains(err.Error(), "short") {
		t.Errorf("a short token from the environment: %v", err)
	}
}

// An empty variable must not turn authentication off.
func TestEmptyAuthTokensIsAnError(t *testing.T) {
	for _, v := range []string{"", " , "} {
		t.Setenv("PECAN_AUTH_TOKENS", v)
		_, err := loadWith(t, "[auth]\ntokens = [\"file-token-0123456789\"]\n"+minimalConfig)
		if err == nil || !strings.Contains(err.Error(), "PECAN_AUTH_TOKENS") {
			t.Errorf("PECAN_AUTH_TOKENS=%q: %v, want an error naming it", v, err)
		}
	}
}

// A variable pflag cannot parse is reported without its value.
func TestAuthTokensParseErrorHidesValue(t *testing.T) {
	const secret = `secret"token-0123456789`
	t.Setenv("PECAN_AUTH_TOKENS", secret)
	f := newServerFlags("serve")
	err := f.parse(nil)
	if err == nil || !strings.Contains(err.Error(), "PECAN_AUTH_TOKENS") {
		t.Fatalf("parse: %v, want an error naming PECAN_AUTH_TOKENS", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q shows the token", err)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for listen, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:80": true, "[::1]:8080": true, "localhost:8080": true,
		"[::ffff:127.0.0.1]:8080": true,
		"0.0.0.0:8080":            false, ":8080": false, "[::]:8080": false, "10.0.0.5:8080": false,
		"judge.example:8080": false, "garbage": false,
	} {
		if got := loopbackOnly(listen); got != want {
			t.Errorf("loopbackOnly(%q) = %v, want %v", listen, got, want)
		}
	}
}

func TestLogAuthWarnsWhenExposed(t *testing.T) {
	for _, c := range []struct {
		listen, judge0 string
		tokens         []string
		warn           bool
	}{
		{"0.0.0.0:8080", "", nil, true},
		{":8080", "", nil, true},
		{"127.0.0.1:8080", "", nil, false},
		{"0.0.0.0:8080", "", []string{"token-0123456789abcdef"}, false},
		// The Judge0 API's own listener counts too.
		{"127.0.0.1:8080", "0.0.0.0:2358", nil, true},
		{"127.0.0.1:8080", "127.0.0.1:2358", nil, false},
	} {
		logger, hook := logtest.NewNullLogger()
		cfg := config.Default()
		cfg.Listen, cfg.Judge0.Listen, cfg.Auth.Tokens = c.listen, c.judge0, c.tokens
		logAuth(logger, cfg)
		warned := false
		for _, e := range hook.AllEntries() {
			if e.Level == log.WarnLevel && strings.Contains(e.Message, "without API tokens") {
				warned = true
			}
			if s, _ := e.String(); len(c.tokens) > 0 && strings.Contains(s, c.tokens[0]) {
				t.Errorf("a token was logged: %s", s)
			}
		}
		if warned != c.warn {
			t.Errorf("listen %s, judge0 %q, %d tokens: warned %v, want %v", c.listen, c.judge0, len(c.tokens), warned, c.warn)
		}
	}
}
