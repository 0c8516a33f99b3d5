package kvtable

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// Table is a handle on one table. It is safe for concurrent use.
type Table struct {
	s    *Store
	name string
}

// Name is the table's name.
func (t *Table) Name() string { return t.name }

// KV is one record of a hash key: a sort key and its value.
type KV struct {
	SortKey []byte
	Value   []byte
}

// Key names one record.
type Key struct {
	HashKey []byte
	SortKey []byte
}

// MultiGetOptions select records of one hash key by sort-key range. The
// zero value is not Pegasus's default (which includes the start key); use
// DefaultMultiGetOptions.
type MultiGetOptions struct {
	StartInclusive bool
	StopInclusive  bool
	SortKeyFilter  Filter
	// NoValue returns sort keys with nil values.
	NoValue bool
	// Reverse takes records from the stop end, so the limits keep the
	// last ones; the result is still in ascending order (as Pegasus).
	Reverse bool
	// MaxKVCount and MaxKVSize bound the records and the bytes (sort key +
	// value) returned; <= 0 means no limit.
	MaxKVCount int
	MaxKVSize  int
}

// DefaultMultiGetOptions returns Pegasus's defaults: start inclusive, stop
// exclusive, no filter, at most 100 records and 1,000,000 bytes.
func DefaultMultiGetOptions() MultiGetOptions {
	return MultiGetOptions{StartInclusive: true, MaxKVCount: DefaultMaxKVCount, MaxKVSize: DefaultMaxKVSize}
}

// DelRangeOptions select the records DelRange deletes.
type DelRangeOptions struct {
	StartInclusive bool
	StopInclusive  bool
	SortKeyFilter  Filter
}

// DefaultDelRangeOptions returns Pegasus's defaults: start inclusive, stop
// exclusive, no filter.
func DefaultDelRangeOptions() DelRangeOptions { return DelRangeOptions{StartInclusive: true} }

// ---- transactions ----

func (t *Table) view(ctx context.Context, op string, fn func(r kv.ReadTxn, m tableMeta, now int64) error) error {
	if err := t.s.check(op, t.name); err != nil {
		return err
	}
	err := t.s.eng.View(ctx, func(r kv.ReadTxn) error {
		m, err := lookup(op, t.name, r)
		if err != nil {
			return err
		}
		return fn(r, m, t.s.now())
	})
	return wrap(op, t.name, err)
}

// update runs fn in one engine transaction that also reads the table's
// catalogue entry, so a write never lands in a table dropped meanwhile.
func (t *Table) update(ctx context.Context, op string, fn func(tx kv.Txn, m tableMeta, now int64) error) error {
	if err := t.s.check(op, t.name); err != nil {
		return err
	}
	err := t.s.eng.Update(ctx, func(tx kv.Txn) error {
		m, err := lookup(op, t.name, tx)
		if err != nil {
			return err
		}
		return fn(tx, m, t.s.now())
	})
	return wrap(op, t.name, err)
}

// ---- validation ----

// checkHashKey applies Pegasus's rules: single-record operations accept
// an empty hash key, operations on a whole hash key do not.
func (t *Table) checkHashKey(op string, hk []byte, allowEmpty bool) error {
	if len(hk) == 0 && !allowEmpty {
		return errorf(op, t.name, fserr.Invalid, "hash key must not be empty")
	}
	if len(hk) > MaxHashKeyLen {
		return errorf(op, t.name, fserr.ArgTooBig, "hash key of %d bytes exceeds the limit of %d bytes", len(hk), MaxHashKeyLen)
	}
	return nil
}

func (t *Table) checkKey(op string, hk, sk []byte) error {
	if n := len(hk) + len(sk); n > t.s.opts.MaxKeySize {
		return errorf(op, t.name, fserr.ArgTooBig, "hash key + sort key of %d bytes exceeds the key size limit of %d bytes", n, t.s.opts.MaxKeySize)
	}
	return nil
}

func (t *Table) checkValue(op string, v []byte) error {
	if len(v) > t.s.opts.MaxValueSize {
		return errorf(op, t.name, fserr.ArgTooBig, "value of %d bytes exceeds the value size limit of %d bytes", len(v), t.s.opts.MaxValueSize)
	}
	return nil
}

func (t *Table) checkTTL(op string, ttl int) error {
	if ttl < 0 || ttl > MaxTTL {
		return errorf(op, t.name, fserr.Invalid, "ttl %d is outside 0..%d seconds", ttl, MaxTTL)
	}
	return nil
}

func (t *Table) checkRecord(op string, hk, sk, v []byte, ttl int, emptyHash bool) error {
	if err := t.checkHashKey(op, hk, emptyHash); err != nil {
		return err
	}
	if err := t.checkKey(op, hk, sk); err != nil {
		return err
	}
	if err := t.checkValue(op, v); err != nil {
		return err
	}
	return t.checkTTL(op, ttl)
}

// expiry is the expiry of a record written at now with ttl seconds;
// the table's default TTL applies when the record would have none.
func expiry(now int64, ttl int, m tableMeta) int64 {
	if ttl > 0 {
		return now + int64(ttl)*1000
	}
	return withDefault(now, 0, m)
}

func withDefault(now, exp int64, m tableMeta) int64 {
	if exp == 0 && m.defaultTTL > 0 {
		return now + int64(m.defaultTTL)*1000
	}
	return exp
}

// getLive reads one record; ok is false when it is missing or expired.
func getLive(r kv.ReadTxn, key []byte, now int64) (value []byte, exp int64, ok bool, err error) {
	b, err := r.Get(key)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	if !live(b, now) {
		return nil, 0, false, nil
	}
	exp, v, _ := decodeValue(b)
	return v, exp, true, nil
}

// ---- single records ----

// Set stores value under (hashKey, sortKey), replacing any record there.
// ttlSeconds 0 means the table's default TTL (none if it has none).
func (t *Table) Set(ctx context.Context, hashKey, sortKey, value []byte, ttlSeconds int) error {
	const op = "kvtable.Set"
	if err := t.checkRecord(op, hashKey, sortKey, value, ttlSeconds, true); err != nil {
		return err
	}
	return t.update(ctx, op, func(tx kv.Txn, m tableMeta, now int64) error {
		return tx.Put(recordKey(m.id, hashKey, sortKey), encodeValue(expiry(now, ttlSeconds, m), value))
	})
}

// Get returns the value of (hashKey, sortKey); ok is false when there is
// no live record.
func (t *Table) Get(ctx context.Context, hashKey, sortKey []byte) (value []byte, ok bool, err error) {
	const op = "kvtable.Get"
	if err := t.checkHashKey(op, hashKey, true); err != nil {
		return nil, false, err
	}
	err = t.view(ctx, op, func(r kv.ReadTxn, m tableMeta, now int64) error {
		var err error
		value, _, ok, err = getLive(r, recordKey(m.id, hashKey, sortKey), now)
		return err
	})
	return value, ok, err
}

// Exist reports whether (hashKey, sortKey) holds a live record.
func (t *Table) Exist(ctx context.Context, hashKey, sortKey []byte) (bool, error) {
	const op = "kvtable.Exist"
	if err := t.checkHashKey(op, hashKey, true); err != nil {
		return false, err
	}
	var ok bool
	err := t.view(ctx, op, func(r kv.ReadTxn, m tableMeta, now int64) error {
		var err error
		_, _, ok, err = getLive(r, recordKey(m.id, hashKey, sortKey), now)
		return err
	})
	return ok, err
}

// TTL returns the remaining time to live of a record in whole seconds,
// rounded up, or -1 if it never expires; ok is false when there is no
// live record (Pegasus's Java client returns -2 then).
func (t *Table) TTL(ctx context.Context, hashKey, sortKey []byte) (ttlSeconds int, ok bool, err error) {
	const op = "kvtable.TTL"
	if err := t.checkHashKey(op, hashKey, true); err != nil {
		return 0, false, err
	}
	err = t.view(ctx, op, func(r kv.ReadTxn, m tableMeta, now int64) error {
		var exp int64
		var err error
		_, exp, ok, err = getLive(r, recordKey(m.id, hashKey, sortKey), now)
		ttlSeconds = remaining(exp, now)
		return err
	})
	return ttlSeconds, ok, err
}

func remaining(exp, now int64) int {
	if exp == 0 {
		return -1
	}
	return int((exp - now + 999) / 1000)
}

// Remove deletes (hashKey, sortKey). Removing a missing record is not an
// error.
func (t *Table) Remove(ctx context.Context, hashKey, sortKey []byte) error {
	const op = "kvtable.Remove"
	if err := t.checkHashKey(op, hashKey, true); err != nil {
		return err
	}
	return t.update(ctx, op, func(tx kv.Txn, m tableMeta, _ int64) error {
		return tx.Delete(recordKey(m.id, hashKey, sortKey))
	})
}

// Incr adds increment to the integer stored at (hashKey, sortKey) and
// returns the new value. A missing, expired or empty value counts as 0; a
// value that is not a decimal int64, or a result that overflows, is an
// error (kind Invalid) and changes nothing. TTL, as Pegasus: ttlSeconds 0
// keeps the record's TTL (none for a new or expired record), > 0 sets a
// new TTL, -1 removes it; a record left without TTL gets the table's
// default TTL.
func (t *Table) Incr(ctx context.Context, hashKey, sortKey []byte, increment int64, ttlSeconds int) (int64, error) {
	const op = "kvtable.Incr"
	if err := t.checkHashKey(op, hashKey, true); err != nil {
		return 0, err
	}
	if err := t.checkKey(op, hashKey, sortKey); err != nil {
		return 0, err
	}
	if ttlSeconds < -1 || ttlSeconds > MaxTTL {
		return 0, errorf(op, t.name, fserr.Invalid, "ttl %d is outside -1..%d seconds", ttlSeconds, MaxTTL)
	}
	var result int64
	err := t.update(ctx, op, func(tx kv.Txn, m tableMeta, now int64) error {
		key := recordKey(m.id, hashKey, sortKey)
		old, exp, ok, err := getLive(tx, key, now)
		if err != nil {
			return err
		}
		var base int64
		if ok && len(old) > 0 {
			if base, err = parseInt(old); err != nil {
				return errorf(op, t.name, fserr.Invalid, "incr: stored value %q is not an integer", old)
			}
		}
		if !ok {
			exp = 0
		}
		if (increment > 0 && base > math.MaxInt64-increment) || (increment < 0 && base < math.MinInt64-increment) {
			return errorf(op, t.name, fserr.Invalid, "incr: %d + %d overflows int64", base, increment)
		}
		result = base + increment
		switch {
		case ttlSeconds > 0:
			exp = now + int64(ttlSeconds)*1000
		case ttlSeconds == -1:
			exp = 0
		}
		return tx.Put(key, encodeValue(withDefault(now, exp, m), strconv.AppendInt(nil, result, 10)))
	})
	return result, err
}

// ---- one hash key ----

// MultiSet stores several records of one hash key atomically.
func (t *Table) MultiSet(ctx context.Context, hashKey []byte, kvs []KV, ttlSeconds int) error {
	const op = "kvtable.MultiSet"
	if err := t.checkHashKey(op, hashKey, false); err != nil {
		return err
	}
	if len(kvs) == 0 {
		return errorf(op, t.name, fserr.Invalid, "multi_set needs at least one record")
	}
	for _, r := range kvs {
		if err := t.checkRecord(op, hashKey, r.SortKey, r.Value, ttlSeconds, false); err != nil {
			return err
		}
	}
	return t.update(ctx, op, func(tx kv.Txn, m tableMeta, now int64) error {
		exp := expiry(now, ttlSeconds, m)
		for _, r := range kvs {
			if err := tx.Put(recordKey(m.id, hashKey, r.SortKey), encodeValue(exp, r.Value)); err != nil {
				return err
			}
		}
		return nil
	})
}

// MultiGet returns the live records among sortKeys of hashKey in
// ascending sort-key order, or all records of hashKey when sortKeys is
// empty. At most maxKVCount records and about maxKVSize bytes are returned
// (<= 0: no limit; the record that crosses the size limit is included);
// more reports that further records matched. noValue returns nil values.
func (t *Table) MultiGet(ctx context.Context, hashKey []byte, sortKeys [][]byte, maxKVCount, maxKVSize int, noValue bool) (kvs []KV, more bool, err error) {
	const op = "kvtable.MultiGet"
	if len(sortKeys) == 0 {
		o := MultiGetOptions{StartInclusive: true, NoValue: noValue, MaxKVCount: maxKVCount, MaxKVSize: maxKVSize}
		return t.multiGetOpt(ctx, op, hashKey, nil, nil, o)
	}
	if err := t.checkHashKey(op, hashKey, false); err != nil {
		return nil, false, err
	}
	keys := slices.Clone(sortKeys)
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	err = t.view(ctx, op, func(r kv.ReadTxn, m tableMeta, now int64) error {
		kvs, more = nil, false
		raw := make([][]byte, len(keys))
		for i, sk := range keys {
			raw[i] = recordKey(m.id, hashKey, sk)
		}
		vals, err := r.GetMany(raw)
		if err != nil {
			return err
		}
		var lim limiter
		lim.init(maxKVCount, maxKVSize)
		for i, b := range vals {
			if b == nil || !live(b, now) {
				continue
			}
			if lim.full() {
				more = true
				return nil
			}
			_, v, _ := decodeValue(b)
			if noValue {
				v = nil
			}
			kvs = append(kvs, KV{SortKey: keys[i], Value: v})
			lim.add(keys[i], v)
		}
		return nil
	})
	return kvs, more, err
}

// MultiGetOpt returns the live records of hashKey whose sort keys lie
// between start and stop (an empty stop means the last sort key) and pass
// the filter, in ascending order; see MultiGetOptions.
func (t *Table) MultiGetOpt(ctx context.Context, hashKey, start, stop []byte, opts MultiGetOptions) (kvs []KV, more bool, err error) {
	return t.multiGetOpt(ctx, "kvtable.MultiGetOpt", hashKey, start, stop, opts)
}

func (t *Table) multiGetOpt(ctx context.Context, op string, hashKey, start, stop []byte, o MultiGetOptions) (kvs []KV, more bool, err error) {
	if err := t.checkHashKey(op, hashKey, false); err != nil {
		return nil, false, err
	}
	if err := o.SortKeyFilter.valid(); err != nil {
		return nil, false, errorf(op, t.name, fserr.Invalid, "%v", err)
	}
	err = t.view(ctx, op, func(r kv.ReadTxn, m tableMeta, now int64) error {
		lo, hi := sortRange(m.id, hashKey, start, stop, o.StartInclusive, o.StopInclusive, o.SortKeyFilter)
		var err error
		kvs, more, err = readRange(r, rangeSpec{
			lo: lo, hi: hi, skOff: hashPrefixLen(hashKey), reverse: o.Reverse,
			filter: o.SortKeyFilter, noValue: o.NoValue, maxCount: o.MaxKVCount, maxSize: o.MaxKVSize,
		}, now)
		if o.Reverse {
			slices.Reverse(kvs)
		}
		return err
	})
	return kvs, more, err
}

// GetSortKeys returns the sort keys of hashKey in ascending order, within
// the same limits as MultiGet.
func (t *Table) GetSortKeys(ctx context.Context, hashKey []byte, maxKVCount, maxKVSize int) (sortKeys [][]byte, more bool, err error) {
	o := MultiGetOptions{StartInclusive: true, NoValue: true, MaxKVCount: maxKVCount, MaxKVSize: maxKVSize}
	kvs, more, err := t.multiGetOpt(ctx, "kvtable.GetSortKeys", hashKey, nil, nil, o)
	for _, r := range kvs {
		sortKeys = append(sortKeys, r.SortKey)
	}
	return sortKeys, more, err
}

// SortKeyCount counts the live records of hashKey.
func (t *Table) SortKeyCount(ctx context.Context, hashKey []byte) (int64, error) {
	const op = "kvtable.SortKeyCount"
	if err := t.checkHashKey(op, hashKey, false); err != nil {
		return 0, err
	}
	var n int64
	err := t.view(ctx, op, func(r kv.ReadTxn, m tableMeta, now int64) error {
		n = 0
		p := hashPrefix(m.id, hashKey)
		return pages(r, p, kv.PrefixEnd(p), false, func(pairs []kv.Pair) error {
			for _, pr := range pairs {
				if live(pr.Value, now) {
					n++
				}
			}
			return nil
		})
	})
	return n, err
}

// MultiDel deletes records of one hash key atomically and returns how
// many of them were live.
func (t *Table) MultiDel(ctx context.Context, hashKey []byte, sortKeys [][]byte) (int, error) {
	const op = "kvtable.MultiDel"
	if err := t.checkHashKey(op, hashKey, false); err != nil {
		return 0, err
	}
	if len(sortKeys) == 0 {
		return 0, errorf(op, t.name, fserr.Invalid, "multi_del needs at least one sort key")
	}
	keys := slices.Clone(sortKeys)
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	var n int
	err := t.update(ctx, op, func(tx kv.Txn, m tableMeta, now int64) error {
		n = 0
		raw := make([][]byte, len(keys))
		for i, sk := range keys {
			raw[i] = recordKey(m.id, hashKey, sk)
		}
		vals, err := tx.GetMany(raw)
		if err != nil {
			return err
		}
		for i, b := range vals {
			if b == nil {
				continue
			}
			if live(b, now) {
				n++
			}
			if err := tx.Delete(raw[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// delRangeBatch bounds one DelRange transaction: each record is one read
// condition and one delete in etcd's Txn.
const delRangeBatch = 1000

// DelRange deletes the records of hashKey between start and stop (an
// empty stop means the last sort key) that pass the filter, and returns
// how many of them were live. Like Pegasus's del_range it is not atomic:
// it deletes in transactions of up to 1,000 records, each atomic.
func (t *Table) DelRange(ctx context.Context, hashKey, start, stop []byte, opts DelRangeOptions) (int, error) {
	const op = "kvtable.DelRange"
	if err := t.checkHashKey(op, hashKey, false); err != nil {
		return 0, err
	}
	if err := opts.SortKeyFilter.valid(); err != nil {
		return 0, errorf(op, t.name, fserr.Invalid, "%v", err)
	}
	total := 0
	var cursor []byte
	var id uint32
	for {
		var n int
		done := false
		err := t.update(ctx, op, func(tx kv.Txn, m tableMeta, now int64) error {
			n = 0
			if id != 0 && m.id != id {
				return errorf(op, t.name, fserr.NotFound, "table %q was dropped during del_range", t.name)
			}
			id = m.id
			lo, hi := sortRange(m.id, hashKey, start, stop, opts.StartInclusive, opts.StopInclusive, opts.SortKeyFilter)
			if cursor != nil {
				lo = cursor
			}
			if bytes.Compare(lo, hi) >= 0 {
				done = true
				return nil
			}
			pairs, err := tx.Scan(lo, hi, delRangeBatch, false)
			if err != nil {
				return err
			}
			skOff := hashPrefixLen(hashKey)
			for _, p := range pairs {
				if !opts.SortKeyFilter.match(p.Key[skOff:]) {
					continue
				}
				if live(p.Value, now) {
					n++
				}
				if err := tx.Delete(p.Key); err != nil {
					return err
				}
			}
			if len(pairs) < delRangeBatch {
				done = true
			} else {
				cursor = after(pairs[len(pairs)-1].Key)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if done {
			return total, nil
		}
	}
}

// ---- check and mutate ----

// CheckAndSetOptions are the options of CheckAndSet.
type CheckAndSetOptions struct {
	// SetValueTTL is the TTL in seconds of the value set (0: the table's
	// default TTL, none if it has none).
	SetValueTTL int
	// ReturnCheckValue returns the checked record's value in the result.
	ReturnCheckValue bool
}

// CheckAndSetResult is the outcome of CheckAndSet. A failed check is not
// an error: SetSucceed is false.
type CheckAndSetResult struct {
	SetSucceed         bool
	CheckValueReturned bool
	CheckValueExist    bool
	CheckValue         []byte
}

// MutateOp is the kind of a Mutation (Pegasus's mutate_operation values).
type MutateOp int

// Mutation kinds.
const (
	MutateSet MutateOp = 0
	MutateDel MutateOp = 1
)

// Mutation is one write of CheckAndMutate.
type Mutation struct {
	Op      MutateOp
	SortKey []byte
	Value   []byte // MutateSet only
	TTL     int    // MutateSet only: seconds, 0 for the table's default
}

// CheckAndMutateOptions are the options of CheckAndMutate.
type CheckAndMutateOptions struct {
	ReturnCheckValue bool
}

// CheckAndMutateResult is the outcome of CheckAndMutate.
type CheckAndMutateResult struct {
	MutateSucceed      bool
	CheckValueReturned bool
	CheckValueExist    bool
	CheckValue         []byte
}

// CheckAndSet atomically checks the record (hashKey, checkSortKey) and, if
// the check passes, sets (hashKey, setSortKey) to setValue. The check and
// set sort keys may differ. An int compare whose operand or stored value
// is not an integer fails with kind Invalid.
func (t *Table) CheckAndSet(ctx context.Context, hashKey, checkSortKey []byte, checkType CheckType, checkOperand []byte,
	setSortKey, setValue []byte, opts CheckAndSetOptions) (CheckAndSetResult, error) {
	const op = "kvtable.CheckAndSet"
	if err := t.checkRecord(op, hashKey, setSortKey, setValue, opts.SetValueTTL, false); err != nil {
		return CheckAndSetResult{}, err
	}
	muts := []Mutation{{Op: MutateSet, SortKey: setSortKey, Value: setValue, TTL: opts.SetValueTTL}}
	r, err := t.checkAndMutate(ctx, op, hashKey, checkSortKey, checkType, checkOperand, muts, opts.ReturnCheckValue)
	return CheckAndSetResult{
		SetSucceed:         r.MutateSucceed,
		CheckValueReturned: r.CheckValueReturned,
		CheckValueExist:    r.CheckValueExist,
		CheckValue:         r.CheckValue,
	}, err
}

// CheckAndMutate atomically checks the record (hashKey, checkSortKey) and,
// if the check passes, applies mutations in order.
func (t *Table) CheckAndMutate(ctx context.Context, hashKey, checkSortKey []byte, checkType CheckType, checkOperand []byte,
	mutations []Mutation, opts CheckAndMutateOptions) (CheckAndMutateResult, error) {
	const op = "kvtable.CheckAndMutate"
	if err := t.checkHashKey(op, hashKey, false); err != nil {
		return CheckAndMutateResult{}, err
	}
	if len(mutations) == 0 {
		return CheckAndMutateResult{}, errorf(op, t.name, fserr.Invalid, "check_and_mutate needs at least one mutation")
	}
	for i, mu := range mutations {
		switch mu.Op {
		case MutateSet:
			if err := t.checkRecord(op, hashKey, mu.SortKey, mu.Value, mu.TTL, false); err != nil {
				return CheckAndMutateResult{}, err
			}
		case MutateDel:
			if err := t.checkKey(op, hashKey, mu.SortKey); err != nil {
				return CheckAndMutateResult{}, err
			}
		default:
			return CheckAndMutateResult{}, errorf(op, t.name, fserr.Invalid, "mutation %d has unknown operation %d", i, mu.Op)
		}
	}
	return t.checkAndMutate(ctx, op, hashKey, checkSortKey, checkType, checkOperand, mutations, opts.ReturnCheckValue)
}

func (t *Table) checkAndMutate(ctx context.Context, op string, hashKey, checkSortKey []byte, checkType CheckType, checkOperand []byte,
	muts []Mutation, returnValue bool) (CheckAndMutateResult, error) {
	if err := t.checkHashKey(op, hashKey, false); err != nil {
		return CheckAndMutateResult{}, err
	}
	if err := checkType.validate(checkOperand); err != nil {
		return CheckAndMutateResult{}, errorf(op, t.name, fserr.Invalid, "%v", err)
	}
	var res CheckAndMutateResult
	err := t.update(ctx, op, func(tx kv.Txn, m tableMeta, now int64) error {
		v, _, exists, err := getLive(tx, recordKey(m.id, hashKey, checkSortKey), now)
		if err != nil {
			return err
		}
		res = CheckAndMutateResult{}
		if returnValue {
			res.CheckValueReturned, res.CheckValueExist = true, exists
			if exists {
				res.CheckValue = v
			}
		}
		pass, err := checkType.eval(exists, v, checkOperand)
		if err != nil {
			return errorf(op, t.name, fserr.Invalid, "%v", err)
		}
		if !pass {
			return nil
		}
		for _, mu := range muts {
			key := recordKey(m.id, hashKey, mu.SortKey)
			if mu.Op == MutateDel {
				err = tx.Delete(key)
			} else {
				err = tx.Put(key, encodeValue(expiry(now, mu.TTL, m), mu.Value))
			}
			if err != nil {
				return err
			}
		}
		res.MutateSucceed = true
		return nil
	})
	return res, err
}

// CompareExchangeResult is the outcome of CompareExchange.
type CompareExchangeResult struct {
	SetSucceed bool
	// ActualValue and ActualExist describe the record when the exchange
	// failed (ActualExist false: there was no record).
	ActualValue []byte
	ActualExist bool
}

// CompareExchange sets (hashKey, sortKey) to desired if its value equals
// expected (Pegasus's compare_exchange: CheckAndSet with CheckBytesEqual on
// the same sort key).
func (t *Table) CompareExchange(ctx context.Context, hashKey, sortKey, expected, desired []byte, ttlSeconds int) (CompareExchangeResult, error) {
	const op = "kvtable.CompareExchange"
	if err := t.checkRecord(op, hashKey, sortKey, desired, ttlSeconds, false); err != nil {
		return CompareExchangeResult{}, err
	}
	muts := []Mutation{{Op: MutateSet, SortKey: sortKey, Value: desired, TTL: ttlSeconds}}
	r, err := t.checkAndMutate(ctx, op, hashKey, sortKey, CheckBytesEqual, expected, muts, true)
	if err != nil || r.MutateSucceed {
		return CompareExchangeResult{SetSucceed: r.MutateSucceed}, err
	}
	return CompareExchangeResult{ActualValue: r.CheckValue, ActualExist: r.CheckValueExist}, nil
}

// ---- batches across hash keys ----

// GetResult is one item of BatchGet.
type GetResult struct {
	Value []byte
	Found bool
	Err   error
}

// SetItem is one item of BatchSet.
type SetItem struct {
	HashKey, SortKey, Value []byte
	TTL                     int
}

// BatchGet reads many records, from one snapshot. An invalid key fails its
// own item; err is for failures of the whole call (unknown table, engine).
func (t *Table) BatchGet(ctx context.Context, keys []Key) (results []GetResult, err error) {
	const op = "kvtable.BatchGet"
	results = make([]GetResult, len(keys))
	var idx []int
	for i, k := range keys {
		if e := t.checkHashKey(op, k.HashKey, true); e != nil {
			results[i].Err = e
			continue
		}
		idx = append(idx, i)
	}
	err = t.view(ctx, op, func(r kv.ReadTxn, m tableMeta, now int64) error {
		raw := make([][]byte, len(idx))
		for j, i := range idx {
			raw[j] = recordKey(m.id, keys[i].HashKey, keys[i].SortKey)
		}
		vals, err := r.GetMany(raw)
		if err != nil {
			return err
		}
		for j, i := range idx {
			results[i] = GetResult{}
			if b := vals[j]; b != nil && live(b, now) {
				_, v, _ := decodeValue(b)
				results[i] = GetResult{Value: v, Found: true}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// BatchSet writes many records: the items of one hash key in one
// transaction, hash keys independently (not atomic as a whole, as
// Pegasus). errs[i] is item i's failure; err is for failures of the
// whole call (unknown table, closed store).
func (t *Table) BatchSet(ctx context.Context, items []SetItem) (errs []error, err error) {
	const op = "kvtable.BatchSet"
	errs = make([]error, len(items))
	var valid []int
	for i, it := range items {
		if e := t.checkRecord(op, it.HashKey, it.SortKey, it.Value, it.TTL, true); e != nil {
			errs[i] = e
			continue
		}
		valid = append(valid, i)
	}
	put := func(tx kv.Txn, m tableMeta, now int64, i int) error {
		it := items[i]
		return tx.Put(recordKey(m.id, it.HashKey, it.SortKey), encodeValue(expiry(now, it.TTL, m), it.Value))
	}
	if groupCommits(items, valid) {
		// Group commit: every item in one engine transaction, so a batch
		// (such as the concurrent sets a client coalesced into it) costs
		// one commit instead of one per hash key. Each item keeps its own
		// TTL and expiry. Should the transaction fail for any reason, the
		// items are written again one hash key at a time below, so one
		// item's trouble becomes that item's error only, as without the
		// fast path.
		err := t.update(ctx, op, func(tx kv.Txn, m tableMeta, now int64) error {
			for _, i := range valid {
				if err := put(tx, m, now, i); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			return errs, nil
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
	}
	err = t.perHashKey(ctx, op, valid, func(i int) []byte { return items[i].HashKey }, errs, put)
	return errs, err
}

// Bounds of BatchSet's single-transaction path: far inside Badger's
// (~15% of a 16 MiB memtable) and etcd's (--max-txn-ops 128,
// --max-request-bytes 1.5 MiB) limits on one transaction.
const (
	groupMaxItems = 128
	groupMaxBytes = 1 << 20
)

func groupCommits(items []SetItem, valid []int) bool {
	if len(valid) < 2 || len(valid) > groupMaxItems {
		return false
	}
	n := 0
	for _, i := range valid {
		n += len(items[i].HashKey) + len(items[i].SortKey) + len(items[i].Value) + 16
	}
	return n <= groupMaxBytes
}

// BatchDel deletes many records, per hash key as BatchSet.
func (t *Table) BatchDel(ctx context.Context, keys []Key) (errs []error, err error) {
	const op = "kvtable.BatchDel"
	errs = make([]error, len(keys))
	var valid []int
	for i, k := range keys {
		if e := t.checkHashKey(op, k.HashKey, true); e != nil {
			errs[i] = e
			continue
		}
		valid = append(valid, i)
	}
	err = t.perHashKey(ctx, op, valid, func(i int) []byte { return keys[i].HashKey }, errs,
		func(tx kv.Txn, m tableMeta, _ int64, i int) error {
			return tx.Delete(recordKey(m.id, keys[i].HashKey, keys[i].SortKey))
		})
	return errs, err
}

// batchParallel bounds the hash keys a batch writes concurrently.
const batchParallel = 8

// perHashKey applies fn to the items idx, one transaction per hash key,
// recording each transaction's error against its items. Errors that
// concern the whole table are returned instead.
func (t *Table) perHashKey(ctx context.Context, op string, idx []int, hashKey func(int) []byte, errs []error,
	fn func(tx kv.Txn, m tableMeta, now int64, i int) error) error {
	if err := t.view(ctx, op, func(kv.ReadTxn, tableMeta, int64) error { return nil }); err != nil {
		return err
	}
	groups := map[string][]int{}
	var order []string
	for _, i := range idx {
		h := string(hashKey(i))
		if _, ok := groups[h]; !ok {
			order = append(order, h)
		}
		groups[h] = append(groups[h], i)
	}
	sem := make(chan struct{}, batchParallel)
	var wg sync.WaitGroup
	for _, h := range order {
		g := groups[h]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := t.update(ctx, op, func(tx kv.Txn, m tableMeta, now int64) error {
				for _, i := range g {
					if err := fn(tx, m, now, i); err != nil {
						return err
					}
				}
				return nil
			})
			for _, i := range g {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	return nil
}

// ---- range reads ----

// sortRange is the engine key range of hashKey's sort keys from start to
// stop (empty stop: the end of the hash key), narrowed to a prefix
// filter's pattern so such reads skip what the filter would reject.
func sortRange(id uint32, hashKey, start, stop []byte, startIncl, stopIncl bool, f Filter) (lo, hi []byte) {
	p := hashPrefix(id, hashKey)
	lo = append(bytes.Clone(p), start...)
	if !startIncl {
		lo = after(lo)
	}
	if len(stop) == 0 {
		hi = kv.PrefixEnd(p)
	} else {
		hi = append(bytes.Clone(p), stop...)
		if stopIncl {
			hi = after(hi)
		}
	}
	if f.Type == FilterMatchPrefix && len(f.Pattern) > 0 {
		plo := append(bytes.Clone(p), f.Pattern...)
		if bytes.Compare(plo, lo) > 0 {
			lo = plo
		}
		if phi := kv.PrefixEnd(plo); bytes.Compare(phi, hi) < 0 {
			hi = phi
		}
	}
	return lo, hi
}

type rangeSpec struct {
	lo, hi            []byte
	skOff             int // where the sort key starts in an engine key
	reverse           bool
	filter            Filter
	noValue           bool
	maxCount, maxSize int
}

// limiter applies Pegasus's count and size limits.
type limiter struct {
	maxCount, maxSize int
	count, size       int
}

func (l *limiter) init(maxCount, maxSize int) { *l = limiter{maxCount: maxCount, maxSize: maxSize} }

func (l *limiter) full() bool {
	return (l.maxCount > 0 && l.count >= l.maxCount) || (l.maxSize > 0 && l.size >= l.maxSize)
}

func (l *limiter) add(sk, v []byte) { l.count++; l.size += len(sk) + len(v) }

const pageSize = 1024

// pages scans [lo, hi) page by page, so a range of any size is read
// without one unbounded Scan.
func pages(r kv.ReadTxn, lo, hi []byte, reverse bool, fn func([]kv.Pair) error) error {
	return pagesN(r, lo, hi, reverse, pageSize, func(p []kv.Pair) (bool, error) { return true, fn(p) })
}

func pagesN(r kv.ReadTxn, lo, hi []byte, reverse bool, n int, fn func([]kv.Pair) (bool, error)) error {
	for bytes.Compare(lo, hi) < 0 {
		pairs, err := r.Scan(lo, hi, n, reverse)
		if err != nil {
			return err
		}
		more, err := fn(pairs)
		if err != nil || !more || len(pairs) < n {
			return err
		}
		last := pairs[len(pairs)-1].Key
		if reverse {
			hi = last
		} else {
			lo = after(last)
		}
	}
	return nil
}

// readRange collects the live records of a range that pass its filter,
// up to its limits; more reports that another such record exists.
func readRange(r kv.ReadTxn, rs rangeSpec, now int64) (out []KV, more bool, err error) {
	var lim limiter
	lim.init(rs.maxCount, rs.maxSize)
	n := pageSize
	if rs.maxCount > 0 && rs.maxCount < n {
		n = rs.maxCount + 1
	}
	err = pagesN(r, rs.lo, rs.hi, rs.reverse, n, func(pairs []kv.Pair) (bool, error) {
		for _, p := range pairs {
			if !live(p.Value, now) {
				continue
			}
			sk := p.Key[rs.skOff:]
			if !rs.filter.match(sk) {
				continue
			}
			if lim.full() {
				more = true
				return false, nil
			}
			_, v, _ := decodeValue(p.Value)
			if rs.noValue {
				v = nil
			}
			out = append(out, KV{SortKey: sk, Value: v})
			lim.add(sk, v)
		}
		return true, nil
	})
	return out, more, err
}
