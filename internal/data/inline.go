package data

import (
	"context"
	"time"

	"github.com/shoalfs/shoal/internal/blockfmt"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// InlineMax bounds the data bytes one inline commit carries: a flush
// whose blocks total at most this many bytes, none uploaded yet, sends
// them inside the commit instead of uploading them first. It is the
// format's small size class, so a file the server keeps in its
// small-block engine travels in one call either way.
const InlineMax = blockfmt.SmallMax

// inlineBatchLocked reports whether batch may be committed inline: every
// block is still in memory and not uploading, and they total at most
// InlineMax bytes. It then marks those blocks uploading so nothing else
// uploads them meanwhile.
func (st *inode) inlineBatchLocked(batch []*pslice) bool {
	l := st.l
	if !l.cfg.Inline || l.noInline.Load() {
		return false
	}
	if _, ok := l.meta.(meta.InlineWriter); !ok {
		return false
	}
	total := 0
	for _, s := range batch {
		if s.err != nil {
			return false
		}
		for _, b := range s.blocks {
			if b.buf == nil || b.uploading {
				return false
			}
			if total += len(b.buf); total > InlineMax {
				return false
			}
		}
	}
	for _, s := range batch {
		for _, b := range s.blocks {
			b.uploading = true
		}
	}
	return true
}

// unmarkLocked undoes inlineBatchLocked's marks; when upload is set it
// starts the uploads the usual flush would have started.
func (st *inode) unmarkLocked(batch []*pslice, upload bool) {
	for _, s := range batch {
		for _, b := range s.blocks {
			b.uploading = false
		}
		if n := len(s.blocks); upload && n > 0 {
			st.uploadLocked(s, n-1)
		}
	}
}

// commitInline commits batch, marked by inlineBatchLocked, with one
// WriteInline. It reports false when the service does not support it: the
// marks are gone and the batch's uploads started, for the usual commit.
// On another error the batch stays pending with its blocks in memory, as
// for a failed commit.
func (st *inode) commitInline(ctx context.Context, batch []*pslice, mtime time.Time) ([]meta.ChunkWrite, meta.Attr, bool, error) {
	l := st.l
	var (
		writes []meta.ChunkWrite
		keys   []string
		objs   [][]byte
	)
	st.mu.Lock()
	for _, s := range batch {
		r := s.record()
		if r.Len == 0 {
			continue // dropped by the caller; its blocks need not exist
		}
		writes = append(writes, meta.ChunkWrite{Index: s.chunk, Slice: r})
		for bi, b := range s.blocks {
			key := blockfmt.Key(s.id, bi, len(b.buf))
			keys = append(keys, key)
			// The trailer goes in the buffer's spare capacity (growBuf
			// leaves room); b.buf keeps the data length.
			objs = append(objs, blockfmt.AppendTrailer(b.buf))
		}
	}
	st.mu.Unlock()
	if len(writes) == 0 {
		st.mu.Lock()
		st.unmarkLocked(batch, false)
		st.mu.Unlock()
		return nil, meta.Attr{}, true, nil
	}
	attr, err := l.meta.(meta.InlineWriter).WriteInline(ctx, st.ino, keys, objs, writes, mtime)
	st.mu.Lock()
	if fserr.Is(fserr.NotSupported, err) {
		l.noInline.Store(true)
		st.unmarkLocked(batch, true)
		st.mu.Unlock()
		return nil, meta.Attr{}, false, nil
	}
	if err != nil {
		st.unmarkLocked(batch, false)
		st.mu.Unlock()
		return nil, meta.Attr{}, true, err
	}
	// Stored and committed: free the buffers as an upload would, so
	// nothing uploads them again before the caller removes the batch.
	for _, s := range batch {
		for _, b := range s.blocks {
			putBuf(b.buf)
			l.buf.release(b.acct, false)
			b.buf, b.acct, b.uploading = nil, 0, false
		}
	}
	st.mu.Unlock()
	for i, k := range keys {
		l.stats.blocksUploaded.Add(1)
		l.stats.bytesUploaded.Add(int64(len(objs[i])))
		l.noteUploaded(st.ino, k) // a later Sync makes them durable
	}
	return writes, attr, true, nil
}

// Seed gives the Layer what an open already fetched for ino, which must
// have just been opened with Open: the committed records recs of chunk
// index, and block objects (keys[i] = objs[i], as stored). Records are
// kept only when this is the inode's one handle and nothing is pending,
// so no write of this Layer can be missing from them; objects go to the
// block cache once verified (a bad one is skipped: the read fetches it
// and reports it).
func (l *Layer) Seed(ino meta.Ino, index uint32, recs []meta.Slice, keys []string, objs [][]byte) {
	for i, key := range keys {
		if i >= len(objs) {
			break
		}
		id, bi, blen, ok := blockfmt.ParseKey(key)
		obj := objs[i]
		if !ok || len(obj) != blen+blockfmt.NumSegs(blen)*blockfmt.CRCLen {
			continue
		}
		data, crcs := obj[:blen:blen], obj[blen:]
		if blockfmt.VerifySegs(key, 0, data, crcs) != nil {
			continue
		}
		for s := range blockfmt.NumSegs(blen) {
			a, b := s*blockfmt.SegSize, min((s+1)*blockfmt.SegSize, blen)
			l.cache.put(segKey{id: id, index: uint32(bi), seg: uint32(s)}, data[a:b:b])
		}
	}
	st := l.lookup(ino)
	if st == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.refs == 1 && st.idleLocked() {
		if _, ok := st.mu.chunks[index]; !ok {
			st.mu.chunks[index] = recs
			st.mu.recs[index] = len(recs)
		}
	}
}

// Inline reports whether the Layer uses its meta service's inline calls:
// Config.Inline is set and the service has not said NotSupported. The
// client's one-call open (OpenRead) follows the same answer, as both
// calls are one service.
func (l *Layer) Inline() bool { return l.cfg.Inline && !l.noInline.Load() }

// NoInline records that the meta service does not support inline calls.
func (l *Layer) NoInline() { l.noInline.Store(true) }
