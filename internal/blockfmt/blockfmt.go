// Package blockfmt owns the format of block objects: how a slice's data
// is cut into blocks, the key each block is stored under, the CRC32C
// trailer each block carries, and the size classes the rest of the
// system sizes itself by. Everything that writes, reads, checks or
// routes blocks (internal/data, internal/rpc's inline path, the block
// servers' grants, the data directory's small-block engine) takes the
// format from here, so it is defined once.
//
// The format, and its invariants:
//   - A slice of Size bytes is stored as SliceBlocks(Size) blocks of
//     BlockSize bytes, the last one shorter (BlockLen).
//   - Block index of slice id, blen data bytes long, is stored under
//     Key(id, index, blen) = "chunks/<id/1e6>/<id/1e3>/<id>_<index>_<blen>".
//     Every key of a slice follows from (id, Size); ParseKey accepts
//     exactly the keys Key makes.
//   - A block object is its data followed by one little-endian CRC32C
//     (Castagnoli) per SegSize segment of the data: ObjectLen(blen)
//     bytes. The data length is in the key, so a reader knows where the
//     trailer is without reading the object, and a small read fetches only
//     the segments it covers plus their checksums.
//   - Size classes: a block of at most SmallMax data bytes (SmallObjectMax
//     bytes stored) is small. The data directory keeps small blocks in an
//     engine instead of one file each, and a commit or an open carries at
//     most SmallMax bytes of blocks inline, so a small file travels in one
//     call and lands in the small-block engine either way.
//
// The package is a leaf: it imports only fserr.
package blockfmt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/shoalfs/shoal/internal/fserr"
)

const (
	// BlockSize is the largest block of a slice (meta.BlockSize, which
	// cuts slices, is checked against it in internal/data).
	BlockSize = 4 << 20
	// SegSize is the unit of the checksums: one CRC per segment.
	SegSize = 64 << 10
	// CRCLen is the size of one segment's checksum.
	CRCLen = 4
	// BlockSegs is the number of segments of a full block.
	BlockSegs = BlockSize / SegSize
	// MaxTrailer is the trailer of a full block.
	MaxTrailer = BlockSegs * CRCLen
	// KeyPrefix starts every block key.
	KeyPrefix = "chunks/"

	// SmallMax is the most data bytes of a small block, and of the blocks
	// one inline commit or open carries.
	SmallMax = 256 << 10
	// SmallObjectMax is the stored size of the largest small block: its
	// data and trailer (ObjectLen(SmallMax)).
	SmallObjectMax = SmallMax + SmallMax/SegSize*CRCLen
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// NumSegs is the number of segments of a block of blen data bytes.
func NumSegs(blen int) int { return (blen + SegSize - 1) / SegSize }

// ObjectLen is the stored size of a block of blen data bytes.
func ObjectLen(blen int) int { return blen + NumSegs(blen)*CRCLen }

// BlockLen is the data length of block index of a slice of size bytes.
func BlockLen(size uint32, index int) int {
	return min(BlockSize, int(size)-index*BlockSize)
}

// SliceBlocks is the number of blocks of a slice of size bytes.
func SliceBlocks(size uint32) int {
	return (int(size) + BlockSize - 1) / BlockSize
}

// SliceKeys calls fn with every block key of slice id of size bytes, in
// block order.
func SliceKeys(id uint64, size uint32, fn func(key string)) {
	for i := range SliceBlocks(size) {
		fn(Key(id, i, BlockLen(size, i)))
	}
}

// Key names block index of slice id, blen data bytes long. Ids are
// spread over two directory levels so no directory grows past ~1000
// entries of slices.
func Key(id uint64, index, blen int) string {
	var b strings.Builder
	b.Grow(48)
	b.WriteString(KeyPrefix)
	b.WriteString(strconv.FormatUint(id/1_000_000, 10))
	b.WriteByte('/')
	b.WriteString(strconv.FormatUint(id/1_000, 10))
	b.WriteByte('/')
	b.WriteString(strconv.FormatUint(id, 10))
	b.WriteByte('_')
	b.WriteString(strconv.Itoa(index))
	b.WriteByte('_')
	b.WriteString(strconv.Itoa(blen))
	return b.String()
}

// ParseKey is the inverse of Key; ok is false for any other string.
func ParseKey(key string) (id uint64, index, blen int, ok bool) {
	rest, found := strings.CutPrefix(key, KeyPrefix)
	if !found {
		return 0, 0, 0, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return 0, 0, 0, false
	}
	f := strings.Split(parts[2], "_")
	if len(f) != 3 {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	id, err1 = strconv.ParseUint(f[0], 10, 64)
	index, err2 = strconv.Atoi(f[1])
	blen, err3 = strconv.Atoi(f[2])
	if err1 != nil || err2 != nil || err3 != nil || index < 0 || blen <= 0 || blen > BlockSize {
		return 0, 0, 0, false
	}
	if Key(id, index, blen) != key {
		return 0, 0, 0, false
	}
	return id, index, blen, true
}

// SliceOfKey returns the slice id a block key names, and false for a key
// that is not a block key. The block servers match keys against the
// slice ids of a grant with it.
func SliceOfKey(key string) (uint64, bool) {
	id, _, _, ok := ParseKey(key)
	return id, ok
}

// AppendTrailer appends the segment checksums of data to data (reusing
// its spare capacity when there is enough): the block object.
func AppendTrailer(data []byte) []byte {
	n := len(data)
	for off := 0; off < n; off += SegSize {
		c := crc32.Checksum(data[off:min(off+SegSize, n)], castagnoli)
		data = binary.LittleEndian.AppendUint32(data, c)
	}
	return data
}

// VerifySegs checks data, which starts at segment s0 of block key,
// against crcs, the checksums of the segments it covers. A mismatch is an
// error of kind Corrupt naming the block and the offset.
func VerifySegs(key string, s0 int, data, crcs []byte) error {
	if len(crcs) != NumSegs(len(data))*CRCLen {
		return Corrupt(key, int64(s0)*SegSize, "trailer length %d for %d data bytes", len(crcs), len(data))
	}
	for i := 0; i*SegSize < len(data); i++ {
		seg := data[i*SegSize : min((i+1)*SegSize, len(data))]
		want := binary.LittleEndian.Uint32(crcs[i*CRCLen:])
		if got := crc32.Checksum(seg, castagnoli); got != want {
			return Corrupt(key, int64(s0+i)*SegSize, "checksum %08x, want %08x", got, want)
		}
	}
	return nil
}

// Corrupt is the error of a block that fails its checksum or is not the
// length its key says, at offset off of its data. Its Op is the read
// path's, where such errors surface.
func Corrupt(key string, off int64, format string, args ...any) error {
	return fserr.E("data.read", key, fserr.Corrupt,
		fmt.Errorf("data: block %s at offset %d: %s", key, off, fmt.Sprintf(format, args...)))
}

// Slice is what the format needs of a slice: its id and size.
type Slice struct {
	ID   uint64
	Size uint32
}

// CheckObjects validates block objects before they are stored on a
// caller's word (an inline commit): every key must be a block of one of
// slices, with the length the key says plus a trailer that matches the
// data, and the data must total at most SmallMax bytes. So a caller can
// store only the blocks of the slices it commits, and only a small
// file's worth.
func CheckObjects(keys []string, objs [][]byte, slices []Slice) error {
	const op = "data.CheckInline"
	if len(keys) != len(objs) {
		return fserr.Errorf(op, fserr.Invalid, "data: %d keys for %d objects", len(keys), len(objs))
	}
	total := 0
	for i, key := range keys {
		id, index, blen, ok := ParseKey(key)
		if !ok {
			return fserr.Errorf(op, fserr.Invalid, "data: %q is not a block key", key)
		}
		found := false
		for _, s := range slices {
			if s.ID == id && index < SliceBlocks(s.Size) && BlockLen(s.Size, index) == blen {
				found = true
				break
			}
		}
		if !found {
			return fserr.Errorf(op, fserr.Invalid, "data: block %s belongs to no slice of the commit", key)
		}
		if total += blen; total > SmallMax {
			return fserr.Errorf(op, fserr.ArgTooBig, "data: inline blocks exceed %d bytes", SmallMax)
		}
		obj := objs[i]
		if len(obj) != ObjectLen(blen) {
			return fserr.Errorf(op, fserr.Invalid, "data: block %s is %d bytes, want %d", key, len(obj), ObjectLen(blen))
		}
		if err := VerifySegs(key, 0, obj[:blen], obj[blen:]); err != nil {
			return err
		}
	}
	return nil
}
