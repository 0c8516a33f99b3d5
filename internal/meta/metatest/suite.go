// Package metatest is the conformance suite for meta.FS: the POSIX
// semantics, errnos, garbage collection and invariants every kv.Engine
// must support. Engines call RunSuite from their tests.
package metatest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/meta"
)

// Clock is a fake clock that advances one microsecond per reading, so
// every operation gets a distinct, predictable time.
type Clock struct{ ns atomic.Int64 }

// Now returns the next instant.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Add(1000)) }

// Env is one filesystem under test.
type Env struct {
	T     testing.TB
	Ctx   context.Context
	Eng   kv.Engine
	FS    *meta.FS
	Clock *Clock
}

// NewFS formats a filesystem on eng and registers a cleanup that fails
// the test if Check finds any problem.
func NewFS(t testing.TB, eng kv.Engine, cfg meta.Config) *Env {
	t.Helper()
	ctx := context.Background()
	clk := &Clock{}
	clk.ns.Store(1_700_000_000_000_000_000)
	if cfg.Clock == nil {
		cfg.Clock = clk.Now
	}
	fs, err := meta.New(ctx, eng, cfg)
	if err != nil {
		t.Fatalf("meta.New: %v", err)
	}
	e := &Env{T: t, Ctx: ctx, Eng: eng, FS: fs, Clock: clk}
	t.Cleanup(func() { e.Check() })
	// Let the unprivileged identities create at the top.
	if _, err := fs.SetAttr(ctx, meta.Root, meta.RootIno, meta.SetMode, meta.Attr{Mode: 0777}); err != nil {
		t.Fatalf("chmod root: %v", err)
	}
	return e
}

// Check fails the test on any fsck problem.
func (e *Env) Check() {
	e.T.Helper()
	probs, err := e.FS.Check(e.Ctx)
	if err != nil {
		e.T.Errorf("Check: %v", err)
	}
	for _, p := range probs {
		e.T.Errorf("fsck: %s", p)
	}
}

// Identities used by the permission matrices.
var (
	Root  = meta.Identity{}
	Owner = meta.Identity{Uid: 1000, Gid: 1000}
	Group = meta.Identity{Uid: 1001, Gid: 2000, Gids: []uint32{1000}}
	Other = meta.Identity{Uid: 1002, Gid: 3000}
)

// errno returns the errno of err (0 for nil).
func errno(err error) syscall.Errno { return fserr.Errno(err) }

func (e *Env) want(err error, want syscall.Errno, what string) {
	e.T.Helper()
	if got := errno(err); got != want {
		e.T.Errorf("%s: errno %v (%v), want %v", what, got, err, want)
	}
}

func (e *Env) ok(err error, what string) {
	e.T.Helper()
	if err != nil {
		e.T.Fatalf("%s: %v", what, err)
	}
}

func (e *Env) mkdir(id meta.Identity, parent meta.Ino, name string, mode uint32) meta.Attr {
	e.T.Helper()
	a, err := e.FS.Mkdir(e.Ctx, id, parent, name, mode)
	e.ok(err, "mkdir "+name)
	return a
}

func (e *Env) mknod(id meta.Identity, parent meta.Ino, name string, mode uint32) meta.Attr {
	e.T.Helper()
	a, err := e.FS.Mknod(e.Ctx, id, parent, name, meta.TypeRegular, mode, 0)
	e.ok(err, "mknod "+name)
	return a
}

func (e *Env) attr(ino meta.Ino) meta.Attr {
	e.T.Helper()
	a, err := e.FS.GetAttr(e.Ctx, ino)
	e.ok(err, "getattr")
	return a
}

// RunSuite runs every test against filesystems on engines from newEngine,
// with open handles persisted (several processes may share the engine)
// and in exclusive mode (counted in memory).
func RunSuite(t *testing.T, newEngine func(t testing.TB) kv.Engine) {
	for _, mode := range []struct {
		name string
		cfg  meta.Config
	}{{"shared", meta.Config{}}, {"exclusive", meta.Config{Exclusive: true}}} {
		t.Run(mode.name, func(t *testing.T) { runSuite(t, newEngine, mode.cfg) })
	}
}

func runSuite(t *testing.T, newEngine func(t testing.TB) kv.Engine, cfg meta.Config) {
	tests := []struct {
		name string
		fn   func(*Env)
	}{
		{"Format", testFormat},
		{"Names", testNames},
		{"CreateLookup", testCreateLookup},
		{"Resolve", testResolve},
		{"Permissions", testPermissions},
		{"Sticky", testSticky},
		{"Setgid", testSetgid},
		{"SetAttr", testSetAttr},
		{"Timestamps", testTimestamps},
		{"Links", testLinks},
		{"UnlinkRmdir", testUnlinkRmdir},
		{"Rename", testRename},
		{"RenameExchange", testRenameExchange},
		{"Flags", testFlags},
		{"Xattr", testXattr},
		{"OpenUnlinkedReclaim", testOpenUnlinked},
		{"CreateOpen", testCreateOpen},
		{"TruncateHoles", testTruncate},
		{"SliceGC", testSliceGC},
		{"ReadDirCookies", testReadDirCookies},
		{"ConcurrentCreates", testConcurrentCreates},
		{"StaleSessions", nil},
		{"StatFS", testStatFS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eng := newEngine(t)
			if tc.fn == nil {
				testStaleSessions(t, eng, cfg)
				return
			}
			tc.fn(NewFS(t, eng, cfg))
		})
	}
}

func testFormat(e *Env) {
	root := e.attr(meta.RootIno)
	if root.Type != meta.TypeDir || root.Mode != 0777 || root.Nlink != 2 || root.Parent != meta.RootIno {
		e.T.Errorf("root = %+v", root)
	}
	e.mkdir(Root, meta.RootIno, "d", 0755)
	// Reopening an engine keeps the filesystem.
	fs2, err := meta.New(e.Ctx, e.Eng, meta.Config{})
	e.ok(err, "reopen")
	defer fs2.Close()
	if _, err := fs2.Lookup(e.Ctx, Root, meta.RootIno, "d"); err != nil {
		e.T.Errorf("lookup after reopen: %v", err)
	}
	if fs2.Session() == e.FS.Session() {
		e.T.Errorf("two FS share session %d", fs2.Session())
	}
	// A second filesystem id in the same engine is independent.
	fs3, err := meta.New(e.Ctx, e.Eng, meta.Config{ID: 7, Name: "other"})
	e.ok(err, "second fs")
	defer fs3.Close()
	_, err = fs3.Lookup(e.Ctx, Root, meta.RootIno, "d")
	e.want(err, syscall.ENOENT, "lookup in second fs")
	_, err = meta.New(e.Ctx, e.Eng, meta.Config{ID: 7, Name: "wrong"})
	e.want(err, syscall.EINVAL, "name mismatch")
}

func testNames(e *Env) {
	long := string(make([]byte, 256))
	for i := range []byte(long) {
		_ = i
	}
	long = fmt.Sprintf("%0256d", 0)
	cases := []struct {
		name string
		fn   func() error
		want syscall.Errno
	}{
		{"mkdir empty", func() error { _, err := e.FS.Mkdir(e.Ctx, Root, 1, "", 0755); return err }, syscall.ENOENT},
		{"mkdir .", func() error { _, err := e.FS.Mkdir(e.Ctx, Root, 1, ".", 0755); return err }, syscall.EEXIST},
		{"mkdir ..", func() error { _, err := e.FS.Mkdir(e.Ctx, Root, 1, "..", 0755); return err }, syscall.EEXIST},
		{"mkdir slash", func() error { _, err := e.FS.Mkdir(e.Ctx, Root, 1, "a/b", 0755); return err }, syscall.EINVAL},
		{"mkdir nul", func() error { _, err := e.FS.Mkdir(e.Ctx, Root, 1, "a\x00", 0755); return err }, syscall.EINVAL},
		{"mkdir long", func() error { _, err := e.FS.Mkdir(e.Ctx, Root, 1, long, 0755); return err }, syscall.ENAMETOOLONG},
		{"mkdir 255", func() error { _, err := e.FS.Mkdir(e.Ctx, Root, 1, long[:255], 0755); return err }, 0},
		{"lookup long", func() error { _, err := e.FS.Lookup(e.Ctx, Root, 1, long); return err }, syscall.ENAMETOOLONG},
		{"lookup missing", func() error { _, err := e.FS.Lookup(e.Ctx, Root, 1, "nope"); return err }, syscall.ENOENT},
		{"unlink .", func() error { return e.FS.Unlink(e.Ctx, Root, 1, ".") }, syscall.EISDIR},
		{"rmdir .", func() error { return e.FS.Rmdir(e.Ctx, Root, 1, ".") }, syscall.EINVAL},
		{"rmdir ..", func() error { return e.FS.Rmdir(e.Ctx, Root, 1, "..") }, syscall.ENOTEMPTY},
		{"rename .", func() error { return e.FS.Rename(e.Ctx, Root, 1, ".", 1, "x", 0) }, syscall.EBUSY},
		{"rename to ..", func() error { return e.FS.Rename(e.Ctx, Root, 1, "x", 1, "..", 0) }, syscall.EBUSY},
		{"symlink empty", func() error { _, err := e.FS.Symlink(e.Ctx, Root, 1, "s", ""); return err }, syscall.ENOENT},
		{"create . excl", func() error { _, err := e.FS.Create(e.Ctx, Root, 1, ".", 0644, os.O_RDWR, true); return err }, syscall.EEXIST},
	}
	for _, c := range cases {
		e.want(c.fn(), c.want, c.name)
	}
	a, err := e.FS.Lookup(e.Ctx, Root, 1, "..")
	if err != nil || a.Ino != meta.RootIno {
		e.T.Errorf(".. of root = %v, %v", a.Ino, err)
	}
	d := e.mkdir(Root, 1, "d", 0755)
	if a, _ := e.FS.Lookup(e.Ctx, Root, d.Ino, ".."); a.Ino != 1 {
		e.T.Errorf(".. of /d = %d", a.Ino)
	}
	if a, _ := e.FS.Lookup(e.Ctx, Root, d.Ino, "."); a.Ino != d.Ino {
		e.T.Errorf(". of /d = %d", a.Ino)
	}
}

func testCreateLookup(e *Env) {
	f := e.mknod(Owner, 1, "f", 0644)
	if f.Uid != Owner.Uid || f.Gid != Owner.Gid || f.Nlink != 1 || f.Type != meta.TypeRegular || f.Mode != 0644 {
		e.T.Errorf("file attr %+v", f)
	}
	_, err := e.FS.Mknod(e.Ctx, Owner, 1, "f", meta.TypeRegular, 0644, 0)
	e.want(err, syscall.EEXIST, "mknod existing")
	_, err = e.FS.Mkdir(e.Ctx, Owner, f.Ino, "x", 0755)
	e.want(err, syscall.ENOTDIR, "mkdir under file")
	_, err = e.FS.Lookup(e.Ctx, Owner, f.Ino, "x")
	e.want(err, syscall.ENOTDIR, "lookup under file")
	_, err = e.FS.Mknod(e.Ctx, Owner, 1, "dev", meta.TypeChar, 0644, 0x0103)
	e.want(err, syscall.EPERM, "mknod char by user")
	dev, err := e.FS.Mknod(e.Ctx, Root, 1, "dev", meta.TypeChar, 0644, 0x0103)
	e.ok(err, "mknod char")
	if dev.Rdev != 0x0103 || e.attr(dev.Ino).Rdev != 0x0103 {
		e.T.Errorf("rdev = %x", dev.Rdev)
	}
	_, err = e.FS.Mknod(e.Ctx, Root, 1, "dir", meta.TypeDir, 0755, 0)
	e.want(err, syscall.EINVAL, "mknod dir")
	fifo, err := e.FS.Mknod(e.Ctx, Owner, 1, "fifo", meta.TypeFIFO, 0600, 0)
	e.ok(err, "mkfifo")
	if fifo.Type != meta.TypeFIFO {
		e.T.Errorf("fifo type %d", fifo.Type)
	}
	s, err := e.FS.Symlink(e.Ctx, Owner, 1, "s", "f")
	e.ok(err, "symlink")
	if s.Size != 1 || s.Mode != 0777 {
		e.T.Errorf("symlink attr %+v", s)
	}
	tgt, err := e.FS.Readlink(e.Ctx, s.Ino)
	if err != nil || tgt != "f" {
		e.T.Errorf("readlink = %q, %v", tgt, err)
	}
	_, err = e.FS.Readlink(e.Ctx, f.Ino)
	e.want(err, syscall.EINVAL, "readlink of file")
	d := e.mkdir(Owner, 1, "d", 0777|meta.ModeSetuid)
	if d.Mode != 0777 || d.Nlink != 2 || d.Parent != 1 {
		e.T.Errorf("dir attr %+v", d)
	}
	if r := e.attr(1); r.Nlink != 3 {
		e.T.Errorf("root nlink %d after mkdir", r.Nlink)
	}
	_, err = e.FS.GetAttr(e.Ctx, 99999)
	e.want(err, syscall.ENOENT, "getattr missing")
	if !errors.Is(err, os.ErrNotExist) {
		e.T.Errorf("errors.Is(ErrNotExist) false for %v", err)
	}
}

func testResolve(e *Env) {
	a := e.mkdir(Root, 1, "a", 0755)
	b := e.mkdir(Root, a.Ino, "b", 0700)
	f := e.mknod(Root, b.Ino, "f", 0644)
	_, err := e.FS.Symlink(e.Ctx, Root, a.Ino, "rel", "b/f")
	e.ok(err, "symlink")
	_, err = e.FS.Symlink(e.Ctx, Root, 1, "abs", "/a/b")
	e.ok(err, "symlink")
	_, err = e.FS.Symlink(e.Ctx, Root, 1, "loop", "/loop")
	e.ok(err, "symlink")
	cases := []struct {
		path   string
		follow bool
		id     meta.Identity
		ino    meta.Ino
		want   syscall.Errno
	}{
		{"/", true, Root, 1, 0},
		{"/a/b/f", true, Root, f.Ino, 0},
		{"/a/./b/../b/f", true, Root, f.Ino, 0},
		{"/../a", true, Root, a.Ino, 0},
		{"/a/rel", true, Root, f.Ino, 0},
		{"/abs/f", false, Root, f.Ino, 0},
		{"/abs", true, Root, b.Ino, 0},
		{"/a/b/f/x", true, Root, 0, syscall.ENOTDIR},
		{"/a/nope", true, Root, 0, syscall.ENOENT},
		{"/loop", true, Root, 0, syscall.ELOOP},
		{"/a/b/f", true, Other, 0, syscall.EACCES},
		{"/a", true, Other, a.Ino, 0},
		{"relative", true, Root, 0, syscall.EINVAL},
	}
	for _, c := range cases {
		got, err := e.FS.Resolve(e.Ctx, c.id, c.path, c.follow)
		e.want(err, c.want, "resolve "+c.path)
		if err == nil && got.Ino != c.ino {
			e.T.Errorf("resolve %s = %d, want %d", c.path, got.Ino, c.ino)
		}
	}
	s, err := e.FS.Resolve(e.Ctx, Root, "/abs", false)
	if err != nil || s.Type != meta.TypeSymlink {
		e.T.Errorf("resolve nofollow = %+v, %v", s, err)
	}
}

func testPermissions(e *Env) {
	// mode -> expected results of Access(read, write, exec) for
	// Owner, Group, Other and Root.
	type row struct {
		mode uint32
		typ  meta.Type
		mask uint32
		want [4]bool // owner, group, other, root
	}
	rows := []row{
		{0640, meta.TypeRegular, meta.AccessRead, [4]bool{true, true, false, true}},
		{0640, meta.TypeRegular, meta.AccessWrite, [4]bool{true, false, false, true}},
		{0604, meta.TypeRegular, meta.AccessRead, [4]bool{true, false, true, true}}, // group class chosen, no read
		{0044, meta.TypeRegular, meta.AccessRead, [4]bool{false, true, true, true}}, // owner class chosen
		{0644, meta.TypeRegular, meta.AccessExec, [4]bool{false, false, false, false}},
		{0744, meta.TypeRegular, meta.AccessExec, [4]bool{true, false, false, true}},
		{0001, meta.TypeRegular, meta.AccessExec, [4]bool{false, false, true, true}},
		{0700, meta.TypeDir, meta.AccessExec, [4]bool{true, false, false, true}},
		{0000, meta.TypeDir, meta.AccessExec, [4]bool{false, false, false, true}},
	}
	ids := [4]meta.Identity{Owner, Group, Other, Root}
	for i, r := range rows {
		var a meta.Attr
		var err error
		name := fmt.Sprint("n", i)
		if r.typ == meta.TypeDir {
			a, err = e.FS.Mkdir(e.Ctx, Owner, 1, name, r.mode)
		} else {
			a, err = e.FS.Mknod(e.Ctx, Owner, 1, name, r.typ, r.mode, 0)
		}
		e.ok(err, "create")
		for j, id := range ids {
			err := e.FS.Access(e.Ctx, id, a.Ino, r.mask)
			if (err == nil) != r.want[j] {
				e.T.Errorf("mode %o mask %d id %d: err %v, want ok=%v", r.mode, r.mask, id.Uid, err, r.want[j])
			}
		}
	}
	// Creating needs write+exec on the parent.
	d := e.mkdir(Owner, 1, "ro", 0555)
	_, err := e.FS.Mknod(e.Ctx, Owner, d.Ino, "x", meta.TypeRegular, 0644, 0)
	e.want(err, syscall.EACCES, "create in 0555")
	_, err = e.FS.Mknod(e.Ctx, Root, d.Ino, "x", meta.TypeRegular, 0644, 0)
	e.ok(err, "root create in 0555")
	_, err = e.FS.Mknod(e.Ctx, Owner, d.Ino, "x", meta.TypeRegular, 0644, 0)
	e.want(err, syscall.EEXIST, "existing name before write check")
	e.want(e.FS.Unlink(e.Ctx, Owner, d.Ino, "x"), syscall.EACCES, "unlink in 0555")
	nx := e.mkdir(Owner, 1, "nx", 0666)
	_, err = e.FS.Lookup(e.Ctx, Owner, nx.Ino, "x")
	e.want(err, syscall.EACCES, "lookup without search")
	_, err = e.FS.Mknod(e.Ctx, Owner, nx.Ino, "x", meta.TypeRegular, 0644, 0)
	e.want(err, syscall.EACCES, "create without search")
	_, _, err = e.FS.ReadDir(e.Ctx, Other, d.Ino, 0, 10, false)
	e.ok(err, "readdir 0555")
	wo := e.mkdir(Owner, 1, "wo", 0333)
	_, _, err = e.FS.ReadDir(e.Ctx, Owner, wo.Ino, 0, 10, false)
	e.want(err, syscall.EACCES, "readdir without read")
	// Open permission.
	f := e.mknod(Owner, 1, "f", 0640)
	_, err = e.FS.Open(e.Ctx, Group, f.Ino, os.O_RDONLY)
	e.ok(err, "group read open")
	e.ok(e.FS.Release(e.Ctx, f.Ino), "release")
	_, err = e.FS.Open(e.Ctx, Group, f.Ino, os.O_RDWR)
	e.want(err, syscall.EACCES, "group rdwr open")
	_, err = e.FS.Open(e.Ctx, Other, f.Ino, os.O_RDONLY)
	e.want(err, syscall.EACCES, "other read open")
	_, err = e.FS.Open(e.Ctx, Root, 1, os.O_WRONLY)
	e.want(err, syscall.EISDIR, "open dir for write")
	e.want(e.FS.Release(e.Ctx, f.Ino), syscall.EBADF, "release unopened")
}

func testSticky(e *Env) {
	tmp := e.mkdir(Root, 1, "tmp", 01777)
	for _, id := range []meta.Identity{Owner, Other} {
		e.mknod(id, tmp.Ino, fmt.Sprint("f", id.Uid), 0666)
	}
	e.want(e.FS.Unlink(e.Ctx, Other, tmp.Ino, "f1000"), syscall.EPERM, "sticky unlink by other")
	e.want(e.FS.Rename(e.Ctx, Other, tmp.Ino, "f1000", tmp.Ino, "z", 0), syscall.EPERM, "sticky rename by other")
	e.want(e.FS.Rename(e.Ctx, Other, tmp.Ino, "f1002", tmp.Ino, "f1000", 0), syscall.EPERM, "sticky replace by other")
	e.ok(e.FS.Unlink(e.Ctx, Owner, tmp.Ino, "f1000"), "sticky unlink by owner")
	e.ok(e.FS.Unlink(e.Ctx, Root, tmp.Ino, "f1002"), "sticky unlink by root")
	// The directory's owner may delete anything in it.
	mine := e.mkdir(Owner, 1, "mine", 01777)
	e.mknod(Other, mine.Ino, "x", 0644)
	e.ok(e.FS.Unlink(e.Ctx, Owner, mine.Ino, "x"), "sticky unlink by dir owner")
}

func testSetgid(e *Env) {
	d := e.mkdir(Root, 1, "sg", 02777)
	if d.Mode != 0777 {
		e.T.Errorf("mkdir kept setgid from mode: %o", d.Mode)
	}
	_, err := e.FS.SetAttr(e.Ctx, Root, d.Ino, meta.SetGid|meta.SetMode, meta.Attr{Gid: 500, Mode: 02777})
	e.ok(err, "chgrp")
	f := e.mknod(Owner, d.Ino, "f", 0644)
	if f.Gid != 500 {
		e.T.Errorf("file gid %d, want inherited 500", f.Gid)
	}
	sub := e.mkdir(Owner, d.Ino, "sub", 0755)
	if sub.Gid != 500 || sub.Mode&meta.ModeSetgid == 0 {
		e.T.Errorf("subdir %+v: want gid 500 and setgid", sub)
	}
	g := e.mknod(Owner, d.Ino, "g", 02755) // not in group 500: setgid dropped
	if g.Mode&meta.ModeSetgid != 0 {
		e.T.Errorf("setgid kept on file of foreign group: %o", g.Mode)
	}
	// chmod g+s by the owner who is not in the file's group clears it.
	a, err := e.FS.SetAttr(e.Ctx, Owner, f.Ino, meta.SetMode, meta.Attr{Mode: 02755})
	e.ok(err, "chmod")
	if a.Mode != 0755 {
		e.T.Errorf("chmod g+s by non-member: mode %o, want 0755", a.Mode)
	}
	own := e.mknod(Owner, 1, "own", 0644)
	a, err = e.FS.SetAttr(e.Ctx, Owner, own.Ino, meta.SetMode, meta.Attr{Mode: 06755})
	e.ok(err, "chmod")
	if a.Mode != 06755 {
		e.T.Errorf("chmod ug+s by owner in group: %o", a.Mode)
	}
	// Write clears setuid and (with group exec) setgid.
	id, _ := e.FS.NewSliceID(e.Ctx)
	a, err = e.FS.Write(e.Ctx, own.Ino, []meta.ChunkWrite{{Slice: meta.Slice{ID: id, Size: 10, Len: 10}}}, e.Clock.Now())
	e.ok(err, "write")
	if a.Mode != 0755 {
		e.T.Errorf("after write mode %o, want 0755", a.Mode)
	}
	// As on Linux: a writer with CAP_FSETID (root) keeps both bits; any
	// other writer loses setuid, and setgid when group-executable; a
	// setgid file without group exec (mandatory-locking style) keeps it.
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		mode   uint32
		wantOK uint32
	}{
		{"root", meta.WithWriter(e.Ctx, Root), 06755, 06755},
		{"owner", meta.WithWriter(e.Ctx, Owner), 06755, 0755},
		{"other", meta.WithWriter(e.Ctx, Other), 06777, 0777},
		{"owner g-x", meta.WithWriter(e.Ctx, Owner), 06745, 02745},
		{"unnamed", e.Ctx, 06755, 0755},
	} {
		_, err := e.FS.SetAttr(e.Ctx, Root, own.Ino, meta.SetMode, meta.Attr{Mode: tc.mode})
		e.ok(err, "chmod "+tc.name)
		id, _ := e.FS.NewSliceID(e.Ctx)
		a, err := e.FS.Write(tc.ctx, own.Ino, []meta.ChunkWrite{{Slice: meta.Slice{ID: id, Size: 10, Len: 10}}}, e.Clock.Now())
		e.ok(err, "write by "+tc.name)
		if a.Mode != tc.wantOK {
			e.T.Errorf("write by %s: mode %o -> %o, want %o", tc.name, tc.mode, a.Mode, tc.wantOK)
		}
	}
	// So does a truncate, by SetAttr or by an open with O_TRUNC.
	for _, tc := range []struct {
		name  string
		id    meta.Identity
		trunc func(id meta.Identity) (meta.Attr, error)
		want  uint32
	}{
		{"truncate by root", Root, func(id meta.Identity) (meta.Attr, error) {
			return e.FS.SetAttr(e.Ctx, id, own.Ino, meta.SetSize, meta.Attr{Size: 3})
		}, 06755},
		{"truncate by owner", Owner, func(id meta.Identity) (meta.Attr, error) {
			return e.FS.SetAttr(e.Ctx, id, own.Ino, meta.SetSize, meta.Attr{Size: 3})
		}, 0755},
		{"O_TRUNC by root", Root, func(id meta.Identity) (meta.Attr, error) {
			a, err := e.FS.Open(e.Ctx, id, own.Ino, os.O_WRONLY|os.O_TRUNC)
			if err == nil {
				err = e.FS.Release(e.Ctx, own.Ino)
			}
			return a, err
		}, 06755},
		{"O_TRUNC by owner", Owner, func(id meta.Identity) (meta.Attr, error) {
			a, err := e.FS.Open(e.Ctx, id, own.Ino, os.O_WRONLY|os.O_TRUNC)
			if err == nil {
				err = e.FS.Release(e.Ctx, own.Ino)
			}
			return a, err
		}, 0755},
	} {
		_, err := e.FS.SetAttr(e.Ctx, Root, own.Ino, meta.SetMode, meta.Attr{Mode: 06755})
		e.ok(err, "chmod before "+tc.name)
		_, err = tc.trunc(tc.id)
		e.ok(err, tc.name)
		a, err := e.FS.GetAttr(e.Ctx, own.Ino)
		e.ok(err, "getattr after "+tc.name)
		if a.Mode != tc.want {
			e.T.Errorf("%s: mode %o, want %o", tc.name, a.Mode, tc.want)
		}
	}
}

func testSetAttr(e *Env) {
	f := e.mknod(Owner, 1, "f", 0644)
	cases := []struct {
		name string
		id   meta.Identity
		mask uint32
		attr meta.Attr
		want syscall.Errno
	}{
		{"chmod by other", Other, meta.SetMode, meta.Attr{Mode: 0777}, syscall.EPERM},
		{"chmod by owner", Owner, meta.SetMode, meta.Attr{Mode: 0600}, 0},
		{"chown uid by owner", Owner, meta.SetUid, meta.Attr{Uid: 5}, syscall.EPERM},
		{"chown uid to self", Owner, meta.SetUid, meta.Attr{Uid: 1000}, 0},
		{"chgrp to own group", Owner, meta.SetGid, meta.Attr{Gid: 1000}, 0},
		{"chgrp to foreign group", Owner, meta.SetGid, meta.Attr{Gid: 7}, syscall.EPERM},
		{"chgrp by other", Other, meta.SetGid, meta.Attr{Gid: 3000}, syscall.EPERM},
		{"utimes explicit by other", Other, meta.SetMtime, meta.Attr{Mtime: 5}, syscall.EPERM},
		{"utimes now by other no write", Other, meta.SetMtimeNow, meta.Attr{}, syscall.EACCES},
		{"truncate by other", Other, meta.SetSize, meta.Attr{Size: 0}, syscall.EACCES},
		{"truncate huge", Owner, meta.SetSize, meta.Attr{Size: meta.MaxFileSize + 1}, syscall.EFBIG},
		{"flags by owner", Owner, meta.SetFlags, meta.Attr{Flags: meta.FlagImmutable}, syscall.EPERM},
		{"root chown", Root, meta.SetUid | meta.SetGid, meta.Attr{Uid: 1001, Gid: 2000}, 0},
	}
	for _, c := range cases {
		_, err := e.FS.SetAttr(e.Ctx, c.id, f.Ino, c.mask, c.attr)
		e.want(err, c.want, c.name)
	}
	a := e.attr(f.Ino)
	if a.Uid != 1001 || a.Gid != 2000 || a.Mode != 0600 {
		e.T.Errorf("after setattr %+v", a)
	}
	// utimes NOW with write permission by a non-owner.
	_, err := e.FS.SetAttr(e.Ctx, Root, f.Ino, meta.SetMode, meta.Attr{Mode: 0666})
	e.ok(err, "chmod")
	_, err = e.FS.SetAttr(e.Ctx, Other, f.Ino, meta.SetAtimeNow|meta.SetMtimeNow, meta.Attr{})
	e.ok(err, "utimes now with write")
	a, err = e.FS.SetAttr(e.Ctx, Root, f.Ino, meta.SetAtime|meta.SetMtime, meta.Attr{Atime: 11, Mtime: 22})
	e.ok(err, "utimes explicit by root")
	if a.Atime != 11 || a.Mtime != 22 {
		e.T.Errorf("times %d %d", a.Atime, a.Mtime)
	}
	// chown clears setuid even for root.
	_, err = e.FS.SetAttr(e.Ctx, Root, f.Ino, meta.SetMode, meta.Attr{Mode: 04755})
	e.ok(err, "chmod")
	a, err = e.FS.SetAttr(e.Ctx, Root, f.Ino, meta.SetUid, meta.Attr{Uid: 0})
	e.ok(err, "chown")
	if a.Mode != 0755 {
		e.T.Errorf("chown left mode %o", a.Mode)
	}
	d := e.mkdir(Root, 1, "d", 0755)
	_, err = e.FS.SetAttr(e.Ctx, Root, d.Ino, meta.SetSize, meta.Attr{})
	e.want(err, syscall.EISDIR, "truncate dir")
}

func testTimestamps(e *Env) {
	d := e.mkdir(Root, 1, "d", 0755)
	f := e.mknod(Root, d.Ino, "f", 0644)
	if f.Atime != f.Mtime || f.Mtime != f.Ctime {
		e.T.Errorf("new file times differ: %+v", f)
	}
	pd := e.attr(d.Ino)
	if pd.Mtime != f.Mtime || pd.Ctime != f.Mtime {
		e.T.Errorf("parent times %d/%d, file %d", pd.Mtime, pd.Ctime, f.Mtime)
	}
	_, err := e.FS.Link(e.Ctx, Root, f.Ino, 1, "l")
	e.ok(err, "link")
	fa, ra := e.attr(f.Ino), e.attr(1)
	if fa.Ctime <= f.Ctime || fa.Mtime != f.Mtime || ra.Mtime != fa.Ctime {
		e.T.Errorf("link times file %+v root %+v", fa, ra)
	}
	e.ok(e.FS.Rename(e.Ctx, Root, d.Ino, "f", 1, "g", 0), "rename")
	fb, da, rb := e.attr(f.Ino), e.attr(d.Ino), e.attr(1)
	if fb.Ctime <= fa.Ctime || da.Mtime != fb.Ctime || rb.Mtime != fb.Ctime || fb.Mtime != f.Mtime {
		e.T.Errorf("rename times file %+v d %+v root %+v", fb, da, rb)
	}
	e.ok(e.FS.Unlink(e.Ctx, Root, 1, "g"), "unlink")
	fc := e.attr(f.Ino)
	if fc.Ctime <= fb.Ctime || fc.Nlink != 1 {
		e.T.Errorf("unlink ctime %+v", fc)
	}
	_, err = e.FS.SetXattr(e.Ctx, Root, f.Ino, "user.a", []byte("v"), 0), nil
	e.ok(err, "setxattr")
	if e.attr(f.Ino).Ctime <= fc.Ctime {
		e.T.Errorf("setxattr did not move ctime")
	}
	mt := time.Unix(0, 1_800_000_000_000_000_000)
	id, _ := e.FS.NewSliceID(e.Ctx)
	a, err := e.FS.Write(e.Ctx, f.Ino, []meta.ChunkWrite{{Index: 1, Slice: meta.Slice{ID: id, Size: 5, Len: 5, Pos: 3}}}, mt)
	e.ok(err, "write")
	if a.Mtime != mt.UnixNano() || a.Ctime != mt.UnixNano() || a.Size != meta.ChunkSize+8 {
		e.T.Errorf("write attr %+v", a)
	}
}

func testLinks(e *Env) {
	f := e.mknod(Owner, 1, "f", 0644)
	d := e.mkdir(Owner, 1, "d", 0755)
	a, err := e.FS.Link(e.Ctx, Owner, f.Ino, d.Ino, "f2")
	e.ok(err, "link")
	if a.Nlink != 2 {
		e.T.Errorf("nlink %d", a.Nlink)
	}
	_, err = e.FS.Link(e.Ctx, Owner, f.Ino, d.Ino, "f2")
	e.want(err, syscall.EEXIST, "link existing")
	_, err = e.FS.Link(e.Ctx, Owner, d.Ino, 1, "dlink")
	e.want(err, syscall.EPERM, "link dir")
	_, err = e.FS.Link(e.Ctx, Owner, f.Ino, d.Ino, ".")
	e.want(err, syscall.EEXIST, "link to .")
	// protected_hardlinks: others may not link files they cannot write.
	_, err = e.FS.Link(e.Ctx, Other, f.Ino, 1, "steal")
	e.want(err, syscall.EPERM, "protected hardlink")
	e.ok(e.FS.Unlink(e.Ctx, Owner, 1, "f"), "unlink")
	if a := e.attr(f.Ino); a.Nlink != 1 {
		e.T.Errorf("nlink after unlink %d", a.Nlink)
	}
	// Nested dirs raise the parent's nlink.
	e.mkdir(Owner, d.Ino, "s1", 0755)
	e.mkdir(Owner, d.Ino, "s2", 0755)
	if a := e.attr(d.Ino); a.Nlink != 4 {
		e.T.Errorf("dir nlink %d, want 4", a.Nlink)
	}
}

func testUnlinkRmdir(e *Env) {
	d := e.mkdir(Root, 1, "d", 0755)
	e.mknod(Root, d.Ino, "f", 0644)
	e.want(e.FS.Rmdir(e.Ctx, Root, 1, "d"), syscall.ENOTEMPTY, "rmdir non-empty")
	e.want(e.FS.Unlink(e.Ctx, Root, 1, "d"), syscall.EISDIR, "unlink dir")
	e.want(e.FS.Rmdir(e.Ctx, Root, d.Ino, "f"), syscall.ENOTDIR, "rmdir file")
	e.want(e.FS.Unlink(e.Ctx, Root, d.Ino, "nope"), syscall.ENOENT, "unlink missing")
	e.ok(e.FS.Unlink(e.Ctx, Root, d.Ino, "f"), "unlink")
	e.ok(e.FS.Rmdir(e.Ctx, Root, 1, "d"), "rmdir")
	if a := e.attr(1); a.Nlink != 2 {
		e.T.Errorf("root nlink %d", a.Nlink)
	}
	_, err := e.FS.GetAttr(e.Ctx, d.Ino)
	e.want(err, syscall.ENOENT, "removed dir")
	// A directory removed while open stays until released, refusing entries.
	d2 := e.mkdir(Root, 1, "d2", 0755)
	_, err = e.FS.Open(e.Ctx, Root, d2.Ino, os.O_RDONLY)
	e.ok(err, "opendir")
	e.ok(e.FS.Rmdir(e.Ctx, Root, 1, "d2"), "rmdir open")
	_, err = e.FS.Mknod(e.Ctx, Root, d2.Ino, "x", meta.TypeRegular, 0644, 0)
	e.want(err, syscall.ENOENT, "create in removed dir")
	e.ok(e.FS.Release(e.Ctx, d2.Ino), "release")
	_, err = e.FS.GetAttr(e.Ctx, d2.Ino)
	e.want(err, syscall.ENOENT, "released dir")
}

func testRename(e *Env) {
	mk := func(parent meta.Ino, name string, dir bool) meta.Attr {
		if dir {
			return e.mkdir(Root, parent, name, 0755)
		}
		return e.mknod(Root, parent, name, 0644)
	}
	a := mk(1, "a", true)
	b := mk(1, "b", true)
	f1 := mk(a.Ino, "f1", false)
	f2 := mk(b.Ino, "f2", false)
	sub := mk(a.Ino, "sub", true)
	full := mk(b.Ino, "full", true)
	mk(full.Ino, "x", false)
	empty := mk(b.Ino, "empty", true)

	e.want(e.FS.Rename(e.Ctx, Root, a.Ino, "nope", b.Ino, "z", 0), syscall.ENOENT, "missing source")
	e.want(e.FS.Rename(e.Ctx, Root, a.Ino, "sub", b.Ino, "full", 0), syscall.ENOTEMPTY, "dir over non-empty dir")
	e.want(e.FS.Rename(e.Ctx, Root, a.Ino, "sub", b.Ino, "f2", 0), syscall.ENOTDIR, "dir over file")
	e.want(e.FS.Rename(e.Ctx, Root, a.Ino, "f1", b.Ino, "empty", 0), syscall.EISDIR, "file over dir")
	e.want(e.FS.Rename(e.Ctx, Root, 1, "a", sub.Ino, "a", 0), syscall.EINVAL, "dir into own subtree")
	e.want(e.FS.Rename(e.Ctx, Root, 1, "a", a.Ino, "x", 0), syscall.EINVAL, "dir into itself")
	e.want(e.FS.Rename(e.Ctx, Root, a.Ino, "f1", b.Ino, "f2", meta.RenameNoReplace), syscall.EEXIST, "noreplace")
	e.want(e.FS.Rename(e.Ctx, Root, a.Ino, "f1", b.Ino, "f2", meta.RenameNoReplace|meta.RenameExchange), syscall.EINVAL, "both flags")

	// Hard links of one inode: no-op.
	_, err := e.FS.Link(e.Ctx, Root, f1.Ino, a.Ino, "f1link")
	e.ok(err, "link")
	e.ok(e.FS.Rename(e.Ctx, Root, a.Ino, "f1", a.Ino, "f1link", 0), "rename onto own link")
	if _, err := e.FS.Lookup(e.Ctx, Root, a.Ino, "f1"); err != nil {
		e.T.Errorf("same-inode rename removed source: %v", err)
	}
	e.ok(e.FS.Unlink(e.Ctx, Root, a.Ino, "f1link"), "unlink link")

	// Replace a file: the old one is gone.
	e.ok(e.FS.Rename(e.Ctx, Root, a.Ino, "f1", b.Ino, "f2", 0), "replace file")
	_, err = e.FS.GetAttr(e.Ctx, f2.Ino)
	e.want(err, syscall.ENOENT, "replaced file")
	if got, _ := e.FS.Lookup(e.Ctx, Root, b.Ino, "f2"); got.Ino != f1.Ino {
		e.T.Errorf("f2 now %d, want %d", got.Ino, f1.Ino)
	}
	// Replace an empty dir with a dir between parents: nlinks adjust.
	e.ok(e.FS.Rename(e.Ctx, Root, a.Ino, "sub", b.Ino, "empty", 0), "replace empty dir")
	_, err = e.FS.GetAttr(e.Ctx, empty.Ino)
	e.want(err, syscall.ENOENT, "replaced dir")
	if s := e.attr(sub.Ino); s.Parent != b.Ino {
		e.T.Errorf("moved dir parent %d", s.Parent)
	}
	if na, nb := e.attr(a.Ino).Nlink, e.attr(b.Ino).Nlink; na != 2 || nb != 4 {
		e.T.Errorf("nlinks a=%d b=%d, want 2, 4", na, nb)
	}
	// Move a dir back and rename within one dir.
	e.ok(e.FS.Rename(e.Ctx, Root, b.Ino, "empty", a.Ino, "back", 0), "move dir")
	e.ok(e.FS.Rename(e.Ctx, Root, a.Ino, "back", a.Ino, "back2", 0), "rename in dir")
	if na, nb := e.attr(a.Ino).Nlink, e.attr(b.Ino).Nlink; na != 3 || nb != 3 {
		e.T.Errorf("nlinks a=%d b=%d, want 3, 3", na, nb)
	}
	// Moving a directory to another parent needs write on it.
	u := e.mkdir(Owner, 1, "u", 0777)
	e.mkdir(Owner, u.Ino, "ro", 0555)
	u2 := e.mkdir(Owner, 1, "u2", 0777)
	e.want(e.FS.Rename(e.Ctx, Owner, u.Ino, "ro", u2.Ino, "ro", 0), syscall.EACCES, "move unwritable dir")
	e.ok(e.FS.Rename(e.Ctx, Owner, u.Ino, "ro", u.Ino, "ro2", 0), "rename unwritable dir in place")
	// Renaming over an open file keeps it until release.
	f3 := e.mknod(Root, 1, "open", 0644)
	_, err = e.FS.Open(e.Ctx, Root, f3.Ino, os.O_RDONLY)
	e.ok(err, "open")
	e.mknod(Root, 1, "new", 0644)
	e.ok(e.FS.Rename(e.Ctx, Root, 1, "new", 1, "open", 0), "replace open file")
	if a := e.attr(f3.Ino); a.Nlink != 0 {
		e.T.Errorf("replaced open file nlink %d", a.Nlink)
	}
	e.ok(e.FS.Release(e.Ctx, f3.Ino), "release")
}

func testRenameExchange(e *Env) {
	a := e.mkdir(Root, 1, "a", 0755)
	b := e.mkdir(Root, 1, "b", 0755)
	f := e.mknod(Root, a.Ino, "f", 0644)
	d := e.mkdir(Root, b.Ino, "d", 0755)
	e.want(e.FS.Rename(e.Ctx, Root, a.Ino, "f", b.Ino, "nope", meta.RenameExchange), syscall.ENOENT, "exchange missing")
	e.ok(e.FS.Rename(e.Ctx, Root, a.Ino, "f", b.Ino, "d", meta.RenameExchange), "exchange")
	if got, _ := e.FS.Lookup(e.Ctx, Root, a.Ino, "f"); got.Ino != d.Ino {
		e.T.Errorf("a/f = %d, want dir %d", got.Ino, d.Ino)
	}
	if got, _ := e.FS.Lookup(e.Ctx, Root, b.Ino, "d"); got.Ino != f.Ino {
		e.T.Errorf("b/d = %d, want file %d", got.Ino, f.Ino)
	}
	if e.attr(d.Ino).Parent != a.Ino || e.attr(a.Ino).Nlink != 3 || e.attr(b.Ino).Nlink != 2 {
		e.T.Errorf("exchange parents/nlinks wrong")
	}
	e.ok(e.FS.Rename(e.Ctx, Root, 1, "a", 1, "b", meta.RenameExchange), "exchange dirs in root")
}

func testFlags(e *Env) {
	f := e.mknod(Owner, 1, "f", 0666)
	_, err := e.FS.SetAttr(e.Ctx, Root, f.Ino, meta.SetFlags, meta.Attr{Flags: meta.FlagImmutable})
	e.ok(err, "chattr +i")
	id, _ := e.FS.NewSliceID(e.Ctx)
	checks := []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"open write", func() error { _, err := e.FS.Open(e.Ctx, Owner, f.Ino, os.O_WRONLY); return err }(), syscall.EPERM},
		{"truncate", func() error {
			_, err := e.FS.SetAttr(e.Ctx, Root, f.Ino, meta.SetSize, meta.Attr{})
			return err
		}(), syscall.EPERM},
		{"chmod", func() error {
			_, err := e.FS.SetAttr(e.Ctx, Root, f.Ino, meta.SetMode, meta.Attr{Mode: 0600})
			return err
		}(), syscall.EPERM},
		{"unlink", e.FS.Unlink(e.Ctx, Root, 1, "f"), syscall.EPERM},
		{"rename", e.FS.Rename(e.Ctx, Root, 1, "f", 1, "g", 0), syscall.EPERM},
		{"link", func() error { _, err := e.FS.Link(e.Ctx, Root, f.Ino, 1, "l"); return err }(), syscall.EPERM},
		{"setxattr", e.FS.SetXattr(e.Ctx, Root, f.Ino, "user.x", nil, 0), syscall.EPERM},
		{"write", func() error {
			_, err := e.FS.Write(e.Ctx, f.Ino, []meta.ChunkWrite{{Slice: meta.Slice{ID: id, Size: 1, Len: 1}}}, e.Clock.Now())
			return err
		}(), syscall.EPERM},
		{"open read", func() error {
			_, err := e.FS.Open(e.Ctx, Owner, f.Ino, os.O_RDONLY)
			if err == nil {
				err = e.FS.Release(e.Ctx, f.Ino)
			}
			return err
		}(), 0},
		{"clear by owner", func() error {
			_, err := e.FS.SetAttr(e.Ctx, Owner, f.Ino, meta.SetFlags, meta.Attr{})
			return err
		}(), syscall.EPERM},
	}
	for _, c := range checks {
		e.want(c.err, c.want, "immutable "+c.name)
	}
	_, err = e.FS.SetAttr(e.Ctx, Root, f.Ino, meta.SetFlags, meta.Attr{Flags: meta.FlagAppend})
	e.ok(err, "chattr -i +a")
	_, err = e.FS.Open(e.Ctx, Owner, f.Ino, os.O_WRONLY)
	e.want(err, syscall.EPERM, "append-only open without O_APPEND")
	_, err = e.FS.Open(e.Ctx, Owner, f.Ino, os.O_WRONLY|os.O_APPEND|os.O_TRUNC)
	e.want(err, syscall.EPERM, "append-only O_TRUNC")
	_, err = e.FS.Open(e.Ctx, Owner, f.Ino, os.O_WRONLY|os.O_APPEND)
	e.ok(err, "append-only open O_APPEND")
	e.ok(e.FS.Release(e.Ctx, f.Ino), "release")
	_, err = e.FS.SetAttr(e.Ctx, Owner, f.Ino, meta.SetSize, meta.Attr{})
	e.want(err, syscall.EPERM, "append-only truncate")
	e.want(e.FS.Unlink(e.Ctx, Root, 1, "f"), syscall.EPERM, "append-only unlink")
	_, err = e.FS.SetAttr(e.Ctx, Root, f.Ino, meta.SetFlags, meta.Attr{})
	e.ok(err, "chattr -a")
	e.ok(e.FS.Unlink(e.Ctx, Owner, 1, "f"), "unlink after clearing flags")
	// An immutable directory refuses new entries.
	d := e.mkdir(Root, 1, "d", 0777)
	_, err = e.FS.SetAttr(e.Ctx, Root, d.Ino, meta.SetFlags, meta.Attr{Flags: meta.FlagImmutable})
	e.ok(err, "chattr +i dir")
	_, err = e.FS.Mknod(e.Ctx, Root, d.Ino, "x", meta.TypeRegular, 0644, 0)
	e.want(err, syscall.EPERM, "create in immutable dir")
	_, err = e.FS.SetAttr(e.Ctx, Root, d.Ino, meta.SetFlags, meta.Attr{})
	e.ok(err, "chattr -i dir")
}

func testXattr(e *Env) {
	f := e.mknod(Owner, 1, "f", 0644)
	big := make([]byte, meta.MaxXattrValue+1)
	longName := "user." + fmt.Sprintf("%0251d", 0)
	cases := []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"set", e.FS.SetXattr(e.Ctx, Owner, f.Ino, "user.a", []byte("1"), 0), 0},
		{"create existing", e.FS.SetXattr(e.Ctx, Owner, f.Ino, "user.a", []byte("2"), meta.XattrCreate), syscall.EEXIST},
		{"replace missing", e.FS.SetXattr(e.Ctx, Owner, f.Ino, "user.b", []byte("2"), meta.XattrReplace), syscall.ENODATA},
		{"replace", e.FS.SetXattr(e.Ctx, Owner, f.Ino, "user.a", []byte("3"), meta.XattrReplace), 0},
		{"empty name", e.FS.SetXattr(e.Ctx, Owner, f.Ino, "", nil, 0), syscall.ERANGE},
		{"long name", e.FS.SetXattr(e.Ctx, Owner, f.Ino, longName, nil, 0), syscall.ERANGE},
		{"255 name", e.FS.SetXattr(e.Ctx, Owner, f.Ino, longName[:255], nil, 0), 0},
		{"no namespace", e.FS.SetXattr(e.Ctx, Owner, f.Ino, "foo", nil, 0), syscall.EOPNOTSUPP},
		{"bare prefix", e.FS.SetXattr(e.Ctx, Owner, f.Ino, "user.", nil, 0), syscall.EINVAL},
		{"big value", e.FS.SetXattr(e.Ctx, Owner, f.Ino, "user.big", big, 0), syscall.E2BIG},
		{"other write", e.FS.SetXattr(e.Ctx, Other, f.Ino, "user.o", nil, 0), syscall.EACCES},
		{"trusted by user", e.FS.SetXattr(e.Ctx, Owner, f.Ino, "trusted.t", nil, 0), syscall.EPERM},
		{"trusted by root", e.FS.SetXattr(e.Ctx, Root, f.Ino, "trusted.t", []byte("t"), 0), 0},
		{"remove missing", e.FS.RemoveXattr(e.Ctx, Owner, f.Ino, "user.zz"), syscall.ENODATA},
	}
	for _, c := range cases {
		e.want(c.err, c.want, "xattr "+c.name)
	}
	v, err := e.FS.GetXattr(e.Ctx, Other, f.Ino, "user.a")
	if err != nil || string(v) != "3" {
		e.T.Errorf("getxattr = %q, %v", v, err)
	}
	_, err = e.FS.GetXattr(e.Ctx, Owner, f.Ino, "user.missing")
	e.want(err, syscall.ENODATA, "get missing")
	_, err = e.FS.GetXattr(e.Ctx, Owner, f.Ino, "trusted.t")
	e.want(err, syscall.ENODATA, "trusted get by user")
	names, err := e.FS.ListXattr(e.Ctx, Owner, f.Ino)
	e.ok(err, "list")
	sort.Strings(names)
	if len(names) != 2 || names[1] != "user.a" {
		e.T.Errorf("list as user = %q", names)
	}
	names, _ = e.FS.ListXattr(e.Ctx, Root, f.Ino)
	if len(names) != 3 {
		e.T.Errorf("list as root = %q", names)
	}
	e.ok(e.FS.RemoveXattr(e.Ctx, Owner, f.Ino, "user.a"), "remove")
	s, _ := e.FS.Symlink(e.Ctx, Owner, 1, "s", "f")
	e.want(e.FS.SetXattr(e.Ctx, Owner, s.Ino, "user.a", nil, 0), syscall.EPERM, "user xattr on symlink")
	_, err = e.FS.GetXattr(e.Ctx, Owner, s.Ino, "user.a")
	e.want(err, syscall.ENODATA, "user xattr get on symlink")
	e.ok(e.FS.SetXattr(e.Ctx, Owner, f.Ino, "security.s", []byte("x"), 0), "security xattr")
	// Unlink drops xattrs (checked by Check at cleanup).
	e.ok(e.FS.Unlink(e.Ctx, Owner, 1, "f"), "unlink")
}

func write(e *Env, ino meta.Ino, index uint32, pos, n uint32) uint64 {
	e.T.Helper()
	id, err := e.FS.NewSliceID(e.Ctx)
	e.ok(err, "slice id")
	_, err = e.FS.Write(e.Ctx, ino, []meta.ChunkWrite{{Index: index, Slice: meta.Slice{ID: id, Size: n, Len: n, Pos: pos}}}, e.Clock.Now())
	e.ok(err, "write")
	return id
}

func freedIDs(e *Env) map[uint64]bool {
	e.T.Helper()
	fr, err := e.FS.FreedSlices(e.Ctx, 0)
	e.ok(err, "freed")
	m := map[uint64]bool{}
	for _, s := range fr {
		m[s.ID] = true
	}
	return m
}

func testOpenUnlinked(e *Env) {
	a, err := e.FS.Create(e.Ctx, Owner, 1, "f", 0644, os.O_RDWR, true)
	e.ok(err, "create")
	id := write(e, a.Ino, 0, 0, 100)
	e.ok(e.FS.Unlink(e.Ctx, Owner, 1, "f"), "unlink open")
	got := e.attr(a.Ino)
	if got.Nlink != 0 || got.Size != 100 {
		e.T.Errorf("unlinked open file %+v", got)
	}
	write(e, a.Ino, 0, 100, 10) // still writable through the handle
	if sl, err := e.FS.ReadChunk(e.Ctx, a.Ino, 0); err != nil || len(sl) != 2 {
		e.T.Errorf("readchunk of unlinked open file: %v %v", sl, err)
	}
	n, err := e.FS.Reclaim(e.Ctx, 10)
	if err != nil || n != 0 {
		e.T.Errorf("reclaim while open: %d %v", n, err)
	}
	e.ok(e.FS.Release(e.Ctx, a.Ino), "release")
	_, err = e.FS.GetAttr(e.Ctx, a.Ino)
	e.want(err, syscall.ENOENT, "after last release")
	if freedIDs(e)[id] {
		e.T.Errorf("slice freed before reclaim")
	}
	n, err = e.FS.Reclaim(e.Ctx, 10)
	if err != nil || n != 1 {
		e.T.Errorf("reclaim: %d %v", n, err)
	}
	if fr := freedIDs(e); !fr[id] || len(fr) != 2 {
		e.T.Errorf("freed after reclaim = %v", fr)
	}
	st, _ := e.FS.StatFS(e.Ctx)
	if st.UsedBytes != 0 || st.UsedInodes != 1 {
		e.T.Errorf("statfs after reclaim %+v", st)
	}
}

func testCreateOpen(e *Env) {
	a, err := e.FS.Create(e.Ctx, Owner, 1, "f", 0444, os.O_RDWR, false)
	e.ok(err, "create read-only mode opened rdwr")
	write(e, a.Ino, 0, 0, 10)
	_, err = e.FS.Create(e.Ctx, Owner, 1, "f", 0644, os.O_RDWR, true)
	e.want(err, syscall.EEXIST, "create excl existing")
	_, err = e.FS.Create(e.Ctx, Owner, 1, "f", 0644, os.O_RDWR, false)
	e.want(err, syscall.EACCES, "create existing 0444 for write")
	b, err := e.FS.Create(e.Ctx, Owner, 1, "f", 0644, os.O_RDONLY, false)
	e.ok(err, "create existing for read")
	if b.Ino != a.Ino || b.Size != 10 {
		e.T.Errorf("reopened %+v", b)
	}
	_, err = e.FS.SetAttr(e.Ctx, Owner, a.Ino, meta.SetMode, meta.Attr{Mode: 0644})
	e.ok(err, "chmod")
	c, err := e.FS.Create(e.Ctx, Owner, 1, "f", 0644, os.O_WRONLY|os.O_TRUNC, false)
	e.ok(err, "create O_TRUNC existing")
	if c.Size != 0 {
		e.T.Errorf("O_TRUNC size %d", c.Size)
	}
	d := e.mkdir(Owner, 1, "d", 0755)
	_, err = e.FS.Create(e.Ctx, Owner, 1, "d", 0644, os.O_RDONLY, false)
	e.want(err, syscall.EISDIR, "create over dir")
	_ = d
	for i := 0; i < 3; i++ {
		e.ok(e.FS.Release(e.Ctx, a.Ino), "release")
	}
	e.want(e.FS.Release(e.Ctx, a.Ino), syscall.EBADF, "extra release")
}

func testTruncate(e *Env) {
	f := e.mknod(Owner, 1, "f", 0644)
	s0 := write(e, f.Ino, 0, 0, 1000)
	s1 := write(e, f.Ino, 1, 0, 1000)
	s2 := write(e, f.Ino, 3, 0, 1000)
	if a := e.attr(f.Ino); a.Size != 3*meta.ChunkSize+1000 {
		e.T.Errorf("size %d", a.Size)
	}
	a, err := e.FS.SetAttr(e.Ctx, Owner, f.Ino, meta.SetSize, meta.Attr{Size: meta.ChunkSize + 500})
	e.ok(err, "truncate down")
	if a.Size != meta.ChunkSize+500 {
		e.T.Errorf("size %d", a.Size)
	}
	c1, _ := e.FS.ReadChunk(e.Ctx, f.Ino, 1)
	if len(c1) != 2 || c1[1].ID != 0 || c1[1].Pos != 500 || c1[1].Len != meta.ChunkSize-500 {
		e.T.Errorf("chunk 1 after truncate = %+v", c1)
	}
	if c3, _ := e.FS.ReadChunk(e.Ctx, f.Ino, 3); len(c3) != 0 {
		e.T.Errorf("chunk 3 survives truncate: %+v", c3)
	}
	fr := freedIDs(e)
	if !fr[s2] || fr[s1] || fr[s0] {
		e.T.Errorf("freed = %v (s0=%d s1=%d s2=%d)", fr, s0, s1, s2)
	}
	a, err = e.FS.SetAttr(e.Ctx, Owner, f.Ino, meta.SetSize, meta.Attr{Size: 10 * meta.ChunkSize})
	e.ok(err, "truncate up")
	if a.Size != 10*meta.ChunkSize {
		e.T.Errorf("size %d", a.Size)
	}
	a, err = e.FS.SetAttr(e.Ctx, Owner, f.Ino, meta.SetSize, meta.Attr{Size: meta.ChunkSize})
	e.ok(err, "truncate to boundary")
	if c1, _ := e.FS.ReadChunk(e.Ctx, f.Ino, 1); len(c1) != 0 {
		e.T.Errorf("chunk 1 survives boundary truncate")
	}
	if !freedIDs(e)[s1] {
		e.T.Errorf("s1 not freed")
	}
	st, _ := e.FS.StatFS(e.Ctx)
	if st.UsedBytes != meta.ChunkSize {
		e.T.Errorf("used bytes %d", st.UsedBytes)
	}
	_, err = e.FS.SetAttr(e.Ctx, Owner, f.Ino, meta.SetSize, meta.Attr{Size: 0})
	e.ok(err, "truncate to zero")
	// A truncate spanning more chunks than one transaction handles.
	g := e.mknod(Owner, 1, "g", 0644)
	var ws []meta.ChunkWrite
	for i := uint32(0); i < 1100; i++ {
		id, _ := e.FS.NewSliceID(e.Ctx)
		ws = append(ws, meta.ChunkWrite{Index: i, Slice: meta.Slice{ID: id, Size: 1, Len: 1}})
	}
	_, err = e.FS.Write(e.Ctx, g.Ino, ws, e.Clock.Now())
	e.ok(err, "write many chunks")
	a, err = e.FS.SetAttr(e.Ctx, Owner, g.Ino, meta.SetSize, meta.Attr{Size: 5})
	e.ok(err, "big truncate")
	if a.Size != 5 || len(freedIDs(e)) < 1099 {
		e.T.Errorf("big truncate: size %d freed %d", a.Size, len(freedIDs(e)))
	}
}

func testSliceGC(e *Env) {
	f := e.mknod(Owner, 1, "f", 0644)
	s1 := write(e, f.Ino, 0, 0, 100)
	s2 := write(e, f.Ino, 0, 50, 100)
	// One slice named by two records of one write: two references.
	s3, _ := e.FS.NewSliceID(e.Ctx)
	_, err := e.FS.Write(e.Ctx, f.Ino, []meta.ChunkWrite{
		{Index: 0, Slice: meta.Slice{ID: s3, Size: 20, Off: 0, Len: 10, Pos: 200}},
		{Index: 0, Slice: meta.Slice{ID: s3, Size: 20, Off: 10, Len: 10, Pos: 300}},
	}, e.Clock.Now())
	e.ok(err, "write split slice")
	old, _ := e.FS.ReadChunk(e.Ctx, f.Ino, 0)
	if len(old) != 4 || !meta.NeedsCompaction(meta.CompactThreshold) || meta.NeedsCompaction(4) {
		e.T.Fatalf("chunk = %+v", old)
	}
	// Stale compaction is refused.
	e.want(e.FS.CompactChunk(e.Ctx, f.Ino, 0, old[1:], nil), syscall.EAGAIN, "compact stale")
	// Compact the first two records into a new slice, keeping s3's records.
	n, _ := e.FS.NewSliceID(e.Ctx)
	repl := []meta.Slice{{ID: n, Size: 150, Len: 150}}
	e.ok(e.FS.CompactChunk(e.Ctx, f.Ino, 0, old[:3], append(repl, old[2])), "compact")
	fr := freedIDs(e)
	if !fr[s1] || !fr[s2] || fr[s3] || fr[n] {
		e.T.Errorf("freed after compact = %v", fr)
	}
	cur, _ := e.FS.ReadChunk(e.Ctx, f.Ino, 0)
	if len(cur) != 3 || cur[0].ID != n {
		e.T.Errorf("chunk after compact = %+v", cur)
	}
	var ids []uint64
	for id := range fr {
		ids = append(ids, id)
	}
	e.ok(e.FS.ForgetSlices(e.Ctx, ids), "forget")
	if len(freedIDs(e)) != 0 {
		e.T.Errorf("freed list not empty after forget")
	}
	live := map[uint64]bool{}
	e.ok(e.FS.LiveSlices(e.Ctx, func(s meta.Slice) error { live[s.ID] = true; return nil }), "live")
	if len(live) != 2 || !live[n] || !live[s3] {
		e.T.Errorf("live = %v", live)
	}
	e.ok(e.FS.Unlink(e.Ctx, Owner, 1, "f"), "unlink")
	if _, err := e.FS.Reclaim(e.Ctx, 10); err != nil {
		e.T.Fatal(err)
	}
	fr = freedIDs(e)
	if !fr[n] || !fr[s3] || len(fr) != 2 {
		e.T.Errorf("freed after reclaim = %v", fr)
	}
}

func testReadDirCookies(e *Env) {
	d := e.mkdir(Root, 1, "d", 0755)
	const total = 10000
	const batch = 500
	for i := 0; i < total; i += batch {
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for j := i + w; j < i+batch; j += 4 {
					if _, err := e.FS.Mknod(e.Ctx, Root, d.Ino, fmt.Sprintf("e%05d", j), meta.TypeRegular, 0644, 0); err != nil {
						e.T.Error(err)
					}
				}
			}(w)
		}
		wg.Wait()
	}
	seen := map[string]int{}
	var cookie uint64
	deleted := map[string]bool{}
	created := 0
	for round := 0; ; round++ {
		ents, next, err := e.FS.ReadDir(e.Ctx, Root, d.Ino, cookie, 100, round%2 == 0)
		e.ok(err, "readdir")
		if len(ents) == 0 {
			break
		}
		for _, en := range ents {
			seen[en.Name]++
			if round%2 == 0 && (en.Attr == nil || en.Attr.Ino != en.Ino) {
				e.T.Fatalf("plus entry without attr: %+v", en)
			}
		}
		// Delete the entry the cookie names, an entry not yet listed, and
		// create new ones.
		last := ents[len(ents)-1].Name
		e.ok(e.FS.Unlink(e.Ctx, Root, d.Ino, last), "unlink cookie entry")
		deleted[last] = true
		var later int
		fmt.Sscanf(last, "e%05d", &later)
		if later+50 < total {
			ahead := fmt.Sprintf("e%05d", later+50)
			if !deleted[ahead] {
				e.ok(e.FS.Unlink(e.Ctx, Root, d.Ino, ahead), "unlink ahead")
				deleted[ahead] = true
			}
		}
		if round < 20 {
			e.mknod(Root, d.Ino, fmt.Sprintf("new%03d", round), 0644)
			created++
		}
		cookie = next
	}
	for i := 0; i < total; i++ {
		name := fmt.Sprintf("e%05d", i)
		want := 1
		if deleted[name] && seen[name] == 0 {
			want = 0
		}
		if seen[name] != want {
			e.T.Fatalf("%s seen %d times (deleted=%v)", name, seen[name], deleted[name])
		}
	}
	for name, c := range seen {
		if c != 1 {
			e.T.Errorf("%s seen %d times", name, c)
		}
	}
	if a := e.attr(d.Ino); a.Nlink != 2 {
		e.T.Errorf("dir nlink %d", a.Nlink)
	}
}

func testConcurrentCreates(e *Env) {
	d := e.mkdir(Root, 1, "d", 0755)
	const workers, each = 8, 100
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				var err error
				if i%10 == 0 {
					_, err = e.FS.Mkdir(e.Ctx, Root, d.Ino, name, 0755)
				} else {
					_, err = e.FS.Mknod(e.Ctx, Root, d.Ino, name, meta.TypeRegular, 0644, 0)
				}
				if err != nil {
					e.T.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	var all []meta.Entry
	var cookie uint64
	for {
		ents, next, err := e.FS.ReadDir(e.Ctx, Root, d.Ino, cookie, 333, false)
		e.ok(err, "readdir")
		if len(ents) == 0 {
			break
		}
		all = append(all, ents...)
		cookie = next
	}
	if len(all) != workers*each {
		e.T.Errorf("%d entries, want %d", len(all), workers*each)
	}
	if a := e.attr(d.Ino); a.Nlink != 2+workers*each/10 {
		e.T.Errorf("nlink %d", a.Nlink)
	}
	st, _ := e.FS.StatFS(e.Ctx)
	if st.UsedInodes != 2+workers*each {
		e.T.Errorf("used inodes %d", st.UsedInodes)
	}
}

func testStaleSessions(t *testing.T, eng kv.Engine, cfg meta.Config) {
	e := NewFS(t, eng, cfg)
	a, err := e.FS.Create(e.Ctx, Owner, 1, "f", 0644, os.O_RDWR, true)
	e.ok(err, "create")
	write(e, a.Ino, 0, 0, 10)
	e.ok(e.FS.Unlink(e.Ctx, Owner, 1, "f"), "unlink")
	// A second process starting on the same engine with stale-session
	// cleaning releases the first one's handles (as if it had died).
	cfg.CleanStaleSessions = true
	fs2, err := meta.New(e.Ctx, eng, cfg)
	e.ok(err, "new")
	_, err = fs2.GetAttr(e.Ctx, a.Ino)
	e.want(err, syscall.ENOENT, "stale open inode released")
	n, err := fs2.Reclaim(e.Ctx, 10)
	if err != nil || n != 1 {
		e.T.Errorf("reclaim %d %v", n, err)
	}
	e.ok(fs2.Close(), "close")
	e.ok(e.FS.Close(), "close first")
	_, err = e.FS.GetAttr(e.Ctx, 1)
	e.want(err, syscall.EBADF, "use after close")
	cfg.CleanStaleSessions = false
	e.FS, _ = meta.New(e.Ctx, eng, cfg)
}

func testStatFS(e *Env) {
	st, err := e.FS.StatFS(e.Ctx)
	e.ok(err, "statfs")
	if st.UsedInodes != 1 || st.UsedBytes != 0 || st.TotalBytes == 0 || st.TotalInodes == 0 {
		e.T.Errorf("empty statfs %+v", st)
	}
	f := e.mknod(Root, 1, "f", 0644)
	write(e, f.Ino, 2, 10, 90)
	st, _ = e.FS.StatFS(e.Ctx)
	if st.UsedInodes != 2 || st.UsedBytes != 2*meta.ChunkSize+100 {
		e.T.Errorf("statfs %+v", st)
	}
	// Limits.
	lim := NewFS(e.T, e.Eng, meta.Config{ID: 9, MaxInodes: 3})
	lim.mknod(Root, 1, "a", 0644)
	lim.mknod(Root, 1, "b", 0644)
	_, err = lim.FS.Mknod(e.Ctx, Root, 1, "c", meta.TypeRegular, 0644, 0)
	e.want(err, syscall.ENOSPC, "max inodes")
}
