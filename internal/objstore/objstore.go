// Package objstore is the seam between Shoal's data path and the stores
// that keep file data as immutable objects (blocks): a local directory (the
// default), memory (tests), and S3-compatible stores (objstore/s3).
//
// Objects are written whole and never modified: Put of an existing key
// replaces it atomically (readers see the old or the new object, never a
// mix). A Put that returns nil is visible to every reader and survives the
// death of the writing process; surviving a power loss or kernel crash may
// additionally need Syncer.Sync, for stores that implement it.
package objstore

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned for a key that does not exist.
var ErrNotFound = errors.New("objstore: object not found")

// Info describes an object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
	// ETag is a validator that changes whenever the object does (S3's
	// ETag without quotes; the file store hashes size, mtime and inode;
	// the memory store an MD5 of the bytes). "" when the store keeps
	// none. Caches key pages by it, so an object rewritten in the store
	// is never served from its old pages.
	ETag string
}

// Store is an object store.
type Store interface {
	// Get returns length bytes of object key starting at off; length < 0
	// means to the end. A range past the end is truncated to the object;
	// off beyond the end returns an empty slice.
	Get(ctx context.Context, key string, off, length int64) ([]byte, error)
	// Put stores data under key, replacing any previous object atomically.
	Put(ctx context.Context, key string, data []byte) error
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Head returns the object's Info or ErrNotFound.
	Head(ctx context.Context, key string) (Info, error)
	// List returns up to limit objects (all when limit <= 0) whose keys
	// start with prefix and sort strictly after `after`, in key order.
	List(ctx context.Context, prefix, after string, limit int) ([]Info, error)
	// Close releases the store.
	Close() error
}

// Syncer is implemented by stores whose Put is not durable against power
// loss on its own (the local directory store). Stores without it are
// durable at Put.
type Syncer interface {
	// Sync makes the named objects, and the directory entries naming
	// them, durable. A missing key does not stop the others from being
	// synced; Sync then returns an error of kind NotExist (wrapping
	// ErrNotFound).
	Sync(ctx context.Context, keys []string) error
}

// DirLister is implemented by stores that list one level of a prefix with
// delimiter "/" (S3's ListObjectsV2 with Delimiter): what a dataset mount
// needs to show a directory without listing everything under it.
type DirLister interface {
	// ListDir returns up to limit entries (objects plus common prefixes;
	// a default of 1000 when limit <= 0) directly under prefix, which is
	// "" or ends in "/", in key order, continuing after the page whose
	// Next was passed as cont ("" starts at the beginning). An object
	// "prefix/a/b" shows as the common prefix "prefix/a/". A prefix with
	// nothing under it is an empty page, not an error.
	ListDir(ctx context.Context, prefix, cont string, limit int) (DirPage, error)
}

// DirPage is one page of a ListDir.
type DirPage struct {
	// Objects directly under the prefix, with full keys.
	Objects []Info
	// Prefixes are the common prefixes, full keys ending in "/".
	Prefixes []string
	// Next continues the listing; "" when this was the last page. Opaque
	// to callers (a key for the file and memory stores, S3's
	// continuation token for S3).
	Next string
}

// DefaultDirLimit is ListDir's page size when limit <= 0 (S3's own).
const DefaultDirLimit = 1000
