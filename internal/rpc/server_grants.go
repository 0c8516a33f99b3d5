package rpc

import (
	"context"
	"os"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// The data-path calls (Write, ReadChunk, CompactChunk) carry no path and
// check no permission in meta: the permission was checked when the file
// was opened. So the server only lets a session touch the chunks of an
// inode that session holds open (for writing, to change them), and keeps
// the garbage-collection calls, which could drop live data, to super
// identities. Servers without tokens trust every caller (loopback only), so
// these checks apply only when tokens are configured.
//
// Grants live in memory beside the session. After a restart they are
// rebuilt from Resume's open list, writable where the caller may write the
// file now.

// grant is what one session may do with one inode.
type grant struct {
	handles  int
	writable bool // some handle was opened for writing
}

// sessGrants is the grants and the owner of one session.
type sessGrants struct {
	owner uint32 // uid that created or resumed the session
	open  map[meta.Ino]grant
}

func writeFlags(flags int) bool {
	return flags&(os.O_WRONLY|os.O_RDWR|os.O_TRUNC|os.O_APPEND) != 0
}

// adopt records the owner of a session created or resumed by c and resets
// its grants.
func (s *Server) adopt(c *call, id uint64) *sessGrants {
	g := &sessGrants{owner: c.id.Uid, open: make(map[meta.Ino]grant)}
	s.mu.Lock()
	s.mu.grants[sessKey{c.fsName, id}] = g
	s.mu.Unlock()
	return g
}

// ownsSession reports whether c may act on session id: its owner or a
// super identity. A session this server has no record of (a restart
// before its Resume) is treated as the caller's.
func (s *Server) ownsSession(c *call, id uint64) bool {
	if c.super {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.mu.grants[sessKey{c.fsName, id}]
	return !ok || g.owner == c.id.Uid
}

func (s *Server) grantOpen(c *call, ino meta.Ino, write bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.mu.grants[sessKey{c.fsName, c.sessID}]
	if g == nil {
		g = &sessGrants{owner: c.id.Uid, open: make(map[meta.Ino]grant)}
		s.mu.grants[sessKey{c.fsName, c.sessID}] = g
	}
	gr := g.open[ino]
	gr.handles++
	gr.writable = gr.writable || write
	g.open[ino] = gr
}

func (s *Server) grantRelease(c *call, ino meta.Ino) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.mu.grants[sessKey{c.fsName, c.sessID}]
	if g == nil {
		return
	}
	if gr, ok := g.open[ino]; ok {
		if gr.handles--; gr.handles <= 0 {
			delete(g.open, ino)
		} else {
			g.open[ino] = gr
		}
	}
}

// mayData checks that c's session holds ino open (for writing when write
// is set) before a data-path call.
func (s *Server) mayData(op string, c *call, ino meta.Ino, write bool) error {
	if c.super {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.mu.grants[sessKey{c.fsName, c.sessID}]; g != nil && c.sess != nil {
		if gr, ok := g.open[ino]; ok && (gr.writable || !write) {
			return nil
		}
	}
	what := "open"
	if write {
		what = "open for writing"
	}
	return toStatus(fserr.Errorf(op, fserr.BadHandle, "rpc: inode %d is not %s in this session", ino, what))
}

// maySuper keeps administrative and garbage-collection calls to super
// identities.
func maySuper(op string, c *call) error {
	if c.super {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "rpc: %s needs a super-user token", op)
}

// resumeGrants rebuilds the grants of a resumed session from the client's
// open inodes: writable where the caller may write the file now.
func (s *Server) resumeGrants(ctx context.Context, c *call, id uint64, open []meta.Ino) {
	g := s.adopt(c, id)
	for _, ino := range open {
		gr := g.open[ino]
		if gr.handles == 0 {
			gr.writable = c.super || c.fs.Access(ctx, c.id, ino, meta.AccessWrite) == nil
		}
		gr.handles++
		g.open[ino] = gr
	}
}
