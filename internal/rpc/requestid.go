package rpc

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/shoalfs/shoal/internal/fserr"
)

// mdRequestID is the response header in which the server names the id it
// logged a call under (internal/metrics' interceptor sets it). The client
// puts it in the error of a failed call (fserr.Error.RequestID), so a user
// can match the error with the server's log line.
const mdRequestID = "shoal-request-id"

// headerSink is where the interceptors store a call's response header:
// invoke puts one in the context of each attempt.
type headerSink struct{}

func withHeaderSink(ctx context.Context, md *metadata.MD) context.Context {
	return context.WithValue(ctx, headerSink{}, md)
}

// headerOpts asks gRPC for the response header when ctx carries a sink.
func headerOpts(ctx context.Context, opts []grpc.CallOption) []grpc.CallOption {
	if md, ok := ctx.Value(headerSink{}).(*metadata.MD); ok {
		opts = append(opts, grpc.Header(md))
	}
	return opts
}

func captureUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(ctx, method, req, reply, cc, headerOpts(ctx, opts)...)
}

func captureStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(ctx, desc, cc, method, headerOpts(ctx, opts)...)
}

// withRequestID records the server's request id from md in err when err
// is a Shoal error without one. Context errors pass through untouched.
func withRequestID(err error, md metadata.MD) error {
	ids := md.Get(mdRequestID)
	if len(ids) == 0 || ids[0] == "" {
		return err
	}
	var e *fserr.Error
	if errors.As(err, &e) && e.RequestID == "" {
		e.RequestID = ids[0]
	}
	return err
}
