package datadir

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// Small blocks go to the filesystem's own engine, large ones to files;
// both read back through one store, survive a reopen, and RemoveBlocks
// takes both away.
func TestOpenBlocks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := OpenBlocks(dir, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	small, large := make([]byte, 1000), make([]byte, SmallBlockMax+1)
	for i := range large {
		large[i] = byte(i)
	}
	if err := st.Put(ctx, "chunks/0/0/1_0_1000", small); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "chunks/0/0/2_0_big", large); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(Blocks(dir, 7), "chunks/0/0/2_0_big")); err != nil {
		t.Fatalf("large block not a file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(Blocks(dir, 7), "chunks/0/0/1_0_1000")); !os.IsNotExist(err) {
		t.Fatalf("small block stored as a file: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = OpenBlocks(dir, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := st.List(ctx, "chunks/", "", 0)
	if err != nil || len(objs) != 2 {
		t.Fatalf("list after reopen: %v %v", objs, err)
	}
	got, err := st.Get(ctx, "chunks/0/0/2_0_big", SmallBlockMax-2, 3)
	if err != nil || len(got) != 3 || got[0] != large[SmallBlockMax-2] {
		t.Fatalf("range of the large block: %v %v", got, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := RemoveBlocks(dir, 7); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{Blocks(dir, 7), SmallBlocks(dir, 7)} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", d, err)
		}
	}
}
