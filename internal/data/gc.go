package data

import (
	"context"
	"fmt"
	"sort"

	"golang.org/x/sync/errgroup"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// GCStats reports one GC pass.
type GCStats struct {
	Inodes int // inodes whose data meta.Reclaim released
	Slices int // freed slices whose blocks were deleted
	Blocks int // block objects deleted (missing ones count too)
}

const (
	gcReclaimBatch = 100
	gcSliceBatch   = 1000
	gcParallel     = 16
)

// GC releases the data of reclaimable inodes (meta.Reclaim), then deletes
// the blocks of every freed slice and tells meta to forget them. A slice
// is forgotten only after all its blocks are gone, so a failed pass is
// simply repeated.
func (l *Layer) GC(ctx context.Context) (GCStats, error) {
	const op = "data.GC"
	var st GCStats
	for {
		n, err := l.meta.Reclaim(ctx, gcReclaimBatch)
		if err != nil {
			return st, fserr.E(op, err)
		}
		st.Inodes += n
		if n < gcReclaimBatch {
			break
		}
	}
	for {
		freed, err := l.meta.FreedSlices(ctx, gcSliceBatch)
		if err != nil {
			return st, fserr.E(op, err)
		}
		if len(freed) == 0 {
			return st, nil
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(gcParallel)
		ids := make([]uint64, 0, len(freed))
		for _, s := range freed {
			ids = append(ids, s.ID)
			if s.ID == 0 {
				continue
			}
			sliceKeys(s, func(key string) {
				st.Blocks++
				g.Go(func() error {
					if err := l.store.Delete(gctx, key); err != nil {
						return err
					}
					l.stats.blocksDeleted.Add(1)
					return nil
				})
			})
		}
		if err := g.Wait(); err != nil {
			return st, fserr.E(op, err)
		}
		if err := l.meta.ForgetSlices(ctx, ids); err != nil {
			return st, fserr.E(op, err)
		}
		st.Slices += len(freed)
		if len(freed) < gcSliceBatch {
			return st, nil
		}
	}
}

// CheckBlocks is fsck for blocks. live calls its argument with every
// slice record referenced by any file; slices meta lists as freed (not yet
// collected) are accepted too. It reports, sorted: block objects that
// belong to no such slice (orphans), unrecognised objects under the block
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
	var problems []string
	seen := make(map[string]bool)
	after := ""
	for {
		infos, err := l.store.List(ctx, keyPrefix, after, 10000)
		if err != nil {
			return nil, fserr.E(op, err)
		}
		if len(infos) == 0 {
			break
		}
		after = infos[len(infos)-1].Key
		for _, in := range infos {
			id, index, blen, ok := parseBlockKey(in.Key)
			if !ok {
				problems = append(problems, fmt.Sprintf("unexpected object %s", in.Key))
				continue
			}
			size, known := sizes[id]
			if !known || index >= sliceBlocks(size) || blockLen(size, index) != blen {
				problems = append(problems, fmt.Sprintf("orphan block %s", in.Key))
				continue
			}
			seen[in.Key] = true
			if want := int64(blen + numSegs(blen)*crcLen); in.Size != want {
				problems = append(problems, fmt.Sprintf("corrupt block %s: %d bytes, want %d", in.Key, in.Size, want))
				continue
			}
			if verify {
				obj, err := l.store.Get(ctx, in.Key, 0, -1)
				if err != nil {
					problems = append(problems, fmt.Sprintf("unreadable block %s: %v", in.Key, err))
					continue
				}
				if len(obj) != blen+numSegs(blen)*crcLen {
					problems = append(problems, fmt.Sprintf("corrupt block %s: %d bytes", in.Key, len(obj)))
				} else if err := verifySegs(in.Key, 0, obj[:blen], obj[blen:]); err != nil {
					problems = append(problems, fmt.Sprintf("corrupt block %s: %v", in.Key, err))
				}
			}
		}
	}
	for id := range liveIDs {
		sliceKeys(meta.Slice{ID: id, Size: sizes[id]}, func(key string) {
			if !seen[key] {
				problems = append(problems, fmt.Sprintf("missing block %s of slice %d", key, id))
			}
		})
	}
	sort.Strings(problems)
	return problems, nil
}
