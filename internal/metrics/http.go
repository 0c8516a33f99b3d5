package metrics

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Actioner is implemented by handlers that can name the operation a
// request asks for from a bounded set (the S3 gateway's action names).
// The middleware uses it for the action label when present.
type Actioner interface {
	Action(r *http.Request) string
}

// S3 wraps the S3 gateway h: each request is timed by action and status
// (h's Action when it has one, else the HTTP method), its bytes counted
// and logged under the x-amz-request-id that h answers with.
func (s *Set) S3(h http.Handler) http.Handler {
	classify := methodOp
	if a, ok := h.(Actioner); ok {
		classify = func(r *http.Request) string {
			if act := a.Action(r); act != "" {
				return act
			}
			return "other"
		}
	}
	return s.wrapHTTP(SurfaceS3, "x-amz-request-id", classify, h)
}

// Block wraps the block server h (internal/blockserver), labelling each
// request with its BlockOp.
func (s *Set) Block(h http.Handler) http.Handler {
	return s.wrapHTTP(SurfaceBlock, "X-Request-Id", BlockOp, h)
}

// BlockOp names the block-protocol operation of r: get, head, put,
// delete, list, sync or other (see internal/blockserver's wire protocol).
// It reads only the method and the path's shape, never its names.
func BlockOp(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/sync"):
		return "sync"
	case strings.HasSuffix(p, "/blocks/") || strings.HasSuffix(p, "/blocks"):
		if r.Method == http.MethodGet {
			return "list"
		}
		return "other"
	}
	return strings.ToLower(methodOp(r))
}

// methodOp is the request's method if it is a standard one, else "other"
// (a method is client input: an unbounded label otherwise).
func methodOp(r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodOptions, http.MethodPatch:
		return r.Method
	}
	return "other"
}

func (s *Set) wrapHTTP(surface, idHeader string, classify func(*http.Request) string, h http.Handler) http.Handler {
	var dur = s.blockDur
	if surface == SurfaceS3 {
		dur = s.s3Dur
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		op := classify(r)
		// The handler may set its own id (the S3 gateway does); this one
		// stands when it does not, and the log reads back whichever won.
		w.Header().Set(idHeader, s.newID())
		s.inflight.WithLabelValues(surface).Inc()
		rw := &respWriter{ResponseWriter: w, start: start}
		var body *countingBody
		if r.Body != nil && r.Body != http.NoBody {
			body = &countingBody{ReadCloser: r.Body}
			r.Body = body
		}
		defer func() {
			s.inflight.WithLabelValues(surface).Dec()
			d := time.Since(start)
			code := rw.status
			if code == 0 {
				// A handler that wrote nothing answered 200, or panicked:
				// net/http then aborts the connection.
				code = http.StatusOK
			}
			codeS := strconv.Itoa(code)
			dur.WithLabelValues(op, codeS).Observe(d.Seconds())
			var in int64
			if body != nil {
				in = body.n
			}
			s.reqBytes.WithLabelValues(surface).Add(float64(in))
			s.rspBytes.WithLabelValues(surface).Add(float64(rw.n))
			s.logRequest(r.Context(), &done{
				surface:  surface,
				op:       op,
				code:     codeS,
				id:       w.Header().Get(idHeader),
				mutation: r.Method != http.MethodGet && r.Method != http.MethodHead,
				failed:   code >= 500,
				dur:      d,
				ttfb:     rw.ttfb,
				in:       in,
				out:      rw.n,
				attrs: []slog.Attr{
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.String("remote", r.RemoteAddr),
				},
			})
		}()
		h.ServeHTTP(rw, r)
	})
}

// respWriter records the status, the bytes and the time to the header.
// It keeps io.ReaderFrom (the block server's sendfile path) and Flush,
// and Unwrap for http.ResponseController.
type respWriter struct {
	http.ResponseWriter
	start  time.Time
	status int
	ttfb   time.Duration
	n      int64
}

func (w *respWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.ttfb = time.Since(w.start)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *respWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(w.ResponseWriter, r)
	}
	w.n += n
	return n, err
}

func (w *respWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.status == 0 {
			w.WriteHeader(http.StatusOK)
		}
		f.Flush()
	}
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts the request bytes the handler read.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
