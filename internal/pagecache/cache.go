package pagecache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
)

// DefaultFetchTimeout bounds a fetch when Options.FetchTimeout is 0.
const DefaultFetchTimeout = time.Minute

// diskRetryAfter is how long a disk tier whose write failed is skipped
// before it is tried again: long enough not to pay a failing write on
// every miss, short enough that a disk freed of its ENOSPC comes back.
const diskRetryAfter = 30 * time.Second

// Cache is a page cache: a memory tier and disk tiers (see the package
// doc). It is safe for concurrent use.
//
// Lock order: mu only; no I/O and no fetch is done with it held.
type Cache struct {
	opts   Options
	log    *slog.Logger
	seq    atomic.Uint64 // page file names; starts at Open's time so restarts never reuse one
	closed context.Context
	close  context.CancelFunc
	wg     sync.WaitGroup // flights

	mu struct {
		sync.Mutex
		closed  bool
		mem     *memTier // nil: no memory tier
		disks   []*diskTier
		flights map[Key]*flight
		idle    sync.Cond // on mu: signalled when flights becomes empty
		// drops counts DropSource calls; a flight that began before
		// one stores nothing, since its page may be of a dropped
		// source.
		drops uint64
		stats Stats
	}
}

type memTier struct {
	budget    int64
	pol       policy[Key]
	pages     map[Key][]byte
	bytes     int64
	hits      uint64
	evictions uint64
}

type diskTier struct {
	dir       string
	budget    int64
	pol       policy[Key]
	pages     map[Key]diskPage
	bytes     int64 // of the indexed pages
	reserved  int64 // of the writes under way
	failUntil time.Time
	st        TierStats
}

type diskPage struct {
	name string
	size int64
}

// flight is one load of a page (from a disk tier or by fetch) that every
// concurrent Get of the page waits for.
type flight struct {
	done  chan struct{}
	drops uint64 // Cache.mu.drops when it began
	disk  int    // the disk tier it reads first, or -1
	// Set before done is closed:
	data     []byte
	err      error
	fromDisk bool // served by disk tier disk
	ready    bool // data is set (under mu): the page is being written to disk
}

// Open makes a cache from opts. Disk directories are created if missing;
// pages already in them are found again (see the package doc).
func Open(opts Options) (*Cache, error) {
	const op = "pagecache.Open"
	if err := opts.EnsureDefaults(); err != nil {
		return nil, err
	}
	c := &Cache{opts: opts, log: opts.Logger}
	c.seq.Store(uint64(time.Now().UnixNano()))
	c.closed, c.close = context.WithCancel(context.Background())
	c.mu.flights = map[Key]*flight{}
	c.mu.idle.L = &c.mu.Mutex
	if opts.MemoryBytes > 0 {
		pol, _ := newPolicy[Key](opts.Policy, opts.MemoryBytes)
		c.mu.mem = &memTier{budget: opts.MemoryBytes, pol: pol, pages: map[Key][]byte{}}
	}
	for i, d := range opts.Disks {
		t, err := c.openDisk(i, d)
		if err != nil {
			return nil, fserr.E(op, d.Dir, err)
		}
		c.mu.disks = append(c.mu.disks, t)
	}
	return c, nil
}

// EnsureDefaults fills the unset fields of o and checks the others.
func (o *Options) EnsureDefaults() error {
	const op = "pagecache.Open"
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	if o.PageSize < 0 {
		return fserr.Errorf(op, fserr.Invalid, "page size %d is negative", o.PageSize)
	}
	if o.MemoryBytes == 0 {
		o.MemoryBytes = DefaultMemoryBytes
	}
	if o.Policy == "" {
		o.Policy = Policies[0]
	}
	if !slices.Contains(Policies, o.Policy) {
		return fserr.Errorf(op, fserr.Invalid, "unknown eviction policy %q (known: %s)", o.Policy, strings.Join(Policies, ", "))
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	seen := map[string]bool{}
	for _, d := range o.Disks {
		if d.Dir == "" {
			return fserr.Errorf(op, fserr.Invalid, "a disk tier has no directory")
		}
		if d.Bytes <= 0 {
			return fserr.Errorf(op, fserr.Invalid, "disk tier %s: budget %d bytes: must be positive", d.Dir, d.Bytes)
		}
		abs, err := filepath.Abs(d.Dir)
		if err != nil {
			return fserr.E(op, d.Dir, fserr.Invalid, err)
		}
		if seen[abs] {
			return fserr.Errorf(op, fserr.Invalid, "disk tier %s given twice", d.Dir)
		}
		seen[abs] = true
	}
	return nil
}

// openDisk prepares disk tier i: its directories, and the index of the
// pages found there, oldest first into the policy as proven pages (they
// were worth keeping before the restart), evicted down to the budget if
// it shrank.
func (c *Cache) openDisk(i int, d Disk) (*diskTier, error) {
	if err := makeDirs(d.Dir); err != nil {
		return nil, err
	}
	files, bad, err := scanDir(d.Dir, c.opts.PageSize)
	if err != nil {
		return nil, err
	}
	pol, _ := newPolicy[Key](c.opts.Policy, d.Bytes)
	t := &diskTier{dir: d.Dir, budget: d.Bytes, pol: pol, pages: map[Key]diskPage{}}
	t.st = TierStats{Name: d.Dir, Tier: fmt.Sprintf("disk%d", i), Budget: d.Bytes, Discarded: uint64(bad)}
	// Two files of one key: a crash between a rewrite's rename and the
	// old file's removal. The later write wins.
	slices.SortFunc(files, func(a, b found) int {
		return cmp.Or(cmp.Compare(a.mtime, b.mtime), cmp.Compare(a.seq, b.seq))
	})
	byKey := map[Key]int{}
	for j, f := range files {
		if prev, ok := byKey[f.key]; ok {
			if files[prev].seq > f.seq {
				os.Remove(filepath.Join(d.Dir, f.name))
				continue
			}
			os.Remove(filepath.Join(d.Dir, files[prev].name))
		}
		byKey[f.key] = j
	}
	for j, f := range files {
		if byKey[f.key] != j {
			continue
		}
		t.pages[f.key] = diskPage{name: f.name, size: f.size}
		t.pol.add(f.key, f.size, true)
		t.bytes += f.size
		t.st.Restored++
	}
	var victims []string
	for t.bytes > t.budget {
		victims = append(victims, c.evictDiskLocked(t))
	}
	c.unlink(t, victims)
	if bad > 0 {
		c.log.Warn("pagecache: removed damaged page files", "dir", d.Dir, "files", bad)
	}
	c.log.Info("pagecache: disk tier opened", "dir", d.Dir, "pages", len(t.pages), "bytes", t.bytes, "budget", t.budget)
	return t, nil
}

// PageSize is the cache's page size.
func (c *Cache) PageSize() int64 { return c.opts.PageSize }

func checkKey(k Key) error {
	const op = "pagecache.Get"
	switch {
	case strings.IndexByte(k.Source, 0) >= 0 || strings.IndexByte(k.Version, 0) >= 0:
		return fserr.Errorf(op, fserr.Invalid, "key %q %q: NUL in the source or version", k.Source, k.Version)
	case len(k.Source) > maxSourceLen || len(k.Version) > maxVersionLen:
		return fserr.Errorf(op, fserr.Invalid, "key of %d+%d bytes: source over %d or version over %d", len(k.Source), len(k.Version), maxSourceLen, maxVersionLen)
	case k.Page < 0:
		return fserr.Errorf(op, fserr.Invalid, "key %q: page %d is negative", k.Source, k.Page)
	}
	return nil
}

// Get returns page k: from memory, else from a disk tier (promoted to
// memory), else by calling fetch, once for all concurrent callers of the
// same page. The fetch runs detached from ctx (bounded by
// Options.FetchTimeout and by Close): a caller whose ctx ends gets its
// error at once while the fetch goes on for the others and for the cache.
// A fetch's error is returned to the callers that waited for it and not
// cached.
func (c *Cache) Get(ctx context.Context, k Key, fetch Fetch) ([]byte, error) {
	if err := checkKey(k); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if data, ok := c.memHitLocked(k); ok {
		c.mu.Unlock()
		return data, nil
	}
	f, joined := c.mu.flights[k]
	if joined && f.ready {
		c.mu.stats.Hits++
		c.mu.stats.BytesServedHits += uint64(len(f.data))
		c.mu.Unlock()
		return f.data, nil
	}
	if !joined {
		f = &flight{done: make(chan struct{}), drops: c.mu.drops, disk: c.diskOfLocked(k)}
		c.mu.flights[k] = f
		c.wg.Add(1)
		go c.load(ctx, k, fetch, f)
	}
	if f.disk < 0 {
		c.mu.stats.Misses++
		if joined {
			c.mu.stats.SharedWaits++
		}
	}
	c.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.disk >= 0 {
		// Counted now that it is known whether the disk served it.
		c.mu.Lock()
		if f.fromDisk {
			c.mu.stats.Hits++
			c.mu.stats.BytesServedHits += uint64(len(f.data))
			c.mu.disks[f.disk].st.Hits++
		} else {
			c.mu.stats.Misses++
			if joined {
				c.mu.stats.SharedWaits++
			}
		}
		c.mu.Unlock()
	}
	if f.err != nil {
		return nil, f.err
	}
	return f.data, nil
}

func (c *Cache) memHitLocked(k Key) ([]byte, bool) {
	m := c.mu.mem
	if m == nil {
		return nil, false
	}
	data, ok := m.pages[k]
	if !ok {
		return nil, false
	}
	m.pol.hit(k)
	m.hits++
	c.mu.stats.Hits++
	c.mu.stats.BytesServedHits += uint64(len(data))
	// The disk copy is as hot as the memory one: without this its
	// policy would see only the accesses memory missed and evict the
	// hottest pages first.
	if d := c.diskOfLocked(k); d >= 0 {
		c.mu.disks[d].pol.hit(k)
	}
	return data, true
}

func (c *Cache) diskOfLocked(k Key) int {
	for i, t := range c.mu.disks {
		if _, ok := t.pages[k]; ok {
			return i
		}
	}
	return -1
}

// load is the goroutine of flight f: read the disk copy if there is one,
// else fetch; publish the result; store it.
func (c *Cache) load(ctx context.Context, k Key, fetch Fetch, f *flight) {
	defer c.wg.Done()
	if f.disk >= 0 {
		if data, ok := c.readDisk(k, f); ok {
			c.mu.Lock()
			f.data, f.fromDisk = data, true
			if f.drops == c.mu.drops && !c.mu.closed {
				c.memPutLocked(k, data)
			}
			c.finishLocked(k)
			c.mu.Unlock()
			close(f.done)
			return
		}
	}

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.FetchTimeout)
	defer cancel()
	stop := context.AfterFunc(c.closed, cancel)
	defer stop()
	c.count(func(s *Stats) { s.Fetches++ })
	data, err := fetch(fctx)
	if err == nil && int64(len(data)) > c.opts.PageSize {
		err = fserr.Errorf("pagecache.Get", fserr.Invalid, "%s page %d: fetch returned %d bytes, more than the page size %d", k.Source, k.Page, len(data), c.opts.PageSize)
	}

	c.mu.Lock()
	if err != nil {
		c.mu.stats.FetchErrors++
		c.finishLocked(k)
		c.mu.Unlock()
		f.err = err
		close(f.done)
		return
	}
	c.mu.stats.BytesFetched += uint64(len(data))
	f.data, f.ready = data, true
	store := f.drops == c.mu.drops && !c.mu.closed
	if store {
		c.memPutLocked(k, data)
	}
	// The flight stays until the page is on disk: memory may evict it
	// before, and a Get meanwhile must share it, not fetch it again.
	write := store && len(c.mu.disks) > 0
	if !write {
		c.finishLocked(k)
	}
	c.mu.Unlock()
	close(f.done)

	if write {
		c.writeDisk(k, data, f.drops)
		c.mu.Lock()
		c.finishLocked(k)
		c.mu.Unlock()
	}
}

func (c *Cache) finishLocked(k Key) {
	delete(c.mu.flights, k)
	if len(c.mu.flights) == 0 {
		c.mu.idle.Broadcast()
	}
}

// Sync waits until no load is under way: every fetch has returned and
// every page fetched is written to its disk tier (or skipped). Tests and
// load jobs use it; Get never needs it.
func (c *Cache) Sync() {
	c.mu.Lock()
	for len(c.mu.flights) > 0 {
		c.mu.idle.Wait()
	}
	c.mu.Unlock()
}

// readDisk reads k's page from f.disk. A damaged page is counted, logged
// and removed; a page gone meanwhile (evicted) or unreadable is dropped
// from the index. In every such case the caller fetches it.
func (c *Cache) readDisk(k Key, f *flight) ([]byte, bool) {
	c.mu.Lock()
	t := c.mu.disks[f.disk]
	p, ok := t.pages[k]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	path := filepath.Join(t.dir, p.name)
	data, err := readPage(path, k, c.opts.PageSize)
	if err == nil {
		c.mu.Lock()
		t.pol.hit(k)
		c.mu.Unlock()
		return data, true
	}
	c.mu.Lock()
	if cur, ok := t.pages[k]; ok && cur.name == p.name {
		c.dropDiskLocked(t, k)
	}
	switch {
	case errors.Is(err, errCorrupt):
		c.mu.stats.Corrupt++
		t.st.Corrupt++
	case errors.Is(err, fs.ErrNotExist):
	default:
		t.st.ReadErrors++
	}
	c.mu.Unlock()
	switch {
	case errors.Is(err, errCorrupt):
		c.log.Warn("pagecache: damaged page removed; fetching it again", "dir", t.dir, "file", p.name,
			"source", k.Source, "version", k.Version, "page", k.Page, "err", err)
		os.Remove(path)
	case errors.Is(err, fs.ErrNotExist):
	default:
		c.log.Warn("pagecache: page unreadable; fetching it again", "dir", t.dir, "file", p.name, "err", err)
		os.Remove(path)
	}
	return nil, false
}

// writeDisk stores a fetched page on a disk tier: the first, starting at
// one chosen by the key's hash (spreading pages over the disks), that is
// healthy and has the budget. Space is reserved (evicting) before the
// write, so the budget holds while it runs. A failed write is logged and
// the tier is skipped for diskRetryAfter; the page stays served from
// memory.
func (c *Cache) writeDisk(k Key, data []byte, drops uint64) {
	c.mu.Lock()
	n := len(c.mu.disks)
	if n == 0 {
		c.mu.Unlock()
		return
	}
	size := diskSize(k, len(data))
	now := time.Now()
	var t *diskTier
	start := int(keyHash(k) % uint64(n))
	for i := range n {
		d := c.mu.disks[(start+i)%n]
		if now.Before(d.failUntil) || size > d.budget {
			continue
		}
		if _, ok := d.pages[k]; ok {
			c.mu.Unlock()
			return // another write stored it
		}
		t = d
		break
	}
	if t == nil {
		c.mu.Unlock()
		return
	}
	var victims []string
	for t.bytes+t.reserved+size > t.budget && len(t.pages) > 0 {
		victims = append(victims, c.evictDiskLocked(t))
	}
	if t.bytes+t.reserved+size > t.budget {
		c.mu.Unlock() // the budget is held by other writes under way
		c.unlink(t, victims)
		return
	}
	t.reserved += size
	c.mu.Unlock()
	c.unlink(t, victims)

	name := pageName(k, c.seq.Add(1))
	err := writePage(t.dir, name, k, c.opts.PageSize, data)

	c.mu.Lock()
	t.reserved -= size
	if err != nil {
		t.st.WriteErrors++
		t.failUntil = time.Now().Add(diskRetryAfter)
		c.mu.Unlock()
		c.log.Warn("pagecache: disk tier write failed; skipping the tier", "dir", t.dir, "for", diskRetryAfter, "err", err)
		return
	}
	_, dup := t.pages[k]
	if dup || drops != c.mu.drops {
		c.mu.Unlock()
		os.Remove(filepath.Join(t.dir, name))
		return
	}
	t.pages[k] = diskPage{name: name, size: size}
	t.pol.add(k, size, false)
	t.bytes += size
	t.st.Writes++
	c.mu.Unlock()
}

// evictDiskLocked evicts one page of t and returns its file's name, for
// the caller to unlink once the lock is released (names are never reused,
// so the unlink cannot hit a newer copy).
func (c *Cache) evictDiskLocked(t *diskTier) string {
	k, _ := t.pol.evict()
	p := t.pages[k]
	delete(t.pages, k)
	t.bytes -= p.size
	t.st.Evictions++
	c.mu.stats.Evictions++
	return p.name
}

func (c *Cache) dropDiskLocked(t *diskTier, k Key) string {
	p := t.pages[k]
	t.pol.remove(k)
	delete(t.pages, k)
	t.bytes -= p.size
	return p.name
}

func (c *Cache) unlink(t *diskTier, names []string) {
	for _, n := range names {
		if err := os.Remove(filepath.Join(t.dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("pagecache: removing an evicted page failed", "dir", t.dir, "file", n, "err", err)
		}
	}
}

func (c *Cache) memPutLocked(k Key, data []byte) {
	m := c.mu.mem
	if m == nil || int64(len(data)) > m.budget {
		return
	}
	if _, ok := m.pages[k]; ok {
		return
	}
	m.pages[k] = data
	m.pol.add(k, int64(len(data)), false)
	m.bytes += int64(len(data))
	for m.bytes > m.budget {
		v, _ := m.pol.evict()
		m.bytes -= int64(len(m.pages[v]))
		delete(m.pages, v)
		m.evictions++
		c.mu.stats.Evictions++
	}
}

func (c *Cache) count(f func(*Stats)) {
	c.mu.Lock()
	f(&c.mu.stats)
	c.mu.Unlock()
}

// Contains reports whether page k is in a tier, without counting a hit.
func (c *Cache) Contains(k Key) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.mu.mem; m != nil {
		if _, ok := m.pages[k]; ok {
			return true
		}
	}
	return c.diskOfLocked(k) >= 0
}

// DropSource removes every cached page of source, of every version, from
// every tier; pages of it being loaded meanwhile are served to their
// callers but not stored.
func (c *Cache) DropSource(source string) {
	c.mu.Lock()
	c.mu.drops++
	if m := c.mu.mem; m != nil {
		for k, data := range m.pages {
			if k.Source == source {
				m.pol.remove(k)
				delete(m.pages, k)
				m.bytes -= int64(len(data))
			}
		}
	}
	names := make([][]string, len(c.mu.disks))
	for i, t := range c.mu.disks {
		for k := range t.pages {
			if k.Source == source {
				names[i] = append(names[i], c.dropDiskLocked(t, k))
			}
		}
	}
	disks := c.mu.disks
	c.mu.Unlock()
	for i, t := range disks {
		c.unlink(t, names[i])
	}
}

// Stats returns the counters; Tiers lists the memory tier (when there is
// one) then the disk tiers in Options.Disks' order.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.mu.stats
	s.PageSize = c.opts.PageSize
	s.Tiers = make([]TierStats, 0, 1+len(c.mu.disks))
	if m := c.mu.mem; m != nil {
		s.Tiers = append(s.Tiers, TierStats{Name: TierMemory, Tier: TierMemory, Budget: m.budget, Bytes: m.bytes,
			Pages: int64(len(m.pages)), Hits: m.hits, Evictions: m.evictions})
	}
	for _, t := range c.mu.disks {
		ts := t.st
		ts.Bytes, ts.Pages = t.bytes, int64(len(t.pages))
		s.Tiers = append(s.Tiers, ts)
	}
	return s
}

// Close stops the loads under way (their callers get the fetch's
// cancellation), waits for them and drops the memory tier; Get fails with
// ErrClosed afterwards. Disk pages stay for the next Open.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil
	}
	c.mu.closed = true
	c.mu.Unlock()
	c.close()
	c.wg.Wait()
	c.mu.Lock()
	if m := c.mu.mem; m != nil {
		m.pages, m.bytes = map[Key][]byte{}, 0
		m.pol, _ = newPolicy[Key](c.opts.Policy, m.budget)
	}
	c.mu.Unlock()
	return nil
}
