package meta

import (
	"encoding/binary"
)

// Key tags; see the package doc for the layout. Every tag is declared
// here, in one list, so that two cannot share a letter (TestKeyTagsDistinct).
const (
	tagFormat  = 'V'
	tagCounter = 'N'
	tagInode   = 'I'
	tagDentry  = 'D'
	tagDirIdx  = 'E'
	tagChunk   = 'C'
	tagXattr   = 'X'
	tagSymlink = 'L'
	tagSession = 'S'
	tagOpen    = 'O'
	tagGC      = 'G'
	tagRef     = 'R'
	tagFreed   = 'F'
	tagUsage   = 'U'
	tagAlloc   = 'A'
	tagSweep   = 'W'
	tagRequest = 'Q'
	tagLock    = 'K'
	tagLockIdx = 'P'
	tagGCClaim = 'H' // the garbage collector's claim (gcclaim.go)
	tagLoad    = 'J' // load jobs (loadjobs.go)
	tagMount   = 'B' // dataset mount records, by the mount root's inode (mounts.go)
	tagMountSy = 'Y' // the store state of each inode under a mount: object key or prefix, ETag, when listed (mountload.go)
)

const (
	pfxLen       = 5 // 'F' + fs id
	usageStripes = 64
)

type keys struct {
	pfx [pfxLen]byte
}

func newKeys(id uint32) keys {
	var k keys
	k.pfx[0] = 'F'
	binary.BigEndian.PutUint32(k.pfx[1:], id)
	return k
}

func (k *keys) tag(t byte, extra int) []byte {
	b := make([]byte, pfxLen+1, pfxLen+1+extra)
	copy(b, k.pfx[:])
	b[pfxLen] = t
	return b
}

func (k *keys) u64(t byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(k.tag(t, 8), v)
}

func (k *keys) u64u64(t byte, a, b uint64) []byte {
	out := binary.BigEndian.AppendUint64(k.tag(t, 16), a)
	return binary.BigEndian.AppendUint64(out, b)
}

func (k *keys) format() []byte             { return k.tag(tagFormat, 0) }
func (k *keys) counter(name string) []byte { return append(k.tag(tagCounter, len(name)), name...) }
func (k *keys) inode(ino Ino) []byte       { return k.u64(tagInode, uint64(ino)) }
func (k *keys) symlink(ino Ino) []byte     { return k.u64(tagSymlink, uint64(ino)) }
func (k *keys) gc(ino Ino) []byte          { return k.u64(tagGC, uint64(ino)) }
func (k *keys) ref(id uint64) []byte       { return k.u64(tagRef, id) }
func (k *keys) freed(id uint64) []byte     { return k.u64(tagFreed, id) }
func (k *keys) session(s uint64) []byte    { return k.u64(tagSession, s) }
func (k *keys) sweep(lo uint64) []byte     { return k.u64(tagSweep, lo) }
func (k *keys) alloc(s, lo uint64) []byte  { return k.u64u64(tagAlloc, s, lo) }
func (k *keys) sessionOpen(s uint64, ino Ino) []byte {
	return k.u64u64(tagSession, s, uint64(ino))
}
func (k *keys) request(s, id uint64) []byte     { return k.u64u64(tagRequest, s, id) }
func (k *keys) openBy(ino Ino, s uint64) []byte { return k.u64u64(tagOpen, uint64(ino), s) }
func (k *keys) dirIdx(parent Ino, seq uint64) []byte {
	return k.u64u64(tagDirIdx, uint64(parent), seq)
}

func (k *keys) dentry(parent Ino, name string) []byte {
	b := binary.BigEndian.AppendUint64(k.tag(tagDentry, 8+len(name)), uint64(parent))
	return append(b, name...)
}

func (k *keys) xattr(ino Ino, name string) []byte {
	b := binary.BigEndian.AppendUint64(k.tag(tagXattr, 8+len(name)), uint64(ino))
	return append(b, name...)
}

func (k *keys) chunk(ino Ino, index uint32) []byte {
	b := binary.BigEndian.AppendUint64(k.tag(tagChunk, 12), uint64(ino))
	return binary.BigEndian.AppendUint32(b, index)
}

func (k *keys) mount(root Ino) []byte     { return k.u64(tagMount, uint64(root)) }
func (k *keys) mountState(ino Ino) []byte { return k.u64(tagMountSy, uint64(ino)) }

func (k *keys) usage(stripe int) []byte {
	return append(k.tag(tagUsage, 1), byte(stripe))
}

// under returns the key range [start, end) of keys with tag t whose next
// 8 bytes are v (the entries of one directory, the xattrs of one inode...).
func (k *keys) under(t byte, v uint64) (start, end []byte) {
	start = k.u64(t, v)
	return start, prefixEnd(start)
}

// all returns the key range of every key with tag t.
func (k *keys) all(t byte) (start, end []byte) {
	start = k.tag(t, 0)
	return start, prefixEnd(start)
}

func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

func stripeOf(ino Ino) int { return int(uint64(ino) % usageStripes) }
