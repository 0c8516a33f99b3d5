package meta

import (
	"context"
	"encoding/binary"
	"errors"
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

// FS is the namespace of one filesystem over a kv.Engine. Called as a
// Service it acts for its built-in session; client sessions (NewSession)
// share everything else.
//
// Lock order: an openState's mu, then FS.mu; a Session's mu and idRange
// mus are leaves. No goroutine blocks on an openState's mu while holding
// another one (see hold).
type FS struct {
	eng    kv.Engine
	cfg    Config
	k      keys
	own    *Session
	closed atomic.Bool
	// cache is the lookup cache (exclusive mode), nil without; eng then
	// wraps the engine to keep it exact.
	cache *lookupCache

	inos idRange

	mu struct {
		sync.Mutex
		open map[Ino]*openState
		// sessions are the client sessions alive in this process.
		sessions map[uint64]*Session
		// limbo (exclusive mode) holds the client sessions of an earlier
		// process that have not resumed yet, with the time before which
		// ExpireSessions spares them: they may hold any inode open.
		limbo map[uint64]time.Time
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

// openState is what this process knows of one inode's open handles.
// refs counts goroutines holding the pointer (guarded by FS.mu) so the
// map entry is only dropped when nobody can still use it; mu serialises
// the opens, releases and unlinks of the inode with their transactions.
type openState struct {
	mu      sync.Mutex
	refs    int
	holders []holder // guarded by mu
}

// holder is one session's handles on an inode.
type holder struct {
	s     *Session
	count int
	// rec: the session's S sess ino and O ino sess records exist. Always
	// so outside exclusive mode; in exclusive mode only once the inode
	// lost its last link.
	rec bool
}

func (st *openState) find(s *Session) int {
	for i := range st.holders {
		if st.holders[i].s == s {
			return i
		}
	}
	return -1
}

func (st *openState) drop(i int) {
	st.holders[i] = st.holders[len(st.holders)-1]
	st.holders = st.holders[:len(st.holders)-1]
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
	if cfg.Exclusive && cfg.CacheEntries > 0 {
		fs.cache = newLookupCache(fs.k, cfg.CacheEntries)
		fs.eng = &cachedEngine{Engine: eng, c: fs.cache}
	}
	fs.mu.open = make(map[Ino]*openState)
	fs.mu.sessions = make(map[uint64]*Session)
	fs.mu.limbo = make(map[uint64]time.Time)
	now := cfg.Clock()
	err := fs.eng.Update(ctx, func(tx kv.Txn) error {
		v, err := tx.Get(fs.k.format())
		if err == nil {
			return fs.checkFormat(v)
		}
		if !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		return formatTx(tx, &fs.k, cfg.Name, now.UnixNano())
	})
	if err != nil {
		return nil, fserr.E(op, err)
	}
	host, _ := os.Hostname()
	rec := sessionRecord{Host: host, PID: os.Getpid(), Client: "builtin", Started: now.UnixNano(), Heartbeat: now.UnixNano()}
	id, err := fs.startSession(ctx, &rec)
	if err != nil {
		return nil, fserr.E(op, err)
	}
	fs.own = &Session{fs: fs, id: id, builtin: true}
	if err := fs.cleanStale(ctx); err != nil {
		return nil, fserr.E(op, err)
	}
	return fs, nil
}

// formatTx writes the format record, the root directory and the counters
// of an empty filesystem.
func formatTx(tx kv.Txn, k *keys, name string, now int64) error {
	rec := append([]byte(formatMagic), formatVersion)
	rec = append(rec, name...)
	root := node{Attr: Attr{Ino: RootIno, Type: TypeDir, Mode: 0755, Size: 4096, Nlink: 2,
		Atime: now, Mtime: now, Ctime: now, Parent: RootIno}, next: 1}
	puts := [][2][]byte{
		{k.format(), rec},
		{k.inode(RootIno), encodeNode(&root)},
		{k.counter(counterIno), u64bytes(uint64(RootIno) + 1)},
		{k.counter(counterSlice), u64bytes(1)},
		{k.counter(counterSession), u64bytes(1)},
	}
	for _, p := range puts {
		if err := tx.Put(p[0], p[1]); err != nil {
			return err
		}
	}
	u := usageDelta{}
	u.add(RootIno, 0, 1)
	return u.apply(tx, k)
}

func (fs *FS) checkFormat(v []byte) error {
	if len(v) < len(formatMagic)+1 || string(v[:len(formatMagic)]) != formatMagic {
		return fserr.Errorf("meta.New", fserr.Corrupt, "meta: new: bad format record")
	}
	if ver := v[len(formatMagic)]; ver != formatVersion {
		return fserr.Errorf("meta.New", fserr.NotSupported, "meta: new: format version %d not supported", ver)
	}
	// A filesystem formatted without a name (before the registry) takes
	// whatever name it is opened under.
	if name := string(v[len(formatMagic)+1:]); fs.cfg.Name != "" && name != "" && name != fs.cfg.Name {
		return fserr.Errorf("meta.New", fserr.Invalid, "meta: new: filesystem %d is named %q, not %q", fs.cfg.ID, name, fs.cfg.Name)
	}
	return nil
}

// startSession allocates a session id and writes its record.
func (fs *FS) startSession(ctx context.Context, rec *sessionRecord) (uint64, error) {
	var id uint64
	err := fs.eng.Update(ctx, func(tx kv.Txn) error {
		v, err := tx.Get(fs.k.counter(counterSession))
		if err != nil {
			return err
		}
		id = u64(v)
		if err := tx.Put(fs.k.counter(counterSession), u64bytes(id+1)); err != nil {
			return err
		}
		return tx.Put(fs.k.session(id), rec.encode())
	})
	return id, err
}

// cleanStale cleans the sessions New finds that cannot be alive: every
// other one with CleanStaleSessions, the built-in sessions of earlier
// processes in exclusive mode. In exclusive mode the remaining client
// sessions wait in limbo for ResumeSession or expiry.
func (fs *FS) cleanStale(ctx context.Context) error {
	if !fs.cfg.CleanStaleSessions && !fs.cfg.Exclusive {
		return nil
	}
	recs, err := fs.sessionRecords(ctx)
	if err != nil {
		return err
	}
	now := fs.cfg.Clock()
	for _, r := range recs {
		if r.id == fs.own.id {
			continue
		}
		if fs.cfg.CleanStaleSessions || r.rec.Expires == 0 {
			fs.cfg.Logger.Info("meta: cleaning stale session", "session", r.id, "host", r.rec.Host, "pid", r.rec.PID)
			if err := fs.cleanSession(ctx, r.id, true); err != nil {
				return err
			}
			continue
		}
		// The process was down for a while: give the client a TTL from
		// now to come back before its session is cleaned.
		fs.mu.limbo[r.id] = now.Add(time.Duration(r.rec.TTL))
	}
	return nil
}

type idRecord struct {
	id  uint64
	rec sessionRecord
}

// sessionRecords reads every session record.
func (fs *FS) sessionRecords(ctx context.Context) ([]idRecord, error) {
	var out []idRecord
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		out = out[:0]
		start, end := fs.k.all(tagSession)
		for {
			pairs, err := tx.Scan(start, end, cleanBatch, false)
			if err != nil {
				return err
			}
			for _, p := range pairs {
				b := p.Key[pfxLen+1:]
				if len(b) != 8 {
					continue
				}
				out = append(out, idRecord{id: u64(b), rec: decodeSessionRecord(p.Value)})
			}
			if len(pairs) < cleanBatch {
				return nil
			}
			start = append(append([]byte(nil), pairs[len(pairs)-1].Key...), 0)
		}
	})
	return out, err
}

// ID returns the filesystem's id in the engine (Config.ID): a filesystem
// deleted and created again under its name gets a new one, so block
// grants name it by id.
func (fs *FS) ID() uint32 { return fs.cfg.ID }

// Session returns the id of the FS's built-in session.
func (fs *FS) Session() uint64 { return fs.own.id }

// Close releases every handle still open through the built-in session
// (inodes with no links are queued for reclaim) and removes it. Client
// sessions are left to survive the process (ResumeSession).
func (fs *FS) Close() error {
	if fs.closed.Swap(true) {
		return nil
	}
	if err := fs.endSession(context.Background(), fs.own, false); err != nil {
		return fserr.E("meta.Close", err)
	}
	return nil
}

// endSession forgets s in memory and cleans its records; sweep sends its
// slice id ranges to the sweep list (it did not end cleanly).
func (fs *FS) endSession(ctx context.Context, s *Session, sweep bool) error {
	s.mu.Lock()
	s.mu.dead = true
	s.mu.Unlock()
	fs.mu.Lock()
	delete(fs.mu.sessions, s.id)
	states := make([]*openState, 0, len(fs.mu.open))
	inos := make([]Ino, 0, len(fs.mu.open))
	for ino, st := range fs.mu.open {
		st.refs++
		states = append(states, st)
		inos = append(inos, ino)
	}
	fs.mu.Unlock()
	for i, st := range states {
		st.mu.Lock()
		if h := st.find(s); h >= 0 {
			st.drop(h)
			s.nopen.Add(-1)
		}
		st.mu.Unlock()
		fs.releaseOpen(inos[i], st)
	}
	return fs.cleanSession(ctx, s.id, sweep)
}

// cleanSession removes session s's records in bounded transactions: its
// slice id ranges (to the sweep list if sweep), request ids and open
// inodes, and last, in the transaction that finds none of them left, the
// session record: a concurrent writer of such a record has read the
// session record, so one of the two transactions retries.
func (fs *FS) cleanSession(ctx context.Context, s uint64, sweep bool) error {
	for {
		done := false
		err := fs.eng.Update(ctx, func(tx kv.Txn) error {
			done = true
			for _, tag := range []byte{tagAlloc, tagRequest, tagLockIdx, tagSession} {
				start, end := fs.k.under(tag, s)
				if tag == tagSession {
					start = append(start, 0) // skip the session record itself
				}
				pairs, err := tx.Scan(start, end, cleanBatch, false)
				if err != nil {
					return err
				}
				done = done && len(pairs) < cleanBatch
				for _, p := range pairs {
					switch tag {
					case tagAlloc:
						if sweep {
							if err := tx.Put(fs.k.sweep(u64(p.Key[pfxLen+1+8:])), p.Value); err != nil {
								return err
							}
						}
						err = tx.Delete(p.Key)
					case tagRequest:
						err = tx.Delete(p.Key)
					case tagLockIdx:
						err = fs.cleanLocksInTxn(tx, s, Ino(u64(p.Key[pfxLen+1+8:])))
					case tagSession:
						err = fs.closeInTxn(tx, Ino(u64(p.Key[pfxLen+1+8:])), s)
					}
					if err != nil {
						return err
					}
				}
			}
			if done {
				return tx.Delete(fs.k.session(s))
			}
			return nil
		})
		if err != nil || done {
			return err
		}
	}
}

// closeInTxn removes session s's records of ino and, when that was the
// last hold of an inode with no links, drops the inode.
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

// isOpen reports whether any session has a persisted hold on ino. In
// exclusive mode that covers only inodes without links, which is the only
// case callers ask about.
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
	if n.Flags&FlagMounted != 0 {
		if err := tx.Delete(fs.k.mount(n.Ino)); err != nil {
			return err
		}
		if err := tx.Delete(fs.k.mountState(n.Ino)); err != nil {
			return err
		}
	}
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

// releaseOpen drops a reference from acquireOpen; the caller does not
// hold st.mu, or holds it and has no holders to keep (see hold.release).
func (fs *FS) releaseOpen(ino Ino, s *openState) {
	fs.mu.Lock()
	s.refs--
	if s.refs == 0 && len(s.holders) == 0 && fs.mu.open[ino] == s {
		delete(fs.mu.open, ino)
	}
	fs.mu.Unlock()
}

// markOpen records in tx that session s holds ino open. A client
// session must still exist: its records would outlive its cleaning.
func (fs *FS) markOpen(tx kv.Txn, s *Session, ino Ino) error {
	if !s.builtin {
		if _, err := tx.Get(fs.k.session(s.id)); err != nil {
			if errors.Is(err, kv.ErrNotFound) {
				return errSessionGone("meta.Open", s.id)
			}
			return err
		}
	}
	return fs.putOpen(tx, s.id, ino)
}

func (fs *FS) putOpen(tx kv.Txn, s uint64, ino Ino) error {
	if err := tx.Put(fs.k.sessionOpen(s, ino), nil); err != nil {
		return err
	}
	return tx.Put(fs.k.openBy(ino, s), nil)
}

func (fs *FS) check(op string) error {
	if fs.closed.Load() {
		return fserr.Errorf(op, fserr.Closed, "meta: %s: filesystem closed", op)
	}
	return nil
}

// nextID hands out an id from r, reserving a new batch from the counter
// key when r is exhausted.
func (fs *FS) nextID(ctx context.Context, r *idRange, counter string) (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next < r.end {
		id := r.next
		r.next++
		return id, nil
	}
	var start uint64
	err := fs.eng.Update(ctx, func(tx kv.Txn) error {
		v, err := tx.Get(fs.k.counter(counter))
		if err != nil {
			return err
		}
		start = u64(v)
		return tx.Put(fs.k.counter(counter), u64bytes(start+fs.cfg.IDBatch))
	})
	if err != nil {
		return 0, err
	}
	r.next, r.end = start+1, start+fs.cfg.IDBatch
	return start, nil
}

// allocSlicesLocked reserves n slice ids for session s and records them
// under it (A sess lo -> hi) in the same transaction, so the ids of a
// session that dies can be swept (see SweepRanges). r is s's range,
// locked by the caller.
func (fs *FS) allocSlicesLocked(ctx context.Context, s uint64, r *idRange, n uint64) (lo, hi uint64, err error) {
	var recLo uint64
	err = fs.eng.Update(ctx, func(tx kv.Txn) error {
		if _, err := tx.Get(fs.k.session(s)); err != nil {
			if errors.Is(err, kv.ErrNotFound) {
				return errSessionGone("meta.AllocSliceIDs", s)
			}
			return err
		}
		v, err := tx.Get(fs.k.counter(counterSlice))
		if err != nil {
			return err
		}
		lo = u64(v)
		hi = lo + n
		if err := tx.Put(fs.k.counter(counterSlice), u64bytes(hi)); err != nil {
			return err
		}
		recLo = lo
		if r.recHi == lo && r.recHi != 0 {
			recLo = r.recLo
		}
		return tx.Put(fs.k.alloc(s, recLo), u64bytes(hi))
	})
	if err != nil {
		return 0, 0, err
	}
	r.recLo, r.recHi = recLo, hi
	return lo, hi, nil
}

func errSessionGone(op string, s uint64) error {
	return fserr.Errorf(op, fserr.NotExist, "meta: session %d expired or closed", s)
}

// NewSliceID allocates a slice id from the built-in session's batch.
func (fs *FS) NewSliceID(ctx context.Context) (uint64, error) {
	return fs.own.NewSliceID(ctx)
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
	if st.TotalBytes == 0 && fs.cfg.Space != nil {
		if free, err := fs.cfg.Space(); err == nil {
			st.TotalBytes = st.UsedBytes + free
		} else {
			fs.cfg.Logger.Warn("meta: statfs: block store space unknown", "err", err)
		}
	}
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
