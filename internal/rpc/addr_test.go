package rpc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
)

// A wrong address fails Dial at once, saying what is wrong with it and,
// when it can tell, where the API is; the retry window (30 s here) is
// not waited out.
func TestDialWrongAddress(t *testing.T) {
	api := startServer(t, newBackend(t, mem.New()), ServerOptions{})
	_, apiPort, _ := net.SplitHostPort(api.addr)
	old := suggestPort
	suggestPort = apiPort
	t.Cleanup(func() { suggestPort = old })

	// An HTTP/1.1 server, as the block and S3 ports are.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.NotFoundHandler()}
	go hs.Serve(lis)
	t.Cleanup(func() { hs.Close() })
	httpAddr := lis.Addr().String()

	// A port nothing listens on.
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l2.Addr().String()
	l2.Close()

	cases := []struct {
		name, addr string
		want       []string
		suggest    string
		errno      error
	}{
		{"http", httpAddr, []string{httpAddr + " answered HTTP, not the Shoal API"}, api.addr, nil},
		{"refused", refused, []string{refused + " refused the connection"}, api.addr, syscall.ECONNREFUSED},
		{"unknown host", "nosuch.invalid:7700", []string{"nosuch.invalid:7700 does not resolve"}, "", nil},
		{"no port", "127.0.0.1", []string{"127.0.0.1 has no port"}, "127.0.0.1:" + apiPort, nil},
		{"no port colon", "localhost:", []string{"localhost: has no port"}, "localhost:" + apiPort, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			c, err := Dial(context.Background(), []string{tc.addr}, ClientOptions{RetryTimeout: 30 * time.Second})
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("failed after %v, want at once", d)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			var ae *AddrError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T) carries no *AddrError", err, err)
			}
			if ae.Suggest != tc.suggest {
				t.Errorf("suggests %q, want %q", ae.Suggest, tc.suggest)
			}
			if tc.errno != nil && !errors.Is(err, tc.errno) {
				t.Errorf("error %v is not %v", err, tc.errno)
			}
		})
	}

	// Several addresses: the first that answers wins; when none does,
	// each one's reason is given.
	c := dial(t, []string{refused, httpAddr, api.addr}, ClientOptions{RetryTimeout: 30 * time.Second})
	if _, err := c.Meta().GetAttr(context.Background(), meta.RootIno); err != nil {
		t.Fatalf("getattr through the third address: %v", err)
	}
	_, err = Dial(context.Background(), []string{refused, httpAddr}, ClientOptions{RetryTimeout: 30 * time.Second})
	if err == nil || !strings.Contains(err.Error(), refused+" refused") || !strings.Contains(err.Error(), httpAddr+" answered HTTP") {
		t.Fatalf("Dial of two wrong addresses: %v", err)
	}
}

// A server that answered and then went away is waited for: it comes
// back on the same address within the retry window and the call
// succeeds, although the address refused connections meanwhile.
func TestServerBackWithinRetryWindow(t *testing.T) {
	eng := mem.New()
	a := startServer(t, newBackend(t, eng), ServerOptions{})
	c := dial(t, []string{a.addr}, ClientOptions{RetryTimeout: 20 * time.Second})
	m := c.Meta()
	if _, err := m.GetAttr(context.Background(), meta.RootIno); err != nil {
		t.Fatal(err)
	}
	a.g.Stop()
	done := make(chan error, 1)
	go func() {
		_, err := m.GetAttr(context.Background(), meta.RootIno)
		done <- err
	}()
	time.Sleep(500 * time.Millisecond) // calls meet a refused port meanwhile
	startServerAt(t, newBackend(t, eng), a.addr, ServerOptions{})
	if err := <-done; err != nil {
		t.Fatalf("getattr across the restart: %v", err)
	}
	if err := c.Close(); err != nil { // before the cleanups stop the server
		t.Fatal(err)
	}
}
