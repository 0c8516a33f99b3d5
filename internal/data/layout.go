package data

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// Block object format: the block's data followed by a trailer holding the
// CRC32C (Castagnoli, little endian) of each segSize segment of the data.
// The data length is in the key, so the trailer's place is known without
// reading the object, and a small read fetches only the segments it covers
// plus their four-byte checksums.
const (
	segSize    = 64 << 10
	crcLen     = 4
	blockSegs  = meta.BlockSize / segSize
	keyPrefix  = "chunks/"
	maxTrailer = blockSegs * crcLen
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// numSegs is the number of segments of a block of blen data bytes.
func numSegs(blen int) int { return (blen + segSize - 1) / segSize }

// blockKey names block index of slice id, blen data bytes long. Ids are
// spread over two directory levels so no directory grows past ~1000
// entries of slices.
func blockKey(id uint64, index, blen int) string {
	var b strings.Builder
	b.Grow(48)
	b.WriteString(keyPrefix)
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

// parseBlockKey is the inverse of blockKey.
func parseBlockKey(key string) (id uint64, index, blen int, ok bool) {
	rest, found := strings.CutPrefix(key, keyPrefix)
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
	if err1 != nil || err2 != nil || err3 != nil || index < 0 || blen <= 0 || blen > meta.BlockSize {
		return 0, 0, 0, false
	}
	if blockKey(id, index, blen) != key {
		return 0, 0, 0, false
	}
	return id, index, blen, true
}

// SliceOfKey returns the slice id a block key names, and false for a key
// that is not a block key of this layout. The block server uses it to
// match a key against the slice ids of a grant.
func SliceOfKey(key string) (uint64, bool) {
	id, _, _, ok := parseBlockKey(key)
	return id, ok
}

// blockLen is the data length of block index of a slice of size bytes.
func blockLen(size uint32, index int) int {
	return min(meta.BlockSize, int(size)-index*meta.BlockSize)
}

// sliceBlocks is the number of blocks of a slice of size bytes.
func sliceBlocks(size uint32) int {
	return (int(size) + meta.BlockSize - 1) / meta.BlockSize
}

// sliceKeys calls fn with every block key of s.
func sliceKeys(s meta.Slice, fn func(key string)) {
	for i := range sliceBlocks(s.Size) {
		fn(blockKey(s.ID, i, blockLen(s.Size, i)))
	}
}

// appendTrailer appends the segment checksums of data to data (reusing
// its spare capacity when there is enough).
func appendTrailer(data []byte) []byte {
	n := len(data)
	for off := 0; off < n; off += segSize {
		c := crc32.Checksum(data[off:min(off+segSize, n)], castagnoli)
		data = binary.LittleEndian.AppendUint32(data, c)
	}
	return data
}

// verifySegs checks data, which starts at segment s0 of block key, against
// crcs, the checksums of the segments it covers.
func verifySegs(key string, s0 int, data, crcs []byte) error {
	if len(crcs) != numSegs(len(data))*crcLen {
		return corrupt(key, int64(s0)*segSize, "trailer length %d for %d data bytes", len(crcs), len(data))
	}
	for i := 0; i*segSize < len(data); i++ {
		seg := data[i*segSize : min((i+1)*segSize, len(data))]
		want := binary.LittleEndian.Uint32(crcs[i*crcLen:])
		if got := crc32.Checksum(seg, castagnoli); got != want {
			return corrupt(key, int64(s0+i)*segSize, "checksum %08x, want %08x", got, want)
		}
	}
	return nil
}

func corrupt(key string, off int64, format string, args ...any) error {
	return fserr.E("data.read", key, fserr.Corrupt,
		fmt.Errorf("data: block %s at offset %d: %s", key, off, fmt.Sprintf(format, args...)))
}
