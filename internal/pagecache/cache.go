package pagecache

import (
	"container/list"
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/singleflight"
)


// Cache is a page cache. It is safe for concurrent use.
//
// This first version has the memory tier only, with LRU eviction; the disk
// tiers and the measured policy choice replace it (see the package doc).
type Cache struct {
	opts  Options
	group singleflight.Group

	mu struct {
		sync.Mutex
		closed bool
		pages  map[Key]*list.Element
		lru    *list.List // front: most recent; values *entry
		bytes  int64
		stats  Stats
	}
}

type entry struct {
	key  Key
	data []byte
}

// Open makes a cache from opts.
func Open(opts Options) (*Cache, error) {
	if opts.PageSize == 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.PageSize < 0 {
		return nil, fmt.Errorf("pagecache: page size %d is negative", opts.PageSize)
	}
	if opts.MemoryBytes == 0 {
		opts.MemoryBytes = DefaultMemoryBytes
	}
	if opts.Policy == "" {
		opts.Policy = Policies[0]
	}
	c := &Cache{opts: opts}
	c.mu.pages = make(map[Key]*list.Element)
	c.mu.lru = list.New()
	return c, nil
}

// PageSize is the cache's page size.
func (c *Cache) PageSize() int64 { return c.opts.PageSize }

// Get returns page k, calling fetch on a miss (once for all concurrent
// callers of the same page).
func (c *Cache) Get(ctx context.Context, k Key, fetch Fetch) ([]byte, error) {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if el, ok := c.mu.pages[k]; ok {
		c.mu.lru.MoveToFront(el)
		c.mu.stats.Hits++
		data := el.Value.(*entry).data
		c.mu.stats.BytesServedHits += uint64(len(data))
		c.mu.Unlock()
		return data, nil
	}
	c.mu.stats.Misses++
	c.mu.Unlock()
	name := fmt.Sprintf("%s\x00%s\x00%d", k.Source, k.Version, k.Page)
	v, err, shared := c.group.Do(name, func() (any, error) {
		c.count(func(s *Stats) { s.Fetches++ })
		data, err := fetch(ctx)
		if err != nil {
			c.count(func(s *Stats) { s.FetchErrors++ })
			return nil, err
		}
		c.put(k, data)
		return data, nil
	})
	if shared {
		c.count(func(s *Stats) { s.SharedWaits++ })
	}
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

func (c *Cache) count(f func(*Stats)) {
	c.mu.Lock()
	f(&c.mu.stats)
	c.mu.Unlock()
}

func (c *Cache) put(k Key, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.stats.BytesFetched += uint64(len(data))
	if c.opts.MemoryBytes < 0 || int64(len(data)) > c.opts.MemoryBytes {
		return
	}
	if _, ok := c.mu.pages[k]; ok {
		return
	}
	c.mu.pages[k] = c.mu.lru.PushFront(&entry{key: k, data: data})
	c.mu.bytes += int64(len(data))
	for c.mu.bytes > c.opts.MemoryBytes {
		c.removeLocked(c.mu.lru.Back())
		c.mu.stats.Evictions++
	}
}

func (c *Cache) removeLocked(el *list.Element) {
	e := el.Value.(*entry)
	c.mu.lru.Remove(el)
	delete(c.mu.pages, e.key)
	c.mu.bytes -= int64(len(e.data))
}

// Contains reports whether page k is cached, without counting a hit.
func (c *Cache) Contains(k Key) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.mu.pages[k]
	return ok
}

// DropSource removes every cached page of source, of every version.
func (c *Cache) DropSource(source string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.mu.pages {
		if k.Source == source {
			c.removeLocked(el)
		}
	}
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.mu.stats
	s.PageSize = c.opts.PageSize
	s.Tiers = []TierStats{{Name: "memory", Budget: c.opts.MemoryBytes, Bytes: c.mu.bytes,
		Pages: int64(len(c.mu.pages)), Hits: s.Hits, Evictions: s.Evictions}}
	return s
}

// Close drops every page; Get fails with ErrClosed afterwards.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.closed = true
	c.mu.pages = map[Key]*list.Element{}
	c.mu.lru.Init()
	c.mu.bytes = 0
	return nil
}
