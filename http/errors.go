package http

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// retryAfterSeconds is the Retry-After sent with 503: queued jobs take
// seconds, so a client retrying sooner would only find the queue full again.
const retryAfterSeconds = "1"

// errInternal is what a client sees of a fault we do not explain to it.
var errInternal = fiber.NewError(fiber.StatusInternalServerError, "internal server error")

// errorBody is the body of every error answer (DESIGN §3).
type errorBody struct {
	Error string `json:"error"`
}

// badRequest is a 400 with msg.
func badRequest(msg string) error { return fiber.NewError(fiber.StatusBadRequest, msg) }

// errorHandler writes every error as {"error": "..."} with an honest code.
// Fiber's own errors (404, 405, 413 from the body limit) arrive here too.
// An error that is not a *fiber.Error is an internal fault: it is logged
// and the client gets a generic 500, never the internal message.
func (s *server) errorHandler(c *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	msg := errInternal.Message
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code, msg = fe.Code, fe.Message
		switch {
		case code == fiber.StatusNotFound && strings.HasPrefix(msg, "Cannot "):
			// fiber's text for an unknown route is HTML-escaped, which
			// reads badly in JSON. A handler's own 404 (an unknown id)
			// says what it means already.
			msg = fmt.Sprintf("no such endpoint: %s %s", c.Method(), c.Path())
		case code == fiber.StatusMethodNotAllowed:
			msg = fmt.Sprintf("method %s not allowed on %s", c.Method(), c.Path())
		case fe == fiber.ErrRequestEntityTooLarge:
			msg = fmt.Sprintf("request body too large (limit %d bytes)", s.opts.BodyLimit)
		}
	} else {
		s.log.WithError(err).WithField("path", c.Path()).Error("internal error in HTTP handler")
	}
	return c.Status(code).JSON(errorBody{Error: msg})
}
