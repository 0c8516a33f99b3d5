package pagecache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/pagecache"
)

// content is the page k of a test object: bytes derived from the key, so
// a page served for the wrong key or damaged shows.
func content(k pagecache.Key, n int) []byte {
	b := make([]byte, n)
	seed := fmt.Sprintf("%s|%s|%d|", k.Source, k.Version, k.Page)
	for i := range b {
		b[i] = seed[i%len(seed)]
	}
	return b
}

// source is an under-store of test pages that counts its fetches.
type source struct {
	n     int
	calls atomic.Int64
}

func (s *source) fetch(k pagecache.Key) pagecache.Fetch {
	return func(context.Context) ([]byte, error) {
		s.calls.Add(1)
		return content(k, s.n), nil
	}
}

func key(i int) pagecache.Key {
	return pagecache.Key{Source: fmt.Sprintf("m1/obj-%d", i/4), Version: "etag1", Page: int64(i % 4)}
}

func open(t *testing.T, opts pagecache.Options) *pagecache.Cache {
	t.Helper()
	c, err := pagecache.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustGet(t *testing.T, c *pagecache.Cache, k pagecache.Key, src *source) {
	t.Helper()
	b, err := c.Get(context.Background(), k, src.fetch(k))
	if err != nil {
		t.Fatalf("Get %v: %v", k, err)
	}
	if !bytes.Equal(b, content(k, src.n)) {
		t.Fatalf("Get %v: wrong bytes", k)
	}
}

func tier(t *testing.T, s pagecache.Stats, name string) pagecache.TierStats {
	t.Helper()
	for _, ts := range s.Tiers {
		if ts.Tier == name {
			return ts
		}
	}
	t.Fatalf("no tier %s in %+v", name, s.Tiers)
	return pagecache.TierStats{}
}

func TestGetFetchesOnce(t *testing.T) {
	c := open(t, pagecache.Options{PageSize: 4, MemoryBytes: 64})
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
	s := c.Stats()
	if s.Fetches != 1 || s.SharedWaits != 7 || s.Misses != 8 {
		t.Fatalf("stats %+v", s)
	}
	if !c.Contains(k) || c.Contains(pagecache.Key{Source: "m/obj", Version: "e2"}) {
		t.Fatal("Contains wrong")
	}
	c.DropSource("m/obj")
	if c.Contains(k) {
		t.Fatal("DropSource kept the page")
	}
}

// A caller whose ctx ends stops waiting at once; the fetch it started goes
// on and serves the others and the cache.
func TestCancelledCallerLeavesFetch(t *testing.T) {
	c := open(t, pagecache.Options{PageSize: 4, MemoryBytes: 64})
	started, release := make(chan struct{}), make(chan struct{})
	var fetchErr atomic.Value
	fetch := func(ctx context.Context) ([]byte, error) {
		close(started)
		select {
		case <-release:
		case <-ctx.Done():
			fetchErr.Store(ctx.Err())
			return nil, ctx.Err()
		}
		return []byte("abcd"), nil
	}
	k := pagecache.Key{Source: "s", Version: "v"}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, k, fetch)
		first <- err
	}()
	<-started
	second := make(chan []byte, 1)
	go func() {
		b, err := c.Get(context.Background(), k, fetch)
		if err != nil {
			t.Error(err)
		}
		second <- b
	}()
	for c.Stats().Misses < 2 {
		runtime.Gosched()
	}
	cancel()
	select {
	case err := <-first:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled caller got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled caller still waiting")
	}
	close(release)
	if b := <-second; string(b) != "abcd" {
		t.Fatalf("second caller got %q", b)
	}
	if e := fetchErr.Load(); e != nil {
		t.Fatalf("the fetch saw its ctx end: %v", e)
	}
	if !c.Contains(k) {
		t.Fatal("the fetched page was not stored")
	}
}

func TestFetchTimeout(t *testing.T) {
	c := open(t, pagecache.Options{PageSize: 4, FetchTimeout: 20 * time.Millisecond})
	_, err := c.Get(context.Background(), pagecache.Key{Source: "s"}, func(ctx context.Context) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the fetch's deadline", err)
	}
}

func TestErrorsNotCached(t *testing.T) {
	c := open(t, pagecache.Options{PageSize: 4})
	k := pagecache.Key{Source: "s"}
	boom := errors.New("store down")
	calls := 0
	fetch := func(context.Context) ([]byte, error) {
		calls++
		if calls == 1 {
			return nil, boom
		}
		return []byte("ok"), nil
	}
	if _, err := c.Get(context.Background(), k, fetch); !errors.Is(err, boom) {
		t.Fatalf("first Get: %v", err)
	}
	if c.Contains(k) {
		t.Fatal("an error was cached")
	}
	if b, err := c.Get(context.Background(), k, fetch); err != nil || string(b) != "ok" {
		t.Fatalf("second Get: %q %v", b, err)
	}
	s := c.Stats()
	if s.Fetches != 2 || s.FetchErrors != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBadInput(t *testing.T) {
	c := open(t, pagecache.Options{PageSize: 4})
	never := func(context.Context) ([]byte, error) { t.Error("fetch called for a bad key"); return nil, nil }
	for _, k := range []pagecache.Key{{Source: "a\x00b"}, {Source: "a", Page: -1}, {Source: strings.Repeat("x", 5000)}} {
		if _, err := c.Get(context.Background(), k, never); !fserr.Is(fserr.Invalid, err) {
			t.Errorf("Get %q: %v, want invalid", k.Source, err)
		}
	}
	long := func(context.Context) ([]byte, error) { return []byte("12345"), nil }
	k := pagecache.Key{Source: "long"}
	if _, err := c.Get(context.Background(), k, long); !fserr.Is(fserr.Invalid, err) || !strings.Contains(err.Error(), "more than the page size") {
		t.Fatalf("a fetch over the page size: %v", err)
	}
	if c.Contains(k) {
		t.Fatal("an oversized page was stored")
	}
	dir := t.TempDir()
	for _, o := range []pagecache.Options{
		{PageSize: -1},
		{Policy: "clock"},
		{Disks: []pagecache.Disk{{Dir: dir}}},
		{Disks: []pagecache.Disk{{Bytes: 1 << 20}}},
		{Disks: []pagecache.Disk{{Dir: dir, Bytes: 1 << 20}, {Dir: dir + "/", Bytes: 1 << 20}}},
	} {
		if _, err := pagecache.Open(o); !fserr.Is(fserr.Invalid, err) {
			t.Errorf("Open(%+v): %v, want invalid", o, err)
		}
	}
	c.Close()
	if _, err := c.Get(context.Background(), k, long); !errors.Is(err, pagecache.ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
}

func TestPolicyOption(t *testing.T) {
	for _, p := range append([]string{""}, pagecache.Policies...) {
		c := open(t, pagecache.Options{PageSize: 8, MemoryBytes: 64, Policy: p})
		src := &source{n: 8}
		for i := range 100 {
			mustGet(t, c, key(i%20), src)
		}
		if s := tier(t, c.Stats(), "memory"); s.Bytes > 64 || s.Pages != 8 {
			t.Fatalf("policy %q: memory tier %+v", p, s)
		}
	}
}

// Through the real cache: a warm hot set survives a scan of five times the
// memory budget under the default policy.
func TestScanKeepsHotPages(t *testing.T) {
	const page = 1024
	c := open(t, pagecache.Options{PageSize: page, MemoryBytes: 100 * page})
	src := &source{n: page}
	hot := func(i int) pagecache.Key { return pagecache.Key{Source: "hot", Page: int64(i)} }
	for range 3 {
		for i := range 50 {
			mustGet(t, c, hot(i), src)
		}
	}
	for i := range 500 {
		mustGet(t, c, pagecache.Key{Source: "scan", Page: int64(i)}, src)
	}
	before := src.calls.Load()
	for i := range 50 {
		mustGet(t, c, hot(i), src)
	}
	if n := src.calls.Load() - before; n > 5 {
		t.Fatalf("after the scan, %d of 50 hot pages were fetched again", n)
	}
}

func diskOpts(dir string, page, mem, disk int64) pagecache.Options {
	return pagecache.Options{PageSize: page, MemoryBytes: mem, Disks: []pagecache.Disk{{Dir: dir, Bytes: disk}}}
}

// pageFiles lists the page files under dir and their summed size rounded
// to 4 KiB blocks.
func pageFiles(t *testing.T, dir string) (files []string, bytes int64) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, p)
		bytes += (fi.Size() + 4095) / 4096 * 4096
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, bytes
}

func TestDiskTier(t *testing.T) {
	const page = 10000
	dir := t.TempDir()
	// Memory holds 2 pages, the disk 8 (a page costs 12 KiB there).
	c := open(t, diskOpts(dir, page, 2*page, 8*12288))
	src := &source{n: page}
	for i := range 8 {
		mustGet(t, c, key(i), src)
	}
	c.Sync()
	if n := src.calls.Load(); n != 8 {
		t.Fatalf("%d fetches, want 8", n)
	}
	for i := range 8 {
		mustGet(t, c, key(i), src)
	}
	if n := src.calls.Load(); n != 8 {
		t.Fatalf("pages not served from disk: %d fetches", n)
	}
	s := c.Stats()
	d := tier(t, s, "disk0")
	if d.Name != dir || d.Pages != 8 || d.Writes != 8 || d.Hits < 6 || d.Bytes != 8*12288 || d.Budget != 8*12288 {
		t.Fatalf("disk tier %+v", d)
	}
	if s.Hits != 8 || s.Misses != 8 {
		t.Fatalf("hits %d misses %d", s.Hits, s.Misses)
	}
	// Over the budget: the disk evicts, files included.
	for i := 8; i < 40; i++ {
		mustGet(t, c, key(i), src)
	}
	c.Sync()
	files, used := pageFiles(t, dir)
	d = tier(t, c.Stats(), "disk0")
	if len(files) != 8 || used > d.Budget || d.Pages != 8 || d.Evictions != 32 {
		t.Fatalf("%d files of %d bytes; tier %+v", len(files), used, d)
	}
	held := 0
	for i := range 4 {
		if c.Contains(key(i)) {
			held++
		}
	}
	if held == 0 {
		t.Fatal("pages used twice were all evicted by one-time pages")
	}
	c.DropSource(key(0).Source)
	d = tier(t, c.Stats(), "disk0")
	if files, _ := pageFiles(t, dir); len(files) != int(d.Pages) || d.Pages >= 8 || d.Bytes != d.Pages*12288 {
		t.Fatalf("DropSource left %d files; tier %+v", len(files), d)
	}
	for i := range 4 {
		if c.Contains(key(i)) {
			t.Fatalf("DropSource left page %d", i)
		}
	}
}

// Without a memory tier every hit is a disk read.
func TestDiskOnly(t *testing.T) {
	const page = 4096
	c := open(t, diskOpts(t.TempDir(), page, -1, 1<<20))
	src := &source{n: page}
	for range 3 {
		for i := range 10 {
			mustGet(t, c, key(i), src)
		}
	}
	s := c.Stats()
	if src.calls.Load() != 10 || s.Hits != 20 || len(s.Tiers) != 1 {
		t.Fatalf("%d fetches, stats %+v", src.calls.Load(), s)
	}
}

func TestRestartFindsPages(t *testing.T) {
	const page = 5000
	dir := t.TempDir()
	src := &source{n: page}
	c, err := pagecache.Open(diskOpts(dir, page, 1<<20, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		mustGet(t, c, key(i), src)
	}
	short := pagecache.Key{Source: "short"}
	if _, err := c.Get(context.Background(), short, func(context.Context) ([]byte, error) { return []byte("tail"), nil }); err != nil {
		t.Fatal(err)
	}
	c.Close()

	// Leftovers a crash or another configuration leaves: a temp file, a
	// file with a bad header, one of another page size, a file not ours.
	os.WriteFile(filepath.Join(dir, "00", "w-123.tmp"), []byte("half"), 0o644)
	os.WriteFile(filepath.Join(dir, "01", "0100000000000000-1.pg"), []byte("garbage that is long enough to hold a header......"), 0o644)
	other := t.TempDir()
	c2, err := pagecache.Open(diskOpts(other, page*2, -1, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, c2, key(100), &source{n: page})
	c2.Close() // waits for the disk write
	otherFiles, _ := pageFiles(t, other)
	rel, _ := filepath.Rel(other, otherFiles[0])
	if err := os.Rename(otherFiles[0], filepath.Join(dir, rel)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "README"), []byte("not a page"), 0o644)

	c = open(t, diskOpts(dir, page, 1<<20, 1<<20))
	d := tier(t, c.Stats(), "disk0")
	if d.Restored != 21 || d.Discarded != 2 || d.Pages != 21 {
		t.Fatalf("after restart: %+v", d)
	}
	if _, err := os.Stat(filepath.Join(dir, "00", "w-123.tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("temp file left")
	}
	if _, err := os.Stat(filepath.Join(dir, "README")); err != nil {
		t.Fatal("a file not ours was removed")
	}
	fail := &source{n: page}
	for i := range 20 {
		if !c.Contains(key(i)) {
			t.Fatalf("page %d not found after restart", i)
		}
		mustGet(t, c, key(i), &source{n: page})
	}
	if b, err := c.Get(context.Background(), short, fail.fetch(short)); err != nil || string(b) != "tail" {
		t.Fatalf("short page after restart: %q %v", b, err)
	}
	if n := fail.calls.Load(); n != 0 {
		t.Fatalf("%d fetches after restart", n)
	}

	// A smaller budget at the next start evicts down to it.
	c.Close()
	c = open(t, diskOpts(dir, page, 1<<20, 5*8192))
	if d := tier(t, c.Stats(), "disk0"); d.Pages != 5 || d.Bytes > d.Budget {
		t.Fatalf("after restart with a smaller budget: %+v", d)
	}
	if files, _ := pageFiles(t, dir); len(files) != 6 { // 5 pages and README
		t.Fatalf("%d files", len(files))
	}
}

func TestCorruptPageRefetched(t *testing.T) {
	const page = 5000
	dir := t.TempDir()
	c := open(t, diskOpts(dir, page, -1, 1<<20))
	src := &source{n: page}
	k := key(0)
	mustGet(t, c, k, src)
	c.Sync()
	files, _ := pageFiles(t, dir)
	b, _ := os.ReadFile(files[0])
	b[len(b)-100] ^= 0xff
	os.WriteFile(files[0], b, 0o644)

	mustGet(t, c, k, src) // the damaged copy is not served
	c.Sync()
	s := c.Stats()
	if src.calls.Load() != 2 || s.Corrupt != 1 || tier(t, s, "disk0").Corrupt != 1 {
		t.Fatalf("%d fetches; stats %+v", src.calls.Load(), s)
	}
	mustGet(t, c, k, src) // the fresh copy is
	if src.calls.Load() != 2 {
		t.Fatal("the page fetched again was not stored")
	}
	if files2, _ := pageFiles(t, dir); len(files2) != 1 || files2[0] == files[0] {
		t.Fatalf("files %v", files2)
	}
	// A damaged header is found at the next Open.
	files, _ = pageFiles(t, dir)
	b, _ = os.ReadFile(files[0])
	b[20] ^= 0xff
	os.WriteFile(files[0], b, 0o644)
	c.Close()
	c = open(t, diskOpts(dir, page, -1, 1<<20))
	if d := tier(t, c.Stats(), "disk0"); d.Discarded != 1 || d.Pages != 0 {
		t.Fatalf("tier %+v", d)
	}
}

// A disk that fails a write is skipped; the page is served all the same.
func TestDiskWriteFailureSkipped(t *testing.T) {
	const page = 4096
	dir := t.TempDir()
	c := open(t, diskOpts(dir, page, 1<<20, 1<<20))
	if err := os.RemoveAll(dir); err != nil { // the disk is gone
		t.Fatal(err)
	}
	src := &source{n: page}
	for i := range 40 {
		mustGet(t, c, key(i), src)
	}
	c.Sync()
	d := tier(t, c.Stats(), "disk0")
	// Writes run after their Get returns, so a few may fail at once
	// before the tier is marked; then it is skipped.
	if d.WriteErrors == 0 || d.WriteErrors > 4 || d.Pages != 0 {
		t.Fatalf("tier %+v: want a failed write, then the tier skipped", d)
	}
}

// ENOSPC from a real filesystem smaller than the budget: a 256 KiB tmpfs
// with a 4 MiB budget (needs root to mount; skipped otherwise).
func TestDiskFullSkipped(t *testing.T) {
	dir := mountTmpfs(t, "256k")
	const page = 64 << 10
	c := open(t, pagecache.Options{PageSize: page, MemoryBytes: 64 * page,
		Disks: []pagecache.Disk{{Dir: dir, Bytes: 4 << 20}, {Dir: t.TempDir(), Bytes: 4 << 20}}})
	src := &source{n: page}
	for i := range 40 {
		mustGet(t, c, key(i), src)
	}
	c.Sync()
	s := c.Stats()
	full, ok := tier(t, s, "disk0"), tier(t, s, "disk1")
	if full.WriteErrors == 0 || ok.WriteErrors != 0 || ok.Pages == 0 || full.Pages+ok.Pages >= 40 {
		t.Fatalf("full disk %+v, other %+v", full, ok)
	}
	if src.calls.Load() != 40 {
		t.Fatal("fetches")
	}
}

// TestStress runs many goroutines over few pages, small budgets, random
// cancellations, fetch failures and DropSource, checking every byte; run
// with -race.
func TestStress(t *testing.T) {
	const page = 2048
	for _, pol := range pagecache.Policies {
		t.Run(pol, func(t *testing.T) {
			opts := pagecache.Options{PageSize: page, MemoryBytes: 20 * page, Policy: pol,
				Disks: []pagecache.Disk{{Dir: t.TempDir(), Bytes: 30 * 8192}, {Dir: t.TempDir(), Bytes: 20 * 8192}}}
			c := open(t, opts)
			var fetches atomic.Int64
			var wg sync.WaitGroup
			for g := range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 7))
					for range 400 {
						k := key(rng.IntN(120))
						if rng.IntN(200) == 0 {
							c.DropSource(k.Source)
							continue
						}
						ctx, cancel := context.WithCancel(context.Background())
						if rng.IntN(10) == 0 {
							cancel()
						}
						fail := rng.IntN(20) == 0
						b, err := c.Get(ctx, k, func(context.Context) ([]byte, error) {
							fetches.Add(1)
							if fail {
								return nil, errors.New("injected")
							}
							runtime.Gosched()
							return content(k, page-int(k.Page)), nil
						})
						cancel()
						switch {
						case err == nil:
							if !bytes.Equal(b, content(k, page-int(k.Page))) {
								t.Errorf("wrong bytes for %v", k)
								return
							}
						case errors.Is(err, context.Canceled) || err.Error() == "injected":
						default:
							t.Errorf("Get: %v", err)
							return
						}
					}
				}()
			}
			wg.Wait()
			c.Close()
			s := c.Stats()
			for _, ts := range s.Tiers {
				if ts.Bytes > ts.Budget || ts.Bytes < 0 {
					t.Errorf("tier %s over budget: %+v", ts.Tier, ts)
				}
			}
			t.Logf("%s: %d fetches, hits %d, misses %d, shared %d, evictions %d", pol, fetches.Load(), s.Hits, s.Misses, s.SharedWaits, s.Evictions)
			// The disks are sound: a new cache finds only whole pages
			// that read back right.
			c2 := open(t, opts)
			for i := range 120 {
				k := key(i)
				if c2.Contains(k) {
					b, err := c2.Get(context.Background(), k, func(context.Context) ([]byte, error) { return nil, errors.New("not cached") })
					if err != nil || !bytes.Equal(b, content(k, page-int(k.Page))) {
						t.Fatalf("after reopen %v: %v", k, err)
					}
				}
			}
			if s := c2.Stats(); s.Corrupt != 0 || tier(t, s, "disk0").Discarded+tier(t, s, "disk1").Discarded != 0 {
				t.Fatalf("reopened: %+v", s)
			}
		})
	}
}
