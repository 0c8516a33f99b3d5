package datadir

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/shoalfs/shoal/internal/blockfmt"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv/badger"
	"github.com/shoalfs/shoal/internal/objstore"
	filestore "github.com/shoalfs/shoal/internal/objstore/file"
	"github.com/shoalfs/shoal/internal/objstore/kvstore"
	"github.com/shoalfs/shoal/internal/objstore/tiered"
)

// SmallBlocks returns the directory of filesystem id's small-object
// engine: blocks of up to SmallBlockMax bytes live there instead of one
// file each. It sits beside Blocks(dir, id), not inside it, so the file
// store's listings never see the engine's own files.
func SmallBlocks(dir string, id uint32) string { return smallBlocksIn(BlocksRoot(dir), id) }

func smallBlocksIn(root string, id uint32) string {
	return filepath.Join(root, strconv.FormatUint(uint64(id), 10)+".kv")
}

// SmallBlockMax is the largest block object kept in the small-object
// engine: the format's small size class (blockfmt.SmallObjectMax), a
// whole file of up to 256 KiB (its one block plus the CRC trailer). The
// host filesystem creates a few thousand files a second at best; the
// engine appends the same bytes to its value log (docs/benchmarks.md,
// "Small objects in the engine").
const SmallBlockMax = blockfmt.SmallObjectMax

// OpenBlocks opens filesystem id's block store: the files under
// Blocks(dir, id) for large blocks and, in front of them, a Badger
// engine of its own under SmallBlocks(dir, id) for small ones. The blocks
// have an engine of their own, not the metadata's, so a worker running
// apart from the metadata (shoal worker) serves the same directory, and
// removing a filesystem's blocks is RemoveBlocks. Close closes all of it.
func OpenBlocks(dir string, id uint32, logger *slog.Logger) (objstore.Store, error) {
	return OpenBlocksAt(BlocksRoot(dir), id, logger)
}

// OpenBlocksAt is OpenBlocks for a blocks root given directly (a
// file:// block store outside a data directory): filesystem id's blocks
// are root/<id>/ and root/<id>.kv/.
func OpenBlocksAt(root string, id uint32, logger *slog.Logger) (objstore.Store, error) {
	const op = "datadir.OpenBlocks"
	dir := root
	large, err := filestore.Open(blocksIn(root, id), filestore.Options{})
	if err != nil {
		return nil, fserr.E(op, dir, err)
	}
	eng, err := badger.Open(smallBlocksIn(root, id), badger.Options{Logger: logger})
	if err != nil {
		large.Close()
		return nil, fserr.E(op, dir, err)
	}
	small := &ownedKV{Store: kvstore.New(eng, []byte("b"), kvstore.Options{MaxObject: SmallBlockMax}), eng: eng}
	return tiered.New(small, large, SmallBlockMax), nil
}

// RemoveBlocks deletes every block of filesystem id (its store must be
// closed).
func RemoveBlocks(dir string, id uint32) error { return RemoveBlocksAt(BlocksRoot(dir), id) }

// RemoveBlocksAt is RemoveBlocks for a blocks root given directly.
func RemoveBlocksAt(root string, id uint32) error {
	return errors.Join(os.RemoveAll(blocksIn(root, id)), os.RemoveAll(smallBlocksIn(root, id)))
}

// ownedKV is a kvstore that owns its engine: closing the store closes it.
type ownedKV struct {
	*kvstore.Store
	eng *badger.Engine
}

func (s *ownedKV) Close() error {
	return errors.Join(s.Store.Close(), s.eng.Close())
}
