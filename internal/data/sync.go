package data

import (
	"context"
	"errors"
	"sync"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// Durability. Flush (close) makes data visible to other Layers but not
// durable against power loss: the store's Put does not fsync. Sync makes
// it durable by syncing, through objstore.Syncer, every block uploaded
// for the inode since its last Sync, whichever handle wrote it and even
// if every handle has closed since (as fsync on Linux covers writes
// through any descriptor), before committing the pending slices. The
// caller then makes the metadata durable, so an fsynced write's blocks
// always reach the disk before the commit that references them.
//
// The keys wait in Layer.mu.unsynced, per inode. To bound that memory, a
// background pass syncs everything once maxUnsynced keys pile up, and
// Close syncs what is left, as unmounting a Linux filesystem does.
const maxUnsynced = 1 << 16

// unsynced is the set of an inode's block keys not synced yet.
type unsynced struct {
	// syncMu is held across a store Sync, so that a Sync that finds
	// nothing left to do still returns only after an earlier Sync of
	// the inode has made its keys durable.
	syncMu sync.Mutex
	keys   []string // guarded by Layer.mu
	users  int      // goroutines between lookup and release; Layer.mu
}

// noteUploaded records key, just uploaded for ino, as needing a sync.
func (l *Layer) noteUploaded(ino meta.Ino, key string) {
	if l.syncer == nil {
		return
	}
	l.mu.Lock()
	u := l.mu.unsynced[ino]
	if u == nil {
		u = &unsynced{}
		l.mu.unsynced[ino] = u
	}
	u.keys = append(u.keys, key)
	l.mu.unsyncedN++
	over := l.mu.unsyncedN >= maxUnsynced && !l.mu.syncingAll && !l.mu.closed
	if over {
		l.mu.syncingAll = true
		l.uploads.Add(1)
	}
	l.mu.Unlock()
	if over {
		go func() {
			defer l.uploads.Done()
			if err := l.syncAll(context.Background()); err != nil {
				l.warn("data: background block sync", "err", err)
			}
			l.mu.Lock()
			l.mu.syncingAll = false
			l.mu.Unlock()
		}()
	}
}

// acquireUnsynced returns the inodes' unsynced sets (created if absent),
// each held against removal until releaseUnsynced.
func (l *Layer) acquireUnsynced(inos []meta.Ino) []*unsynced {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*unsynced, len(inos))
	for i, ino := range inos {
		u := l.mu.unsynced[ino]
		if u == nil {
			u = &unsynced{}
			l.mu.unsynced[ino] = u
		}
		u.users++
		out[i] = u
	}
	return out
}

func (l *Layer) releaseUnsynced(inos []meta.Ino, us []*unsynced) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, u := range us {
		u.users--
		if u.users == 0 && len(u.keys) == 0 && l.mu.unsynced[inos[i]] == u {
			delete(l.mu.unsynced, inos[i])
		}
	}
}

// syncInodes syncs the unsynced blocks of inos in one store call. The
// caller must not hold any unsynced.syncMu; inos are locked in the order
// given, so callers locking several pass them sorted (syncAll) or one.
func (l *Layer) syncInodes(ctx context.Context, inos []meta.Ino) error {
	if l.syncer == nil || len(inos) == 0 {
		return nil
	}
	us := l.acquireUnsynced(inos)
	defer l.releaseUnsynced(inos, us)
	for _, u := range us {
		u.syncMu.Lock()
		defer u.syncMu.Unlock()
	}
	var keys []string
	taken := make([][]string, len(us))
	l.mu.Lock()
	for i, u := range us {
		taken[i] = u.keys
		keys = append(keys, u.keys...)
		l.mu.unsyncedN -= len(u.keys)
		u.keys = nil
	}
	l.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	err := l.syncer.Sync(ctx, keys)
	// A missing block belonged to a slice that was dropped or collected
	// since: nothing references it, so there is nothing to make durable.
	if err != nil && !fserr.Is(fserr.NotExist, err) {
		l.mu.Lock()
		for i, u := range us {
			u.keys = append(taken[i], u.keys...)
			l.mu.unsyncedN += len(taken[i])
		}
		l.mu.Unlock()
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fserr.E("data.Sync", err)
	}
	return nil
}

// syncAll syncs every inode's unsynced blocks.
func (l *Layer) syncAll(ctx context.Context) error {
	l.syncAllMu.Lock()
	defer l.syncAllMu.Unlock()
	l.mu.Lock()
	inos := make([]meta.Ino, 0, len(l.mu.unsynced))
	for ino, u := range l.mu.unsynced {
		if len(u.keys) > 0 {
			inos = append(inos, ino)
		}
	}
	l.mu.Unlock()
	// syncAllMu makes this the only caller holding several syncMus, so
	// the order does not matter for deadlock; sorting is not needed.
	return l.syncInodes(ctx, inos)
}

// Sync flushes the inode like Flush, but first makes every block uploaded
// for it since its last Sync durable (objstore.Syncer), so that even an
// engine that syncs every commit never holds a record of an fsynced
// write whose blocks could be lost. The caller makes the metadata
// durable afterwards (the engine's sync): fsync is Handle.Sync followed
// by that.
func (h *Handle) Sync(ctx context.Context) error {
	if err := h.check("data.Sync"); err != nil {
		return err
	}
	inos := []meta.Ino{h.st.ino}
	err := h.st.flush(ctx, func() error { return h.l.syncInodes(ctx, inos) })
	if err != nil {
		return err
	}
	// Blocks flushed earlier (by Close or Flush) when nothing was pending.
	return h.l.syncInodes(ctx, inos)
}

// syncKeys makes keys durable now (compaction output, before the commit
// that references it).
func (l *Layer) syncKeys(ctx context.Context, keys []string) error {
	if l.syncer == nil || len(keys) == 0 {
		return nil
	}
	return l.syncer.Sync(ctx, keys)
}
