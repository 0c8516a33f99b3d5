package meta

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/ring"
)

// The worker registry: every worker process holds a lease in the engine,
// shared by every meta process on it. Its keys sit beside the filesystem
// registry, outside every filesystem's prefix:
//
//	M w id   version, url, capacity, heartbeat (ns), expires (ns)
//	M r      the ring parameters (version, vnodes, hash); absent: ring.Default
//
// A lease is live until its expiry; an expired one is left out of every
// member list at once and deleted by PruneWorkers. Expiry is wall-clock
// time written by the meta process that took the heartbeat, so the meta
// processes' clocks must agree to well within a lease's TTL (NTP does).

const (
	regWorker     = 'w'
	regRing       = 'r'
	workerVersion = 1
	maxWorkerID   = 256
	maxWorkerURL  = 1024
	// MaxWorkerTTL bounds a lease so a bad request cannot pin a dead
	// worker in every client's ring for long.
	MaxWorkerTTL = 10 * time.Minute
)

func workerKey(id string) []byte { return append([]byte{regPrefix, regWorker}, id...) }
func ringKey() []byte            { return []byte{regPrefix, regRing} }

// Worker is one worker's lease.
type Worker struct {
	ID        string    // stable across restarts: it is the worker's place on the ring
	URL       string    // block HTTP base URL clients reach it at
	Capacity  uint64    // bytes of cache or disk it offers (informational)
	Heartbeat time.Time // when the lease was last renewed
	Expires   time.Time // when it lapses without another heartbeat
}

// Live reports whether the lease holds at now.
func (w Worker) Live(now time.Time) bool { return now.Before(w.Expires) }

func (w Worker) encode() []byte {
	b := []byte{workerVersion}
	b = binary.AppendUvarint(b, uint64(len(w.URL)))
	b = append(b, w.URL...)
	b = binary.BigEndian.AppendUint64(b, w.Capacity)
	b = binary.BigEndian.AppendUint64(b, uint64(w.Heartbeat.UnixNano()))
	return binary.BigEndian.AppendUint64(b, uint64(w.Expires.UnixNano()))
}

func decodeWorker(id string, b []byte) (Worker, error) {
	bad := fmt.Errorf("meta: worker lease %q: bad record", id)
	if len(b) < 1 || b[0] != workerVersion {
		return Worker{}, bad
	}
	n, k := binary.Uvarint(b[1:])
	// As decodeClaim: n is not added to, so a corrupt length cannot wrap.
	if k <= 0 || len(b)-1-k < 24 || uint64(len(b)-1-k-24) != n {
		return Worker{}, bad
	}
	b = b[1+k:]
	w := Worker{ID: id, URL: string(b[:n])}
	b = b[n:]
	w.Capacity = binary.BigEndian.Uint64(b)
	w.Heartbeat = time.Unix(0, int64(binary.BigEndian.Uint64(b[8:])))
	w.Expires = time.Unix(0, int64(binary.BigEndian.Uint64(b[16:])))
	return w, nil
}

// HeartbeatWorker registers the worker, or renews its lease, for ttl from
// now; it returns the lease as stored.
func HeartbeatWorker(ctx context.Context, eng kv.Engine, w Worker, ttl time.Duration) (Worker, error) {
	const op = "meta.HeartbeatWorker"
	switch {
	case w.ID == "" || len(w.ID) > maxWorkerID:
		return Worker{}, fserr.Errorf(op, fserr.Invalid, "meta: worker id must be 1 to %d bytes", maxWorkerID)
	case w.URL == "" || len(w.URL) > maxWorkerURL:
		return Worker{}, fserr.Errorf(op, fserr.Invalid, "meta: worker %q: url must be 1 to %d bytes", w.ID, maxWorkerURL)
	case ttl <= 0 || ttl > MaxWorkerTTL:
		return Worker{}, fserr.Errorf(op, fserr.Invalid, "meta: worker %q: lease ttl %v out of range (0, %v]", w.ID, ttl, MaxWorkerTTL)
	}
	now := time.Now()
	w.Heartbeat, w.Expires = now, now.Add(ttl)
	err := eng.Update(ctx, func(tx kv.Txn) error {
		return tx.Put(workerKey(w.ID), w.encode())
	})
	if err != nil {
		return Worker{}, fserr.E(op, w.ID, err)
	}
	return w, nil
}

// LeaveWorker drops the worker's lease at once (a clean shutdown), so
// clients stop placing blocks on it before its lease would lapse.
func LeaveWorker(ctx context.Context, eng kv.Engine, id string) error {
	const op = "meta.LeaveWorker"
	if err := eng.Update(ctx, func(tx kv.Txn) error { return tx.Delete(workerKey(id)) }); err != nil {
		return fserr.E(op, id, err)
	}
	return nil
}

// Workers returns the leases in the registry, ordered by id: the live
// ones at now, or every one still recorded when all is set.
func Workers(ctx context.Context, eng kv.Engine, now time.Time, all bool) ([]Worker, error) {
	const op = "meta.Workers"
	var out []Worker
	err := eng.View(ctx, func(tx kv.ReadTxn) error {
		out = out[:0]
		start := workerKey("")
		end := []byte{regPrefix, regWorker + 1}
		for {
			kvs, err := tx.Scan(start, end, 256, false)
			if err != nil {
				return err
			}
			for _, e := range kvs {
				w, err := decodeWorker(string(e.Key[2:]), e.Value)
				if err != nil {
					return err
				}
				if all || w.Live(now) {
					out = append(out, w)
				}
			}
			if len(kvs) < 256 {
				return nil
			}
			start = append(append([]byte(nil), kvs[len(kvs)-1].Key...), 0)
		}
	})
	if err != nil {
		return nil, fserr.E(op, fserr.IO, err)
	}
	return out, nil
}

// PruneWorkers deletes the leases that expired before now-grace and
// returns their ids. Each deletion rechecks the lease in its own
// transaction, so a worker that heartbeat meanwhile is kept; any number
// of meta processes may prune at once.
func PruneWorkers(ctx context.Context, eng kv.Engine, now time.Time, grace time.Duration) ([]string, error) {
	const op = "meta.PruneWorkers"
	all, err := Workers(ctx, eng, now, true)
	if err != nil {
		return nil, err
	}
	var gone []string
	for _, w := range all {
		if w.Live(now.Add(-grace)) {
			continue
		}
		dropped := false
		err := eng.Update(ctx, func(tx kv.Txn) error {
			dropped = false
			v, err := tx.Get(workerKey(w.ID))
			if errors.Is(err, kv.ErrNotFound) {
				return nil // it left meanwhile
			}
			if err != nil {
				return err
			}
			cur, err := decodeWorker(w.ID, v)
			if err != nil || cur.Live(now.Add(-grace)) {
				return err
			}
			dropped = true
			return tx.Delete(workerKey(w.ID))
		})
		if err != nil {
			return gone, fserr.E(op, w.ID, err)
		}
		if dropped {
			gone = append(gone, w.ID)
		}
	}
	return gone, nil
}

// RingParams returns the ring parameters every client places with:
// those recorded in the engine, or ring.Default when none are.
func RingParams(ctx context.Context, eng kv.Engine) (ring.Params, error) {
	const op = "meta.RingParams"
	p := ring.Default()
	err := eng.View(ctx, func(tx kv.ReadTxn) error {
		v, err := tx.Get(ringKey())
		if errors.Is(err, kv.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(v) < 9 {
			return fmt.Errorf("meta: ring parameters: bad record")
		}
		p = ring.Params{Version: binary.BigEndian.Uint32(v), VNodes: int(binary.BigEndian.Uint32(v[4:])), Hash: string(v[8:])}
		return nil
	})
	if err != nil {
		return ring.Params{}, fserr.E(op, fserr.IO, err)
	}
	return p, nil
}

// SetRingParams records p as the ring parameters. Every client picks them
// up with its next member list; changing them moves most blocks to other
// workers' caches (nothing is lost: workers only cache).
func SetRingParams(ctx context.Context, eng kv.Engine, p ring.Params) error {
	const op = "meta.SetRingParams"
	if err := p.Validate(); err != nil {
		return fserr.E(op, fserr.Invalid, err)
	}
	v := binary.BigEndian.AppendUint32(nil, p.Version)
	v = binary.BigEndian.AppendUint32(v, uint32(p.VNodes))
	v = append(v, p.Hash...)
	if err := eng.Update(ctx, func(tx kv.Txn) error { return tx.Put(ringKey(), v) }); err != nil {
		return fserr.E(op, err)
	}
	return nil
}
