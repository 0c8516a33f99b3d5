package ufs

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
)

// Loader is the meta.MountLoader of a process: it lists one level of a
// mount's store, page by page (DirLister), and hands it to meta to
// reconcile. Stores are opened once per mount and kept until Close.
type Loader struct {
	// Open opens a mount's store (OpenStore when nil); tests count calls
	// through it.
	Open   func(ctx context.Context, m meta.Mount) (Store, error)
	Logger *slog.Logger

	mu     sync.Mutex
	stores map[storeKey]Store
}

// storeKey names an opened store: a remount of the same root with
// another URL or options gets a new one.
type storeKey struct {
	root meta.Ino
	m    string
}

var _ meta.MountLoader = (*Loader)(nil)

// Store returns m's store, opening it on first use.
func (l *Loader) Store(ctx context.Context, m meta.Mount) (Store, error) {
	k := storeKey{m.Root, m.URL + "\x00" + m.Endpoint + "\x00" + m.Region + "\x00" + m.CredentialsFile}
	l.mu.Lock()
	defer l.mu.Unlock()
	if st, ok := l.stores[k]; ok {
		return st, nil
	}
	open := l.Open
	if open == nil {
		open = OpenStore
	}
	st, err := open(ctx, m)
	if err != nil {
		return nil, err
	}
	if l.stores == nil {
		l.stores = make(map[storeKey]Store)
	}
	l.stores[k] = st
	return st, nil
}

// LoadDir implements meta.MountLoader.
func (l *Loader) LoadDir(ctx context.Context, fs *meta.FS, m meta.Mount, dir meta.Ino, prefix string) error {
	st, err := l.Store(ctx, m)
	if err != nil {
		return err
	}
	var ents []meta.MountEntry
	cont := ""
	for {
		p, err := st.ListDir(ctx, prefix, cont, objstore.DefaultDirLimit)
		if err != nil {
			return err
		}
		for _, o := range p.Objects {
			name := strings.TrimPrefix(o.Key, prefix)
			if !validName(name) {
				continue
			}
			ents = append(ents, meta.MountEntry{Name: name, Key: o.Key, Size: uint64(max(o.Size, 0)),
				Mtime: o.ModTime.UnixNano(), ETag: o.ETag})
		}
		for _, cp := range p.Prefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(cp, prefix), "/")
			if !validName(name) {
				continue
			}
			ents = append(ents, meta.MountEntry{Name: name, Dir: true, Key: cp})
		}
		if p.Next == "" {
			break
		}
		cont = p.Next
	}
	ents = dedupe(ents)
	return fs.ApplyMountListing(ctx, dir, ents)
}

// validName reports whether a store name can be a directory entry: keys
// like "a//b" or "a/./b" have no path in a namespace and are skipped.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.Contains(name, "/") && len(name) <= meta.MaxName
}

// dedupe keeps, for a name that is both an object and a prefix ("a" and
// "a/b"), the prefix: the directory holds more of the dataset.
func dedupe(ents []meta.MountEntry) []meta.MountEntry {
	dirs := make(map[string]bool)
	for _, e := range ents {
		if e.Dir {
			dirs[e.Name] = true
		}
	}
	out := ents[:0]
	for _, e := range ents {
		if !e.Dir && dirs[e.Name] {
			continue
		}
		out = append(out, e)
	}
	return out
}

// Close closes the stores opened.
func (l *Loader) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, st := range l.stores {
		st.Close()
		delete(l.stores, k)
	}
	return nil
}
