package meta

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

var _ Service = (*FS)(nil)

const (
	formatMagic   = "shoal-meta"
	formatVersion = 1

	counterIno     = "ino"
	counterSlice   = "slice"
	counterSession = "session"
)

// FS is the namespace of one filesystem over a kv.Engine.
//
// Lock order: mu before an openState's mu is never needed (mu is released
// before an openState is locked); idmu and mu are leaves.
type FS struct {
	eng     kv.Engine
	cfg     Config
	k       keys
	session uint64
	closed  atomic.Bool

	inos, slices idRange

	mu struct {
		sync.Mutex
		open map[Ino]*openState
	}

	usage struct {
		sync.Mutex
		at            time.Time
		bytes, inodes int64
	}
}

// idRange is a batch of ids reserved from a counter key.
type idRange struct {
	mu        sync.Mutex
	next, end uint64
	// For slice ids: the session's last A record [recLo, recHi), which
	// a contiguous next batch extends instead of adding a record.
	recLo, recHi uint64
}

// openState counts this process's open handles of one inode. refs counts
// goroutines holding the pointer (guarded by FS.mu) so the map entry is
// only dropped when nobody can still use it.
type openState struct {
	mu    sync.Mutex
	count int
	refs  int
}

// New opens the filesystem cfg.ID in eng, formatting it (a root directory
// and the format record) if the engine holds none, and starts a session.
func New(ctx context.Context, eng kv.Engine, cfg Config) (*FS, error) {
	const op = "meta.New"
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fs := &FS{eng: eng, cfg: cfg, k: newKeys(cfg.ID)}
	fs.mu.open = make(map[Ino]*openState)
	now := cfg.Clock().UnixNano()
	err := eng.Update(ctx, func(tx kv.Txn) error {
		v, err := tx.Get(fs.k.format())
		if err == nil {
			return fs.checkFormat(v)
		}
		if !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		rec := append([]byte(formatMagic), formatVersion)
		rec = append(rec, cfg.Name...)
		root := node{Attr: Attr{Ino: RootIno, Type: TypeDir, Mode: 0755, Size: 4096, Nlink: 2,
			Atime: now, Mtime: now, Ctime: now, Parent: RootIno}, next: 1}
		puts := [][2][]byte{
			{fs.k.format(), rec},
			{fs.k.inode(RootIno), encodeNode(&root)},
			{fs.k.counter(counterIno), u64bytes(uint64(RootIno) + 1)},
			{fs.k.counter(counterSlice), u64bytes(1)},
			{fs.k.counter(counterSession), u64bytes(1)},
		}
		for _, p := range puts {
			if err := tx.Put(p[0], p[1]); err != nil {
				return err
			}
		}
		u := usageDelta{}
		u.add(RootIno, 0, 1)
		return u.apply(tx, &fs.k)
	})
	if err != nil {
		return nil, fserr.E(op, err)
	}
	err = eng.Update(ctx, func(tx kv.Txn) error {
		v, err := tx.Get(fs.k.counter(counterSession))
		if err != nil {
			return err
		}
		fs.session = u64(v)
		if err := tx.Put(fs.k.counter(counterSession), u64bytes(fs.session+1)); err != nil {
			return err
		}
		host, _ := os.Hostname()
		info := fmt.Sprintf("host=%s pid=%d start=%d", host, os.Getpid(), now)
		return tx.Put(fs.k.session(fs.session), []byte(info))
	})
	if err != nil {
		return nil, fserr.E(op, err)
	}
	if cfg.CleanStaleSessions {
		if err := fs.cleanSessions(ctx, false); err != nil {
			return nil, fserr.E(op, err)
		}
	}
	return fs, nil
}

func (fs *FS) checkFormat(v []byte) error {
	if len(v) < len(formatMagic)+1 || string(v[:len(formatMagic)]) != formatMagic {
		return fserr.Errorf("meta.New", fserr.Corrupt, "meta: new: bad format record")
	}
	if ver := v[len(formatMagic)]; ver != formatVersion {
		return fserr.Errorf("meta.New", fserr.NotSupported, "meta: new: format version %d not supported", ver)
	}
	if name := string(v[len(formatMagic)+1:]); fs.cfg.Name != "" && name != fs.cfg.Name {
		return fserr.Errorf("meta.New", fserr.Invalid, "meta: new: filesystem %d is named %q, not %q", fs.cfg.ID, name, fs.cfg.Name)
	}
	return nil
}

// Session returns the id of the session this FS holds in the engine.
func (fs *FS) Session() uint64 { return fs.session }

// Close releases every handle still open through this FS (inodes with no
// links are queued for reclaim) and removes the session.
func (fs *FS) Close() error {
	if fs.closed.Swap(true) {
		return nil
	}
	ctx := context.Background()
	if err := fs.cleanSessions(ctx, true); err != nil {
		return fserr.E("meta.Close", err)
	}
	return nil
}

// cleanSessions removes session records and their open inodes: only
// fs's own session when own is set, else every other session.
func (fs *FS) cleanSessions(ctx context.Context, own bool) error {
	var sessions []uint64
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		sessions = sessions[:0]
		start, end := fs.k.all(tagSession)
		pairs, err := tx.Scan(start, end, 0, false)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			if len(p.Key) != pfxLen+1+8 {
				continue
			}
			s := u64(p.Key[pfxLen+1:])
			if (s == fs.session) == own {
				sessions = append(sessions, s)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Ranges go before the session records, so an interrupted cleaning
	// is finished by the next one.
	if err := fs.releaseRanges(ctx, own); err != nil {
		return err
	}
	for _, s := range sessions {
		if !own {
			fs.cfg.Logger.Info("meta: cleaning stale session", "session", s)
		}
		for {
			done := false
			err := fs.eng.Update(ctx, func(tx kv.Txn) error {
				start, end := fs.k.under(tagSession, s)
				start = append(start, 0) // skip the session record itself
				pairs, err := tx.Scan(start, end, 256, false)
				if err != nil {
					return err
				}
				done = len(pairs) < 256
				for _, p := range pairs {
					ino := Ino(u64(p.Key[pfxLen+1+8:]))
					if err := fs.closeInTxn(tx, ino, s); err != nil {
						return err
					}
				}
				if done {
					return tx.Delete(fs.k.session(s))
				}
				return nil
			})
			if err != nil {
				return err
			}
			if done {
				break
			}
		}
	}
	if own {
		fs.mu.Lock()
		clear(fs.mu.open)
		fs.mu.Unlock()
	}
	return nil
}

// releaseRanges drops this session's slice id ranges (own: a clean close
// leaves no uncommitted blocks behind) or moves every other session's
// ranges to the sweep list (their processes died, possibly after
// uploading blocks of slices they never committed).
func (fs *FS) releaseRanges(ctx context.Context, own bool) error {
	start, end := fs.k.all(tagAlloc)
	if own {
		start, end = fs.k.under(tagAlloc, fs.session)
	}
	for {
		var last []byte
		err := fs.eng.Update(ctx, func(tx kv.Txn) error {
			pairs, err := tx.Scan(start, end, 256, false)
			if err != nil {
				return err
			}
			last = nil
			if len(pairs) == 256 {
				last = pairs[len(pairs)-1].Key
			}
			for _, p := range pairs {
				b := p.Key[pfxLen+1:]
				if len(b) != 16 || !own && u64(b) == fs.session {
					continue
				}
				if !own {
					if err := tx.Put(fs.k.sweep(u64(b[8:])), p.Value); err != nil {
						return err
					}
				}
				if err := tx.Delete(p.Key); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || last == nil {
			return err
		}
		start = append(append([]byte(nil), last...), 0)
	}
}

// closeInTxn removes session s's hold on ino and, when it was the last
// hold of an inode with no links, drops the inode.
func (fs *FS) closeInTxn(tx kv.Txn, ino Ino, s uint64) error {
	if err := tx.Delete(fs.k.sessionOpen(s, ino)); err != nil {
		return err
	}
	if err := tx.Delete(fs.k.openBy(ino, s)); err != nil {
		return err
	}
	var n node
	if err := getNode(tx, &fs.k, ino, &n); err != nil {
		if fserr.Is(fserr.NotExist, err) {
			return nil
		}
		return err
	}
	if n.Nlink > 0 {
		return nil
	}
	open, err := fs.isOpen(tx, ino)
	if err != nil || open {
		return err
	}
	var u usageDelta
	if err := fs.dropInode(tx, &n, &u); err != nil {
		return err
	}
	return u.apply(tx, &fs.k)
}

func (fs *FS) isOpen(tx kv.ReadTxn, ino Ino) (bool, error) {
	start, end := fs.k.under(tagOpen, uint64(ino))
	pairs, err := tx.Scan(start, end, 1, false)
	return len(pairs) > 0, err
}

// dropInode deletes an inode with no links and no open handles: its
// attributes, symlink and xattrs now, its chunks later through G.
func (fs *FS) dropInode(tx kv.Txn, n *node, u *usageDelta) error {
	if err := tx.Delete(fs.k.inode(n.Ino)); err != nil {
		return err
	}
	switch n.Type {
	case TypeSymlink:
		if err := tx.Delete(fs.k.symlink(n.Ino)); err != nil {
			return err
		}
	case TypeRegular:
		if n.Size > 0 {
			if err := tx.Put(fs.k.gc(n.Ino), u64bytes(n.Size)); err != nil {
				return err
			}
		}
		u.add(n.Ino, -int64(n.Size), 0)
	}
	u.add(n.Ino, 0, -1)
	start, end := fs.k.under(tagXattr, uint64(n.Ino))
	pairs, err := tx.Scan(start, end, 0, false)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		if err := tx.Delete(p.Key); err != nil {
			return err
		}
	}
	return nil
}

// acquireOpen returns ino's open state with a reference held.
func (fs *FS) acquireOpen(ino Ino) *openState {
	fs.mu.Lock()
	s := fs.mu.open[ino]
	if s == nil {
		s = &openState{}
		fs.mu.open[ino] = s
	}
	s.refs++
	fs.mu.Unlock()
	return s
}

func (fs *FS) releaseOpen(ino Ino, s *openState) {
	fs.mu.Lock()
	s.refs--
	if s.refs == 0 && s.count == 0 && fs.mu.open[ino] == s {
		delete(fs.mu.open, ino)
	}
	fs.mu.Unlock()
}

// markOpen records in tx that this session holds ino open.
func (fs *FS) markOpen(tx kv.Txn, ino Ino) error {
	if err := tx.Put(fs.k.sessionOpen(fs.session, ino), nil); err != nil {
		return err
	}
	return tx.Put(fs.k.openBy(ino, fs.session), nil)
}

func (fs *FS) check(op string) error {
	if fs.closed.Load() {
		return fserr.Errorf(op, fserr.Closed, "meta: %s: filesystem closed", op)
	}
	return nil
}

// nextID hands out an id from r, reserving a new batch from the counter
// key when r is exhausted. With track set (slice ids) the batch is
// recorded under the session in the same transaction (A sess lo -> hi),
// so the ids of a process that dies can be swept (see SweepRanges).
func (fs *FS) nextID(ctx context.Context, r *idRange, counter string, track bool) (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next < r.end {
		id := r.next
		r.next++
		return id, nil
	}
	var start, recLo uint64
	err := fs.eng.Update(ctx, func(tx kv.Txn) error {
		v, err := tx.Get(fs.k.counter(counter))
		if err != nil {
			return err
		}
		start = u64(v)
		end := start + fs.cfg.IDBatch
		if err := tx.Put(fs.k.counter(counter), u64bytes(end)); err != nil {
			return err
		}
		if !track {
			return nil
		}
		recLo = start
		if r.recHi == start && r.recHi != 0 {
			recLo = r.recLo
		}
		return tx.Put(fs.k.alloc(fs.session, recLo), u64bytes(end))
	})
	if err != nil {
		return 0, err
	}
	r.next, r.end = start+1, start+fs.cfg.IDBatch
	if track {
		r.recLo, r.recHi = recLo, r.end
	}
	return start, nil
}

// NewSliceID allocates a slice id from this process's batch.
func (fs *FS) NewSliceID(ctx context.Context) (uint64, error) {
	const op = "meta.NewSliceID"
	if err := fs.check(op); err != nil {
		return 0, err
	}
	id, err := fs.nextID(ctx, &fs.slices, counterSlice, true)
	if err != nil {
		return 0, fserr.E(op, err)
	}
	return id, nil
}

// usageDelta accumulates one transaction's changes to the usage counters,
// so each stripe is read and written once per transaction.
type usageDelta struct {
	n     int
	d     [4]stripeDelta
	extra []stripeDelta // operations touching more than len(d) stripes
}

type stripeDelta struct {
	stripe        int
	bytes, inodes int64
}

func (u *usageDelta) add(ino Ino, bytes, inodes int64) {
	if bytes == 0 && inodes == 0 {
		return
	}
	s := stripeOf(ino)
	for i := 0; i < u.n; i++ {
		if u.d[i].stripe == s {
			u.d[i].bytes += bytes
			u.d[i].inodes += inodes
			return
		}
	}
	for i := range u.extra {
		if u.extra[i].stripe == s {
			u.extra[i].bytes += bytes
			u.extra[i].inodes += inodes
			return
		}
	}
	if u.n < len(u.d) {
		u.d[u.n] = stripeDelta{s, bytes, inodes}
		u.n++
		return
	}
	u.extra = append(u.extra, stripeDelta{s, bytes, inodes})
}

func (u *usageDelta) apply(tx kv.Txn, k *keys) error {
	for _, d := range append(u.d[:u.n:u.n], u.extra...) {
		if d.bytes == 0 && d.inodes == 0 {
			continue
		}
		key := k.usage(d.stripe)
		v, err := tx.Get(key)
		if err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		b, n := int64(u64(v)), int64(0)
		if len(v) >= 16 {
			n = int64(u64(v[8:]))
		}
		out := make([]byte, 0, 16)
		out = binary.BigEndian.AppendUint64(out, uint64(b+d.bytes))
		out = binary.BigEndian.AppendUint64(out, uint64(n+d.inodes))
		if err := tx.Put(key, out); err != nil {
			return err
		}
	}
	*u = usageDelta{}
	return nil
}

// StatFS sums the usage stripes in one read transaction.
func (fs *FS) StatFS(ctx context.Context) (StatFS, error) {
	const op = "meta.StatFS"
	if err := fs.check(op); err != nil {
		return StatFS{}, err
	}
	b, n, err := fs.readUsage(ctx)
	if err != nil {
		return StatFS{}, fserr.E(op, err)
	}
	st := StatFS{UsedBytes: uint64(max(b, 0)), UsedInodes: uint64(max(n, 0)),
		TotalBytes: fs.cfg.Capacity, TotalInodes: fs.cfg.MaxInodes}
	if st.TotalBytes == 0 {
		st.TotalBytes = max(unlimitedBytes, st.UsedBytes)
	}
	if st.TotalInodes == 0 {
		st.TotalInodes = max(unlimitedInodes, st.UsedInodes)
	}
	return st, nil
}

func (fs *FS) readUsage(ctx context.Context) (bytes, inodes int64, err error) {
	err = fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		start, end := fs.k.all(tagUsage)
		pairs, err := tx.Scan(start, end, 0, false)
		if err != nil {
			return err
		}
		bytes, inodes = 0, 0
		for _, p := range pairs {
			bytes += int64(u64(p.Value))
			if len(p.Value) >= 16 {
				inodes += int64(u64(p.Value[8:]))
			}
		}
		return nil
	})
	return bytes, inodes, err
}

// overLimit reports whether adding bytes and inodes would pass the
// configured capacity, judged against usage cached for up to a second:
// enforcing exactly would make every create read every stripe.
func (fs *FS) overLimit(ctx context.Context, bytes, inodes int64) (bool, error) {
	if (fs.cfg.Capacity == 0 || bytes <= 0) && (fs.cfg.MaxInodes == 0 || inodes <= 0) {
		return false, nil
	}
	fs.usage.Lock()
	defer fs.usage.Unlock()
	if now := time.Now(); now.Sub(fs.usage.at) > usageRefreshEvery {
		b, n, err := fs.readUsage(ctx)
		if err != nil {
			return false, err
		}
		fs.usage.at, fs.usage.bytes, fs.usage.inodes = now, b, n
	}
	if fs.cfg.Capacity > 0 && bytes > 0 && uint64(fs.usage.bytes+bytes) > fs.cfg.Capacity {
		return true, nil
	}
	if fs.cfg.MaxInodes > 0 && inodes > 0 && uint64(fs.usage.inodes+inodes) > fs.cfg.MaxInodes {
		return true, nil
	}
	fs.usage.bytes += bytes
	fs.usage.inodes += inodes
	return false, nil
}

func getNode(tx kv.ReadTxn, k *keys, ino Ino, n *node) error {
	v, err := tx.Get(k.inode(ino))
	if err != nil {
		if errors.Is(err, kv.ErrNotFound) {
			return fserr.E("meta.getattr", inoPath(ino), fserr.NotExist)
		}
		return err
	}
	if err := decodeNode(ino, v, n); err != nil {
		return fserr.E("meta.getattr", inoPath(ino), fserr.Corrupt, err)
	}
	return nil
}

func putNode(tx kv.Txn, k *keys, n *node) error {
	return tx.Put(k.inode(n.Ino), encodeNode(n))
}

func inoPath(ino Ino) string { return "ino " + strconv.FormatUint(uint64(ino), 10) }

// wrap gives err the operation and path of the call that failed, keeping
// its kind; context errors pass through untouched.
func wrap(op, path string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var fe *fserr.Error
	if errors.As(err, &fe) && fe.Op == op {
		return err
	}
	return fserr.E(op, path, err)
}
