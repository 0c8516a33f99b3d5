package rpc

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
)

// backend is a server process's Backend over one engine: each named
// filesystem is opened once.
type backend struct {
	eng kv.Engine
	mu  sync.Mutex
	fss map[string]*meta.FS
}

func newBackend(t testing.TB, eng kv.Engine) *backend {
	t.Helper()
	if _, err := meta.EnsureDefaultFS(context.Background(), eng); err != nil {
		t.Fatalf("EnsureDefaultFS: %v", err)
	}
	b := &backend{eng: eng, fss: map[string]*meta.FS{}}
	t.Cleanup(b.close)
	return b
}

func (b *backend) FS(ctx context.Context, name string) (*meta.FS, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if f, ok := b.fss[name]; ok {
		return f, nil
	}
	info, err := meta.LookupFS(ctx, b.eng, name)
	if err != nil {
		return nil, err
	}
	f, err := meta.New(ctx, b.eng, meta.Config{ID: info.ID})
	if err != nil {
		return nil, err
	}
	b.fss[name] = f
	return f, nil
}

func (b *backend) Engine() kv.Engine { return b.eng }

func (b *backend) Status(ctx context.Context) (StatusInfo, error) {
	return StatusInfo{Version: "test", Started: time.Now().Add(-time.Minute), Listen: []string{"x"},
		BlockURLs: []string{"http://127.0.0.1:7701"}}, nil
}

func (b *backend) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for n, f := range b.fss {
		f.Close()
		delete(b.fss, n)
	}
}

// server is one running gRPC server.
type server struct {
	addr string
	g    *grpc.Server
	s    *Server
	b    *backend
}

func startServer(t testing.TB, b *backend, opts ServerOptions, extra ...grpc.ServerOption) *server {
	t.Helper()
	return startServerAt(t, b, "127.0.0.1:0", opts, extra...)
}

// startServerAt is startServer on a given address (a restart on the
// address of a stopped server).
func startServerAt(t testing.TB, b *backend, addr string, opts ServerOptions, extra ...grpc.ServerOption) *server {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(b, opts)
	g := grpc.NewServer(append(s.GRPCOptions(), extra...)...)
	s.Register(g)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return &server{addr: lis.Addr().String(), g: g, s: s, b: b}
}

func dial(t testing.TB, addrs []string, opts ClientOptions) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if opts.RetryTimeout == 0 {
		opts.RetryTimeout = 5 * time.Second
	}
	c, err := Dial(ctx, addrs, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// env is a client over a fresh server on the memory engine.
type env struct {
	t   *testing.T
	ctx context.Context
	srv *server
	c   *Conn
	m   meta.Service
	fs  *meta.FS // the server's, for checks
}

func newEnv(t *testing.T) *env {
	b := newBackend(t, mem.New())
	srv := startServer(t, b, ServerOptions{})
	c := dial(t, []string{srv.addr}, ClientOptions{})
	f, err := b.FS(context.Background(), DefaultFS)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), srv: srv, c: c, m: c.Meta(), fs: f}
	t.Cleanup(func() { checkFS(t, f) })
	return e
}

func checkFS(t testing.TB, f *meta.FS) {
	t.Helper()
	probs, err := f.Check(context.Background())
	if err != nil {
		t.Errorf("Check: %v", err)
	}
	for _, p := range probs {
		t.Errorf("fsck: %s", p)
	}
}

func ok(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantErrno(t testing.TB, err error, want syscall.Errno, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v (errno %d), want %v", what, err, fserr.Errno(err), want)
	}
	var fe *fserr.Error
	if !errors.As(err, &fe) {
		t.Fatalf("%s: %T is not *fserr.Error", what, err)
	}
}

var (
	root  = meta.Identity{}
	alice = meta.Identity{Uid: 1000, Gid: 1000, Gids: []uint32{1000, 50}}
	bob   = meta.Identity{Uid: 1001, Gid: 1001}
)

func TestEveryMethod(t *testing.T) {
	e := newEnv(t)
	ctx, m := e.ctx, e.m
	_, err := m.SetAttr(ctx, root, meta.RootIno, meta.SetMode, meta.Attr{Mode: 0777})
	ok(t, err, "chmod /")

	d, err := m.Mkdir(ctx, alice, meta.RootIno, "d", 0750)
	ok(t, err, "mkdir")
	if d.Type != meta.TypeDir || d.Uid != 1000 || d.Mode != 0750 || d.Parent != meta.RootIno {
		t.Fatalf("mkdir attr %+v", d)
	}
	n, err := m.Mknod(ctx, alice, d.Ino, "fifo", meta.TypeFIFO, 0600, 0)
	ok(t, err, "mknod")
	if n.Type != meta.TypeFIFO {
		t.Fatalf("mknod type %v", n.Type)
	}
	f, err := m.Create(ctx, alice, d.Ino, "f", 0644, os.O_RDWR, true)
	ok(t, err, "create")
	got, err := m.Lookup(ctx, alice, d.Ino, "f")
	ok(t, err, "lookup")
	if got != f {
		t.Fatalf("lookup %+v, create %+v", got, f)
	}
	got, err = m.Resolve(ctx, alice, "/d/f", true)
	ok(t, err, "resolve")
	if got.Ino != f.Ino {
		t.Fatalf("resolve ino %d want %d", got.Ino, f.Ino)
	}
	direct, err := e.fs.GetAttr(ctx, f.Ino)
	ok(t, err, "direct getattr")
	if got, err = m.GetAttr(ctx, f.Ino); err != nil || got != direct {
		t.Fatalf("getattr %+v %v, direct %+v", got, err, direct)
	}
	ok(t, m.Access(ctx, alice, f.Ino, meta.AccessRead|meta.AccessWrite), "access")
	wantErrno(t, m.Access(ctx, bob, f.Ino, meta.AccessWrite), syscall.EACCES, "access bob")

	// Data: slice ids from batches, unique across batch boundaries.
	seen := map[uint64]bool{}
	for range sliceIDBatch + 10 {
		id, err := m.NewSliceID(ctx)
		ok(t, err, "NewSliceID")
		if id == 0 || seen[id] {
			t.Fatalf("slice id %d repeated or zero", id)
		}
		seen[id] = true
	}
	id1, _ := m.NewSliceID(ctx)
	id2, _ := m.NewSliceID(ctx)
	mt := time.Unix(1_800_000_000, 5)
	s1 := meta.Slice{ID: id1, Size: 100, Len: 100}
	s2 := meta.Slice{ID: id2, Size: 50, Len: 50, Pos: 100}
	a, err := m.Write(ctx, f.Ino, []meta.ChunkWrite{{Index: 0, Slice: s1}, {Index: 0, Slice: s2}}, mt)
	ok(t, err, "write")
	if a.Size != 150 || a.Mtime != mt.UnixNano() {
		t.Fatalf("write attr size %d mtime %d", a.Size, a.Mtime)
	}
	ss, err := m.ReadChunk(ctx, f.Ino, 0)
	ok(t, err, "readchunk")
	if !slices.Equal(ss, []meta.Slice{s1, s2}) {
		t.Fatalf("readchunk %+v", ss)
	}
	id3, _ := m.NewSliceID(ctx)
	repl := []meta.Slice{{ID: id3, Size: 150, Len: 150}}
	ok(t, m.CompactChunk(ctx, f.Ino, 0, ss, repl), "compact")
	err = m.CompactChunk(ctx, f.Ino, 0, ss, repl)
	wantErrno(t, err, syscall.EAGAIN, "compact stale")
	var live []meta.Slice
	ok(t, m.LiveSlices(ctx, func(s meta.Slice) error { live = append(live, s); return nil }), "liveslices")
	if len(live) != 3 { // the compacted slice and the two freed ones
		t.Fatalf("live slices %+v", live)
	}
	stop := errors.New("stop")
	if err := m.LiveSlices(ctx, func(meta.Slice) error { return stop }); err != stop {
		t.Fatalf("LiveSlices fn error: got %v", err)
	}
	freed, err := m.FreedSlices(ctx, 10)
	ok(t, err, "freed")
	if len(freed) != 2 {
		t.Fatalf("freed %+v", freed)
	}
	ok(t, m.ForgetSlices(ctx, []uint64{freed[0].ID, freed[1].ID}), "forget")
	if freed, _ = m.FreedSlices(ctx, 10); len(freed) != 0 {
		t.Fatalf("freed after forget %+v", freed)
	}
	rs, err := m.SweepRanges(ctx, 0)
	ok(t, err, "sweepranges")
	ok(t, m.ForgetSweep(ctx, rs), "forgetsweep")

	// Xattrs, binary values and names.
	ok(t, m.SetXattr(ctx, alice, f.Ino, "user.k", []byte{0, 1, 0xff}, meta.XattrCreate), "setxattr")
	v, err := m.GetXattr(ctx, alice, f.Ino, "user.k")
	ok(t, err, "getxattr")
	if !bytes.Equal(v, []byte{0, 1, 0xff}) {
		t.Fatalf("getxattr %v", v)
	}
	ok(t, m.SetXattr(ctx, alice, f.Ino, "user.empty", nil, 0), "setxattr empty")
	if v, err = m.GetXattr(ctx, alice, f.Ino, "user.empty"); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("empty xattr %v %v", v, err)
	}
	names, err := m.ListXattr(ctx, alice, f.Ino)
	ok(t, err, "listxattr")
	slices.Sort(names)
	if !slices.Equal(names, []string{"user.empty", "user.k"}) {
		t.Fatalf("listxattr %q", names)
	}
	ok(t, m.RemoveXattr(ctx, alice, f.Ino, "user.k"), "removexattr")
	_, err = m.GetXattr(ctx, alice, f.Ino, "user.k")
	wantErrno(t, err, syscall.ENODATA, "getxattr removed")

	// Links, symlinks, a name that is not UTF-8.
	l, err := m.Link(ctx, alice, f.Ino, d.Ino, "hard")
	ok(t, err, "link")
	if l.Nlink != 2 {
		t.Fatalf("nlink %d", l.Nlink)
	}
	sl, err := m.Symlink(ctx, alice, d.Ino, "s\xff", "f\xfe")
	ok(t, err, "symlink")
	tgt, err := m.Readlink(ctx, sl.Ino)
	ok(t, err, "readlink")
	if tgt != "f\xfe" {
		t.Fatalf("readlink %q", tgt)
	}
	if _, err := m.Lookup(ctx, alice, d.Ino, "s\xff"); err != nil {
		t.Fatalf("lookup non-UTF-8: %v", err)
	}

	// ReadDir: pagination by cookie, with and without attributes.
	var all []meta.Entry
	cookie := uint64(0)
	for {
		ents, next, err := m.ReadDir(ctx, alice, d.Ino, cookie, 2, true)
		ok(t, err, "readdir")
		if len(ents) == 0 {
			break
		}
		for _, en := range ents {
			if en.Attr == nil || en.Attr.Ino != en.Ino {
				t.Fatalf("readdir plus entry %+v", en)
			}
		}
		all = append(all, ents...)
		cookie = next
	}
	var gotNames []string
	for _, en := range all {
		gotNames = append(gotNames, en.Name)
	}
	slices.Sort(gotNames)
	if !slices.Equal(gotNames, []string{"f", "fifo", "hard", "s\xff"}) {
		t.Fatalf("readdir names %q", gotNames)
	}
	ents, _, err := m.ReadDir(ctx, alice, d.Ino, 0, 100, false)
	ok(t, err, "readdir")
	if len(ents) != 4 || ents[0].Attr != nil {
		t.Fatalf("readdir without plus %+v", ents)
	}

	// Open/Release and delete-on-last-close through the session.
	o, err := m.Open(ctx, alice, f.Ino, os.O_RDONLY)
	ok(t, err, "open")
	if o.Ino != f.Ino {
		t.Fatalf("open ino %d", o.Ino)
	}
	_, err = m.Open(ctx, bob, f.Ino, os.O_WRONLY)
	wantErrno(t, err, syscall.EACCES, "open bob")
	ok(t, m.Rename(ctx, alice, d.Ino, "hard", meta.RootIno, "moved", 0), "rename")
	ok(t, m.Unlink(ctx, alice, meta.RootIno, "moved"), "unlink")
	ok(t, m.Unlink(ctx, alice, d.Ino, "f"), "unlink f")
	if _, err := m.GetAttr(ctx, f.Ino); err != nil {
		t.Fatalf("open unlinked file gone: %v", err)
	}
	ok(t, m.Release(ctx, f.Ino), "release open")
	ok(t, m.Release(ctx, f.Ino), "release create")
	_, err = m.GetAttr(ctx, f.Ino)
	wantErrno(t, err, syscall.ENOENT, "getattr after last close")
	if _, err := m.Reclaim(ctx, 10); err != nil {
		t.Fatalf("reclaim: %v", err)
	}
	ok(t, m.Unlink(ctx, alice, d.Ino, "fifo"), "unlink fifo")
	ok(t, m.Unlink(ctx, alice, d.Ino, "s\xff"), "unlink symlink")
	ok(t, m.Rmdir(ctx, alice, meta.RootIno, "d"), "rmdir")

	st, err := m.StatFS(ctx)
	ok(t, err, "statfs")
	if st.UsedInodes != 1 || st.TotalBytes == 0 {
		t.Fatalf("statfs %+v", st)
	}
	probs, err := m.(interface {
		Check(context.Context) ([]string, error)
	}).Check(ctx)
	ok(t, err, "check")
	if len(probs) != 0 {
		t.Fatalf("check: %q", probs)
	}
	if urls := e.c.BlockURLs(); !slices.Equal(urls, []string{"http://127.0.0.1:7701"}) {
		t.Fatalf("block URLs %q", urls)
	}
}

func TestErrorsRoundTrip(t *testing.T) {
	e := newEnv(t)
	ctx, m := e.ctx, e.m
	_, err := m.Lookup(ctx, root, meta.RootIno, "nope")
	wantErrno(t, err, syscall.ENOENT, "lookup missing")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("errors.Is(%v, fs.ErrNotExist) false", err)
	}
	var fe *fserr.Error
	errors.As(err, &fe)
	direct := fserr.E()
	_, derr := e.fs.Lookup(ctx, root, meta.RootIno, "nope")
	errors.As(derr, &direct)
	if fe.Op != direct.Op || fe.Path != direct.Path || fe.Kind != fserr.NotExist || err.Error() != derr.Error() {
		t.Fatalf("remote error %q (op %q path %q), local %q (op %q path %q)", err, fe.Op, fe.Path, derr, direct.Op, direct.Path)
	}
	_, err = m.Mkdir(ctx, root, meta.RootIno, "x", 0755)
	ok(t, err, "mkdir")
	_, err = m.Mkdir(ctx, root, meta.RootIno, "x", 0755)
	wantErrno(t, err, syscall.EEXIST, "mkdir twice")
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("not fs.ErrExist: %v", err)
	}
	_, err = m.Mkdir(ctx, bob, meta.RootIno, "y", 0755)
	wantErrno(t, err, syscall.EACCES, "mkdir as bob")
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("not fs.ErrPermission: %v", err)
	}
	_, err = m.Lookup(ctx, root, meta.RootIno, strings.Repeat("n", 300))
	wantErrno(t, err, syscall.ENAMETOOLONG, "long name")
	wantErrno(t, m.Rmdir(ctx, root, meta.RootIno, "nope"), syscall.ENOENT, "rmdir missing")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.GetAttr(cctx, meta.RootIno); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled call: %v", err)
	}
	dctx, cancel2 := context.WithTimeout(ctx, -time.Second)
	defer cancel2()
	if _, err := m.GetAttr(dctx, meta.RootIno); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("expired call: %v", err)
	}
}

// Every kind survives the trip through a status.
func TestStatusMapping(t *testing.T) {
	for k := fserr.Other; k <= fserr.ArgTooBig; k++ {
		in := fserr.E("meta.Op", "/a/\xffb", k, errors.New("cause"))
		st := status.Convert(toStatus(in))
		if st.Code() == codes.Unavailable || st.Code() == codes.OK {
			t.Errorf("kind %v: code %v", k, st.Code())
		}
		out := fromStatus("rpc.Op", st)
		var fe *fserr.Error
		if !errors.As(out, &fe) || fe.Kind != k || fe.Op != "meta.Op" || fe.Path != "/a/\xffb" {
			t.Errorf("kind %v: rebuilt %#v", k, out)
			continue
		}
		if !errors.Is(out, k.Errno()) {
			t.Errorf("kind %v: errors.Is(%v, %v) false", k, out, k.Errno())
		}
		if out.Error() != in.Error() {
			t.Errorf("kind %v: message %q, want %q", k, out.Error(), in.Error())
		}
	}
	if err := fromStatus("x", status.Convert(toStatus(context.Canceled))); err != context.Canceled {
		t.Errorf("canceled: %v", err)
	}
	if err := fromStatus("x", status.New(codes.Internal, "boom")); !fserr.Is(fserr.IO, err) {
		t.Errorf("bare internal: %v", err)
	}
}

func TestAdmin(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	a := e.c.Admin()
	info, err := a.CreateFS(ctx, "other")
	ok(t, err, "createfs")
	if info.Name != "other" || info.ID == 1 {
		t.Fatalf("createfs %+v", info)
	}
	_, err = a.CreateFS(ctx, "other")
	wantErrno(t, err, syscall.EEXIST, "createfs twice")
	list, err := a.ListFS(ctx)
	ok(t, err, "listfs")
	if len(list) != 2 {
		t.Fatalf("listfs %+v", list)
	}
	// A client of "other" sees its own namespace.
	c2 := dial(t, []string{e.srv.addr}, ClientOptions{FSName: "other"})
	_, err = c2.Meta().Mkdir(ctx, root, meta.RootIno, "only-here", 0755)
	ok(t, err, "mkdir in other")
	_, err = e.m.Lookup(ctx, root, meta.RootIno, "only-here")
	wantErrno(t, err, syscall.ENOENT, "lookup across filesystems")
	st, err := a.Status(ctx)
	ok(t, err, "status")
	if st.Version != "test" || st.Uptime < time.Minute || len(st.FS) != 2 {
		t.Fatalf("status %+v", st)
	}
	for _, f := range st.FS {
		if len(f.Sessions) < 1 {
			t.Errorf("fs %s: no sessions in status %+v", f.Name, f)
		}
	}
	ok(t, c2.Close(), "close c2")
	wantErrno(t, a.DeleteFS(ctx, "other"), syscall.ENOTEMPTY, "delete non-empty")
	wantErrno(t, a.DeleteFS(ctx, "default"), syscall.EPERM, "delete default")
	_, err = c2.Meta().GetAttr(ctx, meta.RootIno)
	wantErrno(t, err, syscall.EBADF, "call after close")
}

// A mutation whose reply is lost is retried under the same request id and
// applied once.
func TestLostReplyAppliedOnce(t *testing.T) {
	b := newBackend(t, mem.New())
	var mu sync.Mutex
	lost := map[string]int{}
	lose := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && lost[info.FullMethod] == 0 {
			lost[info.FullMethod]++
			return nil, status.Error(codes.Unavailable, "test: reply lost")
		}
		return resp, err
	}
	srv := startServer(t, b, ServerOptions{}, grpc.ChainUnaryInterceptor(lose))
	c := dial(t, []string{srv.addr}, ClientOptions{})
	m, ctx := c.Meta(), context.Background()
	f, err := m.Create(ctx, root, meta.RootIno, "f", 0644, os.O_RDWR, true)
	ok(t, err, "create excl with lost reply")
	d, err := m.Mkdir(ctx, root, meta.RootIno, "d", 0755)
	ok(t, err, "mkdir with lost reply")
	ok(t, m.Rename(ctx, root, meta.RootIno, "f", d.Ino, "g", 0), "rename with lost reply")
	id, err := m.NewSliceID(ctx)
	ok(t, err, "slice id")
	s := meta.Slice{ID: id, Size: 10, Len: 10}
	_, err = m.Write(ctx, f.Ino, []meta.ChunkWrite{{Slice: s}}, time.Now())
	ok(t, err, "write with lost reply")
	ss, err := m.ReadChunk(ctx, f.Ino, 0)
	ok(t, err, "readchunk")
	if len(ss) != 1 {
		t.Fatalf("write applied %d times: %+v", len(ss), ss)
	}
	if g, err := m.Lookup(ctx, root, d.Ino, "g"); err != nil || g.Ino != f.Ino {
		t.Fatalf("renamed file: %+v %v", g, err)
	}
	ok(t, m.Release(ctx, f.Ino), "release with lost reply")
	ok(t, m.Unlink(ctx, root, d.Ino, "g"), "unlink with lost reply")
	mu.Lock()
	for _, meth := range []string{"Create", "Mkdir", "Rename", "Write", "Release", "Unlink"} {
		if lost["/shoal.v1.Meta/"+meth] != 1 {
			t.Errorf("%s: reply not lost", meth)
		}
	}
	mu.Unlock()
	fsys, _ := b.FS(ctx, DefaultFS)
	checkFS(t, fsys)
}

// File.Sync relies on the remote meta being a kv.Syncer that syncs the
// server's engine.
func TestEngineSync(t *testing.T) {
	e := newEnv(t)
	sy, ok := e.m.(kv.Syncer)
	if !ok {
		t.Fatal("the remote meta.Service is not a kv.Syncer")
	}
	ok2(t, sy.Sync())
}

func ok2(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
