package pagecache_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoalfs/shoal/internal/pagecache"
)

func TestGetFetchesOnce(t *testing.T) {
	c, err := pagecache.Open(pagecache.Options{PageSize: 4, MemoryBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var calls atomic.Int32
	release := make(chan struct{})
	fetch := func(context.Context) ([]byte, error) {
		calls.Add(1)
		<-release
		return []byte("abcd"), nil
	}
	k := pagecache.Key{Source: "m/obj", Version: "e1", Page: 0}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := c.Get(context.Background(), k, fetch)
			if err != nil || string(b) != "abcd" {
				t.Errorf("Get = %q, %v", b, err)
			}
		}()
	}
	for c.Stats().Misses < 8 {
		runtime.Gosched() // until every caller is in
	}
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("fetch called %d times, want 1", n)
	}
	if !c.Contains(k) || c.Contains(pagecache.Key{Source: "m/obj", Version: "e2"}) {
		t.Fatal("Contains wrong")
	}
	c.DropSource("m/obj")
	if c.Contains(k) {
		t.Fatal("DropSource kept the page")
	}
}
