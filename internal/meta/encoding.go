package meta

import (
	"encoding/binary"
	"fmt"
)

// node is an inode as stored: the public attributes plus, for a
// directory, the sequence number its next entry gets (see ReadDir).
type node struct {
	Attr
	next uint64
}

const (
	attrVersion = 1
	attrLen     = 72
	sliceLen    = 24
	dentryLen   = 17
)

func encodeNode(n *node) []byte {
	b := make([]byte, attrLen)
	b[0] = attrVersion
	b[1] = byte(n.Type)
	binary.BigEndian.PutUint16(b[2:], uint16(n.Mode&ModePerm))
	binary.BigEndian.PutUint32(b[4:], n.Uid)
	binary.BigEndian.PutUint32(b[8:], n.Gid)
	binary.BigEndian.PutUint64(b[12:], n.Size)
	binary.BigEndian.PutUint32(b[20:], n.Nlink)
	binary.BigEndian.PutUint64(b[24:], uint64(n.Atime))
	binary.BigEndian.PutUint64(b[32:], uint64(n.Mtime))
	binary.BigEndian.PutUint64(b[40:], uint64(n.Ctime))
	binary.BigEndian.PutUint32(b[48:], n.Flags)
	binary.BigEndian.PutUint32(b[52:], n.Rdev)
	binary.BigEndian.PutUint64(b[56:], uint64(n.Parent))
	binary.BigEndian.PutUint64(b[64:], n.next)
	return b
}

func decodeNode(ino Ino, b []byte, n *node) error {
	if len(b) < attrLen || b[0] != attrVersion {
		return fmt.Errorf("meta: inode %d: bad attribute record (%d bytes, version %d)", ino, len(b), firstByte(b))
	}
	n.Ino = ino
	n.Type = Type(b[1])
	n.Mode = uint32(binary.BigEndian.Uint16(b[2:]))
	n.Uid = binary.BigEndian.Uint32(b[4:])
	n.Gid = binary.BigEndian.Uint32(b[8:])
	n.Size = binary.BigEndian.Uint64(b[12:])
	n.Nlink = binary.BigEndian.Uint32(b[20:])
	n.Atime = int64(binary.BigEndian.Uint64(b[24:]))
	n.Mtime = int64(binary.BigEndian.Uint64(b[32:]))
	n.Ctime = int64(binary.BigEndian.Uint64(b[40:]))
	n.Flags = binary.BigEndian.Uint32(b[48:])
	n.Rdev = binary.BigEndian.Uint32(b[52:])
	n.Parent = Ino(binary.BigEndian.Uint64(b[56:]))
	n.next = binary.BigEndian.Uint64(b[64:])
	return nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

// dentry value: child ino, type, entry sequence number.
func encodeDentry(ino Ino, typ Type, seq uint64) []byte {
	b := make([]byte, dentryLen)
	binary.BigEndian.PutUint64(b, uint64(ino))
	b[8] = byte(typ)
	binary.BigEndian.PutUint64(b[9:], seq)
	return b
}

func decodeDentry(b []byte) (Ino, Type, uint64, bool) {
	if len(b) != dentryLen {
		return 0, 0, 0, false
	}
	return Ino(binary.BigEndian.Uint64(b)), Type(b[8]), binary.BigEndian.Uint64(b[9:]), true
}

// dir index value: child ino, type, name.
func encodeDirIdx(ino Ino, typ Type, name string) []byte {
	b := make([]byte, 9, 9+len(name))
	binary.BigEndian.PutUint64(b, uint64(ino))
	b[8] = byte(typ)
	return append(b, name...)
}

func decodeDirIdx(b []byte) (Ino, Type, string, bool) {
	if len(b) < 9 {
		return 0, 0, "", false
	}
	return Ino(binary.BigEndian.Uint64(b)), Type(b[8]), string(b[9:]), true
}

func appendSlice(b []byte, s Slice) []byte {
	b = binary.BigEndian.AppendUint64(b, s.ID)
	b = binary.BigEndian.AppendUint32(b, s.Size)
	b = binary.BigEndian.AppendUint32(b, s.Off)
	b = binary.BigEndian.AppendUint32(b, s.Len)
	return binary.BigEndian.AppendUint32(b, s.Pos)
}

func decodeSlices(b []byte) ([]Slice, error) {
	if len(b)%sliceLen != 0 {
		return nil, fmt.Errorf("meta: chunk record length %d is not a multiple of %d", len(b), sliceLen)
	}
	out := make([]Slice, len(b)/sliceLen)
	for i := range out {
		r := b[i*sliceLen:]
		out[i] = Slice{
			ID:   binary.BigEndian.Uint64(r),
			Size: binary.BigEndian.Uint32(r[8:]),
			Off:  binary.BigEndian.Uint32(r[12:]),
			Len:  binary.BigEndian.Uint32(r[16:]),
			Pos:  binary.BigEndian.Uint32(r[20:]),
		}
	}
	return out, nil
}

func u64(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func u64bytes(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// CompactThreshold is the number of records in a chunk at which the data
// layer should compact it: reads merge every record, so a long list costs
// every read of the chunk.
const CompactThreshold = 100

// NeedsCompaction reports whether a chunk with n slice records should be
// compacted.
func NeedsCompaction(n int) bool { return n >= CompactThreshold }
