package http

import (
	"encoding/json"
	"fmt"

	"github.com/gofiber/fiber/v2"
)

// Faults is the run-time control of fault injection; nil when it is
// disabled in the config, and then the endpoint refuses.
type Faults interface {
	// Set changes the rule of one fault kind; probability 0 and next 0
	// turn it off.
	Set(kind string, probability float64, next int) error
	// Clear turns every fault off.
	Clear()
	// Snapshot is the current rules and counts, as JSON-encodable data.
	Snapshot() any
}

// faultRequest is the body of POST /v1/manager/faults.
type faultRequest struct {
	Kind        string  `json:"kind"`
	Probability float64 `json:"probability"`
	Next        int     `json:"next"`
	Clear       bool    `json:"clear"`
}

func (s *server) faultsDisabled() error {
	return fiber.NewError(fiber.StatusForbidden, "fault injection is disabled; set [faults] enabled = true in the config to use it")
}

// getFaults handles GET /v1/manager/faults.
func (s *server) getFaults(c *fiber.Ctx) error {
	if s.opts.Faults == nil {
		return s.faultsDisabled()
	}
	return c.JSON(s.opts.Faults.Snapshot())
}

// setFaults handles POST /v1/manager/faults.
func (s *server) setFaults(c *fiber.Ctx) error {
	if s.opts.Faults == nil {
		return s.faultsDisabled()
	}
	if err := requireJSON(c.Get(fiber.HeaderContentType)); err != nil {
		return err
	}
	var fr faultRequest
	if err := json.Unmarshal(c.Body(), &fr); err != nil {
		return badRequest(fmt.Sprintf("invalid JSON: %v", err))
	}
	if fr.Clear {
		s.opts.Faults.Clear()
	} else if err := s.opts.Faults.Set(fr.Kind, fr.Probability, fr.Next); err != nil {
		return badRequest(err.Error())
	}
	s.log.WithField("faults", s.opts.Faults.Snapshot()).Warn("fault injection changed at run time")
	return c.JSON(s.opts.Faults.Snapshot())
}
