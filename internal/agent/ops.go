package agent

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	shoal "github.com/shoalfs/shoal"
)

func opBuild(r *req) error {
	c, d := r.c, r.d
	version := d.int()
	spec := ClientSpec{Addrs: d.str(), FS: d.str(), Token: d.str()}
	spec.Super = d.int() != 0
	spec.DataDir = d.str()
	_ = d.int() // the caller's pid, for logs only: the kernel's is used
	if d.err != nil {
		return d.err
	}
	if version != ProtocolVersion {
		return errors.New("agent: protocol version " + strconv.FormatInt(version, 10) + " not supported")
	}
	if spec.Addrs == "" && spec.DataDir == "" {
		return shoalInvalid("build", "agent: build: neither server addresses nor a data directory")
	}
	switch {
	case spec.Super:
		spec.Uid, spec.Gid = 0, 0
	case spec.DataDir != "":
		// One process may hold a data directory: every caller of this
		// agent shares one client acting as the agent's user.
		spec.Uid, spec.Gid = uint32(os.Geteuid()), uint32(os.Getegid())
	default:
		spec.Uid, spec.Gid = c.peer.uid, c.peer.gid
		gs := make([]string, len(c.peer.groups))
		for i, g := range c.peer.groups {
			gs[i] = strconv.FormatUint(uint64(g), 10)
		}
		spec.Groups = strings.Join(gs, ",")
	}
	if spec.DataDir != "" {
		spec.Token, spec.Super = "", false
	}
	ce, err := c.a.acquireClient(r.ctx, spec)
	if err != nil {
		return err
	}
	s := c.a.newSession(ce, c.peer.uid)
	s.conns = 1
	c.leave()
	c.sess = s
	r.e.int(int64(s.id))
	r.e.int(int64(s.secret))
	return nil
}

func opAttach(r *req) error {
	c, d := r.c, r.d
	id, secret := uint64(d.int()), uint64(d.int())
	if d.err != nil {
		return d.err
	}
	s := c.a.attach(id, secret, c.peer.uid)
	if s == nil {
		return syscall.ENOENT // the caller builds a new session
	}
	c.leave()
	c.sess = s
	return nil
}

func shoalInvalid(op, msg string) error {
	return &shoal.Error{Op: op, Kind: shoal.KindInvalid, Err: errors.New(msg)}
}

func opStop(r *req) error {
	s := r.s
	s.mu.Lock()
	ended := s.ended
	s.ended = true
	s.mu.Unlock()
	if !ended {
		r.c.a.endSession(s)
	}
	return nil
}

func opSetOpt(r *req) error {
	d, s := r.d, r.s
	name, value := d.str(), d.str()
	if d.err != nil {
		return d.err
	}
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil || n < 0 {
		return syscall.EINVAL
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch name {
	case "timeout_ms":
		s.timeout = time.Duration(n) * time.Millisecond
	case "parallel":
		s.parallel = max(int(n), 1)
	default:
		return syscall.EINVAL
	}
	return nil
}

func opStatFS(r *req) error {
	st, err := r.cl.StatFS()
	if err != nil {
		return err
	}
	for _, v := range []uint64{st.TotalBytes, st.UsedBytes, st.AvailBytes, st.TotalInodes, st.UsedInodes, uint64(st.BlockSize)} {
		r.e.int(int64(v))
	}
	return nil
}

func opStat(r *req) error {
	d := r.d
	path, follow := r.pathArg(), d.int() != 0
	if d.err != nil {
		return d.err
	}
	var fi fs.FileInfo
	var err error
	if follow {
		fi, err = r.cl.Stat(path)
	} else {
		fi, err = r.cl.Lstat(path)
	}
	if err != nil {
		return err
	}
	putInfo(r.e, fi)
	return nil
}

func opSetAttr(r *req) error {
	d := r.d
	path, mask := r.pathArg(), d.int()
	mode, uid, gid, size := d.int(), d.int(), d.int(), d.int()
	atime, mtime, flags := d.int(), d.int(), d.int()
	if d.err != nil {
		return d.err
	}
	a := shoal.Attr{
		Mode: fsMode(uint32(mode)).Perm() | fsMode(uint32(mode))&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky),
		Uid:  uint32(uid), Gid: uint32(gid), Size: size,
		Atime: time.Unix(0, atime), Mtime: time.Unix(0, mtime), Flags: uint32(flags),
	}
	out, err := r.cl.SetAttr(path, shoal.AttrMask(mask), a)
	if err != nil {
		return err
	}
	putAttr(r.e, &out)
	return nil
}

func opMkdir(r *req) error {
	d := r.d
	path, mode, recursive := r.pathArg(), d.int(), d.int() != 0
	if d.err != nil {
		return d.err
	}
	if recursive {
		return r.cl.MkdirAll(path, fsMode(uint32(mode)))
	}
	return r.cl.Mkdir(path, fsMode(uint32(mode)))
}

func opRmdir(r *req) error  { return r.removeOne(true) }
func opUnlink(r *req) error { return r.removeOne(false) }

// removeOne is RMDIR (dir) or UNLINK (!dir): Remove, after checking the
// type the call promises.
func (r *req) removeOne(dir bool) error {
	path := r.pathArg()
	if r.d.err != nil {
		return r.d.err
	}
	fi, err := r.cl.Lstat(path)
	if err != nil {
		return err
	}
	switch {
	case dir && !fi.IsDir():
		return &shoal.Error{Op: "rmdir", Path: path, Kind: shoal.KindNotDir}
	case !dir && fi.IsDir():
		return &shoal.Error{Op: "unlink", Path: path, Kind: shoal.KindIsDir}
	}
	return r.cl.Remove(path)
}

func opRemove(r *req) error {
	d := r.d
	path, recursive := r.pathArg(), d.int() != 0
	if d.err != nil {
		return d.err
	}
	if !recursive {
		return r.cl.Remove(path)
	}
	if _, err := r.cl.Lstat(path); err != nil {
		return err
	}
	return r.cl.RemoveAll(path)
}

func opRename(r *req) error {
	d := r.d
	src, dst, flags := r.pathArg(), d.str(), d.int()
	if d.err != nil {
		return d.err
	}
	return r.cl.Rename(src, dst, shoal.RenameFlag(flags))
}

func opLink(r *req) error    { return r.link(r.cl.Link) }
func opSymlink(r *req) error { return r.link(r.cl.Symlink) }

// link is LINK or SYMLINK: make b from a, answer b's attributes.
func (r *req) link(mk func(a, b string) error) error {
	a, b := r.d.str(), r.d.str()
	if r.d.err != nil {
		return r.d.err
	}
	r.path = b
	if err := mk(a, b); err != nil {
		return err
	}
	return r.lstatInto(b)
}

func opReadlink(r *req) error {
	path := r.pathArg()
	if r.d.err != nil {
		return r.d.err
	}
	t, err := r.cl.Readlink(path)
	if err != nil {
		return err
	}
	r.e.str(t)
	return nil
}

func opRealpath(r *req) error {
	path := r.pathArg()
	if r.d.err != nil {
		return r.d.err
	}
	res, err := realpath(r.cl, path)
	if err != nil {
		return err
	}
	r.e.str(res)
	return nil
}

func opMknod(r *req) error {
	d := r.d
	path, mode, dev := r.pathArg(), d.int(), d.int()
	if d.err != nil {
		return d.err
	}
	if err := r.cl.Mknod(path, fsMode(uint32(mode)), uint32(dev)); err != nil {
		return err
	}
	return r.lstatInto(path)
}

func opSetXattr(r *req) error {
	d := r.d
	path, name, value, flags := r.pathArg(), d.str(), d.bytes(), d.int()
	if d.err != nil {
		return d.err
	}
	return r.cl.SetXattr(path, name, value, int(flags))
}

func opGetXattr(r *req) error {
	d := r.d
	path, name := r.pathArg(), d.str()
	if d.err != nil {
		return d.err
	}
	v, err := r.cl.GetXattr(path, name)
	if err != nil {
		return err
	}
	r.e.bytes(v)
	return nil
}

func opListXattr(r *req) error {
	path := r.pathArg()
	if r.d.err != nil {
		return r.d.err
	}
	names, err := r.cl.ListXattr(path)
	if err != nil {
		return err
	}
	r.e.int(int64(len(names)))
	for _, n := range names {
		r.e.str(n)
	}
	return nil
}

func opRemoveXattr(r *req) error {
	d := r.d
	path, name := r.pathArg(), d.str()
	if d.err != nil {
		return d.err
	}
	return r.cl.RemoveXattr(path, name)
}

func opListDir(r *req) error {
	path := r.pathArg()
	if r.d.err != nil {
		return r.d.err
	}
	f, err := r.cl.OpenFile(path, os.O_RDONLY|shoal.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return err
	}
	return putEntries(r.e, ents)
}

func opOpenDir(r *req) error {
	path := r.pathArg()
	if r.d.err != nil {
		return r.d.err
	}
	f, err := r.s.cl.OpenFile(path, os.O_RDONLY|shoal.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	h, err := r.s.addDir(f)
	if err != nil {
		return err
	}
	r.e.int(h)
	return nil
}

func opReadDir(r *req) error {
	d, s := r.d, r.s
	h, n := d.int(), d.int()
	if d.err != nil {
		return d.err
	}
	s.mu.Lock()
	ds, ok := s.dirs[h]
	s.mu.Unlock()
	if !ok {
		return syscall.EBADF
	}
	if n <= 0 {
		n = shoal.DefaultDirBatch
	}
	ents, err := ds.f.ReadDir(int(n))
	if err == io.EOF {
		r.e.int(0)
		return nil
	}
	if err != nil {
		return err
	}
	return putEntries(r.e, ents)
}

func opCloseDir(r *req) error {
	d, s := r.d, r.s
	h := d.int()
	if d.err != nil {
		return d.err
	}
	s.mu.Lock()
	ds, ok := s.dirs[h]
	delete(s.dirs, h)
	s.mu.Unlock()
	if !ok {
		return syscall.EBADF
	}
	return ds.f.Close()
}

func opOpen(r *req) error {
	d, s := r.d, r.s
	path, flags, mode := r.pathArg(), int(d.int()), d.int()
	inline := d.opt(0) // newer callers: read up to this much at offset 0 too
	if d.err != nil {
		return d.err
	}
	if inline < 0 || inline > MaxFrame-64 {
		return syscall.EINVAL
	}
	r.mutates = flags&(os.O_CREATE|os.O_TRUNC) != 0
	h, err := s.open(path, flags, fsMode(uint32(mode)))
	if err != nil {
		return err
	}
	r.e.int(h)
	if inline > 0 {
		// Saves the first PREAD round trip of a small file's
		// open+read+close. A failed read is reported as -errno and
		// no data; the caller then reads as usual and sees the error.
		f, _ := s.file(h)
		r.c.readInline(f, 0, inline)
	}
	return nil
}

func opReadFile(r *req) error {
	d := r.d
	path, start, end, endSet := r.pathArg(), d.int(), d.int(), d.int() != 0
	if d.err != nil {
		return d.err
	}
	return r.c.readFile(r.cl, path, start, end, endSet)
}

func opWriteFile(r *req) error {
	d := r.d
	path, flags, mode, data := r.pathArg(), int(d.int()), d.int(), d.bytes()
	if d.err != nil {
		return d.err
	}
	return r.c.writeFile(r.cl, path, flags, fsMode(uint32(mode)), data)
}

func opCopy(r *req) error {
	d := r.d
	src, dst, excl := r.pathArg(), d.str(), d.int() != 0
	if d.err != nil {
		return d.err
	}
	n, err := copyFile(r.cl, src, dst, excl)
	if err != nil {
		return err
	}
	r.e.int(n)
	return nil
}

func opSDKBench(r *req) error {
	d := r.d
	kind, dir, n, size := d.str(), d.str(), d.int(), d.int()
	if d.err != nil {
		return d.err
	}
	r.path = dir
	ns, err := sdkBench(r.cl, kind, dir, n, size)
	if err != nil {
		return err
	}
	r.e.int(ns)
	return nil
}

func opStats(r *req) error {
	st := r.c.a.stats.snapshot()
	r.e.int(st.requests)
	r.e.int(st.inflight - 1) // not counting this request
	r.e.int(st.maxInflight)
	return nil
}

func opClose(r *req) error {
	d, s := r.d, r.s
	h := d.int()
	if d.err != nil {
		return d.err
	}
	s.mu.Lock()
	of, ok := s.files[h]
	delete(s.files, h)
	s.mu.Unlock()
	if !ok {
		return syscall.EBADF
	}
	r.path = of.path
	return of.f.Close()
}

func opPread(r *req) error {
	d, e := r.d, r.e
	h, off, n := d.int(), d.int(), d.int()
	if d.err != nil {
		return d.err
	}
	if n < 0 || n > MaxFrame-64 {
		return syscall.EINVAL
	}
	f, err := r.file(h)
	if err != nil {
		return err
	}
	start := len(e.b)
	e.b = slices.Grow(e.b, 4+int(n))[:start+4+int(n)]
	got, err := f.ReadAtContext(r.ctx, e.b[start+4:], off)
	if err != nil && err != io.EOF {
		return err
	}
	e.b = e.b[:start+4+got]
	putU32(e.b[start:], uint32(got))
	return nil
}

func opPwrite(r *req) error {
	d := r.d
	h, off, data := d.int(), d.int(), d.bytes()
	if d.err != nil {
		return d.err
	}
	return r.pwrite(h, off, data)
}

func opPreadIov(r *req) error  { return r.iovIO(false) }
func opPwriteIov(r *req) error { return r.iovIO(true) }

// iovIO is PREAD_IOV or PWRITE_IOV: one read or write between a handle
// and a registered shared-memory buffer.
func (r *req) iovIO(write bool) error {
	d, s := r.d, r.s
	h, off, n, id, ioff := d.int(), d.int(), d.int(), d.int(), d.int()
	if d.err != nil {
		return d.err
	}
	buf, done, err := s.useIov(id, ioff, n)
	if err != nil {
		return err
	}
	defer done()
	if write {
		n, err := r.pwriteN(h, off, buf)
		r.shmIn = int64(n)
		return err
	}
	f, err := r.file(h)
	if err != nil {
		return err
	}
	got, err := f.ReadAtContext(r.ctx, buf, off)
	r.shmOut = int64(got)
	if err != nil && err != io.EOF {
		return err
	}
	r.e.int(int64(got))
	return nil
}

func opFstat(r *req) error {
	h := r.d.int()
	if r.d.err != nil {
		return r.d.err
	}
	f, err := r.file(h)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	putInfo(r.e, fi)
	return nil
}

func opFtruncate(r *req) error {
	h, size := r.d.int(), r.d.int()
	if r.d.err != nil {
		return r.d.err
	}
	f, err := r.file(h)
	if err != nil {
		return err
	}
	return f.Truncate(size)
}

func opFsync(r *req) error {
	h := r.d.int()
	if r.d.err != nil {
		return r.d.err
	}
	f, err := r.file(h)
	if err != nil {
		return err
	}
	return f.SyncContext(r.ctx)
}

func opIovReg(r *req) error {
	c, d, s := r.c, r.d, r.s
	size := d.int()
	scoped := d.opt(0) != 0 // newer callers: unregister when this connection closes
	if d.err != nil {
		return d.err
	}
	if len(c.fds) == 0 || size <= 0 {
		return syscall.EINVAL
	}
	fd := c.fds[0]
	c.fds = c.fds[1:]
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Size < size || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return syscall.EINVAL
	}
	mem, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		_ = unix.Munmap(mem)
		return syscall.ENOTCONN
	}
	id := s.newID()
	s.iovs[id] = &iov{mem: mem}
	s.mu.Unlock()
	if scoped {
		c.scoped = append(c.scoped, id)
	}
	r.e.int(id)
	return nil
}

func opIovUnreg(r *req) error {
	id := r.d.int()
	if r.d.err != nil {
		return r.d.err
	}
	return r.s.unregIov(id)
}

func opShareFH(r *req) error {
	d, s, a := r.d, r.s, r.c.a
	n := d.count(8)
	hs := make([]int64, n)
	for i := range hs {
		hs[i] = d.int()
	}
	if d.err != nil {
		return d.err
	}
	tokens := make([]int64, n)
	for i, h := range hs {
		s.mu.Lock()
		of, ok := s.files[h]
		s.mu.Unlock()
		if !ok {
			return syscall.EBADF
		}
		t := random64()
		a.mu.Lock()
		a.mu.shared[t] = sharedFH{uid: s.uid, spec: s.ce.spec, path: of.path, flags: of.flags}
		a.mu.Unlock()
		tokens[i] = int64(t)
	}
	r.e.int(int64(n))
	for _, t := range tokens {
		r.e.int(t)
	}
	return nil
}

func opOpenFH(r *req) error {
	d, s, a, e := r.d, r.s, r.c.a, r.e
	n := d.count(8)
	ts := make([]uint64, n)
	for i := range ts {
		ts[i] = uint64(d.int())
	}
	if d.err != nil {
		return d.err
	}
	e.int(int64(n))
	for _, t := range ts {
		a.mu.Lock()
		sh, ok := a.mu.shared[t]
		a.mu.Unlock()
		if !ok || (sh.uid != s.uid && s.uid != 0) {
			return syscall.EBADF
		}
		r.path = sh.path
		sp := s.ce.spec
		if sh.spec.Addrs != sp.Addrs || sh.spec.DataDir != sp.DataDir || sh.spec.FS != sp.FS {
			return syscall.EXDEV
		}
		flags := sh.flags &^ (os.O_CREATE | os.O_EXCL | os.O_TRUNC)
		h, err := s.open(sh.path, flags, 0)
		if err != nil {
			return err
		}
		e.int(h)
		e.int(int64(flags))
		e.str(sh.path)
	}
	return nil
}

// openFlags are the open(2) flags the SDK understands; the rest
// (O_CLOEXEC, O_LARGEFILE, O_NONBLOCK...) mean nothing here.
const openFlags = os.O_RDONLY | os.O_WRONLY | os.O_RDWR | os.O_CREATE | os.O_EXCL | os.O_TRUNC | os.O_APPEND |
	shoal.O_DIRECTORY | shoal.O_NOFOLLOW

// open opens path as a handle of the session. It runs under the
// session's context (see session.cl), not the request's: the handle
// keeps the context it is opened with.
func (s *session) open(path string, flags int, perm fs.FileMode) (int64, error) {
	flags &= openFlags
	f, err := s.cl.OpenFile(path, flags, perm)
	if err != nil {
		return 0, err
	}
	return s.addFile(&openFile{f: f, path: path, flags: flags})
}

// pwrite writes data at off, or with off < 0 at the handle's offset (the
// end, for O_APPEND), and answers the count and the offset after it.
func (r *req) pwrite(h, off int64, data []byte) error {
	_, err := r.pwriteN(h, off, data)
	return err
}

// pwriteN is pwrite, also returning how many bytes it wrote.
func (r *req) pwriteN(h, off int64, data []byte) (int, error) {
	f, err := r.file(h)
	if err != nil {
		return 0, err
	}
	var n int
	if off < 0 {
		n, err = f.WriteContext(r.ctx, data)
		if err == nil {
			off, err = f.Seek(0, io.SeekCurrent)
			off -= int64(n)
		}
	} else {
		n, err = f.WriteAtContext(r.ctx, data, off)
	}
	if err != nil {
		return n, err
	}
	r.e.int(int64(n))
	r.e.int(off + int64(n))
	return n, nil
}

// batch runs PREADV/PWRITEV entries concurrently, at most s.parallel at
// a time, answering each entry's byte count or -errno.
func (r *req) batch(write bool) error {
	s, d := r.s, r.d
	n := d.count(40)
	type entry struct{ id, ioff, n, h, off int64 }
	ents := make([]entry, n)
	for i := range ents {
		ents[i] = entry{d.int(), d.int(), d.int(), d.int(), d.int()}
	}
	if d.err != nil {
		return d.err
	}
	res := make([]int64, n)
	var moved atomic.Int64 // shared-memory bytes, for metrics
	one := func(i int) {
		x := ents[i]
		buf, done, err := s.useIov(x.id, x.ioff, x.n)
		if err != nil {
			res[i] = -int64(errnoOf(err))
			return
		}
		defer done()
		f, err := s.file(x.h)
		if err != nil {
			res[i] = -int64(errnoOf(err))
			return
		}
		var got int
		if write {
			got, err = f.WriteAtContext(r.ctx, buf, x.off)
		} else {
			got, err = f.ReadAtContext(r.ctx, buf, x.off)
			if err == io.EOF {
				err = nil
			}
		}
		moved.Add(int64(got))
		if err != nil {
			res[i] = -int64(errnoOf(err))
			return
		}
		res[i] = int64(got)
	}
	s.mu.Lock()
	workers := min(s.parallel, n)
	s.mu.Unlock()
	if workers <= 1 {
		for i := range ents {
			one(i)
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= n {
						return
					}
					one(i)
				}
			}()
		}
		wg.Wait()
	}
	if write {
		r.shmIn = moved.Load()
	} else {
		r.shmOut = moved.Load()
	}
	r.e.int(int64(n))
	for _, v := range res {
		r.e.int(v)
	}
	return nil
}

func (r *req) lstatInto(path string) error {
	fi, err := r.cl.Lstat(path)
	if err != nil {
		return err
	}
	putInfo(r.e, fi)
	return nil
}

// realpath resolves every symbolic link in name (a cleaned SDK name) and
// returns the absolute result. As os.path.realpath, a missing component
// ends the resolution and the rest is appended as given.
func realpath(cl *shoal.Client, name string) (string, error) {
	var todo []string
	if name != "." && name != "/" {
		todo = strings.Split(strings.TrimPrefix(name, "/"), "/")
	}
	var done []string
	links := 0
	for len(todo) > 0 {
		p := todo[0]
		todo = todo[1:]
		switch p {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cand := strings.Join(append(done[:len(done):len(done)], p), "/")
		fi, err := cl.Lstat(cand)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				done = append(done, p)
				done = append(done, todo...)
				break
			}
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, p)
			continue
		}
		links++
		if links > 40 {
			return "", &shoal.Error{Op: "realpath", Path: name, Kind: shoal.KindLoop}
		}
		t, err := cl.Readlink(cand)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(t, "/") {
			done = nil
		}
		todo = append(strings.Split(t, "/"), todo...)
	}
	return "/" + strings.Join(done, "/"), nil
}

// POSIX st_mode type bits.
const (
	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFLNK  = 0o120000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFDIR  = 0o040000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
)

// stMode converts an io/fs mode to POSIX st_mode.
func stMode(m fs.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	switch {
	case m&fs.ModeDir != 0:
		b |= sIFDIR
	case m&fs.ModeSymlink != 0:
		b |= sIFLNK
	case m&fs.ModeNamedPipe != 0:
		b |= sIFIFO
	case m&fs.ModeSocket != 0:
		b |= sIFSOCK
	case m&fs.ModeCharDevice != 0:
		b |= sIFCHR
	case m&fs.ModeDevice != 0:
		b |= sIFBLK
	default:
		b |= sIFREG
	}
	return b
}

// fsMode converts POSIX st_mode (type bits optional) to an io/fs mode.
func fsMode(st uint32) fs.FileMode {
	m := fs.FileMode(st & 0o777)
	if st&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if st&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if st&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch st & sIFMT {
	case sIFDIR:
		m |= fs.ModeDir
	case sIFLNK:
		m |= fs.ModeSymlink
	case sIFIFO:
		m |= fs.ModeNamedPipe
	case sIFSOCK:
		m |= fs.ModeSocket
	case sIFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case sIFBLK:
		m |= fs.ModeDevice
	}
	return m
}

// putAttr encodes the 12 attribute integers every stat-like answer carries:
// ino, st_mode, nlink, uid, gid, size, atime, mtime, ctime (ns), rdev,
// flags, blocks (512-byte units).
func putAttr(e *enc, a *shoal.Attr) {
	e.int(int64(a.Ino))
	e.int(int64(stMode(a.Mode)))
	e.int(int64(a.Nlink))
	e.int(int64(a.Uid))
	e.int(int64(a.Gid))
	e.int(a.Size)
	e.int(a.Atime.UnixNano())
	e.int(a.Mtime.UnixNano())
	e.int(a.Ctime.UnixNano())
	e.int(int64(a.Rdev))
	e.int(int64(a.Flags))
	e.int((a.Size + 511) / 512)
}

func putInfo(e *enc, fi fs.FileInfo) {
	if a, ok := fi.Sys().(*shoal.Attr); ok {
		putAttr(e, a)
		return
	}
	putAttr(e, &shoal.Attr{Mode: fi.Mode(), Size: fi.Size(), Mtime: fi.ModTime()})
}

// putEntries encodes a listing: a count, then per entry its name and
// attributes.
func putEntries(e *enc, ents []fs.DirEntry) error {
	e.int(int64(len(ents)))
	for _, de := range ents {
		e.str(de.Name())
		fi, err := de.Info()
		if err != nil {
			// Gone since it was listed: report the name and type only.
			putAttr(e, &shoal.Attr{Mode: de.Type()})
			continue
		}
		putInfo(e, fi)
	}
	return nil
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
