package remote_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/blockserver"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore/mem"
	"github.com/shoalfs/shoal/internal/objstore/remote"
	"github.com/shoalfs/shoal/internal/ring"
)

// ringPlacer places on a ring of the test's servers, by URL.
type ringPlacer struct{ r *ring.Ring }

func (p ringPlacer) Place(key string) []string { return p.r.Walk(key, 0) }

// counting counts the block requests a server answers.
type counting struct {
	mu sync.Mutex
	n  int
	h  http.Handler
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
}

func (c *counting) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Each request goes to its key's holder on the ring; when the holder is
// down it goes to the next member of the walk, not to the base URL.
func TestPlacer(t *testing.T) {
	ctx := context.Background()
	st := mem.New() // the store every worker shares
	var urls []string
	byURL := map[string]*counting{}
	var servers []*httptest.Server
	for range 3 {
		c := &counting{h: blockserver.New(st, blockserver.Options{})}
		ts := httptest.NewServer(c)
		t.Cleanup(ts.Close)
		servers = append(servers, ts)
		urls = append(urls, ts.URL)
		byURL[ts.URL] = c
	}
	r, err := ring.New(ring.Default(), urls)
	if err != nil {
		t.Fatal(err)
	}
	s := remote.New(urls[0], "", remote.Options{Placer: ringPlacer{r}, Backoff: time.Millisecond})
	defer s.Close()
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	want := map[string]int{}
	for _, k := range keys {
		if err := s.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
		holder, _ := r.Place(k)
		want[holder]++
	}
	for u, c := range byURL {
		if c.count() != want[u] {
			t.Errorf("%s answered %d requests, its ring share is %d", u, c.count(), want[u])
		}
	}
	// The holder of some key stops: its requests go to the next member.
	down := servers[1].URL
	servers[1].Close()
	for _, k := range keys {
		walk := r.Walk(k, 2)
		if walk[0] != down {
			continue
		}
		before := byURL[walk[1]].count()
		if got, err := s.Get(ctx, k, 0, -1); err != nil || string(got) != k {
			t.Fatalf("Get(%s) with its holder down = %q, %v", k, got, err)
		}
		if byURL[walk[1]].count() != before+1 {
			t.Fatalf("Get(%s) did not go to the next member %s", k, walk[1])
		}
	}
}

// A store with no base URL asks only its Placer; when the Placer has no
// member either, a request fails at once with kind IO saying so, instead
// of waiting through its retry rounds.
func TestNoBlockServer(t *testing.T) {
	st := remote.New("", "", remote.Options{Placer: placerFunc(func(string) []string { return nil }), Backoff: time.Second})
	defer st.Close()
	start := time.Now()
	err := st.Delete(context.Background(), "chunks/1/0")
	if !fserr.Is(fserr.IO, err) || !strings.Contains(err.Error(), "no worker holds a lease") {
		t.Fatalf("delete with nobody to ask: %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("took %v: it waited through retry rounds", d)
	}
}

type placerFunc func(string) []string

func (f placerFunc) Place(key string) []string { return f(key) }
