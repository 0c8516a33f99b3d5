package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/s3"
	"github.com/shoalfs/shoal/internal/objstore/storetest"
	"github.com/shoalfs/shoal/internal/testserver/versitygw"
)

func options(srv *versitygw.Server, bucket, prefix string) s3.Options {
	return s3.Options{
		Bucket:    bucket,
		Prefix:    prefix,
		Endpoint:  srv.Endpoint,
		Region:    versitygw.Region,
		AccessKey: versitygw.AccessKey,
		SecretKey: versitygw.SecretKey,
	}
}

func TestConformance(t *testing.T) {
	srv := versitygw.Start(t, versitygw.Options{})
	var n atomic.Int64
	open := func(t *testing.T) objstore.Store {
		// A bucket per subtest, with and without a prefix.
		i := n.Add(1)
		b := fmt.Sprintf("conf%d", i)
		srv.Bucket(t, b)
		prefix := ""
		if i%2 == 0 {
			prefix = "some/prefix"
		}
		s, err := s3.Open(context.Background(), options(srv, b, prefix))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.Run(t, open)
}

// Two stores on one bucket under different prefixes never see each
// other's objects.
func TestPrefixesApart(t *testing.T) {
	srv := versitygw.Start(t, versitygw.Options{})
	srv.Bucket(t, "shared")
	ctx := context.Background()
	a, err := s3.Open(ctx, options(srv, "shared", "fs/1"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s3.Open(ctx, options(srv, "shared", "fs/2/"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Put(ctx, "k", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("other prefix sees the object: %v", err)
	}
	if l, err := b.List(ctx, "", "", 0); err != nil || len(l) != 0 {
		t.Fatalf("other prefix lists %v, %v", l, err)
	}
	if l, err := a.List(ctx, "", "", 0); err != nil || len(l) != 1 || l[0].Key != "k" {
		t.Fatalf("own prefix lists %v, %v", l, err)
	}
}

// Bad credentials, a missing bucket and an unreachable server are clear
// errors of the right kind.
func TestErrors(t *testing.T) {
	srv := versitygw.Start(t, versitygw.Options{})
	srv.Bucket(t, "bkt")
	ctx := context.Background()
	o := options(srv, "bkt", "")
	o.SecretKey = "wrong"
	s, err := s3.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "k", []byte("x")); !fserr.Is(fserr.Permission, err) {
		t.Errorf("wrong secret: %v, want kind Permission", err)
	}
	s, err = s3.Open(ctx, options(srv, "nobucket", ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); !fserr.Is(fserr.NotExist, err) || !strings.Contains(err.Error(), "nobucket") {
		t.Errorf("missing bucket: %v", err)
	}
	s, err = s3.Open(ctx, options(srv, "bkt", ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	if _, err := s.Get(ctx, "", 0, -1); !fserr.Is(fserr.Invalid, err) {
		t.Errorf("empty key: %v", err)
	}
	o = options(srv, "bkt", "")
	o.Endpoint = "http://127.0.0.1:1"
	o.MaxAttempts = 2
	s, err = s3.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Head(ctx, "k"); !fserr.Is(fserr.IO, err) {
		t.Errorf("unreachable: %v, want kind IO", err)
	}
	if _, err := s3.Open(ctx, s3.Options{}); !fserr.Is(fserr.Invalid, err) {
		t.Errorf("no bucket: %v", err)
	}
}

// Virtual-hosted-style requests name the bucket in the Host header; the
// gateway, told its domain, routes them. The test's dialer sends every
// host to the gateway, standing in for the DNS a deployment has.
func TestVirtualHosted(t *testing.T) {
	const domain = "s3.shoal.test"
	srv := versitygw.Start(t, versitygw.Options{VirtualDomain: domain})
	srv.Bucket(t, "vhost")
	_, port, _ := net.SplitHostPort(srv.Addr)
	var hosts dialled
	o := options(srv, "vhost", "p")
	o.Endpoint = "http://" + domain + ":" + port
	no := false
	o.PathStyle = &no
	o.Transport = func(tr *http.Transport) {
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			hosts.add(addr)
			return (&net.Dialer{}).DialContext(ctx, network, srv.Addr)
		}
	}
	s, err := s3.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "k", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "k", 1, 3); err != nil || string(got) != "ell" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if want := "vhost." + domain + ":" + port; !hosts.has(want) {
		t.Fatalf("dialled %v, want %s", hosts.list(), want)
	}
}

// dialled records the addresses a transport dialled.
type dialled struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dialled) add(a string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addrs = append(d.addrs, a)
}

func (d *dialled) has(a string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.addrs, a)
}

func (d *dialled) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.addrs)
}

// Throttling and server errors are retried with backoff: through a proxy
// that answers every other request 503 SlowDown, every operation still
// succeeds; with one attempt allowed, the first failure is the answer.
func TestRetries(t *testing.T) {
	srv := versitygw.Start(t, versitygw.Options{})
	srv.Bucket(t, "retry")
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var n, failed atomic.Int64
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 1 {
			failed.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer flaky.Close()
	ctx := context.Background()
	o := options(srv, "retry", "")
	o.Endpoint = flaky.URL
	o.MaxBackoff = 20 * time.Millisecond
	s, err := s3.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("r"), 100_000)
	if err := s.Put(ctx, "k", data); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "k", 10, 5); err != nil || string(got) != "rrrrr" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if l, err := s.List(ctx, "", "", 0); err != nil || len(l) != 1 {
		t.Fatalf("List = %v, %v", l, err)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if failed.Load() < 4 {
		t.Fatalf("only %d requests failed: the proxy did not get in the way", failed.Load())
	}
	o.MaxAttempts = 1
	s, err = s3.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	n.Store(0) // the next request fails
	if err := s.Put(ctx, "k", data); !fserr.Is(fserr.IO, err) {
		t.Fatalf("one attempt against a 503: %v, want kind IO", err)
	}
}
