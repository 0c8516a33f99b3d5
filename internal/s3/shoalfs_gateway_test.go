package s3_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/s3"
	"github.com/shoalfs/shoal/internal/s3/shoalfs"
	"github.com/shoalfs/shoal/internal/s3/sigv4"
)

// The gateway's client-level tests, run against the Shoal backend: the
// same env as newEnv, with shoalfs over a local filesystem in place of
// mem, and fsck (Client.Check) clean at the end.

func newShoalEnv(t *testing.T, tls bool) (*env, *shoal.Client) {
	t.Helper()
	ctx := context.Background()
	c, err := shoal.OpenLocal(ctx, t.TempDir(), shoal.WithGCInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	// The test key acts as uid 1000, who may create buckets here.
	if err := c.Chmod("/", 0o777); err != nil {
		t.Fatal(err)
	}
	be, err := shoalfs.New(ctx, c, shoalfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := s3.New(s3.Config{
		Backend:     be,
		Credentials: testCreds,
		BaseDomain:  "s3.shoal.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{gw: gw, modes: map[string]int{}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := r.Header.Get("X-Amz-Content-Sha256")
		if len(mode) == 64 {
			mode = "sha256"
		}
		e.mu.Lock()
		e.modes[mode]++
		e.mu.Unlock()
		gw.ServeHTTP(w, r)
	})
	if tls {
		e.srv = httptest.NewTLSServer(h)
	} else {
		e.srv = httptest.NewServer(h)
	}
	t.Cleanup(func() {
		e.srv.Close()
		be.Close()
		if err := c.GC(); err != nil {
			t.Error(err)
		}
		probs, err := c.Check(true)
		if err != nil || len(probs) > 0 {
			t.Errorf("check after the test: %v %v", err, probs)
		}
		c.Close()
	})
	return e, c
}

func TestShoalFSAWSSDK(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tls], func(t *testing.T) {
			e, _ := newShoalEnv(t, tls)
			start := time.Now()
			testAWSObjects(t, e)
			t.Logf("%v; payload modes seen: %v", time.Since(start), e.modes)
			if tls && e.seen(sigv4.StreamingUnsignedTrailer) == 0 {
				t.Error("the SDK never sent STREAMING-UNSIGNED-PAYLOAD-TRAILER")
			}
		})
	}
}
