package rpc

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultAPIPort is the port of the Shoal API in the default layout
// (internal/server.DefaultListen; the block port is 7701, S3 9000). A
// wrong address names it when it can tell the API is there instead.
const DefaultAPIPort = "7700"

// suggestPort is the port a wrong address is checked against
// (DefaultAPIPort; tests point it at a server of their own).
var suggestPort = DefaultAPIPort

// AddrError says why an address never answered as a Shoal API server: no
// one listens there, the host does not resolve, the address has no port,
// or something other than the API answered (the block or S3 port, which
// speak HTTP/1.1). Suggest is an address that accepts connections and is
// probably the API, or "".
type AddrError struct {
	Addr    string
	Problem string // what the address did, read after it: "answered HTTP, not the Shoal API"
	Suggest string
	Err     error // the underlying dial error, if any
}

func (e *AddrError) Error() string {
	s := e.Addr + " " + e.Problem
	if e.Suggest != "" {
		s += ": did you mean " + e.Suggest + "?"
	}
	return s
}

func (e *AddrError) Unwrap() error { return e.Err }

// AddrsError is the failure of a Dial none of whose addresses ever
// answered as the API, each for a reason retrying cannot fix.
type AddrsError []*AddrError

func (e AddrsError) Error() string {
	if len(e) == 1 {
		return e[0].Error()
	}
	var b bytes.Buffer
	b.WriteString("no address answered as the Shoal API: ")
	for i, a := range e {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(a.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find each address's AddrError.
func (e AddrsError) Unwrap() []error {
	out := make([]error, len(e))
	for i, a := range e {
		out[i] = a
	}
	return out
}

// checkAddr rejects an address without a port before anything is dialled
// (gRPC would retry it until the retry window ran out).
func checkAddr(addr string) *AddrError {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && port != "" {
		return nil
	}
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	}
	if host == "" {
		return &AddrError{Addr: addr, Problem: "is not an address (want host:port)", Err: err}
	}
	return &AddrError{Addr: addr, Problem: "has no port (want host:port)", Suggest: net.JoinHostPort(host, suggestPort), Err: err}
}

// probe records what happened on the last connection attempt to one
// address, so a call that failed with a bare Unavailable can tell a
// server that is not there (refused, unknown host, HTTP answering) from
// one that is slow or restarting.
type probe struct {
	addr string
	mu   sync.Mutex
	// diag is the last attempt's definite problem, nil if none was seen.
	diag *AddrError
}

// dial is the gRPC context dialer for the probe's address: a plain TCP
// dial whose failure and first bytes received are recorded.
func (p *probe) dial(ctx context.Context, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		p.set(dialProblem(addr, err))
		return nil, err
	}
	p.set(nil)
	return &sniffConn{Conn: conn, p: p}, nil
}

func (p *probe) set(d *AddrError) {
	p.mu.Lock()
	p.diag = d
	p.mu.Unlock()
}

func (p *probe) get() *AddrError {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.diag
}

// dialProblem classifies a dial error: refused and unresolvable are
// definite (nil for anything else, such as a timeout).
func dialProblem(addr string, err error) *AddrError {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return &AddrError{Addr: addr, Problem: "does not resolve: unknown host " + strconv.Quote(dnsErr.Name), Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &AddrError{Addr: addr, Problem: "refused the connection: no server listens there", Suggest: apiPortSuggestion(addr), Err: err}
	}
	return nil
}

// sniffConn records whether the first bytes the server sent were an
// HTTP/1.x response: an HTTP server answers gRPC's HTTP/2 preface with
// "HTTP/1.1 400 Bad Request".
type sniffConn struct {
	net.Conn
	p     *probe
	once  sync.Once
	first []byte
}

func (c *sniffConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.once.Do(func() {
			if bytes.HasPrefix(b[:n], []byte("HTTP/")) {
				addr := c.p.addr
				c.p.set(&AddrError{Addr: addr, Problem: "answered HTTP, not the Shoal API", Suggest: apiPortSuggestion(addr)})
			}
		})
	}
	return n, err
}

// apiPortSuggestion returns host:DefaultAPIPort when addr is on another
// port and something accepts connections there (likely the API of the
// same server in the default layout), else "".
func apiPortSuggestion(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == suggestPort {
		return ""
	}
	cand := net.JoinHostPort(host, suggestPort)
	conn, err := net.DialTimeout("tcp", cand, 500*time.Millisecond)
	if err != nil {
		return ""
	}
	conn.Close()
	return cand
}

// unreachable reports the definite problems of every address, or nil
// when any address may still answer (it never failed definitely).
func (c *Conn) unreachable() error {
	var out AddrsError
	for _, p := range c.probes {
		d := p.get()
		if d == nil {
			return nil
		}
		out = append(out, d)
	}
	return out
}
