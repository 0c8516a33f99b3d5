package blockfmt

import (
	"bytes"
	"errors"
	"testing"

	"github.com/shoalfs/shoal/internal/fserr"
)

func TestKeys(t *testing.T) {
	if k := Key(1_234_567, 2, 300); k != "chunks/1/1234/1234567_2_300" {
		t.Fatalf("Key = %q", k)
	}
	for _, c := range []struct {
		id          uint64
		index, blen int
	}{{0, 0, 1}, {1, 0, BlockSize}, {999_999_999, 15, 12345}} {
		id, index, blen, ok := ParseKey(Key(c.id, c.index, c.blen))
		if !ok || id != c.id || index != c.index || blen != c.blen {
			t.Errorf("ParseKey(Key(%v)) = %d %d %d %v", c, id, index, blen, ok)
		}
		if got, ok := SliceOfKey(Key(c.id, c.index, c.blen)); !ok || got != c.id {
			t.Errorf("SliceOfKey(Key(%v)) = %d %v", c, got, ok)
		}
	}
	for _, bad := range []string{
		"", "chunks/", "chunks/0/0/1_0", "chunks/0/0/1_0_0", "chunks/0/0/1_-1_5",
		"chunks/0/0/1_0_" + "4194305", "chunks/9/0/1_0_5", "chunks/0/0/01_0_5", "blocks/0/0/1_0_5",
		"chunks/0/0/1_0_5/x",
	} {
		if _, _, _, ok := ParseKey(bad); ok {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

func TestSliceBlocks(t *testing.T) {
	size := uint32(2*BlockSize + 10)
	if n := SliceBlocks(size); n != 3 {
		t.Fatalf("SliceBlocks = %d", n)
	}
	var keys []string
	SliceKeys(7, size, func(k string) { keys = append(keys, k) })
	want := []string{Key(7, 0, BlockSize), Key(7, 1, BlockSize), Key(7, 2, 10)}
	if len(keys) != 3 || keys[0] != want[0] || keys[1] != want[1] || keys[2] != want[2] {
		t.Fatalf("SliceKeys = %q, want %q", keys, want)
	}
}

// TestSizeClasses: the small class is a whole small file's block and
// its trailer, as the data directory's engine and the inline path size
// themselves.
func TestSizeClasses(t *testing.T) {
	if SmallObjectMax != ObjectLen(SmallMax) || SmallObjectMax != 256<<10+16 {
		t.Fatalf("SmallObjectMax = %d, ObjectLen(SmallMax) = %d", SmallObjectMax, ObjectLen(SmallMax))
	}
	if MaxTrailer != ObjectLen(BlockSize)-BlockSize {
		t.Fatalf("MaxTrailer = %d", MaxTrailer)
	}
}

func TestTrailer(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), (SegSize+100)/16)
	obj := AppendTrailer(append([]byte(nil), data...))
	if len(obj) != ObjectLen(len(data)) {
		t.Fatalf("object of %d bytes, want %d", len(obj), ObjectLen(len(data)))
	}
	key := Key(1, 0, len(data))
	if err := VerifySegs(key, 0, obj[:len(data)], obj[len(data):]); err != nil {
		t.Fatal(err)
	}
	// The second segment alone, against its own checksum.
	if err := VerifySegs(key, 1, data[SegSize:], obj[len(data)+CRCLen:]); err != nil {
		t.Fatal(err)
	}
	obj[SegSize+1] ^= 1
	err := VerifySegs(key, 0, obj[:len(data)], obj[len(data):])
	if !fserr.Is(fserr.Corrupt, err) {
		t.Fatalf("flipped bit: %v", err)
	}
	if err := VerifySegs(key, 0, data, nil); !fserr.Is(fserr.Corrupt, err) {
		t.Fatalf("missing trailer: %v", err)
	}
}

func TestCheckObjects(t *testing.T) {
	small := AppendTrailer([]byte("hello"))
	s := []Slice{{ID: 5, Size: 5}}
	if err := CheckObjects([]string{Key(5, 0, 5)}, [][]byte{small}, s); err != nil {
		t.Fatal(err)
	}
	big := AppendTrailer(make([]byte, SmallMax+1))
	for name, c := range map[string]struct {
		keys []string
		objs [][]byte
		s    []Slice
		kind fserr.Kind
	}{
		"counts differ":      {[]string{Key(5, 0, 5)}, nil, s, fserr.Invalid},
		"not a key":          {[]string{"x"}, [][]byte{small}, s, fserr.Invalid},
		"another slice":      {[]string{Key(6, 0, 5)}, [][]byte{small}, s, fserr.Invalid},
		"wrong length":       {[]string{Key(5, 0, 4)}, [][]byte{small}, s, fserr.Invalid},
		"short object":       {[]string{Key(5, 0, 5)}, [][]byte{small[:6]}, s, fserr.Invalid},
		"bad checksum":       {[]string{Key(5, 0, 5)}, [][]byte{append([]byte("jello"), small[5:]...)}, s, fserr.Corrupt},
		"over the small max": {[]string{Key(9, 0, SmallMax+1)}, [][]byte{big}, []Slice{{ID: 9, Size: SmallMax + 1}}, fserr.ArgTooBig},
	} {
		err := CheckObjects(c.keys, c.objs, c.s)
		var e *fserr.Error
		if !errors.As(err, &e) || fserr.KindOf(err) != c.kind {
			t.Errorf("%s: %v, want kind %v", name, err, c.kind)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add("chunks/0/0/1_0_5")
	f.Add("chunks/1/1234/1234567_2_300")
	f.Add("chunks/0/0/1_0_4194305")
	f.Fuzz(func(t *testing.T, key string) {
		id, index, blen, ok := ParseKey(key)
		if ok && Key(id, index, blen) != key {
			t.Fatalf("ParseKey(%q) = %d %d %d, which is %q", key, id, index, blen, Key(id, index, blen))
		}
	})
}
