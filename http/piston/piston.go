// Package piston is the Piston v2 compatible API (DESIGN §11) under
// /api/v2 and /api/v2/piston: a thin transport that turns Piston's execute
// requests into the native API's calls (through pecanhttp.Engine) and the
// verdict into Piston's compile and run stages, so Piston's clients
// (piston-client, aiopyston) work against Pecan unchanged. Limits, budgets
// and verdicts stay the native API's.
package piston

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"

	pecanhttp "github.com/pecan-judge/pecan/http"
	"github.com/pecan-judge/pecan/languages"
)

// runtimeName is Piston's name of a Pecan language, the aliases Piston
// adds, and the package that provides it when one provides several.
type runtimeName struct {
	Name    string
	Aliases []string
	Runtime string
}

// runtimeNames are Piston's names of the nine shipped languages, by Pecan
// id. piston-client matches the name exactly, so it must be Piston's.
var runtimeNames = map[string]runtimeName{
	"c":          {"c", []string{"gcc"}, "gcc"},
	"cpp":        {"c++", []string{"cpp", "g++"}, "gcc"},
	"go":         {"go", []string{"go", "golang"}, ""},
	"java":       {"java", nil, ""},
	"kotlin":     {"kotlin", []string{"kt"}, ""},
	"node":       {"javascript", []string{"node-javascript", "node-js", "js"}, "node"},
	"python":     {"python", []string{"py", "py3", "python3"}, ""},
	"rust":       {"rust", []string{"rs"}, ""},
	"typescript": {"typescript", []string{"ts", "node-ts", "tsc"}, "node"},
}

// runtime is one entry of GET /runtimes.
type runtime struct {
	Language string   `json:"language"`
	Version  string   `json:"version"`
	Aliases  []string `json:"aliases"`
	Runtime  string   `json:"runtime,omitempty"`
	lang     *languages.Language
}

// runtimes are the available languages as Piston runtimes, by name.
func runtimes(reg *languages.Registry) []runtime {
	var out []runtime
	for _, l := range reg.All() {
		if !l.Available {
			continue
		}
		out = append(out, runtimeOf(l))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Language < out[j].Language })
	return out
}

func runtimeOf(l *languages.Language) runtime {
	n, ok := runtimeNames[l.ID]
	if !ok {
		n = runtimeName{Name: l.ID}
	}
	seen := map[string]bool{n.Name: true}
	aliases := []string{}
	for _, a := range append(append([]string{l.ID}, l.Aliases...), n.Aliases...) {
		a = strings.ToLower(a)
		if !seen[a] {
			seen[a] = true
			aliases = append(aliases, a)
		}
	}
	v := l.VersionNumber()
	if v == "" {
		v = "0.0.0"
	}
	return runtime{Language: n.Name, Version: v, Aliases: aliases, Runtime: n.Runtime, lang: l}
}

// findRuntime resolves a language name or alias and a version range; the
// highest matching version wins (each language has one here).
func findRuntime(reg *languages.Registry, name, rng string) (runtime, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	for _, r := range runtimes(reg) {
		if r.Language != name && !contains(r.Aliases, name) {
			continue
		}
		v, ok := parseVersion(r.Version)
		if ok && satisfies(v, rng) {
			return r, true
		}
	}
	return runtime{}, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Routes mounts the API at /api/v2 and /api/v2/piston.
func Routes() pecanhttp.Routes {
	return func(r fiber.Router, e *pecanhttp.Engine) {
		a := &api{e: e}
		for _, base := range []string{"/api/v2", "/api/v2/piston"} {
			g := r.Group(base)
			g.Get("/runtimes", a.runtimes)
			g.Post("/execute", a.execute)
		}
		r.All("/api/v2/*", func(c *fiber.Ctx) error {
			return message(c, fiber.StatusNotFound, "Not Found")
		})
	}
}

type api struct{ e *pecanhttp.Engine }

// message is Piston's error body.
func message(c *fiber.Ctx, code int, msg string) error {
	return c.Status(code).JSON(fiber.Map{"message": msg})
}

func (a *api) runtimes(c *fiber.Ctx) error { return c.JSON(runtimes(a.e.Languages())) }

// execute handles POST /execute. The body is JSON whatever its
// Content-Type: piston-client sends it as text/plain.
func (a *api) execute(c *fiber.Ctx) error {
	req, err := parseRequest(c.Body(), a.e.Languages(), a.e.Limits())
	if err != nil {
		return message(c, fiber.StatusBadRequest, err.Error())
	}
	exec, budget, err := a.e.Prepare(req.native())
	if err != nil {
		return message(c, fiber.StatusBadRequest, err.Error())
	}
	pecanhttp.SetRequestID(c, exec.RequestId)
	resp, err := a.e.Judge(c, exec, budget)
	if err != nil {
		var fe *fiber.Error
		if errors.As(err, &fe) {
			return message(c, fe.Code, fe.Message)
		}
		return message(c, fiber.StatusInternalServerError, "internal server error")
	}
	return c.JSON(answer(req.runtime, resp))
}

// errorf is a validation message.
func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// decodeJSON is json.Unmarshal with Piston's wording for a bad body.
func decodeJSON(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return errorf("request body must be a JSON object: %v", err)
	}
	return nil
}
