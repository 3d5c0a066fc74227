package languages

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	log "github.com/sirupsen/logrus"
)

// Prepare probes every language's toolchain on the host and runs its Setup
// command. A language whose toolchain is missing is marked unavailable
// rather than failing the server: the others still work.
func (r *Registry) Prepare(ctx context.Context, logger log.FieldLogger) {
	for _, l := range r.All() {
		l.prepare(ctx, logger.WithField("language", l.ID))
	}
}

func (l *Language) prepare(ctx context.Context, logger log.FieldLogger) {
	if missing := l.MissingToolchain(); missing != "" {
		l.Problem = fmt.Sprintf("toolchain not found: %s", missing)
		logger.WithField("path", missing).Warn("language unavailable: toolchain not found")
		return
	}
	if len(l.Version) > 0 {
		v, err := l.ProbeVersion(ctx)
		if err != nil {
			l.Problem = fmt.Sprintf("version probe failed: %v", err)
			logger.WithError(err).Warn("language unavailable: version probe failed")
			return
		}
		l.ToolVersion = v
	}
	if len(l.Setup) > 0 {
		if err := os.MkdirAll(l.StateDir, 0o755); err != nil {
			l.Problem = fmt.Sprintf("setup: %v", err)
			return
		}
		start := time.Now()
		if _, err := hostRun(ctx, l, l.Setup, 15*time.Minute); err != nil {
			l.Problem = fmt.Sprintf("setup failed: %v", err)
			logger.WithError(err).Warn("language unavailable: setup failed")
			return
		}
		logger.WithField("took", time.Since(start).Round(time.Millisecond)).Info("language set up")
	}
	l.Available = true
}

// ProbeVersion runs the language's version command on the host and
// returns the toolchain's version line ("" when it has no such command).
func (l *Language) ProbeVersion(ctx context.Context) (string, error) {
	if len(l.Version) == 0 {
		return "", nil
	}
	out, err := hostRun(ctx, l, l.Version, time.Minute)
	if err != nil {
		return "", err
	}
	return versionLine(out), nil
}

// MissingToolchain names the first absolute compile or run program that
// does not exist on this host, or returns "" when all are there.
func (l *Language) MissingToolchain() string {
	for _, cmd := range [][]string{l.Compile, l.Run} {
		if len(cmd) > 0 && strings.HasPrefix(cmd[0], "/") {
			if _, err := os.Stat(cmd[0]); err != nil {
				return cmd[0]
			}
		}
	}
	return ""
}

// hostRun runs a trusted, operator-configured command on the host.
func hostRun(ctx context.Context, l *Language, args []string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args = l.Expand(args, Vars{MemoryMiB: 256})
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "PECAN_STATE="+l.StateDir)
	cmd.Env = append(cmd.Env, l.Env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(lastBytes(out, 2000)))
	}
	return string(out), nil
}

// versionLine is the first line of a version probe's output that is not a
// runtime's notice: the JVM prints warnings (and "Picked up ..." lines for
// JAVA_TOOL_OPTIONS) before kotlinc's own version line.
func versionLine(out string) string {
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "",
			strings.Contains(strings.ToLower(line), "warning:"),
			strings.HasPrefix(line, "Picked up "):
			continue
		}
		return line
	}
	return ""
}

func lastBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
