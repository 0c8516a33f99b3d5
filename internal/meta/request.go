package meta

import (
	"context"
	"errors"

	"github.com/shoalfs/shoal/internal/kv"
)

// requestWindow is how many recent request ids of a session are
// remembered: a retry older than that is not recognised.
const requestWindow = 4096

type reqID struct{ sess, id uint64 }

type reqKey struct{}

// WithRequest tags ctx with the id of a client request (a per-session
// counter starting at 1), so that a mutation retried after a lost reply
// is applied once: the id is recorded (Q sess request) in the transaction
// that applies the mutation, and a call that finds it returns what a
// first success would have returned without applying anything. Without
// it calls behave as they always did and record nothing.
func WithRequest(ctx context.Context, session, request uint64) context.Context {
	return context.WithValue(ctx, reqKey{}, reqID{session, request})
}

func requestOf(ctx context.Context) (reqID, bool) {
	r, ok := ctx.Value(reqKey{}).(reqID)
	return r, ok && r.id != 0
}

// applied reports whether request r was applied, with the value recorded
// then. A request of a session that no longer exists is refused: its
// record could never be trimmed.
func (fs *FS) applied(tx kv.Txn, op string, r reqID) ([]byte, bool, error) {
	v, err := tx.Get(fs.k.request(r.sess, r.id))
	if err == nil {
		return v, true, nil
	}
	if !errors.Is(err, kv.ErrNotFound) {
		return nil, false, err
	}
	if _, err := tx.Get(fs.k.session(r.sess)); err != nil {
		if errors.Is(err, kv.ErrNotFound) {
			return nil, false, errSessionGone(op, r.sess)
		}
		return nil, false, err
	}
	return nil, false, nil
}

// recordRequest records r as applied and forgets the id that falls out of
// the window, so a session keeps at most requestWindow records (ids are
// dense per session, as the client counts only its mutations).
func (fs *FS) recordRequest(tx kv.Txn, r reqID, val []byte) error {
	if val == nil {
		val = []byte{}
	}
	if err := tx.Put(fs.k.request(r.sess, r.id), val); err != nil {
		return err
	}
	if r.id > requestWindow {
		return tx.Delete(fs.k.request(r.sess, r.id-requestWindow))
	}
	return nil
}

// update runs fn in one transaction. With a request id in ctx it records
// the id (with the value rec returns, if rec is set) in that transaction,
// or, when the request was applied before, runs replay (if set) instead
// of fn to fill in the result.
func (fs *FS) update(ctx context.Context, op string, fn func(kv.Txn) error, rec func() []byte, replay func(kv.Txn, []byte) error) error {
	r, ok := requestOf(ctx)
	if !ok {
		return fs.eng.Update(ctx, fn)
	}
	return fs.eng.Update(ctx, func(tx kv.Txn) error {
		v, found, err := fs.applied(tx, op, r)
		if err != nil {
			return err
		}
		if found {
			if replay == nil {
				return nil
			}
			return replay(tx, v)
		}
		if err := fn(tx); err != nil {
			return err
		}
		var val []byte
		if rec != nil {
			val = rec()
		}
		return fs.recordRequest(tx, r, val)
	})
}

// reqWindow remembers which of a session's last requestWindow request ids
// this process applied, for the calls whose effect lives in memory (open
// handle counts): ids (hi-requestWindow, hi] are tracked, older ones
// count as seen.
type reqWindow struct {
	hi   uint64
	bits [requestWindow / 64]uint64
}

func (w *reqWindow) seen(id uint64) bool {
	if id > w.hi {
		return false
	}
	if w.hi >= requestWindow && id <= w.hi-requestWindow {
		return true
	}
	i := id % requestWindow
	return w.bits[i/64]&(1<<(i%64)) != 0
}

func (w *reqWindow) add(id uint64) {
	if id > w.hi {
		if id-w.hi >= requestWindow {
			w.bits = [requestWindow / 64]uint64{}
		} else {
			for x := w.hi + 1; x <= id; x++ {
				i := x % requestWindow
				w.bits[i/64] &^= 1 << (i % 64)
			}
		}
		w.hi = id
	}
	if w.hi >= requestWindow && id <= w.hi-requestWindow {
		return
	}
	i := id % requestWindow
	w.bits[i/64] |= 1 << (i % 64)
}

type writerKey struct{}

// WithWriter tags ctx with the identity on whose behalf a Write commits
// data. As on Linux, a write keeps a regular file's setuid and setgid
// bits only when the writer has CAP_FSETID, which here is root (uid 0);
// a Write whose context names no writer clears them, the safe side.
func WithWriter(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, writerKey{}, id)
}

// WriterOf returns the identity WithWriter tagged ctx with.
func WriterOf(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(writerKey{}).(Identity)
	return id, ok
}
