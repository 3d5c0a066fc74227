package cluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// quick is a job that takes almost no time: it proves a member still
// judges.
var quick = testserver.Job{
	Language:      "python",
	Code:          "print(input())\n",
	Stdin:         "still here\n",
	DesiredStdout: "still here\n",
}

// rawCodec sends and receives gRPC messages as the bytes given, so a test
// can put anything in a well-formed gRPC frame. Named "proto" so the
// server decodes with its protobuf codec, as it would a member's frames.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// attack is one malformed thing sent to a member's remoting port; send
// returns once the member has answered or closed the connection, so it has
// processed what was sent.
type attack struct {
	name string
	send func(t *testing.T, addr string)
	// trap is set for what reaches a path of protoactor's that panics
	// on it: the member must log that it recovered, which proves the
	// dangerous path was taken and not refused on the way.
	trap bool
}

// rawTCP writes b to addr, half-closes, and reads until the member closes.
func rawTCP(b []byte) func(*testing.T, string) {
	return func(t *testing.T, addr string) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(b); err != nil {
			t.Logf("write: %v", err) // the member may close early
		}
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c)
	}
}

// receiveStream opens protoactor's message stream (remote.Remoting/Receive)
// and sends each frame as given, then reads until the member ends the
// stream.
func receiveStream(frames ...[]byte) func(*testing.T, string) {
	return func(t *testing.T, addr string) {
		conn, err := grpc.Dial(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		desc := &grpc.StreamDesc{StreamName: "Receive", ClientStreams: true, ServerStreams: true}
		s, err := conn.NewStream(ctx, desc, "/remote.Remoting/Receive", grpc.ForceCodec(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			if err := s.SendMsg(&f); err != nil {
				break // the member ended the stream; RecvMsg says how
			}
		}
		_ = s.CloseSend()
		for {
			var in []byte
			if err := s.RecvMsg(&in); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Logf("stream ended: %v", err)
				}
				return
			}
		}
	}
}

// unary calls one of protoactor's unary RPCs with body.
func unary(method string, body []byte) func(*testing.T, string) {
	return func(t *testing.T, addr string) {
		conn, err := grpc.Dial(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var out []byte
		err = conn.Invoke(ctx, method, &body, &out, grpc.ForceCodec(rawCodec{}))
		t.Logf("%s: %v", method, err)
	}
}

// batch is a RemoteMessage carrying one message batch, as members send.
func batch(t *testing.T, b *remote.MessageBatch) []byte {
	t.Helper()
	out, err := proto.Marshal(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: b}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// attacks are what reaches protoactor from anyone who can dial an open
// remoting port: bytes that are not HTTP/2, HTTP/2 that is not gRPC, gRPC
// frames that are not protobuf, and protobuf that protoactor takes on
// trust (types it does not know, indices past the batch's tables, an
// unknown serializer, a termination naming no actor, RPCs it never
// implemented).
func attacks(t *testing.T, target string) []attack {
	router := &actor.PID{Address: target, Id: "pecan-router"}
	envelope := func(e *remote.MessageEnvelope, types ...string) []byte {
		return batch(t, &remote.MessageBatch{TypeNames: types, Targets: []*actor.PID{router}, Envelopes: []*remote.MessageEnvelope{e}})
	}
	garbage := bytes.Repeat([]byte{0xff, 0x00, 0x13, 0x37}, 16<<10)
	preface := []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	return []attack{
		{"garbage bytes", rawTCP(garbage), false},
		{"HTTP/1.1 request", rawTCP([]byte("GET / HTTP/1.1\r\nHost: pecan\r\n\r\n")), false},
		{"truncated HTTP/2 preface", rawTCP(preface[:len(preface)-7]), false},
		{"HTTP/2 preface then garbage", rawTCP(append(append([]byte(nil), preface...), garbage...)), false},
		{"gRPC frame that is not protobuf", receiveStream([]byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a}), false},
		{"malformed protobuf of a known type", receiveStream(envelope(&remote.MessageEnvelope{MessageData: []byte{0x0a, 0xff, 0xff, 0xff}}, "pecan.v1.ExecuteRequest")), false},
		{"unknown protobuf type", receiveStream(envelope(&remote.MessageEnvelope{MessageData: []byte{0x0a, 0x01, 'x'}}, "pecan.v1.NoSuchMessage")), true},
		{"type index past the table", receiveStream(envelope(&remote.MessageEnvelope{TypeId: 7}, "pecan.v1.PoolStatus")), true},
		{"target index past the table", receiveStream(envelope(&remote.MessageEnvelope{Target: 9}, "pecan.v1.PoolStatus")), true},
		{"sender index past the table", receiveStream(envelope(&remote.MessageEnvelope{Sender: 9}, "pecan.v1.PoolStatus")), true},
		{"unknown serializer", receiveStream(envelope(&remote.MessageEnvelope{SerializerId: 9}, "pecan.v1.PoolStatus")), true},
		{"termination naming no actor", receiveStream(envelope(&remote.MessageEnvelope{}, "actor.Terminated")), true},
		{"no targets at all", receiveStream(batch(t, &remote.MessageBatch{TypeNames: []string{"pecan.v1.PoolStatus"}, Envelopes: []*remote.MessageEnvelope{{}}})), true},
		{"unimplemented ListProcesses", unary("/remote.Remoting/ListProcesses", nil), true},
		{"unimplemented GetProcessDiagnostics", unary("/remote.Remoting/GetProcessDiagnostics", nil), true},
	}
}

// TestMemberSurvivesMalformedRemoting sends a member's remoting port what
// a stranger on the network could: after each, the member must still be
// up, judge a job and be a member of the cluster.
func TestMemberSurvivesMalformedRemoting(t *testing.T) {
	needServer(t)
	target := nodes[1]
	all := addrs(nodes)
	waitMembers(t, nodes[0].srv.URL(), all, time.Minute)
	for _, a := range attacks(t, target.bind) {
		t.Run(a.name, func(t *testing.T) {
			recoveredBefore := recovered(t, target)
			a.send(t, target.bind)
			if exited, err := target.srv.Exited(); exited {
				t.Fatalf("%s exited: %v\n%s", target.name, err, target.srv.LogTail(40))
			}
			resp, err := client.Get(target.srv.URL() + "/v1/health")
			if err != nil {
				t.Fatalf("%s: health: %v\n%s", target.name, err, target.srv.LogTail(40))
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: health: HTTP %d", target.name, resp.StatusCode)
			}
			r, err := testserver.Judge(client, target.srv.URL(), quick)
			if err != nil {
				t.Fatalf("%s: %v", target.name, err)
			}
			if r.Status != "Accepted" {
				t.Errorf("%s: %s", target.name, r)
			}
			waitMembers(t, target.srv.URL(), all, 10*time.Second)
			waitMembers(t, nodes[0].srv.URL(), all, 10*time.Second)
			if got := recovered(t, target) - recoveredBefore; a.trap && got != 1 {
				t.Errorf("%s logged %d recoveries from a malformed message, want 1: the attack missed protoactor's panic", target.name, got)
			}
		})
	}
	// The cluster still works as one pool: a burst on another node runs
	// on the member too.
	results, _ := burst(t, nodes[0].srv.URL(), 6, nil)
	if ran := tally(t, results); ran[target.bind] == 0 {
		t.Errorf("after the malformed messages no job ran on %s: %v", target.name, ran)
	}
}

// recovered counts the malformed messages n's log says it survived.
func recovered(t *testing.T, n *node) int {
	t.Helper()
	b, err := os.ReadFile(n.srv.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("malformed message from a peer"))
}

// interfaceAddr is an address of this machine that is not loopback, or
// nil when it has none.
func interfaceAddr() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.IsGlobalUnicast() {
			return n.IP
		}
	}
	return nil
}

// bindOn is a free remoting address on ip (with the membership port
// after it free too).
func bindOn(t *testing.T, ip net.IP) string {
	t.Helper()
	binds, err := testserver.ClusterAddrsOn(ip.String(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return binds[0]
}

// TestNonLoopbackBindNeedsTLS: a node whose remoting would listen where
// other machines reach it, without TLS, must not start.
func TestNonLoopbackBindNeedsTLS(t *testing.T) {
	needServer(t)
	ip := interfaceAddr()
	if ip == nil {
		ip = net.IPv4zero // not loopback either
	}
	bind := bindOn(t, ip)
	o := env.Options(env.Bin, filepath.Join(env.Repo, "pecan.toml"), 1, "open-bind")
	o.Args = []string{"--cluster-bind", bind}
	srv, err := testserver.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.WaitHealthy(ctx); err == nil {
		t.Fatalf("pecan serve --cluster-bind %s started without TLS", bind)
	}
	exited, exitErr := srv.Exited()
	if !exited || exitErr == nil {
		t.Fatalf("pecan serve --cluster-bind %s: exited %v with %v, want a non-zero exit", bind, exited, exitErr)
	}
	log, _ := os.ReadFile(srv.LogPath())
	if !strings.Contains(string(log), "TLS") || !strings.Contains(string(log), bind) {
		t.Errorf("the refusal does not name TLS and the address %s:\n%s", bind, log)
	}
	t.Logf("refused (%v): %s", exitErr, strings.TrimSpace(string(log)))
}

// TestInsecureBindStartsWithWarning: insecure = true is the operator's
// word that only trusted machines reach the address; the node starts,
// and says so at warning level.
func TestInsecureBindStartsWithWarning(t *testing.T) {
	needServer(t)
	ip := interfaceAddr()
	if ip == nil {
		t.Fatal("this machine has no non-loopback address to bind remoting to")
	}
	b, err := os.ReadFile(filepath.Join(env.Repo, "pecan.toml"))
	if err != nil {
		t.Fatal(err)
	}
	const off, on = "\ninsecure = false", "\ninsecure = true"
	if bytes.Count(b, []byte(off)) != 1 {
		t.Fatalf("pecan.toml: expected exactly one line starting %q (under [cluster])", strings.TrimSpace(off))
	}
	cfg := filepath.Join(env.Tmp, "pecan-insecure.toml")
	if err := os.WriteFile(cfg, bytes.Replace(b, []byte(off), []byte(on), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := newNode("insecure-node", bindOn(t, ip), nil)
	if err != nil {
		t.Fatal(err)
	}
	n.config = cfg
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := n.stop(); err != nil {
			t.Error(err)
		}
	}()
	log, _ := os.ReadFile(n.srv.LogPath())
	if !bytes.Contains(log, []byte("level=warning")) || !bytes.Contains(log, []byte("without TLS")) {
		t.Errorf("no warning that remoting is open without TLS in the log:\n%s", n.srv.LogTail(40))
	}
	r, err := testserver.Judge(client, n.srv.URL(), quick)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "Accepted" {
		t.Errorf("insecure node: %s", r)
	}
}
