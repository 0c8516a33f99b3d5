package metrics

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/metadata"
)

func TestBlockOp(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/v1/fs/default/blocks/chunks/0/0/1_0_4096", "get"},
		{"HEAD", "/v1/blocks/a", "head"},
		{"PUT", "/v1/fs/x/blocks/a/b", "put"},
		{"DELETE", "/v1/fs/x/blocks/a", "delete"},
		{"GET", "/v1/fs/x/blocks/", "list"},
		{"POST", "/v1/fs/x/sync", "sync"},
		{"POST", "/v1/sync", "sync"},
		{"PUT", "/v1/fs/x/blocks/", "other"},
		{"BREW", "/v1/fs/x/blocks/a", "other"},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if got := BlockOp(r); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

// readerFromRecorder is a ResponseWriter with ReadFrom, as net/http's is
// (its ReadFrom is what reaches sendfile).
type readerFromRecorder struct {
	*httptest.ResponseRecorder
	readFrom bool
}

func (r *readerFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.readFrom = true
	return io.Copy(r.ResponseRecorder, src)
}

// TestMiddlewareKeepsReadFrom: io.Copy through the middleware still
// reaches the server's ReadFrom, so the block server keeps sendfile.
func TestMiddlewareKeepsReadFrom(t *testing.T) {
	s := New(Options{})
	h := s.Block(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, io.LimitReader(strings.NewReader(strings.Repeat("x", 100)), 100))
	}))
	rec := &readerFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/blocks/k", nil))
	if !rec.readFrom || rec.Body.Len() != 100 || rec.Code != 200 {
		t.Fatalf("readFrom=%v body=%d code=%d", rec.readFrom, rec.Body.Len(), rec.Code)
	}
	if rec.Header().Get("X-Request-Id") == "" {
		t.Fatal("no X-Request-Id")
	}
}

// TestS3RequestID: the log names the id the gateway answered with.
func TestS3RequestID(t *testing.T) {
	var buf bytes.Buffer
	s := New(Options{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	h := s.S3(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-amz-request-id", "GATEWAYID")
		w.WriteHeader(http.StatusNoContent)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("DELETE", "/b/k", nil))
	if got := buf.String(); !strings.Contains(got, "id=GATEWAYID") || !strings.Contains(got, "level=INFO") ||
		!strings.Contains(got, "op=DELETE") || !strings.Contains(got, "code=204") {
		t.Fatalf("log line: %s", got)
	}
}

func TestGRPCID(t *testing.T) {
	s := New(Options{})
	for _, tc := range []struct {
		md   metadata.MD
		want string // "" : a generated id
	}{
		{metadata.Pairs(mdSession, "12", mdRequest, "34"), "12.34"},
		{metadata.Pairs(mdSession, "12"), ""},
		{metadata.Pairs(mdSession, "x", mdRequest, "34"), ""},
		{metadata.Pairs(mdSession, "12", mdRequest, "0"), ""},
		{nil, ""},
	} {
		id, _ := s.grpcID(metadata.NewIncomingContext(context.Background(), tc.md))
		if tc.want != "" && id != tc.want || tc.want == "" && !strings.HasPrefix(id, s.idPrefix+"-") {
			t.Errorf("%v: id %q, want %q", tc.md, id, tc.want)
		}
	}
}

func TestAgentOutcome(t *testing.T) {
	for _, tc := range []struct {
		e    syscall.Errno
		want string
	}{{0, "ok"}, {syscall.ENOENT, "ENOENT"}, {syscall.EIO, "EIO"}, {syscall.Errno(100000), "other"}} {
		if got := AgentOutcome(tc.e); got != tc.want {
			t.Errorf("AgentOutcome(%d) = %q, want %q", tc.e, got, tc.want)
		}
	}
}
