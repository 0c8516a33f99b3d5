package pagecache_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoalfs/shoal/internal/pagecache"
)

// The benchmarks of Get, each beside its limit (DESIGN.md principle 5):
//
//	go test -run '^$' -bench . -benchtime 200x ./internal/pagecache
//
// hit/memory against a memcpy of a page (what serving a page costs at
// least if the caller copies it; Get itself copies nothing), hit/disk
// (no memory tier) against os.ReadFile of a file of the same size in the
// same directory (the filesystem's own read, with the page in the OS page
// cache as it is for a hot disk tier), and miss (fetch from memory:
// a fetch that copies a page) against the same memcpy.

const benchPage = 4 << 20

func BenchmarkGet(b *testing.B) {
	data := make([]byte, benchPage)
	for i := range data {
		data[i] = byte(i)
	}
	ctx := context.Background()
	k := pagecache.Key{Source: "m1/bench", Version: "e1"}
	copyFetch := func(context.Context) ([]byte, error) { return append([]byte(nil), data...), nil }

	b.Run("hit/memory", func(b *testing.B) {
		c, _ := pagecache.Open(pagecache.Options{PageSize: benchPage, MemoryBytes: 4 * benchPage})
		defer c.Close()
		c.Get(ctx, k, copyFetch)
		b.SetBytes(benchPage)
		for b.Loop() {
			if _, err := c.Get(ctx, k, copyFetch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("limit/memcpy", func(b *testing.B) {
		dst := make([]byte, benchPage)
		b.SetBytes(benchPage)
		for b.Loop() {
			copy(dst, data)
		}
	})
	dir := b.TempDir()
	b.Run("hit/disk", func(b *testing.B) {
		c, _ := pagecache.Open(pagecache.Options{PageSize: benchPage, MemoryBytes: -1,
			Disks: []pagecache.Disk{{Dir: filepath.Join(dir, "cache"), Bytes: 16 * benchPage}}})
		defer c.Close()
		c.Get(ctx, k, copyFetch)
		c.Sync()
		b.SetBytes(benchPage)
		for b.Loop() {
			if _, err := c.Get(ctx, k, copyFetch); err != nil {
				b.Fatal(err)
			}
		}
		if s := c.Stats(); s.Fetches != 1 {
			b.Fatalf("%d fetches: not served from disk", s.Fetches)
		}
	})
	b.Run("limit/readfile", func(b *testing.B) {
		p := filepath.Join(dir, "plain")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchPage)
		for b.Loop() {
			if _, err := os.ReadFile(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, tiers := range []string{"memory", "memory+disk"} {
		b.Run("miss/"+tiers, func(b *testing.B) {
			opts := pagecache.Options{PageSize: benchPage, MemoryBytes: 8 * benchPage}
			if tiers == "memory+disk" {
				opts.Disks = []pagecache.Disk{{Dir: filepath.Join(dir, "miss"), Bytes: 8 * (benchPage + 4096)}}
			}
			c, _ := pagecache.Open(opts)
			defer c.Close()
			b.SetBytes(benchPage)
			i := 0
			for b.Loop() {
				i++
				if _, err := c.Get(ctx, pagecache.Key{Source: "m1/miss", Page: int64(i)}, copyFetch); err != nil {
					b.Fatal(err)
				}
			}
			c.Sync() // the disk writes run after Get returns: counted here
			if s := c.Stats(); s.Fetches != uint64(i) {
				b.Fatal(fmt.Sprint("fetches ", s.Fetches, " want ", i))
			}
		})
	}
}
