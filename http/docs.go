package http

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/pecan-judge/pecan/http/openapi"
	"github.com/pecan-judge/pecan/http/playground"
)

// playgroundPrefix is where the playground's scripts and styles are
// served; the page itself is at /.
const playgroundPrefix = "/playground/"

// isPlaygroundFile reports whether a request is for the playground's page
// or one of its static files. They hold no data, and a browser loads them
// without a token, so they are open like /v1/health; the page sends the
// token the user gives it with every API call.
func isPlaygroundFile(c *fiber.Ctx) bool {
	if m := c.Method(); m != fiber.MethodGet && m != fiber.MethodHead {
		return false
	}
	p := c.Path()
	return p == "/" || (strings.HasPrefix(p, playgroundPrefix) && !strings.Contains(p[len(playgroundPrefix):], "/"))
}

// openAPIDocument is GET /v1/openapi.json.
func (s *server) openAPIDocument(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(openapi.Document())
}

// playgroundPage is GET /.
func (s *server) playgroundPage(c *fiber.Ctx) error {
	if !playground.Built() {
		c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
		return c.Status(fiber.StatusServiceUnavailable).SendString(
			"The playground was not built into this binary: its script is bundled by `make playground` " +
				"(part of `make build`). The API is served as usual; its description is at /v1/openapi.json.\n")
	}
	return s.sendAsset(c, "index.html")
}

// playgroundAsset is GET /playground/{asset}.
func (s *server) playgroundAsset(c *fiber.Ctx) error {
	name := c.Params("asset")
	if name == "index.html" || path.Ext(name) == "" {
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("no playground file %q", truncate(name, 80)))
	}
	return s.sendAsset(c, name)
}

// assetTypes are the media types of the playground's files.
var assetTypes = map[string]string{
	".html": fiber.MIMETextHTMLCharsetUTF8,
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

func (s *server) sendAsset(c *fiber.Ctx, name string) error {
	ct, known := assetTypes[path.Ext(name)]
	b, err := fs.ReadFile(playground.Assets(), name)
	if !known || err != nil {
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("no playground file %q", truncate(name, 80)))
	}
	c.Set(fiber.HeaderContentType, ct)
	// The files change with the binary: a browser revalidates each time.
	c.Set(fiber.HeaderCacheControl, "no-cache")
	return c.Send(b)
}
