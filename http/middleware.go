package http

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/sirupsen/logrus"
)

// requestLogger logs every request at debug level. It resolves a chain
// error through the error handler itself, as fiber's own logger does, so
// the logged status is the one the client gets rather than a stale 200.
func (s *server) requestLogger(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	fields := logrus.Fields{
		"method":  c.Method(),
		"path":    c.Path(),
		"status":  c.Response().StatusCode(),
		"latency": time.Since(start).Round(time.Microsecond).String(),
		"ip":      c.IP(),
		"bytes":   len(c.Response().Body()),
	}
	if id, ok := c.Locals(localRequestID).(string); ok {
		fields["request_id"] = id
	}
	s.log.WithFields(fields).Debug("http request")
	return nil
}

// recoverer turns a panic anywhere below it into a 500 error so the client
// gets a JSON answer instead of a dropped connection. It is ours rather than
// fiber's recover middleware so that the panic value never reaches the
// client (it may hold internals) and the stack goes to logrus.
func (s *server) recoverer(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.WithFields(logrus.Fields{
				"method": c.Method(),
				"path":   c.Path(),
				"panic":  fmt.Sprint(r),
				"stack":  string(debug.Stack()),
			}).Error("panic in HTTP handler")
			err = errInternal
		}
	}()
	return c.Next()
}
