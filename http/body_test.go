package http

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/pecan-judge/pecan/config"
)

// listen serves app on a loopback port until the test ends and returns
// its address. The body limit is enforced while the body is read from
// the connection, which app.Test does not show faithfully, so these tests
// go through a real socket, as a client does.
func listen(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	return ln.Addr().String()
}

// judgeBody is a judge-single request of size bytes, padded with JSON
// white space before its last field, stdin "end": the judge sees that
// stdin only when the body arrived whole.
func judgeBody(size int) []byte {
	return []byte(judgeHead + strings.Repeat(" ", size-len(judgeHead)-len(judgeTail)) + judgeTail)
}

const judgeHead, judgeTail = `{"code":"x","language":"py"`, `,"stdin":"end"}`

// rawRequest is a POST to judge-single with body, either with its
// Content-Length or chunked (in chunks of 1000 bytes, as a streaming
// client would send them).
func rawRequest(body []byte, chunked bool, extraHeader string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST /v1/judge/judge-single HTTP/1.1\r\nHost: pecan\r\nContent-Type: application/json\r\n%s", extraHeader)
	if !chunked {
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
		b.Write(body)
		return b.Bytes()
	}
	b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	for rest := body; len(rest) > 0; {
		n := min(1000, len(rest))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}

// sendThenRead does what Python's urllib and most simple clients do:
// write the whole request, and only then read the answer. A server that
// stops reading and closes before the request is all sent resets the
// connection, and the write or the read fails.
func sendThenRead(t *testing.T, addr string, request []byte) (*nethttp.Response, []byte, net.Conn) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(request); err != nil {
		t.Fatalf("sending %d bytes: %v (the server hung up before the request was sent)", len(request), err)
	}
	br := bufio.NewReader(conn)
	resp, err := nethttp.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	return resp, body, &bufConn{conn, br}
}

// bufConn reads through the bufio.Reader the response was read with.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// wantClosed checks that the server closed conn after its answer (EOF,
// not a reset and not more data).
func wantClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	n, err := conn.Read(make([]byte, 1))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("after the answer: read %d bytes, err %v; want EOF (connection closed cleanly)", n, err)
	}
}

// An oversized body is refused with a JSON 413 that a client which sends
// everything before reading gets to read: the server drains the body
// instead of resetting the connection, then closes it.
func TestBodyTooLargeIsReadable(t *testing.T) {
	fj := &fakeJudge{}
	addr := listen(t, newTestApp(t, fj))
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			// Far past the limit and the socket buffers, so a server
			// that stopped reading would block the sender, then reset it.
			resp, body, conn := sendThenRead(t, addr, rawRequest(judgeBody(8<<20+7), chunked, ""))
			wantError(t, resp, body, 413, "too large", fmt.Sprint(testBodyLimit))
			if !resp.Close {
				t.Error("413 without Connection: close")
			}
			wantClosed(t, conn)
		})
	}
	// One byte over is over; exactly the limit is not.
	resp, body, _ := sendThenRead(t, addr, rawRequest(judgeBody(testBodyLimit+1), true, ""))
	wantError(t, resp, body, 413, "too large")
	if fj.lastRequest() != nil {
		t.Fatal("an oversized request reached the judge")
	}
	for _, chunked := range []bool{false, true} {
		resp, body, _ = sendThenRead(t, addr, rawRequest(judgeBody(testBodyLimit), chunked, ""))
		if resp.StatusCode != 200 {
			t.Errorf("chunked=%v: a body of exactly the limit got %d: %s", chunked, resp.StatusCode, body)
		}
	}
}

// Bodies under the limit, long enough to be streamed past what fasthttp
// reads ahead, arrive whole, and the connection serves the next request:
// nothing of a body is left to be read as the next request.
func TestBodyStreamedAndKeepAlive(t *testing.T) {
	var stdins []string
	fj := &fakeJudge{}
	addr := listen(t, newTestApp(t, fj))
	client := &nethttp.Client{Timeout: 10 * time.Second}
	var conns []string
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { conns = append(conns, i.Conn.LocalAddr().String()) }}
	sizes := []int{100, 9000, 40000, testBodyLimit - 100}
	for i, size := range sizes {
		var r io.Reader = bytes.NewReader(judgeBody(size))
		if i%2 == 1 {
			r = io.MultiReader(r) // hides the length: sent chunked
		}
		req, _ := nethttp.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", "http://"+addr+"/v1/judge/judge-single", r)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("body of %d bytes: status %d: %s", size, resp.StatusCode, body)
		}
		stdins = append(stdins, string(fj.lastRequest().GetStdin()))
	}
	for i, size := range sizes {
		if stdins[i] != "end" {
			t.Errorf("body of %d bytes: the judge got stdin %q, want the body's last field %q", size, stdins[i], "end")
		}
	}
	for _, c := range conns[1:] {
		if c != conns[0] {
			t.Errorf("requests used connections %v, want one kept alive", conns)
			break
		}
	}
}

// A request refused before its body is read (no token, unknown route) is
// answered readably too, and as its body is drained to the end the
// connection stays usable.
func TestRefusedBodyIsDrained(t *testing.T) {
	app := newAuthApp(t, &fakeJudge{}, config.Auth{Tokens: []string{userToken}}, nil)
	addr := listen(t, app)
	for _, chunked := range []bool{false, true} {
		// Twice the body limit: the token check comes first, so even an
		// oversized body without a token gets 401, not 413.
		req := rawRequest(judgeBody(2*testBodyLimit), chunked, "")
		resp, body, conn := sendThenRead(t, addr, append(req, rawRequest([]byte(`{"code":"x","language":"py"}`), false, "Authorization: Bearer "+userToken+"\r\n")...))
		wantError(t, resp, body, 401, "token")
		if resp.Close {
			t.Errorf("chunked=%v: 401 closed the connection though the body was drained", chunked)
		}
		// The second request, pipelined behind the drained body.
		resp, err := nethttp.ReadResponse(conn.(*bufConn).r, nil)
		if err != nil {
			t.Fatalf("chunked=%v: second request on the connection: %v", chunked, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("chunked=%v: second request: status %d: %s", chunked, resp.StatusCode, b)
		}
	}
}

// A body too long to drain is not read forever: past maxDrain the server
// answers and closes.
func TestDrainIsBounded(t *testing.T) {
	addr := listen(t, newTestApp(t, &fakeJudge{}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST /v1/judge/judge-single HTTP/1.1\r\nHost: pecan\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 4*maxDrain)
	chunk := make([]byte, 1<<20)
	var sent int
	var werr error
	for sent < 4*maxDrain {
		var n int
		n, werr = conn.Write(chunk)
		sent += n
		if werr != nil {
			break
		}
	}
	if werr == nil {
		t.Fatalf("the server read all %d bytes; want it to stop after about %d", sent, maxDrain)
	}
	if sent < maxDrain {
		t.Errorf("the server hung up after %d bytes, before draining %d", sent, maxDrain)
	}
}

func TestBodyErrors(t *testing.T) {
	addr := listen(t, newTestApp(t, &fakeJudge{}))

	// Compressed bodies are refused: fiber would inflate them unbounded.
	gz := rawRequest([]byte("\x1f\x8b\x08\x00 not really gzip"), false, "Content-Encoding: gzip\r\n")
	resp, body, _ := sendThenRead(t, addr, gz)
	wantError(t, resp, body, 415, "Content-Encoding")

	// A broken chunked body.
	resp, body, conn := sendThenRead(t, addr, []byte("POST /v1/judge/judge-single HTTP/1.1\r\nHost: pecan\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"))
	wantError(t, resp, body, 400, "request body")
	wantClosed(t, conn)

	// A body shorter than its Content-Length: the client gives up sending.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "POST /v1/judge/judge-single HTTP/1.1\r\nHost: pecan\r\nContent-Type: application/json\r\nContent-Length: 20000\r\n\r\n%s", judgeBody(10000))
	_ = c.(*net.TCPConn).CloseWrite()
	resp, err = nethttp.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	wantError(t, resp, body, 400, "request body")
}

// A client that asks "Expect: 100-continue" (curl does for large bodies)
// is told to continue, sends its body, and reads the 413.
func TestBodyTooLargeAfterContinue(t *testing.T) {
	addr := listen(t, newTestApp(t, &fakeJudge{}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	body := judgeBody(4 << 20)
	fmt.Fprintf(conn, "POST /v1/judge/judge-single HTTP/1.1\r\nHost: pecan\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(body))
	br := bufio.NewReader(conn)
	interim, err := nethttp.ReadResponse(br, nil)
	if err != nil || interim.StatusCode != nethttp.StatusContinue {
		t.Fatalf("want 100 Continue first, got %v %v", interim, err)
	}
	if _, err := conn.Write(body); err != nil {
		t.Fatalf("sending the body after 100 Continue: %v", err)
	}
	resp, err := nethttp.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantError(t, resp, out, 413, "too large")
}
