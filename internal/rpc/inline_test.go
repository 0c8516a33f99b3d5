package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/data"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
	objmem "github.com/shoalfs/shoal/internal/objstore/mem"
)

// blockBackend is a backend whose process also serves a block store.
type blockBackend struct {
	*backend
	store objstore.Store
}

func (b blockBackend) BlockStore(context.Context, string) (objstore.Store, error) {
	return b.store, nil
}

// countingStore counts the client's own Puts (the block uploads that
// an inline commit saves).
type countingStore struct {
	objstore.Store
	mu   sync.Mutex
	puts int
}

func (s *countingStore) Put(ctx context.Context, key string, data []byte) error {
	s.mu.Lock()
	s.puts++
	s.mu.Unlock()
	return s.Store.Put(ctx, key, data)
}

func (s *countingStore) n() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

// inlineEnv is a server over b (with the Inline service when inline is
// set), counting the calls per method, and a client.
type inlineEnv struct {
	calls map[string]int
	mu    sync.Mutex
	addr  string
	fs    *meta.FS
}

func startInline(t *testing.T, b Backend, inline bool, opts ServerOptions, extra ...grpc.UnaryServerInterceptor) *inlineEnv {
	t.Helper()
	e := &inlineEnv{calls: map[string]int{}}
	count := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		e.mu.Lock()
		e.calls[info.FullMethod]++
		e.mu.Unlock()
		return h(ctx, req)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(b, opts)
	// What an older server answers for a service it does not know, counted.
	unknown := func(_ any, ss grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(ss)
		e.mu.Lock()
		e.calls[method]++
		e.mu.Unlock()
		return status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}
	g := grpc.NewServer(append(s.GRPCOptions(), grpc.UnknownServiceHandler(unknown),
		grpc.ChainUnaryInterceptor(append([]grpc.UnaryServerInterceptor{count}, extra...)...))...)
	s.Register(g)
	if inline {
		s.RegisterInline(g)
	}
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	e.addr = lis.Addr().String()
	e.fs, err = b.FS(context.Background(), DefaultFS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkFS(t, e.fs) })
	return e
}

func (e *inlineEnv) n(method string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[method]
}

// writeFile creates name through a Layer over m and store, writes p and
// closes it.
func writeFile(t *testing.T, m meta.Service, store objstore.Store, name string, p []byte) meta.Ino {
	t.Helper()
	ctx := context.Background()
	l, err := data.New(m, store, data.Config{Inline: true})
	ok(t, err, "data.New")
	defer l.Close()
	a, err := m.Create(ctx, root, meta.RootIno, name, 0o644, os.O_RDWR, true)
	ok(t, err, "create "+name)
	h := l.Open(a.Ino, a)
	_, err = h.WriteAt(ctx, p, 0)
	ok(t, err, "write "+name)
	ok(t, h.Close(ctx), "close "+name)
	ok(t, m.Release(ctx, a.Ino), "release "+name)
	return a.Ino
}

func readFile(t *testing.T, m meta.Service, store objstore.Store, ino meta.Ino) []byte {
	t.Helper()
	ctx := context.Background()
	l, err := data.New(m, store, data.Config{})
	ok(t, err, "data.New")
	defer l.Close()
	a, err := m.Open(ctx, root, ino, os.O_RDONLY)
	ok(t, err, "open")
	h := l.Open(ino, a)
	buf := make([]byte, a.Size)
	_, err = h.ReadAt(ctx, buf, 0)
	ok(t, err, "read")
	ok(t, h.Close(ctx), "close")
	ok(t, m.Release(ctx, ino), "release")
	return buf
}

func TestInlineWrite(t *testing.T) {
	shared := objmem.New() // what the server's block server serves
	e := startInline(t, blockBackend{newBackend(t, mem.New()), shared}, true, ServerOptions{})
	m := dial(t, []string{e.addr}, ClientOptions{}).Meta()
	cs := &countingStore{Store: shared}
	small := bytes.Repeat([]byte("0123456789abcdef"), 256) // 4 KiB
	ino := writeFile(t, m, cs, "small", small)
	if cs.n() != 0 || e.n(pb.Inline_WriteBlocks_FullMethodName) != 1 || e.n(pb.Meta_Write_FullMethodName) != 0 {
		t.Fatalf("small close: %d client PUTs, %d WriteBlocks, %d Write; want 0, 1, 0",
			cs.n(), e.n(pb.Inline_WriteBlocks_FullMethodName), e.n(pb.Meta_Write_FullMethodName))
	}
	if got := readFile(t, m, shared, ino); !bytes.Equal(got, small) {
		t.Fatalf("small file reads back %d bytes, differs", len(got))
	}
	// Past InlineMax the usual path: upload, then Write.
	big := bytes.Repeat([]byte{7}, data.InlineMax+1)
	ino = writeFile(t, m, cs, "big", big)
	if cs.n() != 1 || e.n(pb.Meta_Write_FullMethodName) != 1 {
		t.Fatalf("big close: %d client PUTs, %d Write; want 1, 1", cs.n(), e.n(pb.Meta_Write_FullMethodName))
	}
	if got := readFile(t, m, shared, ino); !bytes.Equal(got, big) {
		t.Fatal("big file differs")
	}
	// Sync keeps the usual path (its blocks are synced before the commit).
	ctx := context.Background()
	l, err := data.New(m, cs, data.Config{Inline: true})
	ok(t, err, "data.New")
	defer l.Close()
	a, err := m.Create(ctx, root, meta.RootIno, "synced", 0o644, os.O_RDWR, true)
	ok(t, err, "create")
	h := l.Open(a.Ino, a)
	_, err = h.WriteAt(ctx, small, 0)
	ok(t, err, "write")
	inl := e.n(pb.Inline_WriteBlocks_FullMethodName)
	ok(t, h.Sync(ctx), "sync")
	ok(t, h.Close(ctx), "close")
	ok(t, m.Release(ctx, a.Ino), "release")
	if cs.n() != 2 || e.n(pb.Inline_WriteBlocks_FullMethodName) != inl || e.n(pb.Meta_Write_FullMethodName) != 2 {
		t.Fatalf("sync: %d client PUTs, %d more WriteBlocks, %d Writes; want 2, 0, 2",
			cs.n(), e.n(pb.Inline_WriteBlocks_FullMethodName)-inl, e.n(pb.Meta_Write_FullMethodName))
	}
	if got := readFile(t, m, shared, a.Ino); !bytes.Equal(got, small) {
		t.Fatal("synced file differs")
	}
}

// An older server (no Inline service) and one without a block store both
// answer Unimplemented: the Layer uploads and commits as before, and asks
// once only.
func TestInlineFallback(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inline bool
	}{{"old server", false}, {"no block store", true}} {
		t.Run(tc.name, func(t *testing.T) {
			shared := objmem.New()
			e := startInline(t, newBackend(t, mem.New()), tc.inline, ServerOptions{})
			m := dial(t, []string{e.addr}, ClientOptions{}).Meta()
			cs := &countingStore{Store: shared}
			ctx := context.Background()
			l, err := data.New(m, cs, data.Config{Inline: true})
			ok(t, err, "data.New")
			defer l.Close()
			for i, name := range []string{"a", "b"} {
				a, err := m.Create(ctx, root, meta.RootIno, name, 0o644, os.O_RDWR, true)
				ok(t, err, "create")
				h := l.Open(a.Ino, a)
				_, err = h.WriteAt(ctx, []byte(name), 0)
				ok(t, err, "write")
				ok(t, h.Close(ctx), "close")
				ok(t, m.Release(ctx, a.Ino), "release")
				if cs.n() != i+1 || e.n(pb.Meta_Write_FullMethodName) != i+1 {
					t.Fatalf("file %d: %d PUTs, %d Writes", i, cs.n(), e.n(pb.Meta_Write_FullMethodName))
				}
				if got := readFile(t, m, shared, a.Ino); string(got) != name {
					t.Fatalf("file %s reads %q", name, got)
				}
			}
			if n := e.n(pb.Inline_WriteBlocks_FullMethodName); n != 1 {
				t.Fatalf("%d WriteBlocks calls, want 1 (then remembered)", n)
			}
		})
	}
}

// A retried WriteBlocks whose first reply was lost is applied once.
func TestInlineWriteRetryAppliedOnce(t *testing.T) {
	var mu sync.Mutex
	lost := 0
	lose := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && info.FullMethod == pb.Inline_WriteBlocks_FullMethodName && lost == 0 {
			lost++
			return nil, status.Error(codes.Unavailable, "test: reply lost")
		}
		return resp, err
	}
	shared := objmem.New()
	e := startInline(t, blockBackend{newBackend(t, mem.New()), shared}, true, ServerOptions{}, lose)
	m := dial(t, []string{e.addr}, ClientOptions{}).Meta()
	ino := writeFile(t, m, shared, "f", []byte("hello"))
	if n := e.n(pb.Inline_WriteBlocks_FullMethodName); n != 2 || lost != 1 {
		t.Fatalf("%d WriteBlocks calls (%d replies lost), want 2 (1)", n, lost)
	}
	ss, err := e.fs.ReadChunk(context.Background(), ino, 0)
	ok(t, err, "readchunk")
	if len(ss) != 1 {
		t.Fatalf("inline write applied %d times: %+v", len(ss), ss)
	}
	if got := readFile(t, m, shared, ino); string(got) != "hello" {
		t.Fatalf("reads %q", got)
	}
}

// With tokens, WriteBlocks needs the inode open for writing in the
// caller's session, and may only store blocks of the slices it commits.
func TestInlineWriteGrants(t *testing.T) {
	ctx := context.Background()
	shared := objmem.New()
	e := startInline(t, blockBackend{newBackend(t, mem.New()), shared}, true, ServerOptions{Tokens: map[string]Token{
		"alice-token": {Uid: 1000, Gid: 1000},
		"bob-token":   {Uid: 2000, Gid: 2000},
		"admin-token": {Super: true},
	}})
	addrs := []string{e.addr}
	al := dial(t, addrs, ClientOptions{Token: "alice-token"}).Meta()
	bob := dial(t, addrs, ClientOptions{Token: "bob-token"}).Meta()
	admin := dial(t, addrs, ClientOptions{Token: "admin-token"}).Meta()
	_, err := admin.SetAttr(ctx, root, meta.RootIno, meta.SetMode, meta.Attr{Mode: 0o777})
	ok(t, err, "chmod / 0777")
	alice := meta.Identity{Uid: 1000, Gid: 1000}
	f, err := al.Create(ctx, alice, meta.RootIno, "f", 0o644, os.O_RDWR, true)
	ok(t, err, "alice creates f")

	block := func(m meta.Service, p []byte) ([]string, [][]byte, []meta.ChunkWrite) {
		id, err := m.NewSliceID(ctx)
		ok(t, err, "slice id")
		obj := dataObj(p)
		key := fmt.Sprintf("chunks/%d/%d/%d_0_%d", id/1_000_000, id/1_000, id, len(p))
		return []string{key}, [][]byte{obj}, []meta.ChunkWrite{{Slice: meta.Slice{ID: id, Size: uint32(len(p)), Len: uint32(len(p))}}}
	}
	iw := func(m meta.Service) meta.InlineWriter { return m.(meta.InlineWriter) }

	keys, objs, ws := block(bob, []byte("evil"))
	_, err = iw(bob).WriteInline(ctx, f.Ino, keys, objs, ws, time.Now())
	wantErrno(t, err, syscall.EBADF, "bob inline-writes f without opening it")
	_, err = bob.Open(ctx, meta.Identity{Uid: 2000, Gid: 2000}, f.Ino, os.O_RDONLY)
	ok(t, err, "bob opens f read-only")
	_, err = iw(bob).WriteInline(ctx, f.Ino, keys, objs, ws, time.Now())
	wantErrno(t, err, syscall.EBADF, "bob inline-writes f opened read-only")
	if _, err := shared.Head(ctx, keys[0]); !fserr.Is(fserr.NotFound, err) && !fserr.Is(fserr.NotExist, err) {
		t.Fatalf("a refused inline write stored its block: %v", err)
	}
	ok(t, bob.Release(ctx, f.Ino), "bob releases f")

	// Alice may, but only blocks of the slices she commits, and intact.
	keys, objs, ws = block(al, []byte("good"))
	other, _, _ := block(al, []byte("good"))
	_, err = iw(al).WriteInline(ctx, f.Ino, other, objs, ws, time.Now())
	wantErrno(t, err, syscall.EINVAL, "a block of no committed slice")
	bad := append([]byte(nil), objs[0]...)
	bad[0] ^= 1
	_, err = iw(al).WriteInline(ctx, f.Ino, keys, [][]byte{bad}, ws, time.Now())
	if fserr.KindOf(err) != fserr.Corrupt {
		t.Fatalf("a block whose trailer does not match: %v", err)
	}
	a, err := iw(al).WriteInline(ctx, f.Ino, keys, objs, ws, time.Now())
	ok(t, err, "alice inline-writes f")
	if a.Size != 4 {
		t.Fatalf("size %d after inline write", a.Size)
	}
	ok(t, al.Release(ctx, f.Ino), "alice releases f")
}

// dataObj is p in the block format (data.layout.go): data plus one
// CRC32C per 64 KiB segment (p is at most one).
func dataObj(p []byte) []byte {
	c := crc32.Checksum(p, crc32.MakeTable(crc32.Castagnoli))
	return binary.LittleEndian.AppendUint32(append([]byte(nil), p...), c)
}

// countingGets counts the client's block fetches.
type countingGets struct {
	objstore.Store
	mu   sync.Mutex
	gets int
}

func (s *countingGets) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	return s.Store.Get(ctx, key, off, length)
}

// OpenRead opens, returns chunk 0's records and a small file's blocks;
// seeded with them a Layer reads without another call.
func TestOpenRead(t *testing.T) {
	ctx := context.Background()
	shared := objmem.New()
	e := startInline(t, blockBackend{newBackend(t, mem.New()), shared}, true, ServerOptions{})
	m := dial(t, []string{e.addr}, ClientOptions{})
	mc := m.Meta().(*metaClient)
	small := bytes.Repeat([]byte("xy"), 3000)
	ino := writeFile(t, mc, shared, "f", small)
	_, err := mc.Mkdir(ctx, root, meta.RootIno, "d", 0o755)
	ok(t, err, "mkdir")

	r, err := mc.OpenRead(ctx, root, "/f", true, os.O_RDONLY, data.InlineMax)
	ok(t, err, "OpenRead")
	if !r.Opened || r.Attr.Ino != ino || r.Attr.Size != uint64(len(small)) || len(r.Slices) != 1 || len(r.Keys) != 1 {
		t.Fatalf("OpenRead: %+v", r)
	}
	cg := &countingGets{Store: shared}
	l, err := data.New(mc, cg, data.Config{Inline: true})
	ok(t, err, "data.New")
	defer l.Close()
	h := l.Open(ino, r.Attr)
	l.Seed(ino, 0, r.Slices, r.Keys, r.Objs)
	before := e.n(pb.Meta_ReadChunk_FullMethodName)
	buf := make([]byte, len(small))
	_, err = h.ReadAt(ctx, buf, 0)
	ok(t, err, "read")
	if !bytes.Equal(buf, small) {
		t.Fatal("seeded read differs")
	}
	if cg.gets != 0 || e.n(pb.Meta_ReadChunk_FullMethodName) != before {
		t.Fatalf("seeded read made %d block GETs and %d ReadChunk calls", cg.gets, e.n(pb.Meta_ReadChunk_FullMethodName)-before)
	}
	ok(t, h.Close(ctx), "close")
	ok(t, mc.Release(ctx, ino), "release")

	// Above max_inline: records, no blocks.
	r, err = mc.OpenRead(ctx, root, "/f", true, os.O_RDONLY, 100)
	ok(t, err, "OpenRead small max")
	if !r.Opened || len(r.Slices) != 1 || len(r.Keys) != 0 {
		t.Fatalf("OpenRead with max_inline 100: %+v", r)
	}
	ok(t, mc.Release(ctx, ino), "release")
	// A directory is resolved, not opened.
	r, err = mc.OpenRead(ctx, root, "/d", true, os.O_RDONLY, data.InlineMax)
	ok(t, err, "OpenRead dir")
	if r.Opened || r.Attr.Type != meta.TypeDir {
		t.Fatalf("OpenRead of a directory: %+v", r)
	}
	_, err = mc.OpenRead(ctx, root, "/nope", true, os.O_RDONLY, data.InlineMax)
	wantErrno(t, err, syscall.ENOENT, "OpenRead of a missing file")
}

func TestOpenReadOldServer(t *testing.T) {
	e := startInline(t, newBackend(t, mem.New()), false, ServerOptions{})
	mc := dial(t, []string{e.addr}, ClientOptions{}).Meta().(*metaClient)
	_, err := mc.OpenRead(context.Background(), root, "/", true, os.O_RDONLY, data.InlineMax)
	if !fserr.Is(fserr.NotSupported, err) {
		t.Fatalf("OpenRead against a server without Inline: %v", err)
	}
}

// OpenRead checks permission as Open does, and grants what Open grants.
func TestOpenReadGrants(t *testing.T) {
	ctx := context.Background()
	shared := objmem.New()
	e := startInline(t, blockBackend{newBackend(t, mem.New()), shared}, true, ServerOptions{Tokens: map[string]Token{
		"alice-token": {Uid: 1000, Gid: 1000},
		"bob-token":   {Uid: 2000, Gid: 2000},
		"admin-token": {Super: true},
	}})
	addrs := []string{e.addr}
	al := dial(t, addrs, ClientOptions{Token: "alice-token"}).Meta().(*metaClient)
	bob := dial(t, addrs, ClientOptions{Token: "bob-token"}).Meta().(*metaClient)
	admin := dial(t, addrs, ClientOptions{Token: "admin-token"}).Meta()
	_, err := admin.SetAttr(ctx, root, meta.RootIno, meta.SetMode, meta.Attr{Mode: 0o777})
	ok(t, err, "chmod / 0777")
	alice := meta.Identity{Uid: 1000, Gid: 1000}
	bobID := meta.Identity{Uid: 2000, Gid: 2000}
	for _, name := range []string{"private", "shared"} {
		mode := uint32(0o600)
		if name == "shared" {
			mode = 0o644
		}
		f, err := al.Create(ctx, alice, meta.RootIno, name, mode, os.O_RDWR, true)
		ok(t, err, "create")
		ok(t, al.Release(ctx, f.Ino), "release")
	}
	_, err = bob.OpenRead(ctx, bobID, "/private", true, os.O_RDONLY, data.InlineMax)
	wantErrno(t, err, syscall.EACCES, "bob opens alice's private file")
	r, err := bob.OpenRead(ctx, bobID, "/shared", true, os.O_RDONLY, data.InlineMax)
	ok(t, err, "bob opens the shared file")
	_, err = bob.ReadChunk(ctx, r.Attr.Ino, 0)
	ok(t, err, "bob reads chunks of the file OpenRead opened")
	_, err = bob.Write(ctx, r.Attr.Ino, nil, time.Now())
	wantErrno(t, err, syscall.EBADF, "bob writes the file OpenRead opened read-only")
	ok(t, bob.Release(ctx, r.Attr.Ino), "release")
}
