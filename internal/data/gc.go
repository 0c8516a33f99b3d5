package data

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"golang.org/x/sync/errgroup"

	"github.com/shoalfs/shoal/internal/blockfmt"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
)

// GCStats reports one GC pass.
type GCStats struct {
	Inodes int // inodes whose data meta.Reclaim released
	Slices int // freed slices whose blocks were deleted
	Blocks int // block objects of freed slices deleted (missing ones count too)
	Ranges int // sweep ranges of dead sessions handled
	Swept  int // uncommitted block objects of dead sessions deleted
}

const (
	gcReclaimBatch = 100
	gcSliceBatch   = 1000
	gcSweepBatch   = 64
	gcParallel     = 16
)

// GC releases the data of reclaimable inodes (meta.Reclaim), deletes the
// blocks of every freed slice and tells meta to forget them, then sweeps
// the slice id ranges of dead sessions (meta.SweepRanges): blocks there
// that no live slice accounts for were uploaded but never committed. A
// slice or range is forgotten only after its blocks are gone, so a failed
// pass is simply repeated.
func (l *Layer) GC(ctx context.Context) (GCStats, error) {
	var st GCStats
	if err := l.gcFreed(ctx, &st); err != nil {
		return st, err
	}
	err := l.sweep(ctx, &st)
	return st, err
}

func (l *Layer) gcFreed(ctx context.Context, st *GCStats) error {
	const op = "data.GC"
	for {
		n, err := l.meta.Reclaim(ctx, gcReclaimBatch)
		if err != nil {
			return fserr.E(op, err)
		}
		st.Inodes += n
		if n < gcReclaimBatch {
			break
		}
	}
	for {
		freed, err := l.meta.FreedSlices(ctx, gcSliceBatch)
		if err != nil {
			return fserr.E(op, err)
		}
		if len(freed) == 0 {
			return nil
		}
		ids := make([]uint64, 0, len(freed))
		var keys []string
		for _, s := range freed {
			ids = append(ids, s.ID)
			if s.ID != 0 {
				sliceKeys(s, func(key string) { keys = append(keys, key) })
			}
		}
		st.Blocks += len(keys)
		if err := l.deleteBlocks(ctx, keys); err != nil {
			return fserr.E(op, err)
		}
		if err := l.meta.ForgetSlices(ctx, ids); err != nil {
			return fserr.E(op, err)
		}
		st.Slices += len(freed)
		if len(freed) < gcSliceBatch {
			return nil
		}
	}
}

// sweep deletes the uncommitted blocks in the dead sessions' slice id
// ranges. Ids of a dead session never become live again, so a block found
// in a range and absent from the live slices afterwards is garbage; the
// current session's ids are never in a range.
func (l *Layer) sweep(ctx context.Context, st *GCStats) error {
	const op = "data.GC"
	for {
		ranges, err := l.meta.SweepRanges(ctx, gcSweepBatch)
		if err != nil {
			return fserr.E(op, err)
		}
		if len(ranges) == 0 {
			return nil
		}
		cand := make(map[uint64][]string) // slice id -> its block keys found
		for _, r := range ranges {
			if err := l.listRange(ctx, r, cand); err != nil {
				return fserr.E(op, err)
			}
		}
		if len(cand) > 0 {
			err := l.meta.LiveSlices(ctx, func(s meta.Slice) error {
				delete(cand, s.ID)
				return nil
			})
			if err != nil {
				return fserr.E(op, err)
			}
		}
		var keys []string
		for _, ks := range cand {
			keys = append(keys, ks...)
		}
		st.Swept += len(keys)
		if err := l.deleteBlocks(ctx, keys); err != nil {
			return fserr.E(op, err)
		}
		if err := l.meta.ForgetSweep(ctx, ranges); err != nil {
			return fserr.E(op, err)
		}
		st.Ranges += len(ranges)
		if len(ranges) < gcSweepBatch {
			return nil
		}
	}
}

// deleteBlocks deletes block objects, gcParallel at a time.
func (l *Layer) deleteBlocks(ctx context.Context, keys []string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(gcParallel)
	for _, key := range keys {
		g.Go(func() error {
			if err := l.store.Delete(gctx, key); err != nil {
				return err
			}
			l.stats.blocksDeleted.Add(1)
			return nil
		})
	}
	return g.Wait()
}

// listRange adds to cand the block objects of slice ids in [r[0], r[1]),
// listing only the key directories (id/1000) that can hold them.
func (l *Layer) listRange(ctx context.Context, r [2]uint64, cand map[uint64][]string) error {
	if r[1] <= r[0] {
		return nil
	}
	for d := r[0] / 1000; d <= (r[1]-1)/1000; d++ {
		prefix := blockfmt.KeyPrefix + strconv.FormatUint(d/1000, 10) + "/" + strconv.FormatUint(d, 10) + "/"
		after := ""
		for {
			infos, err := l.store.List(ctx, prefix, after, 10000)
			if err != nil {
				return err
			}
			for _, in := range infos {
				if id, _, _, ok := blockfmt.ParseKey(in.Key); ok && id >= r[0] && id < r[1] {
					cand[id] = append(cand[id], in.Key)
				}
			}
			if len(infos) < 10000 {
				break
			}
			after = infos[len(infos)-1].Key
		}
	}
	return nil
}

// inSweep reports whether id lies in one of ranges, sorted by start and
// disjoint.
func inSweep(ranges [][2]uint64, id uint64) bool {
	i := sort.Search(len(ranges), func(i int) bool { return ranges[i][1] > id })
	return i < len(ranges) && ranges[i][0] <= id
}

// CheckBlocks is fsck for blocks. live calls its argument with every
// slice record referenced by any file; slices meta lists as freed (not yet
// collected) are accepted too. It reports, sorted: block objects that
// belong to no such slice (orphans) and to no dead session's sweep range
// (those await the next GC), unrecognised objects under the block
// prefix, objects of the wrong size, blocks of live slices that are
// missing, and with verify, blocks whose checksums fail. It expects no
// concurrent writers (their uploads are not yet referenced).
func (l *Layer) CheckBlocks(ctx context.Context, live func(fn func(meta.Slice) error) error, verify bool) ([]string, error) {
	const op = "data.CheckBlocks"
	sizes := make(map[uint64]uint32)
	liveIDs := make(map[uint64]bool)
	err := live(func(s meta.Slice) error {
		if s.ID != 0 {
			sizes[s.ID] = s.Size
			liveIDs[s.ID] = true
		}
		return nil
	})
	if err != nil {
		return nil, fserr.E(op, err)
	}
	freed, err := l.meta.FreedSlices(ctx, 1<<30)
	if err != nil {
		return nil, fserr.E(op, err)
	}
	for _, s := range freed {
		if s.ID != 0 {
			sizes[s.ID] = s.Size
		}
	}
	sweeps, err := l.meta.SweepRanges(ctx, 0)
	if err != nil {
		return nil, fserr.E(op, err)
	}
	var problems []string
	seen := make(map[string]bool)
	// Blocks listed but gone when read: garbage collection running beside
	// the check (a server's) may free and delete a slice after live() was
	// read. Judged at the end, against the live set as it is then.
	vanished := make(map[uint64][]string)
	after := ""
	for {
		infos, err := l.store.List(ctx, blockfmt.KeyPrefix, after, 10000)
		if err != nil {
			return nil, fserr.E(op, err)
		}
		if len(infos) == 0 {
			break
		}
		after = infos[len(infos)-1].Key
		for _, in := range infos {
			id, index, blen, ok := blockfmt.ParseKey(in.Key)
			if !ok {
				problems = append(problems, fmt.Sprintf("unexpected object %s", in.Key))
				continue
			}
			size, known := sizes[id]
			if !known && inSweep(sweeps, id) {
				continue
			}
			if !known || index >= blockfmt.SliceBlocks(size) || blockfmt.BlockLen(size, index) != blen {
				problems = append(problems, fmt.Sprintf("orphan block %s", in.Key))
				continue
			}
			seen[in.Key] = true
			if want := int64(blen + blockfmt.NumSegs(blen)*blockfmt.CRCLen); in.Size != want {
				problems = append(problems, fmt.Sprintf("corrupt block %s: %d bytes, want %d", in.Key, in.Size, want))
				continue
			}
			if verify {
				obj, err := l.store.Get(ctx, in.Key, 0, -1)
				if errors.Is(err, objstore.ErrNotFound) {
					vanished[id] = append(vanished[id], in.Key)
					continue
				}
				if err != nil {
					problems = append(problems, fmt.Sprintf("unreadable block %s: %v", in.Key, err))
					continue
				}
				if len(obj) != blen+blockfmt.NumSegs(blen)*blockfmt.CRCLen {
					problems = append(problems, fmt.Sprintf("corrupt block %s: %d bytes", in.Key, len(obj)))
				} else if err := blockfmt.VerifySegs(in.Key, 0, obj[:blen], obj[blen:]); err != nil {
					problems = append(problems, fmt.Sprintf("corrupt block %s: %v", in.Key, err))
				}
			}
		}
	}
	missing := make(map[uint64][]string)
	for id := range liveIDs {
		sliceKeys(meta.Slice{ID: id, Size: sizes[id]}, func(key string) {
			if !seen[key] {
				missing[id] = append(missing[id], key)
			}
		})
	}
	if len(missing) > 0 || len(vanished) > 0 {
		// A slice id is never reused, so a slice still referenced now was
		// referenced all along: its absent blocks are lost. One that is no
		// longer referenced was collected during the check.
		still := make(map[uint64]bool)
		err := live(func(s meta.Slice) error {
			if s.ID != 0 && (missing[s.ID] != nil || vanished[s.ID] != nil) {
				still[s.ID] = true
			}
			return nil
		})
		if err != nil {
			return nil, fserr.E(op, err)
		}
		for id, keys := range missing {
			if still[id] {
				for _, key := range keys {
					problems = append(problems, fmt.Sprintf("missing block %s of slice %d", key, id))
				}
			}
		}
		for id, keys := range vanished {
			if still[id] {
				for _, key := range keys {
					problems = append(problems, fmt.Sprintf("unreadable block %s of slice %d: not found", key, id))
				}
			}
		}
	}
	sort.Strings(problems)
	return problems, nil
}
