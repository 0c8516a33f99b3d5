package agent

import (
	"errors"
	"sync"

	shoal "github.com/shoalfs/shoal"
)

// KV tables through the agent (docs/kvtables.md, "Python"): each opcode
// is one call of the Go SDK's Table API. Options travel as flat integers
// so the Python side builds a request with one encode call; scanners are
// session handles, like directory iterators, read in batches by
// OpKVNext and closed when their session ends.

// Option bits of OpKVMultiGetOpt, OpKVDelRange and the scan opcodes.
const (
	kvStartInclusive = 1 << iota
	kvStopInclusive
	kvNoValue
	kvReverse
)

// kvNextBytes bounds the records of one OpKVNext answer, far under
// MaxFrame, so a batch of large values still fits a frame.
const kvNextBytes = 4 << 20

// kvScanners are a session's open scanners. The zero value is ready.
type kvScanners struct {
	mu struct {
		sync.Mutex
		m map[int64]*kvScanner
	}
}

// kvScanner serializes the use of one scanner: a caller's threads may
// share a Python scanner object over different connections.
type kvScanner struct {
	mu sync.Mutex
	sc *shoal.Scanner
}

func (ks *kvScanners) add(s *session, sc *shoal.Scanner) int64 {
	h := s.newID()
	ks.mu.Lock()
	if ks.mu.m == nil {
		ks.mu.m = map[int64]*kvScanner{}
	}
	ks.mu.m[h] = &kvScanner{sc: sc}
	ks.mu.Unlock()
	return h
}

func (ks *kvScanners) get(h int64) *kvScanner {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.mu.m[h]
}

func (ks *kvScanners) remove(h int64) *kvScanner {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	sc := ks.mu.m[h]
	delete(ks.mu.m, h)
	return sc
}

// closeAll closes every scanner; the session is ending.
func (ks *kvScanners) closeAll() {
	ks.mu.Lock()
	m := ks.mu.m
	ks.mu.m = nil
	ks.mu.Unlock()
	for _, sc := range m {
		_ = sc.sc.Close()
	}
}

func isKVOp(op uint16) bool { return op >= OpKVCreateTable && op <= OpKVCloseScanner }

func putTableInfo(e *enc, ti shoal.TableInfo) {
	e.str(ti.Name)
	e.int(int64(ti.ID))
	e.int(int64(ti.DefaultTTL))
	e.int(ti.Created.UnixNano())
}

func putKVs(e *enc, kvs []shoal.KV, more bool) {
	e.int(b2i(more))
	e.int(int64(len(kvs)))
	for _, r := range kvs {
		e.bytes(r.SortKey)
		e.bytes(r.Value)
	}
}

// putItemErr encodes one batch item's outcome: errno 0, or errno and
// message.
func putItemErr(e *enc, err error) {
	if err == nil {
		e.int(0)
		return
	}
	e.int(int64(errnoOf(err)))
	e.str(err.Error())
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// cloneBytes copies an argument out of the request buffer, which the
// next request on the connection overwrites.
func cloneBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return append([]byte(nil), b...)
}

func (d *dec) filter() shoal.Filter {
	t := d.int()
	return shoal.Filter{Type: shoal.FilterType(t), Pattern: cloneBytes(d.bytes())}
}

func (d *dec) scanOpts() shoal.ScanOptions {
	batch, flags := d.int(), d.int()
	o := shoal.ScanOptions{
		BatchSize:      int(batch),
		StartInclusive: flags&kvStartInclusive != 0,
		StopInclusive:  flags&kvStopInclusive != 0,
		NoValue:        flags&kvNoValue != 0,
	}
	o.SortKeyFilter = d.filter()
	o.HashKeyFilter = d.filter()
	return o
}

// table decodes the table name that starts a record opcode's arguments,
// records it for errors and returns the table under the request's
// context.
func (r *req) table() *shoal.Table {
	name := r.d.str()
	r.path = name
	return r.cl.Table(name)
}

func opKVCreateTable(r *req) error {
	d, e, cl := r.d, r.e, r.cl
	name, ttl := d.str(), d.int()
	if d.err != nil {
		return d.err
	}
	ti, err := cl.CreateTable(name, shoal.TableOptions{DefaultTTL: int(ttl)})
	if err != nil {
		return err
	}
	putTableInfo(e, ti)
	return nil
}

func opKVDropTable(r *req) error {
	d, cl := r.d, r.cl
	name := d.str()
	if d.err != nil {
		return d.err
	}
	return cl.DropTable(name)
}

func opKVListTables(r *req) error {
	e, cl := r.e, r.cl
	tis, err := cl.ListTables()
	if err != nil {
		return err
	}
	e.int(int64(len(tis)))
	for _, ti := range tis {
		putTableInfo(e, ti)
	}
	return nil
}

func opKVDescribeTable(r *req) error {
	d, e, cl := r.d, r.e, r.cl
	name := d.str()
	if d.err != nil {
		return d.err
	}
	ti, err := cl.DescribeTable(name)
	if err != nil {
		return err
	}
	putTableInfo(e, ti)
	return nil
}

func opKVNext(r *req) error {
	d, e, s := r.d, r.e, r.s
	h, max := d.int(), d.int()
	if d.err != nil {
		return d.err
	}
	ks := s.kv.get(h)
	if ks == nil {
		return &shoal.Error{Op: "kv.next", Kind: shoal.KindClosed, Err: errors.New("agent: kv: scanner is closed")}
	}
	return ks.next(e, int(max))
}

func opKVCloseScanner(r *req) error {
	d, s := r.d, r.s
	h := d.int()
	if d.err != nil {
		return d.err
	}
	if ks := s.kv.remove(h); ks != nil {
		ks.mu.Lock()
		defer ks.mu.Unlock()
		return ks.sc.Close()
	}
	return nil
}

func opKVSet(r *req) error {
	d, t := r.d, r.table()
	h, sk, v, ttl := d.bytes(), d.bytes(), d.bytes(), d.int()
	if d.err != nil {
		return d.err
	}
	return t.Set(h, sk, v, int(ttl))
}

func opKVGet(r *req) error {
	d, e, t := r.d, r.e, r.table()
	h, sk := d.bytes(), d.bytes()
	if d.err != nil {
		return d.err
	}
	v, ok, err := t.Get(h, sk)
	if err != nil {
		return err
	}
	e.int(b2i(ok))
	e.bytes(v)
	return nil
}

func opKVExist(r *req) error {
	d, e, t := r.d, r.e, r.table()
	h, sk := d.bytes(), d.bytes()
	if d.err != nil {
		return d.err
	}
	ok, err := t.Exist(h, sk)
	if err != nil {
		return err
	}
	e.int(b2i(ok))
	return nil
}

func opKVTTL(r *req) error {
	d, e, t := r.d, r.e, r.table()
	h, sk := d.bytes(), d.bytes()
	if d.err != nil {
		return d.err
	}
	ttl, ok, err := t.TTL(h, sk)
	if err != nil {
		return err
	}
	e.int(b2i(ok))
	e.int(int64(ttl))
	return nil
}

func opKVRemove(r *req) error {
	d, t := r.d, r.table()
	h, sk := d.bytes(), d.bytes()
	if d.err != nil {
		return d.err
	}
	return t.Remove(h, sk)
}

func opKVIncr(r *req) error {
	d, e, t := r.d, r.e, r.table()
	h, sk, inc, ttl := d.bytes(), d.bytes(), d.int(), d.int()
	if d.err != nil {
		return d.err
	}
	v, err := t.Incr(h, sk, inc, int(ttl))
	if err != nil {
		return err
	}
	e.int(v)
	return nil
}

func opKVMultiSet(r *req) error {
	d, t := r.d, r.table()
	h := d.bytes()
	n := d.count(8)
	kvs := make([]shoal.KV, n)
	for i := range kvs {
		kvs[i] = shoal.KV{SortKey: d.bytes(), Value: d.bytes()}
	}
	ttl := d.int()
	if d.err != nil {
		return d.err
	}
	return t.MultiSet(h, kvs, int(ttl))
}

func opKVMultiGet(r *req) error {
	d, e, t := r.d, r.e, r.table()
	h := d.bytes()
	keys := d.byteList()
	count, size, noValue := d.int(), d.int(), d.int() != 0
	if d.err != nil {
		return d.err
	}
	kvs, more, err := t.MultiGet(h, keys, int(count), int(size), noValue)
	if err != nil {
		return err
	}
	putKVs(e, kvs, more)
	return nil
}

func opKVMultiGetOpt(r *req) error {
	d, e, t := r.d, r.e, r.table()
	h, start, stop := d.bytes(), d.bytes(), d.bytes()
	flags := d.int()
	o := shoal.MultiGetOptions{
		StartInclusive: flags&kvStartInclusive != 0,
		StopInclusive:  flags&kvStopInclusive != 0,
		NoValue:        flags&kvNoValue != 0,
		Reverse:        flags&kvReverse != 0,
	}
	o.SortKeyFilter = d.filter()
	o.MaxKVCount, o.MaxKVSize = int(d.int()), int(d.int())
	if d.err != nil {
		return d.err
	}
	kvs, more, err := t.MultiGetOpt(h, start, stop, o)
	if err != nil {
		return err
	}
	putKVs(e, kvs, more)
	return nil
}

func opKVMultiDel(r *req) error {
	d, e, t := r.d, r.e, r.table()
	h := d.bytes()
	keys := d.byteList()
	if d.err != nil {
		return d.err
	}
	n, err := t.MultiDel(h, keys)
	if err != nil {
		return err
	}
	e.int(int64(n))
	return nil
}

func opKVDelRange(r *req) error {
	d, e, t := r.d, r.e, r.table()
	h, start, stop := d.bytes(), d.bytes(), d.bytes()
	flags := d.int()
	o := shoal.DelRangeOptions{
		StartInclusive: flags&kvStartInclusive != 0,
		StopInclusive:  flags&kvStopInclusive != 0,
	}
	o.SortKeyFilter = d.filter()
	if d.err != nil {
		return d.err
	}
	n, err := t.DelRange(h, start, stop, o)
	if err != nil {
		return err
	}
	e.int(int64(n))
	return nil
}

func opKVSortKeyCount(r *req) error {
	d, e, t := r.d, r.e, r.table()
	h := d.bytes()
	if d.err != nil {
		return d.err
	}
	n, err := t.SortKeyCount(h)
	if err != nil {
		return err
	}
	e.int(n)
	return nil
}

func opKVGetSortKeys(r *req) error {
	d, e, t := r.d, r.e, r.table()
	h, count, size := d.bytes(), d.int(), d.int()
	if d.err != nil {
		return d.err
	}
	keys, more, err := t.GetSortKeys(h, int(count), int(size))
	if err != nil {
		return err
	}
	e.int(b2i(more))
	e.int(int64(len(keys)))
	for _, k := range keys {
		e.bytes(k)
	}
	return nil
}

func opKVCheckAndSet(r *req) error {
	d, e, t := r.d, r.e, r.table()
	h, csk, ct, operand := d.bytes(), d.bytes(), d.int(), d.bytes()
	ssk, sv, ttl, ret := d.bytes(), d.bytes(), d.int(), d.int() != 0
	if d.err != nil {
		return d.err
	}
	res, err := t.CheckAndSet(h, csk, shoal.CheckType(ct), operand, ssk, sv,
		shoal.CheckAndSetOptions{SetValueTTL: int(ttl), ReturnCheckValue: ret})
	if err != nil {
		return err
	}
	putCheck(e, res.SetSucceed, res.CheckValueReturned, res.CheckValueExist, res.CheckValue)
	return nil
}

func opKVCheckAndMutate(r *req) error {
	d, e, t := r.d, r.e, r.table()
	h, csk, ct, operand := d.bytes(), d.bytes(), d.int(), d.bytes()
	n := d.count(8 * 3)
	muts := make([]shoal.Mutation, n)
	for i := range muts {
		muts[i] = shoal.Mutation{Op: shoal.MutateOp(d.int()), SortKey: d.bytes(), Value: d.bytes(), TTL: int(d.int())}
	}
	ret := d.int() != 0
	if d.err != nil {
		return d.err
	}
	res, err := t.CheckAndMutate(h, csk, shoal.CheckType(ct), operand, muts,
		shoal.CheckAndMutateOptions{ReturnCheckValue: ret})
	if err != nil {
		return err
	}
	putCheck(e, res.MutateSucceed, res.CheckValueReturned, res.CheckValueExist, res.CheckValue)
	return nil
}

func opKVCompareExchange(r *req) error {
	d, e, t := r.d, r.e, r.table()
	h, sk, expected, desired, ttl := d.bytes(), d.bytes(), d.bytes(), d.bytes(), d.int()
	if d.err != nil {
		return d.err
	}
	res, err := t.CompareExchange(h, sk, expected, desired, int(ttl))
	if err != nil {
		return err
	}
	e.int(b2i(res.SetSucceed))
	e.int(b2i(res.ActualExist))
	e.bytes(res.ActualValue)
	return nil
}

func opKVBatchGet(r *req) error {
	t := r.table()
	keys, err := r.d.keyList()
	if err != nil {
		return err
	}
	rs, err := t.BatchGet(keys)
	if err != nil {
		return err
	}
	r.e.int(int64(len(rs)))
	for _, res := range rs {
		putItemErr(r.e, res.Err)
		if res.Err == nil {
			r.e.int(b2i(res.Found))
			r.e.bytes(res.Value)
		}
	}
	return nil
}

func opKVBatchDel(r *req) error {
	t := r.table()
	keys, err := r.d.keyList()
	if err != nil {
		return err
	}
	errs, err := t.BatchDel(keys)
	if err != nil {
		return err
	}
	r.e.int(int64(len(errs)))
	for _, ie := range errs {
		putItemErr(r.e, ie)
	}
	return nil
}

// keyList decodes a count then that many (hash key, sort key) pairs.
func (d *dec) keyList() ([]shoal.Key, error) {
	n := d.count(8)
	keys := make([]shoal.Key, n)
	for i := range keys {
		keys[i] = shoal.Key{HashKey: d.bytes(), SortKey: d.bytes()}
	}
	return keys, d.err
}

func opKVBatchSet(r *req) error {
	d, e, t := r.d, r.e, r.table()
	n := d.count(8 * 2)
	items := make([]shoal.SetItem, n)
	for i := range items {
		items[i] = shoal.SetItem{HashKey: d.bytes(), SortKey: d.bytes(), Value: d.bytes(), TTL: int(d.int())}
	}
	if d.err != nil {
		return d.err
	}
	errs, err := t.BatchSet(items)
	if err != nil {
		return err
	}
	e.int(int64(len(errs)))
	for _, ie := range errs {
		putItemErr(e, ie)
	}
	return nil
}

func opKVGetScanner(r *req) error {
	d, e, s, t := r.d, r.e, r.s, r.table()
	h, start, stop := cloneBytes(d.bytes()), cloneBytes(d.bytes()), cloneBytes(d.bytes())
	o := d.scanOpts()
	if d.err != nil {
		return d.err
	}
	sc, err := s.baseTable(t.Name()).GetScanner(h, start, stop, o)
	if err != nil {
		return err
	}
	e.int(s.kv.add(s, sc))
	return nil
}

func opKVUnorderedScanners(r *req) error {
	d, e, s, t := r.d, r.e, r.s, r.table()
	n := d.int()
	o := d.scanOpts()
	if d.err != nil {
		return d.err
	}
	scs, err := s.baseTable(t.Name()).GetUnorderedScanners(int(n), o)
	if err != nil {
		return err
	}
	e.int(int64(len(scs)))
	for _, sc := range scs {
		e.int(s.kv.add(s, sc))
	}
	return nil
}

// baseTable is a table of the session's client under the session's
// context, not the request's: a scanner keeps its client's context for
// every later batch, as a file does (see session.cl).
func (s *session) baseTable(name string) *shoal.Table { return s.cl.Table(name) }

func putCheck(e *enc, ok, returned, exist bool, v []byte) {
	e.int(b2i(ok))
	e.int(b2i(returned))
	e.int(b2i(exist))
	e.bytes(v)
}

// byteList decodes a count then that many byte strings, copied.
func (d *dec) byteList() [][]byte {
	n := d.count(4)
	out := make([][]byte, n)
	for i := range out {
		out[i] = d.bytes()
	}
	return out
}

// next answers up to max records (0: 1,000), fewer when kvNextBytes is
// reached; an answer of 0 records is the end.
func (ks *kvScanner) next(e *enc, max int) error {
	if max <= 0 {
		max = 1000
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	at := len(e.b)
	e.int(0)
	n, size := 0, 0
	for n < max && size < kvNextBytes {
		h, sk, v, ok, err := ks.sc.Next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		e.bytes(h)
		e.bytes(sk)
		e.bytes(v)
		n++
		size += len(h) + len(sk) + len(v) + 12
	}
	putI64At(e.b[at:], int64(n))
	return nil
}

func putI64At(b []byte, v int64) {
	for i := range 8 {
		b[i] = byte(uint64(v) >> (8 * i))
	}
}
