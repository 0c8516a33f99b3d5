package remote_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/blockserver"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/file"
	"github.com/shoalfs/shoal/internal/objstore/mem"
	"github.com/shoalfs/shoal/internal/objstore/remote"
	"github.com/shoalfs/shoal/internal/objstore/storetest"
)

// sendfileStore gives a file store the FileOpener that the server reads
// with sendfile.
type sendfileStore struct {
	*file.Store
	dir string
}

func (s sendfileStore) OpenFile(ctx context.Context, key string) (*os.File, error) {
	if _, err := s.Head(ctx, key); err != nil { // validates the key
		return nil, err
	}
	f, err := os.Open(filepath.Join(s.dir, filepath.FromSlash(key)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fserr.E("test.OpenFile", key, fserr.NotExist, objstore.ErrNotFound)
	}
	return f, err
}

// syncStore records Sync calls.
type syncStore struct {
	*mem.Store
	mu     sync.Mutex
	synced []string
}

func (s *syncStore) Sync(ctx context.Context, keys []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.synced = append(s.synced, keys...)
	return nil
}

func serve(t *testing.T, st objstore.Store, opts blockserver.Options) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(blockserver.New(st, opts))
	t.Cleanup(ts.Close)
	return ts
}

func TestConformance(t *testing.T) {
	t.Run("mem", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) objstore.Store {
			ts := serve(t, mem.New(), blockserver.Options{})
			return remote.New(ts.URL, "", remote.Options{})
		})
	})
	t.Run("file", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) objstore.Store {
			fst, err := file.Open(t.TempDir(), file.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			ts := serve(t, fst, blockserver.Options{})
			return remote.New(ts.URL, "", remote.Options{})
		})
	})
	t.Run("sendfile", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) objstore.Store {
			dir := t.TempDir()
			fst, err := file.Open(dir, file.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			ts := serve(t, sendfileStore{fst, dir}, blockserver.Options{})
			return remote.New(ts.URL, "", remote.Options{})
		})
	})
	t.Run("namedfs", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) objstore.Store {
			stores := map[string]objstore.Store{"a/b c": mem.New()}
			ts := serve(t, nil, blockserver.Options{Store: func(name string) (objstore.Store, error) {
				return stores[name], nil
			}})
			return remote.New(ts.URL, "a/b c", remote.Options{})
		})
	})
}

func TestNamedFilesystemsAreSeparate(t *testing.T) {
	ctx := context.Background()
	a, b := mem.New(), mem.New()
	ts := serve(t, nil, blockserver.Options{Store: func(name string) (objstore.Store, error) {
		switch name {
		case "a":
			return a, nil
		case "b":
			return b, nil
		}
		return nil, fserr.Errorf("test", fserr.NotExist, "no fs %q", name)
	}})
	ra := remote.New(ts.URL, "a", remote.Options{})
	if err := ra.Put(ctx, "k", []byte("in a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Head(ctx, "k"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("fs b sees a's key: %v", err)
	}
	if got, _ := a.Get(ctx, "k", 0, -1); string(got) != "in a" {
		t.Fatalf("fs a holds %q", got)
	}
	if _, err := remote.New(ts.URL, "zzz", remote.Options{}).Get(ctx, "k", 0, -1); !fserr.Is(fserr.NotExist, err) {
		t.Fatalf("unknown fs: %v, want NotExist", err)
	}
	if _, err := remote.New(ts.URL, "", remote.Options{}).Get(ctx, "k", 0, -1); !fserr.Is(fserr.NotExist, err) {
		t.Fatalf("no default store: %v, want NotExist", err)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	fst, err := file.Open(t.TempDir(), file.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := serve(t, fst, blockserver.Options{MaxObjectSize: 1 << 10})
	s := remote.New(ts.URL, "", remote.Options{})
	defer s.Close()

	_, err = s.Get(ctx, "missing", 0, -1)
	if !fserr.Is(fserr.NotExist, err) || !errors.Is(err, objstore.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get missing: %v", err)
	}
	if _, err := s.Get(ctx, "missing", 3, 0); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Get missing, zero length: %v", err)
	}
	for _, key := range []string{"a/../b", ".tmp.x", "a//b", ""} {
		if err := s.Put(ctx, key, []byte("x")); !fserr.Is(fserr.Invalid, err) {
			t.Errorf("Put(%q): %v, want Invalid", key, err)
		}
		if _, err := s.Head(ctx, key); !fserr.Is(fserr.Invalid, err) {
			t.Errorf("Head(%q): %v, want Invalid", key, err)
		}
	}
	if _, err := s.Get(ctx, "k", -1, 1); !fserr.Is(fserr.Invalid, err) {
		t.Errorf("negative offset: %v", err)
	}
	if err := s.Put(ctx, "big", make([]byte, 2<<10)); !fserr.Is(fserr.TooBig, err) {
		t.Errorf("Put too big: %v, want TooBig", err)
	}
	if err := s.Put(ctx, "p/q", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// The file store cannot hold a key that is also a directory.
	if err := s.Put(ctx, "p", []byte("x")); !fserr.Is(fserr.Exist, err) {
		t.Errorf("Put over a prefix: %v, want Exist", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "p/q", 0, -1); !fserr.Is(fserr.Closed, err) {
		t.Errorf("Get after Close: %v, want Closed", err)
	}
}

func TestOddKeys(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	ts := serve(t, st, blockserver.Options{})
	s := remote.New(ts.URL, "", remote.Options{})
	for _, key := range []string{"a?b=c", "x#y", "p%20q", "sp ace/ü", "a/b/c+d"} {
		if err := s.Put(ctx, key, []byte(key)); err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
		if got, err := st.Get(ctx, key, 0, -1); err != nil || string(got) != key {
			t.Fatalf("server store has %q under %q: %v", got, key, err)
		}
		if got, err := s.Get(ctx, key, 0, -1); err != nil || string(got) != key {
			t.Fatalf("Get(%q) = %q, %v", key, got, err)
		}
	}
}

func TestHeadModTime(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	ts := serve(t, st, blockserver.Options{})
	s := remote.New(ts.URL, "", remote.Options{})
	if err := s.Put(ctx, "k", []byte("12345")); err != nil {
		t.Fatal(err)
	}
	want, _ := st.Head(ctx, "k")
	got, err := s.Head(ctx, "k")
	if err != nil || got.Size != 5 || !got.ModTime.Equal(want.ModTime) {
		t.Fatalf("Head = %+v, %v; want %+v", got, err, want)
	}
	l, err := s.List(ctx, "", "", 0)
	if err != nil || len(l) != 1 || !l[0].ModTime.Equal(want.ModTime) {
		t.Fatalf("List = %+v, %v", l, err)
	}
}

func TestAuth(t *testing.T) {
	ctx := context.Background()
	ts := serve(t, mem.New(), blockserver.Options{Authorize: func(r *http.Request) error {
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			return nil
		case "Bearer readonly":
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				return nil
			}
			return fserr.Errorf("test", fserr.Permission, "read-only token")
		}
		return errors.New("bad token")
	}})
	if err := remote.New(ts.URL, "", remote.Options{Token: "good"}).Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("good token: %v", err)
	}
	for _, tok := range []string{"", "bad"} {
		s := remote.New(ts.URL, "", remote.Options{Token: tok})
		if _, err := s.Get(ctx, "k", 0, -1); !fserr.Is(fserr.Permission, err) {
			t.Errorf("token %q: Get: %v, want Permission", tok, err)
		}
		if _, err := s.Head(ctx, "k"); !fserr.Is(fserr.Permission, err) {
			t.Errorf("token %q: Head: %v, want Permission", tok, err)
		}
	}
	ro := remote.New(ts.URL, "", remote.Options{Token: "readonly"})
	if got, err := ro.Get(ctx, "k", 0, -1); err != nil || string(got) != "v" {
		t.Errorf("read-only Get = %q, %v", got, err)
	}
	if err := ro.Delete(ctx, "k"); !fserr.Is(fserr.Permission, err) {
		t.Errorf("read-only Delete: %v, want Permission", err)
	}
	resp, err := http.Get(ts.URL + "/v1/blocks/k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", resp.StatusCode)
	}
}

// deadURL returns the address of a port that refuses connections.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestFailover(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	first := httptest.NewServer(blockserver.New(st, blockserver.Options{}))
	second := serve(t, st, blockserver.Options{})
	s := remote.New(first.URL, "", remote.Options{FailoverURLs: []string{second.URL}, Backoff: time.Millisecond})
	if err := s.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	first.Close() // also closes the idle connections the client holds
	if got, err := s.Get(ctx, "k", 0, -1); err != nil || string(got) != "v" {
		t.Fatalf("Get after first server closed = %q, %v", got, err)
	}
	if err := s.Put(ctx, "k2", []byte("w")); err != nil {
		t.Fatalf("Put after failover: %v", err)
	}

	// Nothing reachable: bounded retries, then an IO error.
	none := remote.New(deadURL(t), "", remote.Options{FailoverURLs: []string{deadURL(t)}, Retries: 2, Backoff: time.Millisecond})
	start := time.Now()
	if _, err := none.Get(ctx, "k", 0, -1); !fserr.Is(fserr.IO, err) {
		t.Fatalf("Get with no server: %v, want IO", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("giving up took %v", d)
	}
}

func TestRetryWaitsForServer(t *testing.T) {
	// The server comes up on the address while the client backs off.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	st := mem.New()
	st.Put(context.Background(), "k", []byte("v"))
	go func() {
		time.Sleep(30 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return // the port was taken meanwhile; the client fails below
		}
		srv := &http.Server{Handler: blockserver.New(st, blockserver.Options{})}
		t.Cleanup(func() { srv.Close() })
		srv.Serve(l)
	}()
	s := remote.New("http://"+addr, "", remote.Options{Retries: 8, Backoff: 10 * time.Millisecond})
	if got, err := s.Get(context.Background(), "k", 0, -1); err != nil || string(got) != "v" {
		t.Fatalf("Get = %q, %v", got, err)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := remote.New(deadURL(t), "", remote.Options{Retries: 100, Backoff: 50 * time.Millisecond})
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	if _, err := s.Get(ctx, "k", 0, -1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get: %v, want context.Canceled", err)
	}
	if err := s.Put(ctx, "k", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put on a canceled ctx: %v", err)
	}
}

func TestRanges(t *testing.T) {
	ctx := context.Background()
	data := []byte("0123456789")
	for name, mk := range map[string]func(t *testing.T) objstore.Store{
		"mem": func(t *testing.T) objstore.Store { return mem.New() },
		"sendfile": func(t *testing.T) objstore.Store {
			dir := t.TempDir()
			fst, err := file.Open(dir, file.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			return sendfileStore{fst, dir}
		},
	} {
		t.Run(name, func(t *testing.T) {
			ts := serve(t, mk(t), blockserver.Options{})
			s := remote.New(ts.URL, "", remote.Options{})
			if err := s.Put(ctx, "r", data); err != nil {
				t.Fatal(err)
			}
			if err := s.Put(ctx, "empty", nil); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				key    string
				off, n int64
				want   string
			}{
				{"r", 0, -1, "0123456789"},
				{"r", 3, -1, "3456789"},
				{"r", 9, -1, "9"},
				{"r", 10, -1, ""},
				{"r", 11, 5, ""},
				{"r", 1 << 62, 1 << 62, ""},
				{"r", 5, 1<<63 - 1, "56789"},
				{"r", 0, 1, "0"},
				{"r", 8, 100, "89"},
				{"r", 4, 0, ""},
				{"empty", 0, -1, ""},
				{"empty", 0, 10, ""},
				{"empty", 1, 1, ""},
			} {
				got, err := s.Get(ctx, tc.key, tc.off, tc.n)
				if err != nil || string(got) != tc.want || got == nil {
					t.Errorf("Get(%s, %d, %d) = %q (nil %v), %v; want %q", tc.key, tc.off, tc.n, got, got == nil, err, tc.want)
				}
			}
		})
	}
}

// TestHTTPRange checks the raw protocol a non-Go client would see.
func TestHTTPRange(t *testing.T) {
	dir := t.TempDir()
	fst, err := file.Open(dir, file.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := serve(t, sendfileStore{fst, dir}, blockserver.Options{})
	fst.Put(context.Background(), "k", []byte("0123456789"))
	for _, tc := range []struct {
		rng, body, contentRange string
		status                  int
	}{
		{"", "0123456789", "", 200},
		{"bytes=2-4", "234", "bytes 2-4/10", 206},
		{"bytes=7-", "789", "bytes 7-9/10", 206},
		{"bytes=-3", "789", "bytes 7-9/10", 206},
		{"bytes=-30", "0123456789", "bytes 0-9/10", 206},
		{"bytes=8-100", "89", "bytes 8-9/10", 206},
		{"bytes=10-", "", "bytes */10", 416},
		{"bytes=1-2,4-5", "", "", 400},
		{"items=1-2", "", "", 400},
	} {
		req, _ := http.NewRequest("GET", ts.URL+"/v1/blocks/k", nil)
		if tc.rng != "" {
			req.Header.Set("Range", tc.rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Range") != tc.contentRange ||
			(tc.status < 300 && b.String() != tc.body) {
			t.Errorf("Range %q: %d %q %q; want %d %q %q", tc.rng, resp.StatusCode,
				resp.Header.Get("Content-Range"), b.String(), tc.status, tc.contentRange, tc.body)
		}
	}
}

func TestSync(t *testing.T) {
	ctx := context.Background()
	st := &syncStore{Store: mem.New()}
	ts := serve(t, st, blockserver.Options{})
	s := remote.New(ts.URL, "", remote.Options{})
	keys := []string{"a", "b/c"}
	if err := s.Sync(ctx, keys); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(st.synced) != fmt.Sprint(keys) {
		t.Fatalf("synced %q", st.synced)
	}
	// A store without Sync: durable already, so nothing to do.
	fst, err := file.Open(t.TempDir(), file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fs := remote.New(serve(t, fst, blockserver.Options{}).URL, "", remote.Options{})
	if err := fs.Put(ctx, "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := fs.Sync(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if err := fs.Sync(ctx, []string{"a", "missing"}); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Sync of a missing key: %v, want ErrNotFound", err)
	}
}
