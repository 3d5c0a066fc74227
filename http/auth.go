package http

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/pecan-judge/pecan/config"
)

// healthPath is the one endpoint open without a token, so that load
// balancers and orchestrators can probe a guarded server.
const healthPath = "/v1/health"

// authenticator checks API tokens (config.Auth). It keeps only SHA-256
// digests: comparing fixed-length digests in constant time reveals
// neither a token's bytes nor its length through timing.
type authenticator struct {
	user  [][sha256.Size]byte // Tokens and AdminTokens: accepted on ordinary endpoints
	admin [][sha256.Size]byte // AdminTokens only
}

func newAuthenticator(a config.Auth) *authenticator {
	au := &authenticator{}
	for _, t := range a.Tokens {
		au.user = append(au.user, sha256.Sum256([]byte(t)))
	}
	for _, t := range a.AdminTokens {
		d := sha256.Sum256([]byte(t))
		au.user = append(au.user, d)
		au.admin = append(au.admin, d)
	}
	return au
}

// presented is what a request offers as its token: the credentials of an
// "Authorization: Bearer" header and of X-Auth-Token, each possibly empty.
func presented(c *fiber.Ctx) [2]string {
	var bearer string
	if scheme, cred, ok := strings.Cut(strings.TrimSpace(c.Get(fiber.HeaderAuthorization)), " "); ok && strings.EqualFold(scheme, "Bearer") {
		bearer = strings.TrimSpace(cred)
	}
	return [2]string{bearer, strings.TrimSpace(c.Get("X-Auth-Token"))}
}

// matches reports whether any presented token is one of tokens. Every
// candidate is compared with every token, without stopping at a match, so
// the time taken says nothing about which token matched or how far.
func matches(candidates [2]string, tokens [][sha256.Size]byte) bool {
	found := 0
	for _, cand := range candidates {
		if cand == "" {
			continue
		}
		d := sha256.Sum256([]byte(cand))
		for i := range tokens {
			found |= subtle.ConstantTimeCompare(d[:], tokens[i][:])
		}
	}
	return found == 1
}

// requireToken guards every endpoint but health when tokens are
// configured. It runs before routing, so an endpoint added later is
// guarded without anyone remembering to. Only the exact health path is
// open: a spelling that fiber would also route there (another case, a
// trailing slash) just needs a token, which fails closed.
func (s *server) requireToken(c *fiber.Ctx) error {
	if len(s.auth.user) == 0 {
		return c.Next()
	}
	if c.Path() == healthPath && (c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead) {
		return c.Next()
	}
	if isPlaygroundFile(c) {
		return c.Next()
	}
	if err := s.checkToken(c, s.auth.user); err != nil {
		return err
	}
	return c.Next()
}

// requireAdmin guards the manager endpoints and /metrics with the admin
// tokens when there are any; otherwise requireToken has already applied
// the ordinary ones. A valid ordinary token here gets 403: the client is
// known but may not do this.
func (s *server) requireAdmin(c *fiber.Ctx) error {
	if len(s.auth.admin) == 0 {
		return c.Next()
	}
	cands := presented(c)
	if matches(cands, s.auth.admin) {
		return c.Next()
	}
	if matches(cands, s.auth.user) {
		return fiber.NewError(fiber.StatusForbidden, "this endpoint needs an admin token")
	}
	return s.checkToken(c, s.auth.admin)
}

// checkToken answers nil when the request presents one of tokens, else
// the 401 error, with the WWW-Authenticate challenge RFC 6750 asks for.
func (s *server) checkToken(c *fiber.Ctx, tokens [][sha256.Size]byte) error {
	cands := presented(c)
	if matches(cands, tokens) {
		return nil
	}
	if cands[0] == "" && cands[1] == "" {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="pecan"`)
		return fiber.NewError(fiber.StatusUnauthorized, "missing API token: send Authorization: Bearer <token> or X-Auth-Token: <token>")
	}
	// A wrong token is worth an operator's attention (a misconfigured
	// client or someone guessing); a missing one is mostly probes.
	s.log.WithField("ip", c.IP()).WithField("path", c.Path()).Warn("request with an invalid API token refused")
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="pecan", error="invalid_token"`)
	return fiber.NewError(fiber.StatusUnauthorized, "invalid API token")
}
