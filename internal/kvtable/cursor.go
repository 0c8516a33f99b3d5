package kvtable

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/shoalfs/shoal/internal/fserr"
)

// A cursor is a scanner's position as bytes, so a surface can serve a
// scan without keeping a scanner between calls (the gRPC service hands it
// to the client with each batch; any server of the same engine resumes
// it). It names the table id and what is left to read:
//
//	version(1) = 1, table id (4, BE), len(lo) (4, BE), lo, hi
//
// A cursor is not a capability: ResumeScanner checks that both bounds lie
// inside the table it is resumed on, and each batch checks that the table
// still has that id, so a forged or stale cursor reads nothing else.
const cursorVersion = 1

var errBadCursor = errors.New("kvtable: malformed scan cursor")

// Cursor returns the position after the last record Next returned, or nil
// when the scanner has nothing more to return. Resuming it with
// ResumeScanner (and the same ScanOptions) returns exactly the records
// this scanner would have returned next, each batch read afresh. A
// scanner from GetScanner that Next has not been called on yet has no
// position and fails with kind Invalid; one that was closed, with kind
// Closed.
func (sc *Scanner) Cursor() ([]byte, error) {
	const op = "kvtable.Scanner.Cursor"
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.mu.closed {
		return nil, fserr.E(op, sc.t.name, fserr.Closed, errScannerClosed)
	}
	if !sc.mu.bound {
		return nil, errorf(op, sc.t.name, fserr.Invalid, "scanner has no position before its first Next")
	}
	lo := sc.mu.lo
	switch {
	case len(sc.mu.buf) > 0:
		r := sc.mu.buf[0]
		lo = recordKey(sc.mu.id, r.hk, r.sk)
	case sc.mu.done:
		return nil, nil
	}
	b := make([]byte, 0, 1+idLen+4+len(lo)+len(sc.mu.hi))
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint32(b, sc.mu.id)
	b = binary.BigEndian.AppendUint32(b, uint32(len(lo)))
	b = append(b, lo...)
	return append(b, sc.mu.hi...), nil
}

// ResumeScanner returns a scanner that continues from cursor (see
// Scanner.Cursor) with opts. A cursor that is malformed or does not
// belong to this table fails with kind Invalid; a table dropped since
// fails the first Next with kind NotFound.
func (t *Table) ResumeScanner(cursor []byte, opts ScanOptions) (*Scanner, error) {
	const op = "kvtable.ResumeScanner"
	if err := t.s.check(op, t.name); err != nil {
		return nil, err
	}
	if err := t.checkScanOptions(op, &opts); err != nil {
		return nil, err
	}
	if len(cursor) < 1+idLen+4 || cursor[0] != cursorVersion {
		return nil, fserr.E(op, t.name, fserr.Invalid, errBadCursor)
	}
	id := binary.BigEndian.Uint32(cursor[1:])
	n := binary.BigEndian.Uint32(cursor[1+idLen:])
	rest := cursor[1+idLen+4:]
	if uint64(n) > uint64(len(rest)) {
		return nil, fserr.E(op, t.name, fserr.Invalid, errBadCursor)
	}
	lo, hi := bytes.Clone(rest[:n]), bytes.Clone(rest[n:])
	tlo, thi := tableRange(id)
	if id == 0 || bytes.Compare(lo, tlo) < 0 || bytes.Compare(hi, thi) > 0 || bytes.Compare(lo, hi) > 0 {
		return nil, fserr.E(op, t.name, fserr.Invalid, errBadCursor)
	}
	sc := &Scanner{t: t, opts: opts}
	sc.mu.bound, sc.mu.id, sc.mu.lo, sc.mu.hi = true, id, lo, hi
	return sc, nil
}
