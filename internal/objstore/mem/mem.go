// Package mem is an in-memory objstore.Store for tests.
//
// Invariants: the store never shares memory with its callers (Put copies
// its argument, Get returns a copy), so callers may reuse their buffers.
package mem

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore"
)

type object struct {
	data  []byte
	mtime time.Time
	etag  string // MD5 of data, as S3 gives for a single-part object
}

// Store is an in-memory object store. The zero value is not usable; call New.
type Store struct {
	mu struct {
		sync.Mutex
		objs   map[string]object
		closed bool
	}
}

var (
	_ objstore.Store     = (*Store)(nil)
	_ objstore.Syncer    = (*Store)(nil)
	_ objstore.DirLister = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	s := &Store{}
	s.mu.objs = make(map[string]object)
	return s
}

func (s *Store) lookupLocked(op, key string) (object, error) {
	if s.mu.closed {
		return object{}, fserr.E(op, key, fserr.Closed)
	}
	o, ok := s.mu.objs[key]
	if !ok {
		return object{}, fserr.E(op, key, fserr.NotExist, objstore.ErrNotFound)
	}
	return o, nil
}

// Get implements objstore.Store.
func (s *Store) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	const op = "objstore/mem.Get"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fserr.E(op, key, fserr.Invalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.lookupLocked(op, key)
	if err != nil {
		return nil, err
	}
	n := int64(len(o.data))
	if off >= n {
		return []byte{}, nil
	}
	end := n
	if length >= 0 && off+length < n {
		end = off + length
	}
	return slices.Clone(o.data[off:end:end]), nil
}

// Put implements objstore.Store.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	const op = "objstore/mem.Put"
	if err := ctx.Err(); err != nil {
		return err
	}
	if key == "" {
		return fserr.E(op, key, fserr.Invalid)
	}
	cp := make([]byte, len(data))
	copy(cp, data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return fserr.E(op, key, fserr.Closed)
	}
	sum := md5.Sum(cp)
	s.mu.objs[key] = object{data: cp, mtime: time.Now(), etag: hex.EncodeToString(sum[:])}
	return nil
}

// Delete implements objstore.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return fserr.E("objstore/mem.Delete", key, fserr.Closed)
	}
	delete(s.mu.objs, key)
	return nil
}

// Head implements objstore.Store.
func (s *Store) Head(ctx context.Context, key string) (objstore.Info, error) {
	if err := ctx.Err(); err != nil {
		return objstore.Info{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.lookupLocked("objstore/mem.Head", key)
	if err != nil {
		return objstore.Info{}, err
	}
	return objstore.Info{Key: key, Size: int64(len(o.data)), ModTime: o.mtime, ETag: o.etag}, nil
}

// List implements objstore.Store. It sorts the matching keys on every
// call, which is fine for the sizes tests use.
func (s *Store) List(ctx context.Context, prefix, after string, limit int) ([]objstore.Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, fserr.E("objstore/mem.List", prefix, fserr.Closed)
	}
	var keys []string
	for k := range s.mu.objs {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	out := make([]objstore.Info, len(keys))
	for i, k := range keys {
		o := s.mu.objs[k]
		out[i] = objstore.Info{Key: k, Size: int64(len(o.data)), ModTime: o.mtime, ETag: o.etag}
	}
	return out, nil
}

// ListDir implements objstore.DirLister. Like List it looks at every key
// on each call: fine for tests, including a 100,000-key bucket.
func (s *Store) ListDir(ctx context.Context, prefix, cont string, limit int) (objstore.DirPage, error) {
	if err := ctx.Err(); err != nil {
		return objstore.DirPage{}, err
	}
	if limit <= 0 {
		limit = objstore.DefaultDirLimit
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return objstore.DirPage{}, fserr.E("objstore/mem.ListDir", prefix, fserr.Closed)
	}
	// Entries by name: an object's key, or a common prefix ending in "/".
	ents := make(map[string]bool) // name -> is a common prefix
	for k := range s.mu.objs {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		name := k
		dir := false
		if i := strings.IndexByte(k[len(prefix):], '/'); i >= 0 {
			name, dir = k[:len(prefix)+i+1], true
		}
		if name > cont {
			ents[name] = dir
		}
	}
	names := make([]string, 0, len(ents))
	for n := range ents {
		names = append(names, n)
	}
	sort.Strings(names)
	var page objstore.DirPage
	if len(names) > limit {
		names = names[:limit]
		page.Next = names[limit-1]
	}
	for _, n := range names {
		if ents[n] {
			page.Prefixes = append(page.Prefixes, n)
			continue
		}
		o := s.mu.objs[n]
		page.Objects = append(page.Objects, objstore.Info{Key: n, Size: int64(len(o.data)), ModTime: o.mtime, ETag: o.etag})
	}
	return page, nil
}

// Sync implements objstore.Syncer: memory has nothing to make durable,
// but missing keys are reported as the contract says.
func (s *Store) Sync(ctx context.Context, keys []string) error {
	const op = "objstore/mem.Sync"
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if _, err := s.lookupLocked(op, k); err != nil {
			return err
		}
	}
	return nil
}

// Len returns the number of objects (for tests).
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.objs)
}

// Close implements objstore.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.closed = true
	return nil
}
