package meta

import (
	"encoding/binary"
	"testing"
)

// TestDecodeLengthOverflow: a record whose length field is so large that
// length plus the fixed tail wraps around is refused, not sliced (which
// panicked the meta process on every GC pass or member list).
func TestDecodeLengthOverflow(t *testing.T) {
	claim := binary.AppendUvarint(nil, ^uint64(0)-7) // n+8 wraps to 0
	if _, _, ok := decodeClaim(claim); ok {
		t.Fatal("decodeClaim accepted a length that wraps")
	}
	worker := binary.AppendUvarint([]byte{workerVersion}, ^uint64(0)-23) // n+24 wraps to 0
	if _, err := decodeWorker("w", worker); err == nil {
		t.Fatal("decodeWorker accepted a length that wraps")
	}
}
