package http

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// maxDrain bounds how much of a body the server reads and throws away
// after refusing a request (too large, no token, unknown route). A client
// that sends its whole body before reading the answer, as most do, reads
// the refusal only if its send completes; closing a connection with
// unread data resets it instead, and the client sees ECONNRESET rather
// than the answer. Past this bound, or once the request's read deadline
// passes, the server stops reading and closes anyway.
const maxDrain = 64 << 20

// errBodyTooLarge marks a body over the limit.
var errBodyTooLarge = errors.New("request body too large")

// The app streams request bodies (fiber's StreamRequestBody): fasthttp
// reads only the headers and a few KiB before calling the handlers, and
// the body is read by readBody below. Buffering in fasthttp instead would
// either hold up to its read limit of every oversized body in memory, or
// (at the body limit) reject while reading and close the connection under
// a client still sending, which is the reset described at maxDrain.

// readBody reads the body into memory, at most opts.BodyLimit bytes, so
// that handlers can use c.Body(). A Content-Length over the limit is
// refused before a byte of the body is read; a chunked body is refused as
// soon as it passes the limit. Either way the rest is drained by
// drainUnreadBody and the connection closed.
func (s *server) readBody(c *fiber.Ctx) error {
	req := c.Request()
	if !req.IsBodyStream() {
		return c.Next() // no body
	}
	// fiber would decompress an encoded body in c.Body() without any
	// bound: a few KiB of gzip could become gigabytes.
	if enc := strings.TrimSpace(string(req.Header.ContentEncoding())); enc != "" && !strings.EqualFold(enc, "identity") {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %q is not supported: send the body uncompressed", enc))
	}
	body, err := readAtMost(req.BodyStream(), req.Header.ContentLength(), s.opts.BodyLimit)
	if err != nil {
		c.Context().SetConnectionClose()
		if errors.Is(err, errBodyTooLarge) {
			return fiber.ErrRequestEntityTooLarge
		}
		return badRequest("incomplete or malformed request body")
	}
	req.SetBodyRaw(body)
	return c.Next()
}

// readAtMost reads all of r, a body of contentLength bytes (-1 when it is
// chunked and the length unknown), or fails with errBodyTooLarge once it
// is known to exceed limit.
func readAtMost(r io.Reader, contentLength, limit int) ([]byte, error) {
	if contentLength > limit {
		return nil, errBodyTooLarge
	}
	if contentLength >= 0 {
		body := make([]byte, contentLength)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		return body, nil
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read chunked body: %w", err)
	}
	if n > int64(limit) {
		return nil, errBodyTooLarge
	}
	return buf.Bytes(), nil
}

// drainUnreadBody runs outside every other handler but the logger: once
// the request is answered, a body nobody read (the request was refused
// first) is read and discarded, up to maxDrain, so that the client's send
// completes and it reads the answer. When the body ends within the bound
// the connection stays usable; otherwise it is closed.
func (s *server) drainUnreadBody(c *fiber.Ctx) error {
	err := c.Next()
	req := c.Request()
	if !req.IsBodyStream() {
		return err
	}
	n, derr := io.CopyN(io.Discard, req.BodyStream(), maxDrain)
	if !errors.Is(derr, io.EOF) {
		// Past the bound, or the read failed (deadline, broken chunk):
		// where the next request would start is unknown.
		c.Context().SetConnectionClose()
		s.log.WithField("drained_bytes", n).WithField("path", c.Path()).Debug("closing a connection with an unread request body")
	}
	_ = req.CloseBodyStream()
	return err
}
