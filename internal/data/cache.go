package data

import (
	"sync"
)

// segKey names one segment of one block. Blocks are immutable, so a
// segment, once verified, stays valid for as long as it is cached.
type segKey struct {
	id    uint64
	index uint32
	seg   uint32
}

type cacheEntry struct {
	key        segKey
	data       []byte
	prev, next *cacheEntry
}

// cache is an LRU of verified block segments bounded by bytes. Segments
// of one fetched block share its buffer, which is freed when the last of
// them is evicted.
type cache struct {
	mu struct {
		sync.Mutex
		m     map[segKey]*cacheEntry
		head  cacheEntry // sentinel: head.next is the most recent
		bytes int64
		// evictions and evictedBytes count segments dropped to make room
		// (for Stats).
		evictions, evictedBytes int64
	}
	limit int64
}

func newCache(limit int64) *cache {
	c := &cache{limit: limit}
	c.mu.m = make(map[segKey]*cacheEntry)
	c.mu.head.next = &c.mu.head
	c.mu.head.prev = &c.mu.head
	return c
}

func (c *cache) unlinkLocked(e *cacheEntry) {
	e.prev.next = e.next
	e.next.prev = e.prev
}

func (c *cache) pushFrontLocked(e *cacheEntry) {
	h := &c.mu.head
	e.next = h.next
	e.prev = h
	h.next.prev = e
	h.next = e
}

// get returns a cached segment; the caller must not modify it.
func (c *cache) get(k segKey) []byte {
	if c.limit <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.mu.m[k]
	if e == nil {
		return nil
	}
	c.unlinkLocked(e)
	c.pushFrontLocked(e)
	return e.data
}

// put adds a segment, evicting the least recently used ones over limit.
func (c *cache) put(k segKey, data []byte) {
	if c.limit <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.mu.m[k]; e != nil {
		c.unlinkLocked(e)
		c.pushFrontLocked(e)
		return
	}
	e := &cacheEntry{key: k, data: data}
	c.mu.m[k] = e
	c.pushFrontLocked(e)
	c.mu.bytes += int64(len(data))
	for c.mu.bytes > c.limit {
		old := c.mu.head.prev
		if old == &c.mu.head {
			break
		}
		c.unlinkLocked(old)
		delete(c.mu.m, old.key)
		c.mu.bytes -= int64(len(old.data))
		c.mu.evictions++
		c.mu.evictedBytes += int64(len(old.data))
	}
}

// counts returns the bytes held and the evictions so far, together.
func (c *cache) counts() (bytes, evictions, evictedBytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.bytes, c.mu.evictions, c.mu.evictedBytes
}
