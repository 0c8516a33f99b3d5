package server

import (
	"context"
	"errors"
	"net"
	"net/http"
)

// httpListener is one of the process's HTTP listeners beside the API and
// the block port (the S3 port, the console): how each is served, shut
// down and closed is the same, only what it serves differs.
type httpListener struct {
	ln   net.Listener
	http *http.Server
	tls  bool
}

// serve runs the server on the listener until it is shut down, sending
// its end (nil for a shutdown) to errc.
func (l *httpListener) serve(errc chan<- error) {
	go func() {
		var err error
		if l.tls {
			err = l.http.ServeTLS(l.ln, "", "")
		} else {
			err = l.http.Serve(l.ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
}

// shutdown lets in-flight requests finish until ctx is done, then cuts them.
func (l *httpListener) shutdown(ctx context.Context) {
	if err := l.http.Shutdown(ctx); err != nil {
		l.http.Close()
	}
}

// close stops serving at once (or only closes the listener when serving
// never started).
func (l *httpListener) close() {
	if l.http != nil {
		l.http.Close()
	} else if l.ln != nil {
		l.ln.Close()
	}
}

func (l *httpListener) scheme() string {
	if l.tls {
		return "https"
	}
	return "http"
}
