package kvtable

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"slices"
	"sync"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// ScanOptions configure a Scanner. The zero value is not Pegasus's
// default (which includes the start key); use DefaultScanOptions.
type ScanOptions struct {
	// BatchSize is how many engine records one batch reads (<= 0: 1,000).
	BatchSize      int
	StartInclusive bool
	StopInclusive  bool
	SortKeyFilter  Filter
	HashKeyFilter  Filter
	// NoValue returns nil values.
	NoValue bool
}

// DefaultScanOptions returns Pegasus's defaults: batches of 1,000, start
// inclusive, stop exclusive, no filters.
func DefaultScanOptions() ScanOptions {
	return ScanOptions{BatchSize: DefaultBatchSize, StartInclusive: true}
}

// Scanner streams records in batches. Each batch is read from its own
// snapshot and the next one continues after the last key read, so a
// long scan holds no transaction open and sees every record that
// exists throughout it exactly once (records written or deleted during the
// scan may or may not be seen, as in Pegasus). A Scanner is meant for one
// goroutine; Close may be called from any.
type Scanner struct {
	t    *Table
	opts ScanOptions

	// A hash-key scanner knows its bounds once the table id is known;
	// an unordered scanner is given them.
	hashKey, start, stop []byte
	single               bool

	mu struct {
		sync.Mutex
		closed bool
		bound  bool
		id     uint32
		lo, hi []byte // what is left to read
		done   bool
		buf    []scanRec
	}
}

type scanRec struct{ hk, sk, v []byte }

var errScannerClosed = errors.New("kvtable: scanner used after Close")

// GetScanner returns a scanner over the records of hashKey whose sort keys
// lie between start and stop (an empty stop means the last sort key), in
// ascending order. It does no I/O: an unknown table is reported by Next.
func (t *Table) GetScanner(hashKey, start, stop []byte, opts ScanOptions) (*Scanner, error) {
	const op = "kvtable.GetScanner"
	if err := t.s.check(op, t.name); err != nil {
		return nil, err
	}
	if err := t.checkHashKey(op, hashKey, false); err != nil {
		return nil, err
	}
	if err := t.checkScanOptions(op, &opts); err != nil {
		return nil, err
	}
	sc := &Scanner{t: t, opts: opts, single: true,
		hashKey: bytes.Clone(hashKey), start: bytes.Clone(start), stop: bytes.Clone(stop)}
	return sc, nil
}

func (t *Table) checkScanOptions(op string, o *ScanOptions) error {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if err := o.SortKeyFilter.valid(); err != nil {
		return errorf(op, t.name, fserr.Invalid, "sort key filter: %v", err)
	}
	if err := o.HashKeyFilter.valid(); err != nil {
		return errorf(op, t.name, fserr.Invalid, "hash key filter: %v", err)
	}
	return nil
}

// GetUnorderedScanners returns at most maxSplitCount scanners over
// disjoint ranges that together cover the whole table, each hash key
// within one of them. Each scanner returns its records in key order (hash
// keys by length, then bytes). Start/stop inclusiveness in opts is
// ignored. See docs/kvtables.md for how the table is split.
func (t *Table) GetUnorderedScanners(ctx context.Context, maxSplitCount int, opts ScanOptions) ([]*Scanner, error) {
	const op = "kvtable.GetUnorderedScanners"
	if maxSplitCount <= 0 {
		return nil, errorf(op, t.name, fserr.Invalid, "max_split_count must be positive, got %d", maxSplitCount)
	}
	if err := t.checkScanOptions(op, &opts); err != nil {
		return nil, err
	}
	var id uint32
	var bounds [][]byte
	err := t.view(ctx, op, func(r kv.ReadTxn, m tableMeta, _ int64) error {
		id = m.id
		lo, hi := tableRange(m.id)
		var err error
		bounds, err = splitTable(r, lo, hi, maxSplitCount)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Scanner, 0, len(bounds)-1)
	for i := 0; i+1 < len(bounds); i++ {
		sc := &Scanner{t: t, opts: opts}
		sc.mu.bound, sc.mu.id, sc.mu.lo, sc.mu.hi = true, id, bounds[i], bounds[i+1]
		out = append(out, sc)
	}
	return out, nil
}

// splitTable returns boundaries lo = b0 < b1 < ... < bk = hi, k <= n,
// every one but lo and hi the start of a hash key, so no hash key is
// split. It first cuts the table n ways by interpolating between its first
// and last keys; while there are fewer than n ranges (keys bunched
// unevenly, for instance hash keys of different lengths), it halves each
// range that holds more than one hash key, the same way, round by round.
// The ranges always cover [lo, hi) exactly once; their balance depends on
// how evenly keys spread between the ends of each range.
func splitTable(r kv.ReadTxn, lo, hi []byte, n int) ([][]byte, error) {
	type rng struct {
		lo, hi []byte
		whole  bool // holds one hash key at most: cannot split
	}
	split := func(x rng, k int) ([]rng, error) {
		bs, err := splitRange(r, x.lo, x.hi, k)
		if err != nil {
			return nil, err
		}
		if len(bs) == 2 {
			return []rng{{lo: x.lo, hi: x.hi, whole: true}}, nil
		}
		out := make([]rng, 0, len(bs)-1)
		for i := 0; i+1 < len(bs); i++ {
			out = append(out, rng{lo: bs[i], hi: bs[i+1]})
		}
		return out, nil
	}
	ranges, err := split(rng{lo: lo, hi: hi}, n)
	if err != nil || n <= 1 {
		return [][]byte{lo, hi}, err
	}
	for progress := true; progress && len(ranges) < n; {
		progress = false
		for i := 0; i < len(ranges) && len(ranges) < n; i++ {
			if ranges[i].whole {
				continue
			}
			parts, err := split(ranges[i], 2)
			if err != nil {
				return nil, err
			}
			if len(parts) == 1 {
				ranges[i] = parts[0]
				continue
			}
			ranges = slices.Replace(ranges, i, i+1, parts...)
			i += len(parts) - 1
			progress = true
		}
	}
	bounds := make([][]byte, 0, len(ranges)+1)
	for _, x := range ranges {
		bounds = append(bounds, x.lo)
	}
	return append(bounds, hi), nil
}

// splitRange cuts [lo, hi) into at most k ranges at hash-key starts by
// interpolating k-1 points between its first and last keys, and returns
// the boundaries including lo and hi.
func splitRange(r kv.ReadTxn, lo, hi []byte, k int) ([][]byte, error) {
	bounds := [][]byte{lo}
	if k > 1 {
		first, err := r.Scan(lo, hi, 1, false)
		if err != nil {
			return nil, err
		}
		last, err := r.Scan(lo, hi, 1, true)
		if err != nil {
			return nil, err
		}
		if len(first) == 1 && len(last) == 1 {
			floor := hashKeyBoundary(first[0].Key)
			for _, c := range interpolate(first[0].Key, last[0].Key, k) {
				p, err := r.Scan(c, hi, 1, false)
				if err != nil {
					return nil, err
				}
				if len(p) == 0 {
					continue
				}
				if b := hashKeyBoundary(p[0].Key); bytes.Compare(b, floor) > 0 {
					bounds = append(bounds, b)
				}
			}
		}
	}
	slices.SortFunc(bounds[1:], bytes.Compare)
	bounds = slices.CompactFunc(bounds, bytes.Equal)
	return append(bounds, hi), nil
}

// interpolate returns n-1 keys evenly spaced between a <= b.
func interpolate(a, b []byte, n int) [][]byte {
	c := 0
	for c < len(a) && c < len(b) && a[c] == b[c] {
		c++
	}
	window := func(k []byte) *big.Int {
		var w [8]byte
		if c < len(k) {
			copy(w[:], k[c:])
		}
		return new(big.Int).SetBytes(w[:])
	}
	wa, wb := window(a), window(b)
	diff := new(big.Int).Sub(wb, wa)
	var out [][]byte
	for i := 1; i < n; i++ {
		p := new(big.Int).Mul(diff, big.NewInt(int64(i)))
		p.Quo(p, big.NewInt(int64(n)))
		p.Add(p, wa)
		var w [8]byte
		p.FillBytes(w[:])
		out = append(out, append(bytes.Clone(a[:c]), w[:]...))
	}
	return out
}

// Next returns the next record; ok is false at the end. Using a closed
// scanner fails with kind Closed.
func (sc *Scanner) Next(ctx context.Context) (hashKey, sortKey, value []byte, ok bool, err error) {
	const op = "kvtable.Scanner.Next"
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for {
		if sc.mu.closed {
			return nil, nil, nil, false, fserr.E(op, sc.t.name, fserr.Closed, errScannerClosed)
		}
		if len(sc.mu.buf) > 0 {
			r := sc.mu.buf[0]
			sc.mu.buf = sc.mu.buf[1:]
			return r.hk, r.sk, r.v, true, nil
		}
		if sc.mu.done {
			return nil, nil, nil, false, nil
		}
		if err := sc.fetchLocked(ctx, op); err != nil {
			return nil, nil, nil, false, err
		}
	}
}

// fetchLocked reads one batch into the buffer (which may stay empty if
// everything read was expired or filtered out).
func (sc *Scanner) fetchLocked(ctx context.Context, op string) error {
	o := sc.opts
	return sc.t.view(ctx, op, func(r kv.ReadTxn, m tableMeta, now int64) error {
		if !sc.mu.bound {
			sc.mu.id = m.id
			sc.mu.lo, sc.mu.hi = sortRange(m.id, sc.hashKey, sc.start, sc.stop, o.StartInclusive, o.StopInclusive, o.SortKeyFilter)
			sc.mu.bound = true
		} else if m.id != sc.mu.id {
			return errorf(op, sc.t.name, fserr.NotFound, "table %q was dropped during the scan", sc.t.name)
		}
		if bytes.Compare(sc.mu.lo, sc.mu.hi) >= 0 {
			sc.mu.done = true
			return nil
		}
		pairs, err := r.Scan(sc.mu.lo, sc.mu.hi, o.BatchSize, false)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			if !live(p.Value, now) {
				continue
			}
			hk, sk, ok := splitKey(p.Key)
			if !ok || !o.HashKeyFilter.match(hk) || !o.SortKeyFilter.match(sk) {
				continue
			}
			var v []byte
			if !o.NoValue {
				_, v, _ = decodeValue(p.Value)
			}
			sc.mu.buf = append(sc.mu.buf, scanRec{hk: hk, sk: sk, v: v})
		}
		if len(pairs) < o.BatchSize {
			sc.mu.done = true
		} else {
			sc.mu.lo = after(pairs[len(pairs)-1].Key)
		}
		return nil
	})
}

// Close releases the scanner; later calls to Next fail.
func (sc *Scanner) Close() error {
	sc.mu.Lock()
	sc.mu.closed = true
	sc.mu.buf = nil
	sc.mu.Unlock()
	return nil
}
