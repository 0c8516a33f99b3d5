package metrics

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// RequestIDHeader is the gRPC response header carrying the request id.
const RequestIDHeader = "shoal-request-id"

// The metadata a client sends with a call in a session (internal/rpc's
// wire keys): together they name the call for deduplication, so they make
// the request id that the client can show in its own errors.
const (
	mdSession = "shoal-session"
	mdRequest = "shoal-request"
	kvService = "shoal.v1.KV"
)

// GRPCOptions are the server options that instrument every call. Put
// them before the service's own interceptors so the timing covers
// authentication too: grpc.NewServer(append(set.GRPCOptions(), more...)...).
func (s *Set) GRPCOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unary),
		grpc.ChainStreamInterceptor(s.stream),
		grpc.StatsHandler(grpcBytes{s}),
	}
}

func (s *Set) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	id, attrs := s.grpcID(ctx)
	// Unary headers are sent with the reply, so setting one now cannot fail
	// on a header already sent; an error here only means no transport.
	_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDHeader, id))
	s.inflight.WithLabelValues(SurfaceGRPC).Inc()
	resp, err := h(ctx, req)
	s.inflight.WithLabelValues(SurfaceGRPC).Dec()
	s.grpcDone(ctx, info.FullMethod, id, attrs, start, err)
	return resp, err
}

func (s *Set) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	start := time.Now()
	id, attrs := s.grpcID(ss.Context())
	_ = ss.SetHeader(metadata.Pairs(RequestIDHeader, id))
	s.inflight.WithLabelValues(SurfaceGRPC).Inc()
	err := h(srv, ss)
	s.inflight.WithLabelValues(SurfaceGRPC).Dec()
	s.grpcDone(ss.Context(), info.FullMethod, id, attrs, start, err)
	return err
}

// grpcID is the call's request id, and the log attributes of its session.
func (s *Set) grpcID(ctx context.Context) (string, []slog.Attr) {
	md, _ := metadata.FromIncomingContext(ctx)
	sess, req := firstMD(md, mdSession), firstMD(md, mdRequest)
	if _, err := strconv.ParseUint(sess, 10, 64); err != nil {
		return s.newID(), nil
	}
	attrs := []slog.Attr{slog.String("session", sess)}
	if _, err := strconv.ParseUint(req, 10, 64); err != nil || req == "0" {
		return s.newID(), attrs
	}
	return sess + "." + req, attrs
}

func firstMD(md metadata.MD, k string) string {
	if v := md.Get(k); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (s *Set) grpcDone(ctx context.Context, full, id string, attrs []slog.Attr, start time.Time, err error) {
	dur := time.Since(start)
	service, method := splitMethod(full)
	code := status.Code(err)
	s.grpcDur.WithLabelValues(service, method, code.String()).Observe(dur.Seconds())
	if service == kvService {
		s.kvOps.WithLabelValues(method, code.String()).Inc()
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", status.Convert(err).Message()))
	}
	s.logRequest(ctx, &done{
		surface:  SurfaceGRPC,
		op:       service + "/" + method,
		code:     code.String(),
		id:       id,
		mutation: !grpcReads[method],
		failed:   serverFault(code),
		dur:      dur,
		attrs:    attrs,
	})
}

// splitMethod cuts "/pkg.Service/Method". The server only calls its
// interceptors for registered methods, so both parts are bounded.
func splitMethod(full string) (service, method string) {
	full = strings.TrimPrefix(full, "/")
	service, method, ok := strings.Cut(full, "/")
	if !ok {
		return "other", "other"
	}
	return service, method
}

// serverFault reports codes that mean the server failed, not the request.
func serverFault(c codes.Code) bool {
	switch c {
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unavailable:
		return true
	}
	return false
}

// grpcReads are the methods that change nothing a client can see (the
// request log writes them at Debug). Open and Release change only a
// session's handles; Heartbeat and Check read.
var grpcReads = map[string]bool{
	// Meta
	"Resolve": true, "Lookup": true, "GetAttr": true, "Access": true, "Readlink": true, "ReadDir": true,
	"ListByName": true, "GetXattr": true, "ListXattr": true, "StatFS": true, "Open": true, "Release": true,
	"ReadChunk": true, "FreedSlices": true, "SweepRanges": true, "LiveSlices": true, "Check": true,
	// Session, Admin, Inline
	"Heartbeat": true, "ListFS": true, "Status": true, "OpenRead": true,
	// Cluster (Heartbeat above)
	"Members": true,
	// KV
	"ListTables": true, "DescribeTable": true, "Get": true, "Exist": true, "TTL": true, "MultiGet": true,
	"MultiGetOpt": true, "GetSortKeys": true, "SortKeyCount": true, "BatchGet": true, "Scan": true,
	"GetUnorderedScanners": true,
	// grpc.health.v1.Health
	"Watch": true, "List": true,
}

// grpcBytes counts payload bytes in and out of the API.
type grpcBytes struct{ s *Set }

func (grpcBytes) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (grpcBytes) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (grpcBytes) HandleConn(context.Context, stats.ConnStats)                       {}

func (b grpcBytes) HandleRPC(_ context.Context, st stats.RPCStats) {
	switch p := st.(type) {
	case *stats.InPayload:
		b.s.reqBytes.WithLabelValues(SurfaceGRPC).Add(float64(wire(p.WireLength, p.Length)))
	case *stats.OutPayload:
		b.s.rspBytes.WithLabelValues(SurfaceGRPC).Add(float64(wire(p.WireLength, p.Length)))
	}
}

func wire(wireLen, n int) int {
	if wireLen > 0 {
		return wireLen
	}
	return n
}
