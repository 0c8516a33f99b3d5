package data

import (
	"github.com/shoalfs/shoal/internal/blockfmt"
	"github.com/shoalfs/shoal/internal/meta"
)

// The block format (keys, the CRC trailer, the size classes) is
// internal/blockfmt's. The namespace cuts slices into blocks of
// meta.BlockSize, so it must be the format's block size; the array index
// below fails to compile if the two ever differ.
var _ = [1]struct{}{}[meta.BlockSize-blockfmt.BlockSize]

// sliceKeys calls fn with every block key of s.
func sliceKeys(s meta.Slice, fn func(key string)) { blockfmt.SliceKeys(s.ID, s.Size, fn) }
