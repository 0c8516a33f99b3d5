package blockserver_test

// BenchmarkTransport measures moving blocks over loopback with the block
// server (HTTP, sendfile) against gRPC streaming of the same bytes from
// the same file store, beside the raw loopback TCP limit. The numbers and
// the decision are in docs/transport.md.
//
//	go test -run '^$' -bench BenchmarkTransport -benchtime 2s -count 5 ./internal/blockserver/
//
// gRPC is imported only here, with a raw-bytes codec, so the package
// itself stays free of it.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"

	"github.com/shoalfs/shoal/internal/blockserver"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/file"
	"github.com/shoalfs/shoal/internal/objstore/remote"
)

const (
	benchObject = 4 << 20  // a full block
	benchRange  = 64 << 10 // a small random read
	grpcChunk   = 1 << 20  // gRPC message size
	grpcWindow  = 16 << 20 // flow-control windows: never the bottleneck
	grpcBuffer  = 256 << 10
)

// fileStore is a file store that also offers its files (sendfile) and
// drops Puts, so that PUT benchmarks measure the transport, not the disk.
type fileStore struct {
	*file.Store
	dir string
}

func (s fileStore) OpenFile(ctx context.Context, key string) (*os.File, error) {
	if _, err := s.Head(ctx, key); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(s.dir, filepath.FromSlash(key)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fserr.E("bench.OpenFile", key, fserr.NotExist, objstore.ErrNotFound)
	}
	return f, err
}

func (fileStore) Put(ctx context.Context, key string, data []byte) error { return nil }

// copyStore hides OpenFile: the server falls back to Store.Get + Write.
type copyStore struct{ objstore.Store }

func newBenchStore(b *testing.B) (fileStore, []byte) {
	dir := b.TempDir()
	fst, err := file.Open(dir, file.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, benchObject)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	if err := fst.Put(context.Background(), "blk/0", data); err != nil {
		b.Fatal(err)
	}
	return fileStore{fst, dir}, data
}

// transport is one way of moving blocks.
type transport interface {
	get(ctx context.Context, stream int, key string, off, n int64) ([]byte, error)
	put(ctx context.Context, stream int, key string, data []byte) error
	close()
}

func BenchmarkTransport(b *testing.B) {
	ops := []struct {
		name string
		size int64
	}{{"get4M", benchObject}, {"get64K", benchRange}, {"put4M", benchObject}}
	for _, op := range ops {
		for _, tname := range []string{"tcp", "http", "http-nosendfile", "grpc"} {
			if tname == "http-nosendfile" && op.name == "put4M" {
				continue // the same as http
			}
			for _, streams := range []int{1, 16} {
				b.Run(fmt.Sprintf("%s/%s/streams=%d", op.name, tname, streams), func(b *testing.B) {
					if tname == "tcp" {
						benchTCP(b, op.size, streams)
						return
					}
					st, data := newBenchStore(b)
					var tr transport
					switch tname {
					case "http":
						tr = newHTTP(b, st)
					case "http-nosendfile":
						tr = newHTTP(b, copyStore{st})
					case "grpc":
						tr = newGRPC(b, st, streams)
					}
					defer tr.close()
					run(b, op.size, streams, func(ctx context.Context, stream int, i int64) error {
						switch op.name {
						case "get4M":
							got, err := tr.get(ctx, stream, "blk/0", 0, -1)
							if err == nil && len(got) != benchObject {
								err = fmt.Errorf("got %d bytes", len(got))
							}
							return err
						case "get64K":
							off := (i * benchRange) % benchObject
							got, err := tr.get(ctx, stream, "blk/0", off, benchRange)
							if err == nil && len(got) != benchRange {
								err = fmt.Errorf("got %d bytes", len(got))
							}
							return err
						default:
							return tr.put(ctx, stream, fmt.Sprintf("put/%d", stream), data)
						}
					})
				})
			}
		}
	}
}

// run spreads b.N operations over streams goroutines.
func run(b *testing.B, size int64, streams int, op func(ctx context.Context, stream int, i int64) error) {
	ctx := context.Background()
	b.SetBytes(size)
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, streams)
	for s := range streams {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if err := op(ctx, s, i); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
}

// benchTCP is the loopback limit: per stream, one goroutine writes an
// endless stream and another reads it in size-byte pieces, with no
// protocol at all.
func benchTCP(b *testing.B, size int64, streams int) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	src := make([]byte, size)
	conns := make([]net.Conn, streams)
	for i := range conns {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
		sc, err := l.Accept()
		if err != nil {
			b.Fatal(err)
		}
		defer sc.Close()
		wg.Go(func() {
			for {
				if _, err := sc.Write(src); err != nil {
					return
				}
			}
		})
	}
	bufs := make([][]byte, streams)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	run(b, size, streams, func(_ context.Context, s int, _ int64) error {
		_, err := io.ReadFull(conns[s], bufs[s])
		return err
	})
	for _, c := range conns {
		c.Close()
	}
}

type httpTransport struct {
	ts *httptest.Server
	s  *remote.Store
}

func newHTTP(b *testing.B, st objstore.Store) *httpTransport {
	ts := httptest.NewServer(blockserver.New(st, blockserver.Options{}))
	return &httpTransport{ts: ts, s: remote.New(ts.URL, "", remote.Options{})}
}

func (h *httpTransport) get(ctx context.Context, _ int, key string, off, n int64) ([]byte, error) {
	return h.s.Get(ctx, key, off, n)
}

func (h *httpTransport) put(ctx context.Context, _ int, key string, data []byte) error {
	return h.s.Put(ctx, key, data)
}

func (h *httpTransport) close() { h.s.Close(); h.ts.Close() }

// frame is a raw gRPC message. Sending: pooled (handed to gRPC, which
// frees it once written) or b. Receiving: copied into b when it has the
// capacity, so a block lands in its final buffer.
type frame struct {
	b      []byte
	pooled mem.Buffer
}

// rawCodec moves frames without protobuf.
type rawCodec struct{}

func (rawCodec) Name() string { return "shoal-raw" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	f := v.(*frame)
	if f.pooled != nil {
		return mem.BufferSlice{f.pooled}, nil
	}
	return mem.BufferSlice{mem.SliceBuffer(f.b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f := v.(*frame)
	n := data.Len()
	if cap(f.b) < n {
		f.b = make([]byte, n)
	}
	f.b = f.b[:n]
	data.CopyTo(f.b)
	return nil
}

// grpcBlocks serves Get (server streaming: a header frame holding the
// length, then chunks of at most grpcChunk read from the file) and Put
// (client streaming: a header frame with length and key, then chunks).
type grpcBlocks struct{ st fileStore }

var grpcDesc = grpc.ServiceDesc{
	ServiceName: "shoal.bench.Blocks",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{
		{StreamName: "Get", ServerStreams: true, Handler: func(srv any, ss grpc.ServerStream) error {
			return srv.(*grpcBlocks).get(ss)
		}},
		{StreamName: "Put", ClientStreams: true, Handler: func(srv any, ss grpc.ServerStream) error {
			return srv.(*grpcBlocks).put(ss)
		}},
	},
}

func (g *grpcBlocks) get(ss grpc.ServerStream) error {
	var req frame
	if err := ss.RecvMsg(&req); err != nil {
		return err
	}
	off, n := int64(binary.LittleEndian.Uint64(req.b)), int64(binary.LittleEndian.Uint64(req.b[8:]))
	f, err := g.st.OpenFile(ss.Context(), string(req.b[16:]))
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if off > size {
		off = size
	}
	if n < 0 || n > size-off {
		n = size - off
	}
	if err := ss.SendMsg(&frame{b: binary.LittleEndian.AppendUint64(nil, uint64(n))}); err != nil {
		return err
	}
	pool := mem.DefaultBufferPool()
	for n > 0 {
		c := min(n, grpcChunk)
		buf := pool.Get(int(c))
		if _, err := f.ReadAt(*buf, off); err != nil {
			pool.Put(buf)
			return err
		}
		if err := ss.SendMsg(&frame{pooled: mem.NewBuffer(buf, pool)}); err != nil {
			return err
		}
		off += c
		n -= c
	}
	return nil
}

func (g *grpcBlocks) put(ss grpc.ServerStream) error {
	var hdr frame
	if err := ss.RecvMsg(&hdr); err != nil {
		return err
	}
	n := int64(binary.LittleEndian.Uint64(hdr.b))
	key := string(hdr.b[8:])
	data := make([]byte, n)
	for pos := int64(0); pos < n; {
		f := frame{b: data[pos:pos]}
		if err := ss.RecvMsg(&f); err != nil {
			return err
		}
		pos += int64(len(f.b))
	}
	if err := g.st.Put(ss.Context(), key, data); err != nil {
		return err
	}
	return ss.SendMsg(&frame{})
}

type grpcTransport struct {
	srv   *grpc.Server
	conns []*grpc.ClientConn
}

// newGRPC starts a server and one client connection per stream, gRPC's
// best case (HTTP also gets a connection per stream).
func newGRPC(b *testing.B, st fileStore, streams int) *grpcTransport {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ForceServerCodecV2(rawCodec{}),
		grpc.InitialWindowSize(grpcWindow),
		grpc.InitialConnWindowSize(grpcWindow),
		grpc.ReadBufferSize(grpcBuffer),
		grpc.WriteBufferSize(grpcBuffer),
		grpc.MaxRecvMsgSize(2*grpcChunk),
		grpc.MaxSendMsgSize(2*grpcChunk),
	)
	srv.RegisterService(&grpcDesc, &grpcBlocks{st: st})
	go srv.Serve(l)
	t := &grpcTransport{srv: srv}
	for range streams {
		cc, err := grpc.NewClient("passthrough:///"+l.Addr().String(),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(grpcWindow),
			grpc.WithInitialConnWindowSize(grpcWindow),
			grpc.WithReadBufferSize(grpcBuffer),
			grpc.WithWriteBufferSize(grpcBuffer),
			grpc.WithDefaultCallOptions(
				grpc.ForceCodecV2(rawCodec{}),
				grpc.MaxCallRecvMsgSize(2*grpcChunk),
				grpc.MaxCallSendMsgSize(2*grpcChunk),
			),
		)
		if err != nil {
			b.Fatal(err)
		}
		t.conns = append(t.conns, cc)
	}
	return t
}

func (t *grpcTransport) get(ctx context.Context, stream int, key string, off, n int64) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := t.conns[stream].NewStream(ctx, &grpcDesc.Streams[0], "/shoal.bench.Blocks/Get")
	if err != nil {
		return nil, err
	}
	req := binary.LittleEndian.AppendUint64(nil, uint64(off))
	req = binary.LittleEndian.AppendUint64(req, uint64(n))
	req = append(req, key...)
	if err := cs.SendMsg(&frame{b: req}); err != nil {
		return nil, err
	}
	if err := cs.CloseSend(); err != nil {
		return nil, err
	}
	var hdr frame
	if err := cs.RecvMsg(&hdr); err != nil {
		return nil, err
	}
	out := make([]byte, binary.LittleEndian.Uint64(hdr.b))
	for pos := 0; pos < len(out); {
		f := frame{b: out[pos:pos]}
		if err := cs.RecvMsg(&f); err != nil {
			return nil, err
		}
		pos += len(f.b)
	}
	if err := cs.RecvMsg(&frame{}); err != io.EOF {
		return nil, fmt.Errorf("grpc get: trailing: %v", err)
	}
	return out, nil
}

func (t *grpcTransport) put(ctx context.Context, stream int, key string, data []byte) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := t.conns[stream].NewStream(ctx, &grpcDesc.Streams[1], "/shoal.bench.Blocks/Put")
	if err != nil {
		return err
	}
	hdr := binary.LittleEndian.AppendUint64(nil, uint64(len(data)))
	if err := cs.SendMsg(&frame{b: append(hdr, key...)}); err != nil {
		return err
	}
	// data stays untouched until Put returns, so gRPC may send from it
	// without a copy.
	for pos := 0; pos < len(data); pos += grpcChunk {
		if err := cs.SendMsg(&frame{b: data[pos:min(pos+grpcChunk, len(data))]}); err != nil {
			return err
		}
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	return cs.RecvMsg(&frame{})
}

func (t *grpcTransport) close() {
	for _, cc := range t.conns {
		cc.Close()
	}
	t.srv.Stop()
}
