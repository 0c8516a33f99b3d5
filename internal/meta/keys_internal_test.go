package meta

import "testing"

// TestKeyTagsDistinct: every key tag of a filesystem's range is its own
// letter. Two features that picked the same one would read each other's
// records (the GC claim and the lock records once did, and fsck called
// the claim a malformed lock).
func TestKeyTagsDistinct(t *testing.T) {
	tags := map[string]byte{
		"format": tagFormat, "counter": tagCounter, "inode": tagInode, "dentry": tagDentry,
		"dirIdx": tagDirIdx, "chunk": tagChunk, "xattr": tagXattr, "symlink": tagSymlink,
		"session": tagSession, "open": tagOpen, "gc": tagGC, "ref": tagRef, "freed": tagFreed,
		"usage": tagUsage, "alloc": tagAlloc, "sweep": tagSweep, "request": tagRequest,
		"lock": tagLock, "lockIdx": tagLockIdx, "gcClaim": tagGCClaim, "load": tagLoad,
		"mount": tagMount, "mountSync": tagMountSy,
	}
	seen := map[byte]string{}
	for name, tag := range tags {
		if other, ok := seen[tag]; ok {
			t.Errorf("key tag %q is used by both %s and %s", tag, name, other)
		}
		seen[tag] = name
	}
}
