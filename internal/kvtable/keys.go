package kvtable

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/shoalfs/shoal/internal/kv"
)

// Key layout; see the package doc.
const (
	tagTable = 'T'
	idLen    = 4
	pfxLen   = 1 + idLen // 'T' + table id
	hkLenLen = 2
	hdrLen   = pfxLen + hkLenLen

	// Catalogue records live under table id 0, which no table gets.
	catName    = 'n' // name -> catalogue entry
	catCounter = 'c' // last table id handed out
	catDropped = 'd' // id -> name of a dropped table whose records are being purged

	expLen = 8 // expiry prefix of every stored value
)

func tablePrefix(id uint32) []byte {
	b := make([]byte, pfxLen, 64)
	b[0] = tagTable
	binary.BigEndian.PutUint32(b[1:], id)
	return b
}

// tableRange is the key range of every record of table id.
func tableRange(id uint32) (lo, hi []byte) {
	lo = tablePrefix(id)
	return lo, kv.PrefixEnd(lo)
}

// dataRange spans the records of every table (and not the catalogue).
func dataRange() (lo, hi []byte) {
	return tablePrefix(1), []byte{tagTable + 1}
}

func catKey(kind byte, rest []byte) []byte {
	return append(append(tablePrefix(0), kind), rest...)
}

func nameKey(name string) []byte       { return catKey(catName, []byte(name)) }
func counterKey() []byte               { return catKey(catCounter, nil) }
func droppedKey(id uint32) []byte      { return catKey(catDropped, binary.BigEndian.AppendUint32(nil, id)) }
func droppedRange() (lo, hi []byte)    { lo = catKey(catDropped, nil); return lo, kv.PrefixEnd(lo) }
func namesRange() (lo, hi []byte)      { lo = catKey(catName, nil); return lo, kv.PrefixEnd(lo) }
func hashPrefixLen(hashKey []byte) int { return hdrLen + len(hashKey) }

// hashPrefix is the common prefix of every record of hashKey in table id.
// Because the hash key's length comes first, no other hash key shares it.
func hashPrefix(id uint32, hashKey []byte) []byte {
	b := tablePrefix(id)
	b = binary.BigEndian.AppendUint16(b, uint16(len(hashKey)))
	return append(b, hashKey...)
}

func recordKey(id uint32, hashKey, sortKey []byte) []byte {
	b := make([]byte, 0, hdrLen+len(hashKey)+len(sortKey))
	b = append(b, tablePrefix(id)...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(hashKey)))
	b = append(b, hashKey...)
	return append(b, sortKey...)
}

// splitKey decodes a record key of the table whose prefix it carries. ok
// is false for a key too short for its own hash-key length (never written
// by this package).
func splitKey(key []byte) (hashKey, sortKey []byte, ok bool) {
	if len(key) < hdrLen {
		return nil, nil, false
	}
	n := int(binary.BigEndian.Uint16(key[pfxLen:]))
	if len(key) < hdrLen+n {
		return nil, nil, false
	}
	return key[hdrLen : hdrLen+n], key[hdrLen+n:], true
}

// hashKeyBoundary returns the prefix of the hash key that key belongs to,
// so that a split there keeps every hash key within one range.
func hashKeyBoundary(key []byte) []byte {
	hk, _, ok := splitKey(key)
	if !ok {
		return bytes.Clone(key)
	}
	return bytes.Clone(key[:hdrLen+len(hk)])
}

// encodeValue prefixes value with its expiry (Unix milliseconds, 0 for none).
func encodeValue(expMs int64, value []byte) []byte {
	b := make([]byte, expLen, expLen+len(value))
	binary.BigEndian.PutUint64(b, uint64(expMs))
	return append(b, value...)
}

// decodeValue splits a stored value. A value too short to carry an expiry
// is treated as expired: it cannot have been written by this package.
func decodeValue(stored []byte) (expMs int64, value []byte, ok bool) {
	if len(stored) < expLen {
		return 0, nil, false
	}
	return int64(binary.BigEndian.Uint64(stored)), stored[expLen:], true
}

// live reports whether a stored value is visible at nowMs.
func live(stored []byte, nowMs int64) bool {
	exp, _, ok := decodeValue(stored)
	return ok && (exp == 0 || nowMs < exp)
}

func nowMs(clock func() time.Time) int64 { return clock().UnixMilli() }

// after returns the smallest key greater than k.
func after(k []byte) []byte { return append(bytes.Clone(k), 0) }
