package agent

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	shoal "github.com/shoalfs/shoal"
)

// conn is one client connection. Its requests run one at a time on its
// goroutine, so the read buffer and the response encoder need no lock.
type conn struct {
	a    *Agent
	nc   *net.UnixConn
	peer peer
	sess *session

	buf  []byte // buf[r:w] holds bytes read but not yet consumed
	r, w int
	base int64 // stream offset of buf[0]
	oob  []byte
	fds  []int     // descriptors of the current frame
	recv []fdBatch // descriptors received and not yet given to a frame
	out  enc
	req  req // the request being run (dispatch)
	// scoped are the buffers registered for this connection only (a
	// caller thread's scratch buffer): they are unregistered when it
	// leaves its session, so a thread that ends takes its buffer along.
	scoped []int64
}

// fdBatch is the descriptors one read returned, with the stream offset of
// the last byte that read returned. The kernel attaches descriptors to
// the first byte of the sendmsg that carried them, and a read that
// returns descriptors ends within that message; the caller sends each
// request with descriptors in one sendmsg, so the descriptors belong to
// the frame holding that last byte. A read can also return the ends of
// earlier frames (requests posted without waiting for their answers), so
// "the frame being read when they came" would be the wrong owner.
type fdBatch struct {
	last int64
	fds  []int
}

func newConn(a *Agent, nc *net.UnixConn, p peer) *conn {
	return &conn{a: a, nc: nc, peer: p, buf: make([]byte, 64<<10), oob: make([]byte, unix.CmsgSpace(4*8))}
}

func (c *conn) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		c.nc.Close()
		c.closeAllFDs()
		c.leave()
	}()
	for {
		body, err := c.readFrame()
		if err != nil {
			return
		}
		if len(body) < reqHeader {
			return
		}
		id := binary.LittleEndian.Uint32(body)
		op := binary.LittleEndian.Uint16(body[4:])
		c.out.reset(id)
		start := time.Now()
		c.a.stats.begin()
		c.a.obs.metrics.AgentBegin()
		res := c.dispatch(ctx, op, &dec{b: body[reqHeader:]})
		c.a.stats.end()
		c.closeFDs()
		out := c.out.frame()
		_, werr := c.nc.Write(out)
		// Timed to the answer written, as the HTTP surfaces are.
		c.observe(ctx, op, start, &res, 4+len(body), len(out))
		if werr != nil {
			return
		}
		if cap(c.out.b) > 1<<20 {
			c.out.b = nil // do not pin a large inline read forever
		}
	}
}

// leave detaches the connection from its session, if any, first
// unregistering the buffers registered for it alone.
func (c *conn) leave() {
	if c.sess == nil {
		return
	}
	for _, id := range c.scoped {
		_ = c.sess.unregIov(id) // EBADF: the caller freed it already
	}
	c.scoped = nil
	c.a.detach(c.sess)
	c.sess = nil
}

// readFrame returns the next request body; it stays valid until the
// next call. Descriptors passed with it are collected in c.fds.
func (c *conn) readFrame() ([]byte, error) {
	if err := c.fill(4); err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(c.buf[c.r:]))
	if n > MaxFrame {
		return nil, fmt.Errorf("agent: frame of %d bytes", n)
	}
	if err := c.fill(4 + n); err != nil {
		return nil, err
	}
	body := c.buf[c.r+4 : c.r+4+n]
	start := c.base + int64(c.r)
	c.r += 4 + n
	c.claimFDs(start, c.base+int64(c.r))
	return body, nil
}

// claimFDs moves the descriptors of the frame at stream offsets
// [start, end) to c.fds; those of earlier frames, which no request
// took, are closed.
func (c *conn) claimFDs(start, end int64) {
	keep := c.recv[:0]
	for _, b := range c.recv {
		switch {
		case b.last < start:
			for _, fd := range b.fds {
				unix.Close(fd)
			}
		case b.last < end:
			c.fds = append(c.fds, b.fds...)
		default:
			keep = append(keep, b)
		}
	}
	clear(c.recv[len(keep):])
	c.recv = keep
}

// fill reads until buf[r:] holds at least n bytes.
func (c *conn) fill(n int) error {
	if c.w-c.r >= n {
		return nil
	}
	if c.r > 0 {
		copy(c.buf, c.buf[c.r:c.w])
		c.w -= c.r
		c.base += int64(c.r)
		c.r = 0
	}
	if n > len(c.buf) {
		nb := make([]byte, max(n, 2*len(c.buf)))
		copy(nb, c.buf[:c.w])
		c.buf = nb
	}
	for c.w < n {
		m, oobn, _, _, err := c.nc.ReadMsgUnix(c.buf[c.w:], c.oob)
		if oobn > 0 {
			c.takeFDs(c.oob[:oobn], c.base+int64(c.w+m)-1)
		}
		if m == 0 && err == nil {
			return fmt.Errorf("agent: connection closed")
		}
		c.w += m
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *conn) takeFDs(oob []byte, last int64) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	var fds []int
	for _, m := range msgs {
		if got, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, got...)
		}
	}
	if len(fds) > 0 {
		c.recv = append(c.recv, fdBatch{last: last, fds: fds})
	}
}

// closeFDs closes the current frame's descriptors its request did not
// take.
func (c *conn) closeFDs() {
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	c.fds = c.fds[:0]
}

// closeAllFDs also closes descriptors received for frames never read.
func (c *conn) closeAllFDs() {
	c.closeFDs()
	c.claimFDs(1<<62, 1<<62)
}

// session is one caller-side client in one process; see the package doc.
type session struct {
	a      *Agent
	ce     *clientEntry
	id     uint64
	secret uint64
	uid    uint32
	// cl is the shared client under ctx, a context that lives as long as
	// the session: files and directories are opened through it, so their
	// I/O (and the write-behind it starts) runs under the session, never
	// under the request, connection or thread that opened them. A Go
	// File keeps the context it was opened with for every later call, so
	// opening under a request's context would let that request's
	// deadline or its connection's end cancel the handle. endSession
	// cancels ctx once release has flushed and closed everything.
	ctx    context.Context
	cancel context.CancelFunc
	cl     *shoal.Client

	mu       sync.Mutex // guards the fields below
	conns    int
	ended    bool
	files    map[int64]*openFile
	dirs     map[int64]*dirState
	iovs     map[int64]*iov
	timeout  time.Duration // per request; 0 none
	parallel int
	kv       kvScanners // its own lock
}

// openFile is an open file and what reopening it elsewhere needs.
type openFile struct {
	f     *shoal.File
	path  string
	flags int
}

type dirState struct {
	f *shoal.File
}

// iov is a caller's shared-memory buffer mapped into the agent. users
// counts requests using mem; unregistering waits for them by unmapping
// only when the last one is done.
type iov struct {
	mem   []byte
	users int
	dead  bool
}

// newID names a handle, directory or buffer. IDs come from one
// agent-wide counter seeded at random, so an ID from an ended session
// (or a previous agent) fails with EBADF instead of naming another
// session's object.
func (s *session) newID() int64 {
	return s.a.nextID.Add(1)
}

func (s *session) file(h int64) (*shoal.File, error) {
	s.mu.Lock()
	of, ok := s.files[h]
	s.mu.Unlock()
	if !ok {
		return nil, syscall.EBADF
	}
	return of.f, nil
}

// useIov returns the part [off, off+n) of a registered buffer, held
// until done is called.
func (s *session) useIov(id, off, n int64) ([]byte, func(), error) {
	s.mu.Lock()
	v, ok := s.iovs[id]
	if !ok || v.dead {
		s.mu.Unlock()
		return nil, nil, syscall.EBADF
	}
	if off < 0 || n < 0 || off+n > int64(len(v.mem)) {
		s.mu.Unlock()
		return nil, nil, syscall.EFAULT
	}
	v.users++
	s.mu.Unlock()
	return v.mem[off : off+n], func() { s.doneIov(v) }, nil
}

func (s *session) doneIov(v *iov) {
	s.mu.Lock()
	v.users--
	unmap := v.dead && v.users == 0
	s.mu.Unlock()
	if unmap {
		_ = unix.Munmap(v.mem)
	}
}

func (s *session) unregIov(id int64) error {
	s.mu.Lock()
	v, ok := s.iovs[id]
	if !ok {
		s.mu.Unlock()
		return syscall.EBADF
	}
	delete(s.iovs, id)
	v.dead = true
	unmap := v.users == 0
	s.mu.Unlock()
	if unmap {
		return unix.Munmap(v.mem)
	}
	return nil
}

// addFile registers an open file; a session that ended meanwhile (its
// last connection closed or STOP came while the open ran) closes it
// instead, since nothing would ever release it.
func (s *session) addFile(of *openFile) (int64, error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		of.f.Close()
		return 0, syscall.ENOTCONN
	}
	h := s.newID()
	s.files[h] = of
	s.mu.Unlock()
	return h, nil
}

// addDir is addFile for a directory iterator.
func (s *session) addDir(f *shoal.File) (int64, error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		f.Close()
		return 0, syscall.ENOTCONN
	}
	h := s.newID()
	s.dirs[h] = &dirState{f: f}
	s.mu.Unlock()
	return h, nil
}

// release closes everything the session holds: files are flushed and
// closed, as a process's descriptors are at exit.
func (s *session) release() {
	s.mu.Lock()
	files, dirs, iovs := s.files, s.dirs, s.iovs
	s.files, s.dirs, s.iovs = map[int64]*openFile{}, map[int64]*dirState{}, map[int64]*iov{}
	s.mu.Unlock()
	for _, of := range files {
		if err := of.f.Close(); err != nil {
			s.a.log.Warn("agent: closing a file left open", "file", of.path, "err", err)
		}
	}
	for _, d := range dirs {
		d.f.Close()
	}
	s.kv.closeAll()
	for id := range iovs {
		s.mu.Lock()
		s.iovs[id] = iovs[id]
		s.mu.Unlock()
		_ = s.unregIov(id)
	}
}
