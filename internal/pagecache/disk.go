package pagecache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The disk format: one file per page,
//
//	DIR/XX/HHHHHHHHHHHHHHHH-SEQ.pg
//
// where H is the FNV-64a hash of the key (XX its first byte, 256 fan-out
// directories so no directory grows huge) and SEQ a number unique to the
// write, so that two files of one key never share a name: a file being
// evicted and unlinked can never be a newer copy of the same page.
// The file is a header and the page's bytes:
//
//	offset  size  field
//	0       8     magic "SHOALPC" and the format version (1)
//	8       8     page size of the cache that wrote it
//	16      8     page index (Key.Page)
//	24      8     data length
//	32      4     CRC32C (Castagnoli) of the data
//	36      2     length of Key.Source
//	38      2     length of Key.Version
//	40      ...   Key.Source, Key.Version
//	...     4     CRC32C of the header bytes before it
//	...     ...   the data
//
// all integers little-endian. Why one file per page: eviction is an unlink
// that gives the space back at once (no compaction of shared files), a
// write is a temp file renamed into place (a crash leaves a *.tmp that
// Open removes, never a half page under a page's name), and the restart
// scan needs nothing but the directory and each header. The cost is an
// inode per page: 262,144 files for 1 TiB of 4 MiB pages, which ext4 and
// xfs handle.
//
// No fsync: a page is a copy of the under-store, and a file torn by a
// power loss fails its data CRC on read and is fetched again.
const (
	diskMagic     = "SHOALPC\x01"
	headerFixed   = 40
	diskBlock     = 4096 // what a file's size is rounded up to in the budget
	maxSourceLen  = 4096
	maxVersionLen = 1024
	pageExt       = ".pg"
	tmpExt        = ".tmp"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a page file whose header or data failed its check.
var errCorrupt = errors.New("page file damaged")

func headerLen(k Key) int { return headerFixed + len(k.Source) + len(k.Version) + 4 }

// diskSize is what a page of n bytes costs a disk tier's budget: its file,
// header included, rounded up to the filesystem block.
func diskSize(k Key, n int) int64 {
	s := int64(headerLen(k) + n)
	return (s + diskBlock - 1) / diskBlock * diskBlock
}

func keyHash(k Key) uint64 {
	h := fnv.New64a()
	io.WriteString(h, k.Source)
	h.Write([]byte{0})
	io.WriteString(h, k.Version)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(k.Page))
	h.Write(b[:])
	return h.Sum64()
}

// pageName is the file name, relative to the tier's directory, of write
// seq of k.
func pageName(k Key, seq uint64) string {
	h := keyHash(k)
	return fmt.Sprintf("%02x/%016x-%x%s", h>>56, h, seq, pageExt)
}

// seqOf parses the write sequence out of a page file's name.
func seqOf(name string) (uint64, bool) {
	base := strings.TrimSuffix(filepath.Base(name), pageExt)
	i := strings.IndexByte(base, '-')
	if i != 16 {
		return 0, false
	}
	if _, err := strconv.ParseUint(base[:i], 16, 64); err != nil {
		return 0, false
	}
	seq, err := strconv.ParseUint(base[i+1:], 16, 64)
	return seq, err == nil
}

func encodeHeader(k Key, pageSize int64, data []byte) []byte {
	b := make([]byte, headerLen(k))
	copy(b, diskMagic)
	le := binary.LittleEndian
	le.PutUint64(b[8:], uint64(pageSize))
	le.PutUint64(b[16:], uint64(k.Page))
	le.PutUint64(b[24:], uint64(len(data)))
	le.PutUint32(b[32:], crc32.Checksum(data, castagnoli))
	le.PutUint16(b[36:], uint16(len(k.Source)))
	le.PutUint16(b[38:], uint16(len(k.Version)))
	n := copy(b[headerFixed:], k.Source)
	copy(b[headerFixed+n:], k.Version)
	le.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	return b
}

// header is a decoded page header.
type header struct {
	key      Key
	pageSize int64
	length   int64
	crc      uint32
	len      int // bytes of the header
}

// decodeHeader decodes the header at the start of b; more is the length b
// must have to hold it when it is too short, 0 otherwise.
func decodeHeader(b []byte) (h header, more int, err error) {
	if len(b) < headerFixed {
		return h, headerFixed, nil
	}
	if string(b[:8]) != diskMagic {
		return h, 0, fmt.Errorf("%w: bad magic", errCorrupt)
	}
	le := binary.LittleEndian
	sl, vl := int(le.Uint16(b[36:])), int(le.Uint16(b[38:]))
	if sl > maxSourceLen || vl > maxVersionLen {
		return h, 0, fmt.Errorf("%w: key of %d+%d bytes", errCorrupt, sl, vl)
	}
	h.len = headerFixed + sl + vl + 4
	if len(b) < h.len {
		return h, h.len, nil
	}
	if got, want := crc32.Checksum(b[:h.len-4], castagnoli), le.Uint32(b[h.len-4:]); got != want {
		return h, 0, fmt.Errorf("%w: header checksum %08x, recorded %08x", errCorrupt, got, want)
	}
	h.pageSize = int64(le.Uint64(b[8:]))
	h.key.Page = int64(le.Uint64(b[16:]))
	h.length = int64(le.Uint64(b[24:]))
	h.crc = le.Uint32(b[32:])
	h.key.Source = string(b[headerFixed : headerFixed+sl])
	h.key.Version = string(b[headerFixed+sl : headerFixed+sl+vl])
	if h.length < 0 || h.key.Page < 0 {
		return h, 0, fmt.Errorf("%w: negative length or page", errCorrupt)
	}
	return h, 0, nil
}

// writePage writes k's page into dir under name: a temp file in the same
// directory, renamed into place, so a reader or a restart never sees a
// half-written page under a page's name.
func writePage(dir, name string, k Key, pageSize int64, data []byte) error {
	path := filepath.Join(dir, name)
	f, err := os.CreateTemp(filepath.Dir(path), "w-*"+tmpExt)
	if err != nil {
		return err
	}
	tmp := f.Name()
	hdr := encodeHeader(k, pageSize, data)
	_, err = f.Write(append(hdr, data...))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// readPage reads page k from the file at path: the data, or an error that
// wraps errCorrupt when the file is not a sound copy of k, or the
// filesystem's error (fs.ErrNotExist when it was evicted meanwhile).
func readPage(path string, k Key, pageSize int64) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h, more, err := decodeHeader(b)
	if err != nil {
		return nil, err
	}
	if more > 0 {
		return nil, fmt.Errorf("%w: file of %d bytes holds no whole header", errCorrupt, len(b))
	}
	if h.key != k {
		return nil, fmt.Errorf("%w: holds %q %q page %d", errCorrupt, h.key.Source, h.key.Version, h.key.Page)
	}
	if h.pageSize != pageSize || h.length > pageSize {
		return nil, fmt.Errorf("%w: page size %d, length %d (cache page size %d)", errCorrupt, h.pageSize, h.length, pageSize)
	}
	data := b[h.len:]
	if int64(len(data)) != h.length {
		return nil, fmt.Errorf("%w: %d data bytes, header says %d", errCorrupt, len(data), h.length)
	}
	if got := crc32.Checksum(data, castagnoli); got != h.crc {
		return nil, fmt.Errorf("%w: data checksum %08x, recorded %08x", errCorrupt, got, h.crc)
	}
	return data[:len(data):len(data)], nil
}

// found is a page file found by scanDir.
type found struct {
	name  string // relative to the directory
	key   Key
	size  int64 // what it costs the budget
	seq   uint64
	mtime int64
}

// scanDir lists the sound page files of dir written with pageSize, and
// removes the temp files of interrupted writes and the page files whose
// header is bad, whose page size differs or whose length does not match
// the header. It reads headers only: the data's checksum is verified when
// a page is read. bad counts the files removed for a bad header or size.
func scanDir(dir string, pageSize int64) (pages []found, bad int, err error) {
	buf := make([]byte, 512)
	for i := range 256 {
		sub := fmt.Sprintf("%02x", i)
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, bad, err
		}
		for _, e := range ents {
			name := filepath.Join(sub, e.Name())
			path := filepath.Join(dir, name)
			switch {
			case strings.HasSuffix(e.Name(), tmpExt):
				os.Remove(path)
				continue
			case !strings.HasSuffix(e.Name(), pageExt) || !e.Type().IsRegular():
				continue // not ours: left alone
			}
			seq, okName := seqOf(name)
			h, fi, err := readHeader(path, buf)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil && !errors.Is(err, errCorrupt) {
				return nil, bad, err
			}
			if err != nil || !okName || h.pageSize != pageSize || h.length > pageSize ||
				fi.Size() != int64(h.len)+h.length || pageName(h.key, seq) != name {
				os.Remove(path)
				bad++
				continue
			}
			pages = append(pages, found{name: name, key: h.key, size: diskSize(h.key, int(h.length)), seq: seq, mtime: fi.ModTime().UnixNano()})
		}
	}
	return pages, bad, nil
}

func readHeader(path string, buf []byte) (header, fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return header{}, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return header{}, nil, err
	}
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return header{}, nil, err
	}
	b := buf[:n]
	for {
		h, more, err := decodeHeader(b)
		if err != nil {
			return h, fi, err
		}
		if more == 0 {
			return h, fi, nil
		}
		if more <= len(b) || int64(more) > fi.Size() {
			return h, fi, fmt.Errorf("%w: file of %d bytes holds no whole header", errCorrupt, fi.Size())
		}
		nb := make([]byte, more)
		if _, err := f.ReadAt(nb, 0); err != nil {
			return h, fi, err
		}
		b = nb
	}
}

// makeDirs creates dir and its fan-out directories.
func makeDirs(dir string) error {
	for i := range 256 {
		if err := os.MkdirAll(filepath.Join(dir, fmt.Sprintf("%02x", i)), 0o755); err != nil {
			return err
		}
	}
	return nil
}
