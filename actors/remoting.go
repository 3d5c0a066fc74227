package actors

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcpeer "google.golang.org/grpc/peer"
	grpcstatus "google.golang.org/grpc/status"
)

// protoactor's remoting server trusts what it receives: an envelope
// naming a protobuf type this binary lacks, an index past the batch's
// tables, an unknown serializer, a termination without its actor, or a
// call to an RPC it never implemented panics in the gRPC handler, and
// gRPC does not recover handler panics, so one malformed message would
// take the whole node down. These interceptors turn such a panic into an
// error on that one stream; protoactor's own cleanup (deferred in its
// handler) still runs, and the node goes on serving its members.

// recoverStream is a gRPC stream interceptor that ends a stream whose
// handler panics instead of the process.
func recoverStream(logger logrus.FieldLogger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer recoverRPC(ss.Context(), logger, info.FullMethod, &err)
		return handler(srv, ss)
	}
}

// recoverUnary is recoverStream for unary calls.
func recoverUnary(logger logrus.FieldLogger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer recoverRPC(ctx, logger, info.FullMethod, &err)
		return handler(ctx, req)
	}
}

// recoverRPC, deferred, turns a panic of the call into its error and
// logs who sent what broke it.
func recoverRPC(ctx context.Context, logger logrus.FieldLogger, method string, err *error) {
	p := recover()
	if p == nil {
		return
	}
	from := "unknown"
	if pr, ok := grpcpeer.FromContext(ctx); ok && pr.Addr != nil {
		from = pr.Addr.String()
	}
	logger.WithFields(logrus.Fields{
		"method": method, "peer": from, "panic": fmt.Sprint(p), "stack": string(debug.Stack()),
	}).Error("remoting: malformed message from a peer; its connection is closed, the node goes on")
	*err = grpcstatus.Error(codes.InvalidArgument, "malformed message")
}
