package actors

import (
	"context"
	"errors"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// stream is the least of a grpc.ServerStream the interceptor touches.
type stream struct{ grpc.ServerStream }

func (stream) Context() context.Context { return context.Background() }

func TestRecoverStreamEndsOnlyTheStream(t *testing.T) {
	logger, hook := logtest.NewNullLogger()
	intercept := recoverStream(logger)
	info := &grpc.StreamServerInfo{FullMethod: "/remote.Remoting/Receive"}

	err := intercept(nil, stream{}, info, func(any, grpc.ServerStream) error {
		var tables []string
		_ = tables[3] // what protoactor does with an index from the wire
		return nil
	})
	if code := grpcstatus.Code(err); code != codes.InvalidArgument {
		t.Fatalf("panicking handler: %v (code %s), want InvalidArgument", err, code)
	}
	if e := hook.LastEntry(); e == nil || e.Level != logrus.ErrorLevel || e.Data["method"] != info.FullMethod {
		t.Errorf("no error log naming the method: %+v", e)
	}

	// A handler that returns is passed through untouched.
	want := errors.New("stream closed")
	if err := intercept(nil, stream{}, info, func(any, grpc.ServerStream) error { return want }); err != want {
		t.Errorf("error %v passed through as %v", want, err)
	}
}

func TestRecoverUnary(t *testing.T) {
	logger, _ := logtest.NewNullLogger()
	_, err := recoverUnary(logger)(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/remote.Remoting/ListProcesses"},
		func(context.Context, any) (any, error) { panic("implement me") })
	if code := grpcstatus.Code(err); code != codes.InvalidArgument {
		t.Fatalf("panicking unary handler: %v, want InvalidArgument", err)
	}
}
