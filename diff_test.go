package shoal

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalfs/shoal/internal/fserr"
)

// TestDifferential applies one long random sequence of operations both
// to a Client and, through the os package, to a directory of the host
// filesystem, and requires identical results: errors by errno, stat
// results (type, permission bits, size, nlink, owner), directory
// listings, file contents, xattrs. Names come from a tiny alphabet so
// operations collide (replace, not-empty, not-a-directory ...).
//
// SHOAL_DIFF_OPS sets the length (default 3000), SHOAL_DIFF_SEED the
// seed (default: time-based, printed on failure).
//
// The run is as root on both sides (the test process is root), so
// permission checks are not exercised here: the unit tests cover them.
// Where Shoal and Linux legitimately differ the generator avoids the
// case, and says so:
//   - symlink targets are relative and never contain "..", so they
//     cannot leave the host's temp directory;
//   - FIFOs, sockets and devices are not created (opening a FIFO blocks
//     on the host);
//   - WriteAt on an O_APPEND handle is not issued: os.File refuses it
//     with a Go error that carries no errno (Shoal says EINVAL);
//   - directory sizes are not compared (ext4 reports blocks, Shoal 4096
//     or entries); directory nlink is compared;
//   - rename goes to rename(2) directly on the host: os.Rename refuses
//     any existing directory as the target (EEXIST), which rename(2)
//     and Client.Rename allow when it is empty;
//   - the root directory itself is never named (the host's temp dir is
//     0700, Shoal's root 0755).
func TestDifferential(t *testing.T) { eachBackend(t, testDifferential) }

func testDifferential(t *testing.T, b backend) {
	if os.Geteuid() != 0 {
		t.Skip("differential test compares as root")
	}
	ops := 3000
	if s := os.Getenv("SHOAL_DIFF_OPS"); s != "" {
		n, err := strconv.Atoi(s)
		must(t, err)
		ops = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SHOAL_DIFF_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		must(t, err)
		seed = n
	}
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	c, _ := b.open(t)
	e := &diffEnv{
		t:    t,
		seed: seed,
		rng:  rand.New(rand.NewPCG(seed, seed^0x5eed)),
		host: t.TempDir(),
		c:    c,
	}
	e.xattrs = hostXattrs(e.host)
	if !e.xattrs {
		t.Log("host filesystem has no user xattrs: not comparing them")
	}
	defer e.closeAll()
	for i := range ops {
		e.step = i
		e.one()
		if i%250 == 249 {
			e.compareTrees()
		}
	}
	e.closeAll()
	e.compareTrees()
	t.Logf("seed %d: %d ops compared; {ok, errno} per op: %v", seed, ops, e.tally)
}

func hostXattrs(dir string) bool {
	p := filepath.Join(dir, "xattr-probe")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		return false
	}
	defer os.Remove(p)
	return unix.Setxattr(p, "user.probe", []byte("1"), 0) == nil
}

type diffHandle struct {
	host  *os.File
	ours  *File
	flag  int
	isDir bool
	desc  string
}

type diffEnv struct {
	t       *testing.T
	seed    uint64
	rng     *rand.Rand
	host    string
	c       *Client
	xattrs  bool
	handles []*diffHandle
	step    int
	history []string
	tally   map[string][2]int // op -> {succeeded, failed} on the host
}

// Directories are mostly made under dirNames and files under fileNames,
// but every operation may pick any name, so types still collide.
var (
	diffNames = []string{"a", "b", "c"}
	fileNames = []string{"x", "y", "a"}
)

// fpath is a path whose last element is usually a file name.
func (e *diffEnv) fpath() string {
	p := e.path()
	if e.rng.IntN(4) == 0 {
		return p
	}
	d, _ := splitName(p)
	return joinName(d, fileNames[e.rng.IntN(len(fileNames))])
}

// apath is a path of either kind; half the time one that exists on the
// host, so operations succeed often enough to build up state.
func (e *diffEnv) apath() string {
	switch e.rng.IntN(4) {
	case 0, 1:
		if ex := e.existing(); len(ex) > 0 {
			return ex[e.rng.IntN(len(ex))]
		}
		return e.path()
	case 2:
		return e.path()
	}
	return e.fpath()
}

// existing lists every name in the host tree.
func (e *diffEnv) existing() []string {
	var out []string
	filepath.WalkDir(e.host, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != e.host {
			rel, _ := filepath.Rel(e.host, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

func (e *diffEnv) path() string {
	depth := 1
	switch r := e.rng.IntN(100); {
	case r < 15:
		depth = 3
	case r < 50:
		depth = 2
	}
	parts := make([]string, depth)
	for i := range parts {
		parts[i] = diffNames[e.rng.IntN(len(diffNames))]
	}
	return strings.Join(parts, "/")
}

func (e *diffEnv) hp(p string) string { return filepath.Join(e.host, p) }

func (e *diffEnv) pick(choices ...int) int { return choices[e.rng.IntN(len(choices))] }

func (e *diffEnv) payload() []byte {
	var n int
	switch r := e.rng.IntN(100); {
	case r < 5:
		n = 0
	case r < 80:
		n = 1 + e.rng.IntN(3000)
	case r < 97:
		n = 3000 + e.rng.IntN(200000)
	default:
		n = 1<<20 + e.rng.IntN(5<<20)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(e.rng.IntN(256))
	}
	return b
}

func (e *diffEnv) offset() int64 {
	switch r := e.rng.IntN(100); {
	case r < 70:
		return int64(e.rng.IntN(10000))
	case r < 97:
		return int64(e.rng.IntN(300000))
	default:
		return int64(4<<20 - 5000 + e.rng.IntN(10000)) // around a block boundary
	}
}

// errStr renders an error as what both sides must agree on: its errno.
func hostErr(err error) string {
	if err == nil {
		return "ok"
	}
	if errors.Is(err, io.EOF) {
		return "EOF"
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		return fmt.Sprintf("errno(%v)", en)
	}
	return "goerr(" + err.Error() + ")"
}

func ourErr(err error) string {
	if err == nil {
		return "ok"
	}
	if err == io.EOF {
		return "EOF"
	}
	var fe *fserr.Error
	if !errors.As(err, &fe) {
		return "notshoal(" + err.Error() + ")"
	}
	return fmt.Sprintf("errno(%v)", fserr.Errno(err))
}

func (e *diffEnv) check(desc, host, ours string) {
	e.history = append(e.history, desc)
	if len(e.history) > 40 {
		e.history = e.history[1:]
	}
	if e.tally == nil {
		e.tally = map[string][2]int{}
	}
	op, _, _ := strings.Cut(desc, " ")
	tl := e.tally[op]
	if strings.Contains(host, "errno(") {
		tl[1]++
	} else {
		tl[0]++
	}
	e.tally[op] = tl
	if host != ours {
		e.t.Fatalf("seed %d step %d: %s\n  host: %s\n  ours: %s\nrecent ops:\n  %s\n(rerun with SHOAL_DIFF_SEED=%d)",
			e.seed, e.step, desc, host, ours, strings.Join(e.history, "\n  "), e.seed)
	}
}

func (e *diffEnv) one() {
	r := e.rng.IntN(100)
	if len(e.handles) > 0 && r < 35 {
		e.handleOp()
		return
	}
	switch {
	case r < 45:
		e.open()
	case r < 50:
		mode := fs.FileMode(e.pick(0o755, 0o700, 0o777, 0o750))
		p := e.path()
		e.check(fmt.Sprintf("mkdir %s %o", p, mode), hostErr(os.Mkdir(e.hp(p), mode)), ourErr(e.c.Mkdir(p, mode)))
	case r < 52:
		p := e.path()
		e.check("mkdirall "+p, hostErr(os.MkdirAll(e.hp(p), 0o755)), ourErr(e.c.MkdirAll(p, 0o755)))
	case r < 59:
		p := e.apath()
		e.check("remove "+p, hostErr(os.Remove(e.hp(p))), ourErr(e.c.Remove(p)))
	case r < 60:
		p := e.apath()
		e.check("removeall "+p, hostErr(os.RemoveAll(e.hp(p))), ourErr(e.c.RemoveAll(p)))
	case r < 70:
		a, b := e.apath(), e.apath()
		e.check("rename "+a+" "+b, hostErr(syscall.Rename(e.hp(a), e.hp(b))), ourErr(e.c.Rename(a, b)))
	case r < 73:
		a, b := e.apath(), e.fpath()
		e.check("link "+a+" "+b, hostErr(os.Link(e.hp(a), e.hp(b))), ourErr(e.c.Link(a, b)))
	case r < 77:
		target := e.apath()
		if e.rng.IntN(4) == 0 {
			target = diffNames[e.rng.IntN(len(diffNames))]
		}
		p := e.apath()
		e.check("symlink "+target+" "+p, hostErr(os.Symlink(target, e.hp(p))), ourErr(e.c.Symlink(target, p)))
	case r < 79:
		p := e.apath()
		ht, herr := os.Readlink(e.hp(p))
		ot, oerr := e.c.Readlink(p)
		e.check("readlink "+p, ht+" "+hostErr(herr), ot+" "+ourErr(oerr))
	case r < 82:
		p := e.fpath()
		size := e.offset()
		e.check(fmt.Sprintf("truncate %s %d", p, size), hostErr(os.Truncate(e.hp(p), size)), ourErr(e.c.Truncate(p, size)))
	case r < 85:
		p := e.apath()
		mode := fs.FileMode(e.pick(0o644, 0o755, 0o600, 0o777, 0o745)) |
			[]fs.FileMode{0, 0, 0, fs.ModeSticky, fs.ModeSetgid, fs.ModeSetuid, fs.ModeSetuid | fs.ModeSetgid}[e.rng.IntN(7)]
		e.check(fmt.Sprintf("chmod %s %v", p, mode), hostErr(os.Chmod(e.hp(p), mode)), ourErr(e.c.Chmod(p, mode)))
	case r < 86:
		p := e.apath()
		uid, gid := e.pick(-1, 0, 1000), e.pick(-1, 0, 1000)
		e.check(fmt.Sprintf("lchown %s %d %d", p, uid, gid), hostErr(os.Lchown(e.hp(p), uid, gid)), ourErr(e.c.Lchown(p, uid, gid)))
	case r < 90:
		e.xattrOp()
	case r < 95:
		p := e.apath()
		e.check("stat "+p, e.hostStat(p, true), e.ourStat(p, true))
	case r < 97:
		p := e.apath()
		e.check("lstat "+p, e.hostStat(p, false), e.ourStat(p, false))
	case r < 99:
		p := e.apath()
		e.check("readdir "+p, e.hostList(p), e.ourList(p))
	default:
		p := e.apath()
		hb, herr := os.ReadFile(e.hp(p))
		ob, oerr := e.c.ReadFile(p)
		e.check("readfile "+p, digest(hb)+" "+hostErr(herr), digest(ob)+" "+ourErr(oerr))
	}
}

func digest(b []byte) string {
	return fmt.Sprintf("%d:%x", len(b), sha256.Sum256(b))
}

var diffOpenFlags = []int{
	os.O_RDONLY, os.O_RDONLY, os.O_WRONLY, os.O_RDWR, os.O_RDWR,
	os.O_RDWR | os.O_CREATE, os.O_RDWR | os.O_CREATE, os.O_WRONLY | os.O_CREATE | os.O_TRUNC,
	os.O_RDWR | os.O_CREATE | os.O_EXCL, os.O_WRONLY | os.O_CREATE | os.O_APPEND,
	os.O_RDWR | os.O_APPEND, os.O_RDWR | os.O_TRUNC, os.O_RDONLY | O_DIRECTORY,
	os.O_RDONLY | O_NOFOLLOW, os.O_RDWR | os.O_CREATE | O_NOFOLLOW,
	os.O_RDWR | os.O_CREATE, os.O_WRONLY | os.O_CREATE, os.O_RDWR | os.O_CREATE | os.O_APPEND,
}

func flagString(f int) string {
	var s []string
	switch f & 3 {
	case os.O_RDONLY:
		s = append(s, "RDONLY")
	case os.O_WRONLY:
		s = append(s, "WRONLY")
	case os.O_RDWR:
		s = append(s, "RDWR")
	}
	for _, x := range []struct {
		f int
		n string
	}{{os.O_CREATE, "CREATE"}, {os.O_EXCL, "EXCL"}, {os.O_TRUNC, "TRUNC"}, {os.O_APPEND, "APPEND"}, {O_DIRECTORY, "DIRECTORY"}, {O_NOFOLLOW, "NOFOLLOW"}} {
		if f&x.f != 0 {
			s = append(s, x.n)
		}
	}
	return strings.Join(s, "|")
}

func (e *diffEnv) open() {
	if len(e.handles) >= 6 {
		e.closeHandle(e.rng.IntN(len(e.handles)))
	}
	p := e.fpath()
	flag := diffOpenFlags[e.rng.IntN(len(diffOpenFlags))]
	perm := fs.FileMode(e.pick(0o644, 0o600, 0o666))
	desc := fmt.Sprintf("open %s %s %o", p, flagString(flag), perm)
	hf, herr := os.OpenFile(e.hp(p), flag, perm)
	of, oerr := e.c.OpenFile(p, flag, perm)
	if (herr == nil) != (oerr == nil) {
		if hf != nil {
			hf.Close()
		}
		if of != nil {
			of.Close()
		}
	}
	e.check(desc, hostErr(herr), ourErr(oerr))
	if herr != nil {
		return
	}
	fi, err := hf.Stat()
	must(e.t, err)
	h := &diffHandle{host: hf, ours: of, flag: flag, isDir: fi.IsDir(), desc: fmt.Sprintf("#%d(%s)", e.step, desc)}
	if h.isDir {
		// Only on a fresh handle: once a directory has been listed,
		// read(2) on it reports EINVAL instead of EISDIR.
		_, herr = hf.Read(make([]byte, 10))
		_, oerr = of.Read(make([]byte, 10))
		e.check("read dir "+h.desc, hostErr(herr), ourErr(oerr))
	}
	e.handles = append(e.handles, h)
}

func (e *diffEnv) closeHandle(i int) {
	h := e.handles[i]
	e.handles = slices.Delete(e.handles, i, i+1)
	e.check("close "+h.desc, hostErr(h.host.Close()), ourErr(h.ours.Close()))
}

func (e *diffEnv) closeAll() {
	for len(e.handles) > 0 {
		e.closeHandle(len(e.handles) - 1)
	}
}

func (e *diffEnv) handleOp() {
	i := e.rng.IntN(len(e.handles))
	h := e.handles[i]
	switch r := e.rng.IntN(100); {
	case r < 10 || h.isDir && r < 60:
		e.closeHandle(i)
	case h.isDir:
		// Directory handles: read entries from the start (Seek(0) rewinds
		// both the host's and our listing) and fstat.
		_, err1 := h.host.Seek(0, io.SeekStart)
		_, err2 := h.ours.Seek(0, io.SeekStart)
		e.check("rewinddir "+h.desc, hostErr(err1), ourErr(err2))
		he, herr := h.host.ReadDir(-1)
		oe, oerr := h.ours.ReadDir(-1)
		e.check("freaddir "+h.desc, entryList(he)+hostErr(herr), entryList(oe)+ourErr(oerr))
	case r < 35:
		p := e.payload()
		hn, herr := h.host.Write(p)
		on, oerr := h.ours.Write(p)
		e.check(fmt.Sprintf("write %d %s", len(p), h.desc), fmt.Sprint(hn, hostErr(herr)), fmt.Sprint(on, ourErr(oerr)))
	case r < 50:
		if h.flag&os.O_APPEND != 0 {
			return // os.File refuses WriteAt in append mode without an errno
		}
		p, off := e.payload(), e.offset()
		if len(p) == 0 {
			return // os.File.WriteAt of nothing succeeds without asking the kernel
		}
		hn, herr := h.host.WriteAt(p, off)
		on, oerr := h.ours.WriteAt(p, off)
		e.check(fmt.Sprintf("writeat %d@%d %s", len(p), off, h.desc), fmt.Sprint(hn, hostErr(herr)), fmt.Sprint(on, ourErr(oerr)))
	case r < 62:
		n := e.rng.IntN(70000)
		hb, ob := make([]byte, n), make([]byte, n)
		hn, herr := h.host.Read(hb)
		on, oerr := h.ours.Read(ob)
		e.check(fmt.Sprintf("read %d %s", n, h.desc), digest(hb[:hn])+hostErr(herr), digest(ob[:on])+ourErr(oerr))
	case r < 74:
		n, off := e.rng.IntN(70000), e.offset()
		hb, ob := make([]byte, n), make([]byte, n)
		hn, herr := h.host.ReadAt(hb, off)
		on, oerr := h.ours.ReadAt(ob, off)
		e.check(fmt.Sprintf("readat %d@%d %s", n, off, h.desc), digest(hb[:hn])+hostErr(herr), digest(ob[:on])+ourErr(oerr))
	case r < 82:
		whence := e.rng.IntN(3)
		off := e.offset()
		if whence != io.SeekStart && e.rng.IntN(2) == 0 {
			off = -off
		}
		hp, herr := h.host.Seek(off, whence)
		op, oerr := h.ours.Seek(off, whence)
		e.check(fmt.Sprintf("seek %d %d %s", off, whence, h.desc), fmt.Sprint(hp, hostErr(herr)), fmt.Sprint(op, ourErr(oerr)))
	case r < 88:
		size := e.offset()
		e.check(fmt.Sprintf("ftruncate %d %s", size, h.desc), hostErr(h.host.Truncate(size)), ourErr(h.ours.Truncate(size)))
	case r < 91:
		e.check("fsync "+h.desc, hostErr(h.host.Sync()), ourErr(h.ours.Sync()))
	default:
		hi, herr := h.host.Stat()
		oi, oerr := h.ours.Stat()
		e.check("fstat "+h.desc, infoString(hi, herr), infoString(oi, oerr))
	}
}

func (e *diffEnv) xattrOp() {
	if !e.xattrs {
		return
	}
	p := e.apath()
	name := "user." + diffNames[e.rng.IntN(2)]
	switch e.rng.IntN(4) {
	case 0, 1:
		val := []byte(strconv.Itoa(e.rng.IntN(1000)))
		flags := e.pick(0, 0, XattrCreate, XattrReplace)
		e.check(fmt.Sprintf("setxattr %s %s %d", p, name, flags),
			hostErr(unix.Setxattr(e.hp(p), name, val, flags)), ourErr(e.c.SetXattr(p, name, val, flags)))
	case 2:
		buf := make([]byte, 256)
		n, herr := unix.Getxattr(e.hp(p), name, buf)
		hv := ""
		if herr == nil {
			hv = string(buf[:n])
		}
		ov, oerr := e.c.GetXattr(p, name)
		e.check(fmt.Sprintf("getxattr %s %s", p, name), hv+" "+hostErr(herr), string(ov)+" "+ourErr(oerr))
	default:
		buf := make([]byte, 1024)
		n, herr := unix.Listxattr(e.hp(p), buf)
		var hl []string
		if herr == nil {
			for _, s := range strings.Split(string(buf[:n]), "\x00") {
				if strings.HasPrefix(s, "user.") {
					hl = append(hl, s)
				}
			}
		}
		ol, oerr := e.c.ListXattr(p)
		slices.Sort(hl)
		slices.Sort(ol)
		e.check("listxattr "+p, fmt.Sprint(hl, hostErr(herr)), fmt.Sprint(ol, ourErr(oerr)))
	}
}

// infoString is what the two sides' FileInfo must agree on.
func infoString(fi fs.FileInfo, err error) string {
	if err != nil {
		if _, ok := err.(*fserr.Error); ok {
			return ourErr(err)
		}
		return hostErr(err)
	}
	m := fi.Mode()
	var nlink uint64
	var uid, gid uint32
	switch s := fi.Sys().(type) {
	case *syscall.Stat_t:
		nlink, uid, gid = uint64(s.Nlink), s.Uid, s.Gid
	case *Attr:
		nlink, uid, gid = uint64(s.Nlink), s.Uid, s.Gid
	}
	size := fi.Size()
	if m.IsDir() {
		size = -1
	}
	return fmt.Sprintf("name=%s type=%v perm=%v size=%d nlink=%d owner=%d:%d",
		fi.Name(), m.Type(), m&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), size, nlink, uid, gid)
}

func (e *diffEnv) hostStat(p string, follow bool) string {
	if follow {
		return infoString(os.Stat(e.hp(p)))
	}
	return infoString(os.Lstat(e.hp(p)))
}

func (e *diffEnv) ourStat(p string, follow bool) string {
	if follow {
		return infoString(e.c.Stat(p))
	}
	return infoString(e.c.Lstat(p))
}

func entryList(es []fs.DirEntry) string {
	var s []string
	for _, e := range es {
		s = append(s, e.Name()+":"+e.Type().String())
	}
	slices.Sort(s)
	return strings.Join(s, ",") + " "
}

func (e *diffEnv) hostList(p string) string {
	es, err := os.ReadDir(e.hp(p))
	return entryList(es) + hostErr(err)
}

func (e *diffEnv) ourList(p string) string {
	es, err := e.c.ReadDir(p)
	return entryList(es) + ourErr(err)
}

// compareTrees compares everything under the root: entries, stat
// results, symlink targets, file contents and xattrs.
func (e *diffEnv) compareTrees() {
	var walk func(dir string)
	walk = func(dir string) {
		hd := e.host
		if dir != "." {
			hd = e.hp(dir)
		}
		hes, herr := os.ReadDir(hd)
		oes, oerr := e.c.ReadDir(dir)
		e.check("tree readdir "+dir, entryList(hes)+hostErr(herr), entryList(oes)+ourErr(oerr))
		for _, he := range hes {
			p := joinName(dir, he.Name())
			e.check("tree lstat "+p, e.hostStat(p, false), e.ourStat(p, false))
			switch {
			case he.IsDir():
				walk(p)
			case he.Type() == fs.ModeSymlink:
				ht, _ := os.Readlink(e.hp(p))
				ot, _ := e.c.Readlink(p)
				e.check("tree readlink "+p, ht, ot)
			case he.Type().IsRegular():
				hb, herr := os.ReadFile(e.hp(p))
				ob, oerr := e.c.ReadFile(p)
				e.check("tree content "+p, digest(hb)+hostErr(herr), digest(ob)+ourErr(oerr))
			}
		}
	}
	walk(".")
}
