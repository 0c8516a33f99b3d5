package meta

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

var _ Service = (*Session)(nil)

// SessionInfo describes a session, as recorded in its S record.
type SessionInfo struct {
	ID     uint64
	Host   string
	PID    int
	Client string // program/version
	Addr   string // peer address
	// Started, Heartbeat and Expires are when the session began, last
	// beat and will be cleaned; a process's built-in session never
	// expires (zero Expires).
	Started, Heartbeat, Expires time.Time
	Open                        int // inodes the session holds open
	// Owner is the uid the session belongs to, when OwnerSet (the rpc
	// server records its caller's, so that a restart, or another meta
	// process on the engine, still knows whose it is; sessions of older
	// servers have none).
	Owner    uint32
	OwnerSet bool
}

// sessionRecord is the value of S sess.
type sessionRecord struct {
	Host, Client, Addr string
	PID                int
	// Nanoseconds since the epoch; Expires 0: a built-in session.
	Started, Heartbeat, Expires int64
	TTL                         int64
	// Owner is SessionInfo.Owner+1; 0: none recorded. It follows the
	// strings, where a server that predates it stops reading.
	Owner uint64
}

const sessionRecordVersion = 1

func (r *sessionRecord) encode() []byte {
	b := make([]byte, 0, 1+5*8+3+len(r.Host)+len(r.Client)+len(r.Addr))
	b = append(b, sessionRecordVersion)
	for _, v := range []int64{r.Started, r.Heartbeat, r.Expires, r.TTL, int64(r.PID)} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	for _, s := range []string{r.Host, r.Client, r.Addr} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if r.Owner != 0 {
		b = binary.AppendUvarint(b, r.Owner)
	}
	return b
}

// decodeSessionRecord decodes what it can: a record it cannot read (from
// an older version) reads as a built-in session of an unknown process.
func decodeSessionRecord(b []byte) sessionRecord {
	var r sessionRecord
	if len(b) < 1+5*8 || b[0] != sessionRecordVersion {
		return r
	}
	v := func(i int) int64 { return int64(binary.BigEndian.Uint64(b[1+8*i:])) }
	r.Started, r.Heartbeat, r.Expires, r.TTL, r.PID = v(0), v(1), v(2), v(3), int(v(4))
	rest := b[1+5*8:]
	for _, s := range []*string{&r.Host, &r.Client, &r.Addr} {
		n, k := binary.Uvarint(rest)
		if k <= 0 || uint64(len(rest)-k) < n {
			return r
		}
		*s = string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	if owner, k := binary.Uvarint(rest); k > 0 && owner <= 1<<32 {
		r.Owner = owner
	}
	return r
}

func timeOf(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func (r *sessionRecord) info(id uint64) SessionInfo {
	return SessionInfo{ID: id, Host: r.Host, PID: r.PID, Client: r.Client, Addr: r.Addr,
		Started: timeOf(r.Started), Heartbeat: timeOf(r.Heartbeat), Expires: timeOf(r.Expires),
		Owner: uint32(r.Owner - 1), OwnerSet: r.Owner != 0}
}

// Session is a client's session on an FS: the holder of its open handles
// and slice id ranges, cleaned when it ends or expires. It implements
// Service: Open, Create, Release, NewSliceID and Close act for the
// session; every other method is the FS's.
type Session struct {
	fs      *FS
	id      uint64
	ttl     time.Duration
	builtin bool
	slices  idRange
	nopen   atomic.Int64 // inodes with a holder of this session

	mu struct {
		sync.Mutex
		dead bool
		win  reqWindow // Open/Create/Release request ids applied here
	}
}

// ID returns the session id.
func (s *Session) ID() uint64 { return s.id }

func (s *Session) alive(op string) error {
	if err := s.fs.check(op); err != nil {
		return err
	}
	if s.dead() {
		return errSessionGone(op, s.id)
	}
	return nil
}

func (s *Session) dead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.dead
}

func (s *Session) seen(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.win.seen(id)
}

func (s *Session) markSeen(r reqID, ok bool) {
	if !ok {
		return
	}
	s.mu.Lock()
	s.mu.win.add(r.id)
	s.mu.Unlock()
}

// NewSession starts a client session that expires ttl after its last
// heartbeat (ttl 0: Config.SessionTTL).
func (fs *FS) NewSession(ctx context.Context, info SessionInfo, ttl time.Duration) (*Session, error) {
	const op = "meta.NewSession"
	if err := fs.check(op); err != nil {
		return nil, err
	}
	if ttl <= 0 {
		ttl = fs.cfg.SessionTTL
	}
	now := fs.cfg.Clock().UnixNano()
	rec := sessionRecord{Host: info.Host, PID: info.PID, Client: info.Client, Addr: info.Addr,
		Started: now, Heartbeat: now, Expires: now + int64(ttl), TTL: int64(ttl)}
	if info.OwnerSet {
		rec.Owner = uint64(info.Owner) + 1
	}
	id, err := fs.startSession(ctx, &rec)
	if err != nil {
		return nil, wrap(op, "", err)
	}
	s := &Session{fs: fs, id: id, ttl: ttl}
	fs.mu.Lock()
	fs.mu.sessions[id] = s
	fs.mu.Unlock()
	return s, nil
}

// SessionOwner returns the uid session id belongs to, and false when its
// record names none (a session of an older server). A session that is
// gone is an error of kind NotExist.
func (fs *FS) SessionOwner(ctx context.Context, id uint64) (uint32, bool, error) {
	const op = "meta.SessionOwner"
	if err := fs.check(op); err != nil {
		return 0, false, err
	}
	var rec sessionRecord
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		v, err := tx.Get(fs.k.session(id))
		if errors.Is(err, kv.ErrNotFound) {
			return errSessionGone(op, id)
		}
		rec = decodeSessionRecord(v)
		return err
	})
	if err != nil {
		return 0, false, wrap(op, "", err)
	}
	return uint32(rec.Owner - 1), rec.Owner != 0, nil
}

// ResumeSession re-attaches session id after a server restart or a
// failover, or to a connection of the same process: its holds become
// exactly open (an inode listed k times is held by k handles; inodes no
// longer existing are skipped), and it beats. NotExist when the session
// expired and was cleaned.
func (fs *FS) ResumeSession(ctx context.Context, id uint64, open []Ino) (*Session, error) {
	const op = "meta.ResumeSession"
	if err := fs.check(op); err != nil {
		return nil, err
	}
	fs.mu.Lock()
	s := fs.mu.sessions[id]
	fs.mu.Unlock()
	if s == nil {
		var rec sessionRecord
		err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
			v, err := tx.Get(fs.k.session(id))
			if errors.Is(err, kv.ErrNotFound) {
				return errSessionGone(op, id)
			}
			rec = decodeSessionRecord(v)
			return err
		})
		if err != nil {
			return nil, wrap(op, "", err)
		}
		if rec.Expires == 0 || id == fs.own.id {
			return nil, fserr.Errorf(op, fserr.Invalid, "meta: resume: session %d is a process's built-in session", id)
		}
		s = &Session{fs: fs, id: id, ttl: time.Duration(rec.TTL)}
		if s.ttl <= 0 {
			s.ttl = fs.cfg.SessionTTL
		}
		fs.mu.Lock()
		if cur := fs.mu.sessions[id]; cur != nil {
			s = cur
		} else {
			fs.mu.sessions[id] = s
		}
		fs.mu.Unlock()
	}
	if err := fs.reconcile(ctx, op, s, open); err != nil {
		return nil, wrap(op, "", err)
	}
	fs.mu.Lock()
	delete(fs.mu.limbo, id)
	fs.mu.Unlock()
	if err := s.Heartbeat(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// reconcile makes s's holds exactly the multiset open.
func (fs *FS) reconcile(ctx context.Context, op string, s *Session, open []Ino) error {
	want := make(map[Ino]int, len(open))
	for _, ino := range open {
		want[ino]++
	}
	// Holds in memory that the client no longer has.
	fs.mu.Lock()
	var stale []Ino
	for ino := range fs.mu.open {
		if want[ino] == 0 {
			stale = append(stale, ino)
		}
	}
	fs.mu.Unlock()
	for _, ino := range stale {
		fs.forgetHold(s, ino)
	}
	// Persisted holds the client no longer has (exclusive mode: unlinked
	// inodes; else every hold).
	var recs []Ino
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		start, end := fs.k.under(tagSession, s.id)
		start = append(start, 0)
		pairs, err := tx.Scan(start, end, 0, false)
		recs = recs[:0]
		for _, p := range pairs {
			if ino := Ino(u64(p.Key[pfxLen+1+8:])); want[ino] == 0 {
				recs = append(recs, ino)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, ino := range recs {
		if err := fs.dropHold(ctx, s, ino); err != nil {
			return err
		}
	}
	for ino, c := range want {
		if err := fs.setHold(ctx, op, s, ino, c); err != nil {
			return err
		}
	}
	return nil
}

// forgetHold removes s's handles on ino from memory; its records, if
// any, are dropped with dropHold.
func (fs *FS) forgetHold(s *Session, ino Ino) {
	st := fs.acquireOpen(ino)
	st.mu.Lock()
	if i := st.find(s); i >= 0 {
		st.drop(i)
		s.nopen.Add(-1)
	}
	st.mu.Unlock()
	fs.releaseOpen(ino, st)
}

// dropHold removes every handle s has on ino, in memory and persisted.
func (fs *FS) dropHold(ctx context.Context, s *Session, ino Ino) error {
	st := fs.acquireOpen(ino)
	defer fs.releaseOpen(ino, st)
	st.mu.Lock()
	defer st.mu.Unlock()
	if i := st.find(s); i >= 0 {
		st.drop(i)
		s.nopen.Add(-1)
	}
	return fs.eng.Update(ctx, func(tx kv.Txn) error {
		if _, err := tx.Get(fs.k.sessionOpen(s.id, ino)); err != nil {
			if errors.Is(err, kv.ErrNotFound) {
				return nil
			}
			return err
		}
		return fs.closeInTxn(tx, ino, s.id)
	})
}

// setHold makes s hold ino by c handles.
func (fs *FS) setHold(ctx context.Context, op string, s *Session, ino Ino, c int) error {
	st := fs.acquireOpen(ino)
	defer fs.releaseOpen(ino, st)
	st.mu.Lock()
	defer st.mu.Unlock()
	if i := st.find(s); i >= 0 {
		st.holders[i].count = c
		return nil
	}
	rec := false
	err := fs.eng.Update(ctx, func(tx kv.Txn) error {
		var n node
		if err := getNode(tx, &fs.k, ino, &n); err != nil {
			return err
		}
		_, err := tx.Get(fs.k.sessionOpen(s.id, ino))
		switch {
		case err == nil:
			rec = true
			return nil
		case !errors.Is(err, kv.ErrNotFound):
			return err
		}
		if fs.cfg.Exclusive && n.Nlink > 0 {
			rec = false
			return nil
		}
		rec = true
		return fs.markOpen(tx, s, ino)
	})
	if fserr.Is(fserr.NotExist, err) {
		return nil
	}
	if err != nil {
		return err
	}
	if s.dead() {
		return errSessionGone(op, s.id)
	}
	st.holders = append(st.holders, holder{s: s, count: c, rec: rec})
	s.nopen.Add(1)
	return nil
}

// Sessions lists every session of the filesystem.
func (fs *FS) Sessions(ctx context.Context) ([]SessionInfo, error) {
	const op = "meta.Sessions"
	if err := fs.check(op); err != nil {
		return nil, err
	}
	recs, err := fs.sessionRecords(ctx)
	if err != nil {
		return nil, wrap(op, "", err)
	}
	out := make([]SessionInfo, 0, len(recs))
	for _, r := range recs {
		info := r.rec.info(r.id)
		fs.mu.Lock()
		s := fs.mu.sessions[r.id]
		fs.mu.Unlock()
		if r.id == fs.own.id {
			s = fs.own
		}
		if s != nil {
			info.Open = int(s.nopen.Load())
		} else {
			err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
				start, end := fs.k.under(tagSession, r.id)
				pairs, err := tx.Scan(append(start, 0), end, 0, false)
				info.Open = len(pairs)
				return err
			})
			if err != nil {
				return nil, wrap(op, "", err)
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// ExpireSessions cleans the client sessions whose Expires is past: their
// open inodes are released (those without links queued for reclaim) and
// their slice id ranges go to the sweep list. It returns how many it
// cleaned. A session of an earlier process (exclusive mode) gets a TTL
// from this FS's start to resume first.
func (fs *FS) ExpireSessions(ctx context.Context) (int, error) {
	const op = "meta.ExpireSessions"
	if err := fs.check(op); err != nil {
		return 0, err
	}
	recs, err := fs.sessionRecords(ctx)
	if err != nil {
		return 0, wrap(op, "", err)
	}
	now := fs.cfg.Clock()
	n := 0
	for _, r := range recs {
		if r.rec.Expires == 0 || r.rec.Expires >= now.UnixNano() {
			continue
		}
		fs.mu.Lock()
		grace, inLimbo := fs.mu.limbo[r.id]
		if inLimbo && grace.After(now) {
			fs.mu.Unlock()
			continue
		}
		delete(fs.mu.limbo, r.id)
		s := fs.mu.sessions[r.id]
		fs.mu.Unlock()
		fs.cfg.Logger.Info("meta: session expired", "session", r.id, "host", r.rec.Host, "client", r.rec.Client)
		if s != nil {
			err = fs.endSession(ctx, s, true)
		} else {
			err = fs.cleanSession(ctx, r.id, true)
		}
		if err != nil {
			return n, wrap(op, "", err)
		}
		n++
	}
	return n, nil
}

// Heartbeat extends the session's life to now + its TTL. NotExist when
// it expired and was cleaned.
func (s *Session) Heartbeat(ctx context.Context) error {
	const op = "meta.Heartbeat"
	if err := s.alive(op); err != nil || s.builtin {
		return err
	}
	fs := s.fs
	now := fs.cfg.Clock().UnixNano()
	err := fs.eng.Update(ctx, func(tx kv.Txn) error {
		v, err := tx.Get(fs.k.session(s.id))
		if errors.Is(err, kv.ErrNotFound) {
			return errSessionGone(op, s.id)
		}
		if err != nil {
			return err
		}
		rec := decodeSessionRecord(v)
		rec.Heartbeat, rec.Expires = now, now+int64(s.ttl)
		return tx.Put(fs.k.session(s.id), rec.encode())
	})
	if fserr.Is(fserr.NotExist, err) {
		s.mu.Lock()
		s.mu.dead = true
		s.mu.Unlock()
	}
	return wrap(op, "", err)
}

// AllocSliceIDs reserves n slice ids [lo, hi) recorded under the session,
// for a client that hands them out itself.
func (s *Session) AllocSliceIDs(ctx context.Context, n int) (lo, hi uint64, err error) {
	const op = "meta.AllocSliceIDs"
	if err := s.alive(op); err != nil {
		return 0, 0, err
	}
	if n <= 0 || n > 1<<20 {
		return 0, 0, fserr.Errorf(op, fserr.Invalid, "meta: alloc slice ids: bad count %d", n)
	}
	s.slices.mu.Lock()
	defer s.slices.mu.Unlock()
	lo, hi, err = s.fs.allocSlicesLocked(ctx, s.id, &s.slices, uint64(n))
	return lo, hi, wrap(op, "", err)
}

// NewSliceID allocates a slice id from the session's batch.
func (s *Session) NewSliceID(ctx context.Context) (uint64, error) {
	const op = "meta.NewSliceID"
	if err := s.alive(op); err != nil {
		return 0, err
	}
	r := &s.slices
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next < r.end {
		id := r.next
		r.next++
		return id, nil
	}
	lo, hi, err := s.fs.allocSlicesLocked(ctx, s.id, r, s.fs.cfg.IDBatch)
	if err != nil {
		return 0, wrap(op, "", err)
	}
	r.next, r.end = lo+1, hi
	return lo, nil
}

// Close ends the session cleanly: its handles are released and its slice
// id ranges forgotten (the caller deleted what it did not commit).
func (s *Session) Close() error {
	if s.builtin {
		return s.fs.Close()
	}
	s.mu.Lock()
	dead := s.mu.dead
	s.mu.dead = true
	s.mu.Unlock()
	if dead || s.fs.closed.Load() {
		return nil
	}
	if err := s.fs.endSession(context.Background(), s, false); err != nil {
		return fserr.E("meta.Session.Close", err)
	}
	return nil
}

// Open opens ino for the session.
func (s *Session) Open(ctx context.Context, id Identity, ino Ino, flags int) (Attr, error) {
	return s.fs.openFile(ctx, s, id, ino, flags)
}

// Create creates (or opens) a file for the session.
func (s *Session) Create(ctx context.Context, id Identity, parent Ino, name string, mode uint32, flags int, excl bool) (Attr, error) {
	return s.fs.createFile(ctx, s, id, parent, name, mode, flags, excl)
}

// Release drops one of the session's handles on ino.
func (s *Session) Release(ctx context.Context, ino Ino) error {
	return s.fs.release(ctx, s, ino)
}

// The rest of Service is the filesystem's.

func (s *Session) Resolve(ctx context.Context, id Identity, path string, follow bool) (Attr, error) {
	return s.fs.Resolve(ctx, id, path, follow)
}
func (s *Session) Lookup(ctx context.Context, id Identity, parent Ino, name string) (Attr, error) {
	return s.fs.Lookup(ctx, id, parent, name)
}
func (s *Session) GetAttr(ctx context.Context, ino Ino) (Attr, error) { return s.fs.GetAttr(ctx, ino) }
func (s *Session) SetAttr(ctx context.Context, id Identity, ino Ino, mask uint32, attr Attr) (Attr, error) {
	return s.fs.SetAttr(ctx, id, ino, mask, attr)
}
func (s *Session) Access(ctx context.Context, id Identity, ino Ino, mask uint32) error {
	return s.fs.Access(ctx, id, ino, mask)
}
func (s *Session) Mknod(ctx context.Context, id Identity, parent Ino, name string, typ Type, mode uint32, rdev uint32) (Attr, error) {
	return s.fs.Mknod(ctx, id, parent, name, typ, mode, rdev)
}
func (s *Session) Mkdir(ctx context.Context, id Identity, parent Ino, name string, mode uint32) (Attr, error) {
	return s.fs.Mkdir(ctx, id, parent, name, mode)
}
func (s *Session) Unlink(ctx context.Context, id Identity, parent Ino, name string) error {
	return s.fs.Unlink(ctx, id, parent, name)
}
func (s *Session) Rmdir(ctx context.Context, id Identity, parent Ino, name string) error {
	return s.fs.Rmdir(ctx, id, parent, name)
}
func (s *Session) Rename(ctx context.Context, id Identity, parent Ino, name string, newParent Ino, newName string, flags uint32) error {
	return s.fs.Rename(ctx, id, parent, name, newParent, newName, flags)
}
func (s *Session) Link(ctx context.Context, id Identity, ino Ino, newParent Ino, newName string) (Attr, error) {
	return s.fs.Link(ctx, id, ino, newParent, newName)
}
func (s *Session) Symlink(ctx context.Context, id Identity, parent Ino, name string, target string) (Attr, error) {
	return s.fs.Symlink(ctx, id, parent, name, target)
}
func (s *Session) Readlink(ctx context.Context, ino Ino) (string, error) {
	return s.fs.Readlink(ctx, ino)
}
func (s *Session) ReadDir(ctx context.Context, id Identity, ino Ino, cookie uint64, limit int, plus bool) ([]Entry, uint64, error) {
	return s.fs.ReadDir(ctx, id, ino, cookie, limit, plus)
}
func (s *Session) GetXattr(ctx context.Context, id Identity, ino Ino, name string) ([]byte, error) {
	return s.fs.GetXattr(ctx, id, ino, name)
}
func (s *Session) SetXattr(ctx context.Context, id Identity, ino Ino, name string, value []byte, flags int) error {
	return s.fs.SetXattr(ctx, id, ino, name, value, flags)
}
func (s *Session) ListXattr(ctx context.Context, id Identity, ino Ino) ([]string, error) {
	return s.fs.ListXattr(ctx, id, ino)
}
func (s *Session) RemoveXattr(ctx context.Context, id Identity, ino Ino, name string) error {
	return s.fs.RemoveXattr(ctx, id, ino, name)
}
func (s *Session) StatFS(ctx context.Context) (StatFS, error) { return s.fs.StatFS(ctx) }
func (s *Session) ReadChunk(ctx context.Context, ino Ino, index uint32) ([]Slice, error) {
	return s.fs.ReadChunk(ctx, ino, index)
}
func (s *Session) Write(ctx context.Context, ino Ino, writes []ChunkWrite, mtime time.Time) (Attr, error) {
	return s.fs.Write(ctx, ino, writes, mtime)
}
func (s *Session) CompactChunk(ctx context.Context, ino Ino, index uint32, old []Slice, repl []Slice) error {
	return s.fs.CompactChunk(ctx, ino, index, old, repl)
}
func (s *Session) Reclaim(ctx context.Context, limit int) (int, error) {
	return s.fs.Reclaim(ctx, limit)
}
func (s *Session) FreedSlices(ctx context.Context, limit int) ([]Slice, error) {
	return s.fs.FreedSlices(ctx, limit)
}
func (s *Session) ForgetSlices(ctx context.Context, ids []uint64) error {
	return s.fs.ForgetSlices(ctx, ids)
}
func (s *Session) SweepRanges(ctx context.Context, limit int) ([][2]uint64, error) {
	return s.fs.SweepRanges(ctx, limit)
}
func (s *Session) ForgetSweep(ctx context.Context, ranges [][2]uint64) error {
	return s.fs.ForgetSweep(ctx, ranges)
}
func (s *Session) LiveSlices(ctx context.Context, fn func(Slice) error) error {
	return s.fs.LiveSlices(ctx, fn)
}
