package meta

import (
	"context"
	"fmt"
	"sort"

	"github.com/shoalfs/shoal/internal/kv"
)

// Check verifies every invariant in the package doc over a snapshot of
// the whole filesystem and returns the problems found, one sentence each.
// It holds the snapshot in memory: it is an fsck for tests and offline
// repair, not for a live filesystem of millions of files.
func (fs *FS) Check(ctx context.Context) ([]string, error) {
	var probs []string
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		probs = fs.checkTx(tx)
		return nil
	})
	return probs, err
}

func (fs *FS) checkTx(tx kv.ReadTxn) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	scan := func(tag byte) []kv.Pair {
		start, end := fs.k.all(tag)
		pairs, err := tx.Scan(start, end, 0, false)
		if err != nil {
			bad("scan %c: %v", tag, err)
		}
		return pairs
	}
	body := func(p kv.Pair) []byte { return p.Key[pfxLen+1:] }

	nodes := map[Ino]*node{}
	for _, p := range scan(tagInode) {
		ino := Ino(u64(body(p)))
		n := &node{}
		if err := decodeNode(ino, p.Value, n); err != nil {
			bad("%v", err)
			continue
		}
		nodes[ino] = n
	}
	if r := nodes[RootIno]; r == nil || r.Type != TypeDir || r.Parent != RootIno {
		bad("root inode missing or malformed")
	}

	links := map[Ino]uint32{}
	subdirs := map[Ino]uint32{}
	dentrySeq := map[[2]uint64]string{} // (parent, seq) -> name
	for _, p := range scan(tagDentry) {
		b := body(p)
		parent, name := Ino(u64(b)), string(b[8:])
		ino, typ, seq, ok := decodeDentry(p.Value)
		if !ok {
			bad("dentry %d/%q: bad value", parent, name)
			continue
		}
		dn := nodes[parent]
		if dn == nil || dn.Type != TypeDir {
			bad("dentry %d/%q: parent is not a live directory", parent, name)
		} else if seq >= dn.next {
			bad("dentry %d/%q: sequence %d not below directory's next %d", parent, name, seq, dn.next)
		}
		n := nodes[ino]
		switch {
		case n == nil:
			bad("dentry %d/%q: inode %d does not exist", parent, name, ino)
			continue
		case n.Type != typ:
			bad("dentry %d/%q: type %d, inode %d has type %d", parent, name, typ, ino, n.Type)
		}
		links[ino]++
		if n.Type == TypeDir {
			subdirs[parent]++
			if n.Parent != parent {
				bad("directory %d: parent %d, but its entry is in %d", ino, n.Parent, parent)
			}
		}
		dentrySeq[[2]uint64{uint64(parent), seq}] = name
	}
	for _, p := range scan(tagDirIdx) {
		b := body(p)
		k := [2]uint64{u64(b), u64(b[8:])}
		ino, _, name, ok := decodeDirIdx(p.Value)
		if !ok || dentrySeq[k] != name {
			bad("readdir index %d#%d (%q, ino %d) has no matching dentry", k[0], k[1], name, ino)
			continue
		}
		delete(dentrySeq, k)
	}
	for k, name := range dentrySeq {
		bad("dentry %d/%q has no readdir index entry #%d", k[0], name, k[1])
	}

	open := map[Ino]bool{}
	sessions := map[uint64]bool{}
	for _, p := range scan(tagSession) {
		if b := body(p); len(b) == 8 {
			sessions[u64(b)] = true
		}
	}
	for _, p := range scan(tagSession) {
		if b := body(p); len(b) == 16 {
			s, ino := u64(b), Ino(u64(b[8:]))
			if !sessions[s] {
				bad("session %d holds inode %d open but has no session record", s, ino)
			}
			open[ino] = true
		}
	}
	for _, p := range scan(tagSession) {
		if b := body(p); len(b) == 16 {
			if _, err := tx.Get(fs.k.openBy(Ino(u64(b[8:])), u64(b))); err != nil {
				bad("session %d holds inode %d open but the open record is missing", u64(b), u64(b[8:]))
			}
		}
	}
	for _, p := range scan(tagRequest) {
		if b := body(p); len(b) != 16 || !sessions[u64(b)] {
			bad("request record %x belongs to no session", b)
		}
	}
	for _, p := range scan(tagLock) {
		r, ok := decodeLock(p.Key, p.Value)
		switch {
		case !ok:
			bad("lock record %x is malformed", body(p))
		case !sessions[r.sess]:
			bad("lock %x belongs to no session", body(p))
		default:
			if _, err := tx.Get(fs.k.lockIdx(r.sess, Ino(u64(body(p))))); err != nil {
				bad("lock %x of session %d has no index record", body(p), r.sess)
			}
		}
	}
	for _, p := range scan(tagLockIdx) {
		if b := body(p); len(b) != 16 || !sessions[u64(b)] {
			bad("lock index record %x belongs to no session", b)
		}
	}
	for _, p := range scan(tagOpen) {
		b := body(p)
		ino, s := Ino(u64(b)), u64(b[8:])
		if _, err := tx.Get(fs.k.sessionOpen(s, ino)); err != nil {
			bad("open record %d by session %d has no session entry", ino, s)
		}
	}

	for _, p := range scan(tagAlloc) {
		b := body(p)
		if len(b) != 16 || u64(p.Value) <= u64(b[8:]) {
			bad("slice id range record %x: malformed", b)
			continue
		}
		if !sessions[u64(b)] {
			bad("session %d has slice id range [%d, %d) but no session record", u64(b), u64(b[8:]), u64(p.Value))
		}
	}
	for _, p := range scan(tagSweep) {
		if b := body(p); len(b) != 8 || u64(p.Value) <= u64(b) {
			bad("sweep range record %x: malformed", b)
		}
	}

	var usedBytes, usedInodes int64
	for ino, n := range nodes {
		usedInodes++
		if n.Type == TypeRegular {
			usedBytes += int64(n.Size)
		}
		want := links[ino]
		if n.Type == TypeDir {
			if ino == RootIno {
				want = 1
			}
			if want > 0 {
				want = 1 + want + subdirs[ino]
			}
		}
		if n.Nlink != want {
			bad("inode %d (type %d): nlink %d, expected %d", ino, n.Type, n.Nlink, want)
		}
		if n.Nlink == 0 && !open[ino] {
			bad("inode %d has no links and is not open (orphan)", ino)
		}
		if n.Type == TypeSymlink {
			v, err := tx.Get(fs.k.symlink(ino))
			if err != nil || uint64(len(v)) != n.Size {
				bad("symlink %d: target missing or size %d wrong", ino, n.Size)
			}
		}
	}
	for _, p := range scan(tagSymlink) {
		if n := nodes[Ino(u64(body(p)))]; n == nil || n.Type != TypeSymlink {
			bad("symlink target %d belongs to no symlink inode", u64(body(p)))
		}
	}
	for _, p := range scan(tagXattr) {
		if nodes[Ino(u64(body(p)))] == nil {
			bad("xattr %q of dead inode %d", body(p)[8:], u64(body(p)))
		}
	}
	gc := map[Ino]bool{}
	for _, p := range scan(tagGC) {
		ino := Ino(u64(body(p)))
		gc[ino] = true
		if nodes[ino] != nil {
			bad("inode %d is queued for reclaim but still exists", ino)
		}
	}

	refs := map[uint64]int{}
	for _, p := range scan(tagChunk) {
		b := body(p)
		ino, idx := Ino(u64(b)), u32(b[8:])
		n := nodes[ino]
		if n == nil && !gc[ino] {
			bad("chunk %d of inode %d belongs to no live or queued inode", idx, ino)
		}
		recs, err := decodeSlices(p.Value)
		if err != nil {
			bad("chunk %d of inode %d: %v", idx, ino, err)
			continue
		}
		if len(recs) == 0 {
			bad("chunk %d of inode %d is empty", idx, ino)
		}
		if n != nil && uint64(idx)*ChunkSize >= n.Size && n.Size > 0 || n != nil && n.Size == 0 {
			bad("chunk %d of inode %d lies beyond its size %d", idx, ino, n.Size)
		}
		for _, r := range recs {
			if r.ID != 0 {
				refs[r.ID]++
			}
		}
	}
	for _, p := range scan(tagRef) {
		id, extra := u64(body(p)), int(u64(p.Value))
		if n := refs[id]; n != extra+1 {
			bad("slice %d: %d records, but R counts %d extra references", id, n, extra)
		}
		delete(refs, id)
	}
	for id, n := range refs {
		if n != 1 {
			bad("slice %d: %d records but no R record", id, n)
		}
	}
	for _, p := range scan(tagFreed) {
		id := u64(body(p))
		if refs[id] > 0 {
			bad("slice %d is in the freed list but still referenced", id)
		}
		if _, err := tx.Get(fs.k.ref(id)); err == nil {
			bad("slice %d is in the freed list but has an R record", id)
		}
	}

	var ub, ui int64
	for _, p := range scan(tagUsage) {
		ub += int64(u64(p.Value))
		ui += int64(u64(p.Value[8:]))
	}
	if ub != usedBytes || ui != usedInodes {
		bad("usage counters say %d bytes, %d inodes; recomputed %d bytes, %d inodes", ub, ui, usedBytes, usedInodes)
	}
	sort.Strings(probs)
	return probs
}

// LiveSlices calls fn for every slice a chunk references and every slice
// in the freed list, so the data layer can find blocks nobody accounts for.
func (fs *FS) LiveSlices(ctx context.Context, fn func(Slice) error) error {
	var live []Slice
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		live = live[:0]
		seen := map[uint64]bool{}
		start, end := fs.k.all(tagChunk)
		pairs, err := tx.Scan(start, end, 0, false)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			recs, err := decodeSlices(p.Value)
			if err != nil {
				return err
			}
			for _, r := range recs {
				if r.ID != 0 && !seen[r.ID] {
					seen[r.ID] = true
					live = append(live, Slice{ID: r.ID, Size: r.Size})
				}
			}
		}
		start, end = fs.k.all(tagFreed)
		pairs, err = tx.Scan(start, end, 0, false)
		for _, p := range pairs {
			if id := u64(p.Key[pfxLen+1:]); !seen[id] {
				seen[id] = true
				live = append(live, Slice{ID: id, Size: u32(p.Value)})
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, s := range live {
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}
