// Package pagecache is a worker's cache of pages of objects that live in an
// under-store (a dataset mounted from S3 or a directory): fixed-size pages
// kept in memory and on local disks, each tier with a byte budget.
//
// Invariants:
//   - A page is named by Key{Source, Version, Page}. Version is the object's
//     ETag (or another validator that changes whenever the object does), so a
//     changed object's old pages are never served: they are simply never
//     asked for again and age out (DropSource removes them at once).
//   - Concurrent misses of one page call fetch once; the other callers wait
//     for that fetch and share its result (or its error).
//   - Bytes returned by Get are the caller's to read and must not be
//     modified; the cache never modifies them either.
//   - Every page stored on disk carries a checksum that Get verifies; a page
//     damaged on disk is counted, removed and fetched again, never served.
//   - The cache holds no state that is not a copy of the under-store: losing
//     any of it loses nothing.
//
// Tiers. The memory tier and each disk tier has its own byte budget and
// its own instance of the eviction policy (S3-FIFO by default, LRU
// selectable: policy.go says why, TestPolicies measures it).
//   - A fetched page enters memory and is written to one disk tier
//     (write-through, after the callers waiting for it have it): so a
//     restarted worker finds every page it fetched, not only those memory
//     happened to evict, and an eviction from memory costs no write. The
//     disk tiers together hold what memory holds and more; memory is the
//     hot subset. With several disks, the key's hash picks the first one
//     tried, which spreads the pages and the write load over them.
//   - A disk hit is promoted: the page enters memory as a new page.
//   - A memory hit counts as a use in the disk tier's policy too, so the
//     disk does not evict the pages hot enough to be always served by
//     memory.
//   - A disk tier's budget counts each file's header and the rounding up
//     to 4 KiB blocks; the space of a write is reserved (evicting first)
//     before the write, so the budget holds at every moment.
//   - A disk write that fails (EIO, ENOSPC, a vanished directory) is
//     logged and counted (TierStats.WriteErrors), and the tier is skipped
//     for 30 s; the page is still served from memory. A read that fails
//     fetches the page again.
//   - Restart: Open scans each disk directory's headers (not the data)
//     and indexes the sound pages again, oldest first, as proven pages;
//     files of another page size, with a bad header or a wrong length,
//     and the temp files of interrupted writes are removed. The data's
//     checksum is checked at every read.
//
// disk.go describes the disk format.
package pagecache

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// DefaultPageSize is the page size when Options.PageSize is 0.
const DefaultPageSize = 4 << 20

// Key names one page of one version of an object.
type Key struct {
	// Source names the object: the mount's id and the object's key
	// ("m1/train/part-0001.parquet"). Any string without NUL.
	Source string
	// Version is the object's validator (its ETag); pages of different
	// versions are different pages.
	Version string
	// Page is the page index: the page covers bytes
	// [Page*PageSize, (Page+1)*PageSize) of the object.
	Page int64
}

// Disk is one local disk tier: a directory the cache owns and the bytes it
// may use there.
type Disk struct {
	Dir   string
	Bytes int64
}

// Options configure a Cache. The zero value is a valid memory-only cache of
// DefaultMemoryBytes.
type Options struct {
	// PageSize is the size of every page but an object's last
	// (DefaultPageSize when 0). Fixed for the life of a disk directory:
	// pages found on disk with another size are discarded.
	PageSize int64
	// MemoryBytes is the memory tier's budget (DefaultMemoryBytes when 0;
	// negative: no memory tier).
	MemoryBytes int64
	// Disks are the disk tiers, in order; none means memory only.
	Disks []Disk
	// Policy names the eviction policy ("" picks the default; see
	// Policies).
	Policy string
	// Logger receives corruption and disk-error reports (nil: discard).
	Logger *slog.Logger
	// FetchTimeout bounds one fetch, which runs detached from the
	// cancellation of the caller that started it (DefaultFetchTimeout
	// when 0).
	FetchTimeout time.Duration
}

// DefaultMemoryBytes is the memory tier's budget when Options.MemoryBytes
// is 0.
const DefaultMemoryBytes = 256 << 20

// Stats are a cache's counters since Open, per tier and in all.
type Stats struct {
	Hits, Misses    uint64 // Get calls answered from a tier / that fetched
	Fetches         uint64 // fetch calls made (Misses minus shared waits)
	FetchErrors     uint64
	Corrupt         uint64 // pages found damaged on disk and dropped
	Evictions       uint64
	Tiers           []TierStats
	PageSize        int64
	SharedWaits     uint64 // Get calls that waited on another caller's fetch
	BytesFetched    uint64
	BytesServedHits uint64
}

// TierMemory is the memory tier's Name and Tier.
const TierMemory = "memory"

// TierStats describe one tier ("memory", or a disk's directory).
type TierStats struct {
	Name string
	// Tier is a short name fit for a metric label: "memory", or
	// "disk0", "disk1"... by the disk's index in Options.Disks.
	Tier      string
	Budget    int64
	Bytes     int64 // in use, file overhead included on disk
	Pages     int64
	Hits      uint64
	Evictions uint64
	// Disk tiers only:
	Writes      uint64 // pages stored
	WriteErrors uint64 // writes that failed (the tier was skipped a while)
	ReadErrors  uint64 // reads that failed other than by a bad checksum
	Corrupt     uint64 // pages whose checksum or header failed on read
	Restored    uint64 // pages found again by Open
	Discarded   uint64 // files removed by Open: bad header, other page size
}

// ErrClosed is returned by Get after Close.
var ErrClosed = errors.New("pagecache: closed")

// Fetch reads one page from the under-store: exactly the page's bytes (a
// short page only at the object's end).
type Fetch func(ctx context.Context) ([]byte, error)

// Cacher is what the worker's page endpoint and the load jobs use; *Cache
// implements it.
type Cacher interface {
	Get(ctx context.Context, k Key, fetch Fetch) ([]byte, error)
	Contains(k Key) bool
	DropSource(source string)
	Stats() Stats
	PageSize() int64
}

var _ Cacher = (*Cache)(nil)
