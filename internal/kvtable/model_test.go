package kvtable_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kvtable"
)

// model is the reference the table is compared with: plain maps, the
// semantics written out independently of the package's code.
type model struct {
	recs map[string]map[string]mrec
	now  func() int64
}

type mrec struct {
	v   []byte
	exp int64 // Unix ms, 0: none
}

func (m *model) live(hk, sk string) (mrec, bool) {
	r, ok := m.recs[hk][sk]
	if !ok || (r.exp != 0 && m.now() >= r.exp) {
		return mrec{}, false
	}
	return r, true
}

func (m *model) put(hk, sk string, v []byte, exp int64) {
	if m.recs[hk] == nil {
		m.recs[hk] = map[string]mrec{}
	}
	m.recs[hk][sk] = mrec{v: bytes.Clone(v), exp: exp}
}

func (m *model) exp(ttl int) int64 {
	if ttl > 0 {
		return m.now() + int64(ttl)*1000
	}
	return 0
}

// liveKeys returns hk's live sort keys in order.
func (m *model) liveKeys(hk string) []string {
	var out []string
	for sk := range m.recs[hk] {
		if _, ok := m.live(hk, sk); ok {
			out = append(out, sk)
		}
	}
	slices.Sort(out)
	return out
}

func (m *model) check(ct kvtable.CheckType, hk, sk string, operand []byte) (bool, bool) {
	r, exists := m.live(hk, sk)
	v := r.v
	cmpBytes := bytes.Compare(v, operand)
	vi, verr := strconv.ParseInt(string(v), 10, 64)
	oi, _ := strconv.ParseInt(string(operand), 10, 64)
	intOK := verr == nil
	ci := 0
	if vi < oi {
		ci = -1
	} else if vi > oi {
		ci = 1
	}
	switch ct {
	case kvtable.CheckNoCheck:
		return true, true
	case kvtable.CheckValueNotExist:
		return !exists, true
	case kvtable.CheckValueNotExistOrEmpty:
		return !exists || len(v) == 0, true
	case kvtable.CheckValueExist:
		return exists, true
	case kvtable.CheckValueNotEmpty:
		return exists && len(v) > 0, true
	case kvtable.CheckMatchPrefix:
		return exists && bytes.HasPrefix(v, operand), true
	case kvtable.CheckBytesLess:
		return exists && cmpBytes < 0, true
	case kvtable.CheckBytesEqual:
		return exists && cmpBytes == 0, true
	case kvtable.CheckIntGreaterOrEqual:
		if !exists {
			return false, true
		}
		return intOK && ci >= 0, intOK
	case kvtable.CheckIntLess:
		if !exists {
			return false, true
		}
		return intOK && ci < 0, intOK
	}
	panic("check type not modelled")
}

func TestModel(t *testing.T) {
	t.Parallel()
	ops := 4000
	if raceEnabled {
		ops = 2000
	}
	for _, eng := range []struct {
		name string
		open opener
	}{{"mem", openMem}, {"badger", openBadger}} {
		t.Run(eng.name, func(t *testing.T) {
			for seed := range uint64(2) {
				runModel(t, eng.open, seed, ops)
			}
		})
	}
}

func runModel(t *testing.T, open opener, seed uint64, ops int) {
	ctx := context.Background()
	e := newEnv(t, open, kvtable.Options{})
	tb := e.tb
	m := &model{recs: map[string]map[string]mrec{}, now: func() int64 { return e.clock.Now().UnixMilli() }}
	rng := rand.New(rand.NewPCG(seed, 42))
	hashKeys := []string{"a", "b", "ab", "ba"}
	sortKeyPool := []string{"", "0", "1", "10", "11", "2", "x1", "x2", "y", "yx"}
	hk := func() string { return hashKeys[rng.IntN(len(hashKeys))] }
	sk := func() string { return sortKeyPool[rng.IntN(len(sortKeyPool))] }
	val := func() []byte {
		switch rng.IntN(4) {
		case 0:
			return nil
		case 1:
			return []byte(sortKeyPool[rng.IntN(len(sortKeyPool))])
		default:
			return strconv.AppendInt(nil, int64(rng.IntN(21)-10), 10)
		}
	}
	ttl := func() int {
		if rng.IntN(3) == 0 {
			return 1 + rng.IntN(4)
		}
		return 0
	}
	fail := func(step int, what string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d step %d: %s", seed, step, fmt.Sprintf(what, args...))
	}
	checkTypes := []kvtable.CheckType{kvtable.CheckNoCheck, kvtable.CheckValueNotExist, kvtable.CheckValueNotExistOrEmpty,
		kvtable.CheckValueExist, kvtable.CheckValueNotEmpty, kvtable.CheckMatchPrefix, kvtable.CheckBytesLess,
		kvtable.CheckBytesEqual, kvtable.CheckIntGreaterOrEqual, kvtable.CheckIntLess}

	for step := range ops {
		h, s := hk(), sk()
		switch op := rng.IntN(15); op {
		case 0, 1: // set
			v, tt := val(), ttl()
			must(t, tb.Set(ctx, []byte(h), []byte(s), v, tt))
			m.put(h, s, v, m.exp(tt))
		case 2: // remove
			must(t, tb.Remove(ctx, []byte(h), []byte(s)))
			delete(m.recs[h], s)
		case 3: // multi_set
			var kvs []kvtable.KV
			tt := ttl()
			for range 1 + rng.IntN(4) {
				kvs = append(kvs, kvtable.KV{SortKey: []byte(sk()), Value: val()})
			}
			must(t, tb.MultiSet(ctx, []byte(h), kvs, tt))
			for _, r := range kvs {
				m.put(h, string(r.SortKey), r.Value, m.exp(tt))
			}
		case 4: // multi_del
			keys := [][]byte{[]byte(s), []byte(sk())}
			n, err := tb.MultiDel(ctx, []byte(h), keys)
			must(t, err)
			want := 0
			seen := map[string]bool{}
			for _, k := range keys {
				if _, ok := m.live(h, string(k)); ok && !seen[string(k)] {
					want++
				}
				seen[string(k)] = true
				delete(m.recs[h], string(k))
			}
			if n != want {
				fail(step, "multi_del counted %d, model %d", n, want)
			}
		case 5: // incr
			inc := int64(rng.IntN(7) - 3)
			tt := []int{-1, 0, 0, 3}[rng.IntN(4)]
			got, err := tb.Incr(ctx, []byte(h), []byte(s), inc, tt)
			r, ok := m.live(h, s)
			var base int64
			var perr error
			if ok && len(r.v) > 0 {
				base, perr = strconv.ParseInt(string(r.v), 10, 64)
			}
			if perr != nil {
				if fserr.KindOf(err) != fserr.Invalid {
					fail(step, "incr of %q: %v, want Invalid", r.v, err)
				}
				break
			}
			must(t, err)
			if got != base+inc {
				fail(step, "incr = %d, model %d", got, base+inc)
			}
			exp := r.exp
			if !ok {
				exp = 0
			}
			if tt > 0 {
				exp = m.exp(tt)
			} else if tt == -1 {
				exp = 0
			}
			m.put(h, s, strconv.AppendInt(nil, got, 10), exp)
		case 6: // check_and_set
			ct := checkTypes[rng.IntN(len(checkTypes))]
			operand := val()
			if ct == kvtable.CheckIntGreaterOrEqual || ct == kvtable.CheckIntLess {
				operand = strconv.AppendInt(nil, int64(rng.IntN(11)-5), 10)
			}
			setSK, v, tt := sk(), val(), ttl()
			res, err := tb.CheckAndSet(ctx, []byte(h), []byte(s), ct, operand, []byte(setSK), v,
				kvtable.CheckAndSetOptions{SetValueTTL: tt, ReturnCheckValue: true})
			pass, valid := m.check(ct, h, s, operand)
			if !valid {
				if fserr.KindOf(err) != fserr.Invalid {
					fail(step, "check_and_set %v on non-int: %v", ct, err)
				}
				break
			}
			must(t, err)
			r, exists := m.live(h, s)
			if res.SetSucceed != pass || res.CheckValueExist != exists || !bytes.Equal(res.CheckValue, r.v) {
				fail(step, "check_and_set %v %q: got %+v, model pass=%v exists=%v v=%q", ct, operand, res, pass, exists, r.v)
			}
			if pass {
				m.put(h, setSK, v, m.exp(tt))
			}
		case 7: // del_range
			start, stop := sk(), sk()
			o := kvtable.DelRangeOptions{StartInclusive: rng.IntN(2) == 0, StopInclusive: rng.IntN(2) == 0}
			n, err := tb.DelRange(ctx, []byte(h), []byte(start), []byte(stop), o)
			must(t, err)
			want := 0
			for k := range m.recs[h] {
				if inRange(k, start, stop, o.StartInclusive, o.StopInclusive) {
					if _, ok := m.live(h, k); ok {
						want++
					}
					delete(m.recs[h], k)
				}
			}
			if n != want {
				fail(step, "del_range counted %d, model %d", n, want)
			}
		case 8: // time passes
			// Whole seconds too, so reads land exactly on expiry times.
			if rng.IntN(2) == 0 {
				e.clock.Advance(time.Duration(rng.IntN(3)) * time.Second)
			} else {
				e.clock.Advance(time.Duration(rng.IntN(2500)) * time.Millisecond)
			}
		case 9: // reclaim changes nothing visible
			if rng.IntN(5) == 0 {
				_, err := e.s.ReclaimExpired(ctx, rng.IntN(3))
				must(t, err)
			}
		case 10: // get / exist / ttl
			v, ok, err := tb.Get(ctx, []byte(h), []byte(s))
			must(t, err)
			r, mok := m.live(h, s)
			if ok != mok || !bytes.Equal(v, r.v) {
				fail(step, "get %s/%s = %q %v, model %q %v", h, s, v, ok, r.v, mok)
			}
			ttlGot, ok, err := tb.TTL(ctx, []byte(h), []byte(s))
			must(t, err)
			want := -1
			if r.exp != 0 {
				want = int((r.exp - m.now() + 999) / 1000)
			}
			if ok != mok || (ok && ttlGot != want) {
				fail(step, "ttl %s/%s = %d %v, model %d %v", h, s, ttlGot, ok, want, mok)
			}
		case 11: // multi_get all, with limits
			maxCount, maxSize := rng.IntN(5), rng.IntN(12)
			kvs, more, err := tb.MultiGet(ctx, []byte(h), nil, maxCount, maxSize, false)
			must(t, err)
			wantKVs, wantMore := m.limit(h, m.liveKeys(h), maxCount, maxSize, false)
			compareKVs(t, step, kvs, more, wantKVs, wantMore, fail)
			if n, _ := tb.SortKeyCount(ctx, []byte(h)); n != int64(len(m.liveKeys(h))) {
				fail(step, "sort_key_count %d, model %d", n, len(m.liveKeys(h)))
			}
		case 12: // multi_get_opt
			o := kvtable.MultiGetOptions{
				StartInclusive: rng.IntN(2) == 0, StopInclusive: rng.IntN(2) == 0,
				Reverse: rng.IntN(2) == 0, NoValue: rng.IntN(4) == 0,
				MaxKVCount: rng.IntN(5), MaxKVSize: rng.IntN(12),
				SortKeyFilter: kvtable.Filter{Type: kvtable.FilterType(rng.IntN(4)), Pattern: []byte(sortKeyPool[rng.IntN(len(sortKeyPool))])},
			}
			start, stop := sk(), sk()
			kvs, more, err := tb.MultiGetOpt(ctx, []byte(h), []byte(start), []byte(stop), o)
			must(t, err)
			var keys []string
			for _, k := range m.liveKeys(h) {
				if inRange(k, start, stop, o.StartInclusive, o.StopInclusive) && matches(o.SortKeyFilter, k) {
					keys = append(keys, k)
				}
			}
			if o.Reverse {
				slices.Reverse(keys)
			}
			wantKVs, wantMore := m.limit(h, keys, o.MaxKVCount, o.MaxKVSize, o.NoValue)
			if o.Reverse {
				slices.Reverse(wantKVs)
			}
			compareKVs(t, step, kvs, more, wantKVs, wantMore, fail)
		case 13: // multi_get of given keys
			keys := [][]byte{[]byte(s), []byte(sk()), []byte(sk())}
			maxCount := rng.IntN(3)
			kvs, more, err := tb.MultiGet(ctx, []byte(h), keys, maxCount, 0, false)
			must(t, err)
			var ks []string
			for _, k := range keys {
				if _, ok := m.live(h, string(k)); ok && !slices.Contains(ks, string(k)) {
					ks = append(ks, string(k))
				}
			}
			slices.Sort(ks)
			wantKVs, wantMore := m.limit(h, ks, maxCount, 0, false)
			compareKVs(t, step, kvs, more, wantKVs, wantMore, fail)
		case 14: // scanner over one hash key, small batches
			o := kvtable.ScanOptions{BatchSize: 1 + rng.IntN(3), StartInclusive: true}
			sc, err := tb.GetScanner([]byte(h), nil, nil, o)
			must(t, err)
			var got []string
			for {
				_, k, _, ok, err := sc.Next(ctx)
				must(t, err)
				if !ok {
					break
				}
				got = append(got, string(k))
			}
			if want := m.liveKeys(h); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				fail(step, "scan %s = %q, model %q", h, got, want)
			}
		}
	}
}

func inRange(k, start, stop string, si, ei bool) bool {
	if k < start || (k == start && !si) {
		return false
	}
	if stop == "" {
		return true
	}
	return k < stop || (k == stop && ei)
}

func matches(f kvtable.Filter, k string) bool {
	p := string(f.Pattern)
	switch f.Type {
	case kvtable.FilterMatchAnywhere:
		return bytes.Contains([]byte(k), []byte(p))
	case kvtable.FilterMatchPrefix:
		return len(k) >= len(p) && k[:len(p)] == p
	case kvtable.FilterMatchPostfix:
		return len(k) >= len(p) && k[len(k)-len(p):] == p
	}
	return true
}

// limit applies multi_get's limits to keys in the order given.
func (m *model) limit(hk string, keys []string, maxCount, maxSize int, noValue bool) ([]kvtable.KV, bool) {
	var out []kvtable.KV
	size := 0
	for _, k := range keys {
		if (maxCount > 0 && len(out) >= maxCount) || (maxSize > 0 && size >= maxSize) {
			return out, true
		}
		r, _ := m.live(hk, k)
		v := r.v
		if noValue {
			v = nil
		}
		out = append(out, kvtable.KV{SortKey: []byte(k), Value: v})
		size += len(k) + len(v)
	}
	return out, false
}

func compareKVs(t *testing.T, step int, got []kvtable.KV, more bool, want []kvtable.KV, wantMore bool, fail func(int, string, ...any)) {
	t.Helper()
	same := len(got) == len(want) && more == wantMore
	for i := 0; same && i < len(got); i++ {
		same = bytes.Equal(got[i].SortKey, want[i].SortKey) && bytes.Equal(got[i].Value, want[i].Value)
	}
	if !same {
		fail(step, "got %q more=%v, model %q more=%v", got, more, want, wantMore)
	}
}
