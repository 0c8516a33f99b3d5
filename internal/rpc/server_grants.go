package rpc

import (
	"context"
	"os"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/shoalfs/shoal/internal/blockserver"
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
// super identity. A session this server holds no record of (a restart
// before its Resume, or one created through another meta process on the
// engine) is judged by the owner its engine record names; one whose
// record names none (an older server's) or that is gone is left to the
// call, which resumes or refuses it.
func (s *Server) ownsSession(ctx context.Context, c *call, id uint64) bool {
	if c.super {
		return true
	}
	s.mu.Lock()
	g, ok := s.mu.grants[sessKey{c.fsName, id}]
	s.mu.Unlock()
	if ok {
		return g.owner == c.id.Uid
	}
	owner, set, err := c.fs.SessionOwner(ctx, id)
	if err != nil {
		return fserr.Is(fserr.NotExist, err)
	}
	return !set || owner == c.id.Uid
}

// holdsSession reports whether c may act in session id, which this
// server holds: its owner or a super identity. Unlike ownsSession it
// knows the owner (Create and Resume recorded it), so it has no
// benefit of the doubt to give.
func (s *Server) holdsSession(c *call, id uint64) bool {
	if c.super {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.mu.grants[sessKey{c.fsName, id}]
	return ok && g.owner == c.id.Uid
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

// resumeAccess filters a Resume's open list, which is the client's word,
// to the inodes the caller may read or write now, and tells which it may
// write. An inode it may do neither with is left out before meta holds
// anything: otherwise Resume would open any file without a permission
// check, and a hold on another user's unlinked file keeps it, and its
// blocks, from being reclaimed for as long as the session lives. Only a
// refusal (or an inode gone) drops an inode; any other error fails the
// Resume, since dropping a legitimate handle's hold would let its file be
// reclaimed under it.
func (s *Server) resumeAccess(ctx context.Context, c *call, open []meta.Ino) ([]meta.Ino, map[meta.Ino]bool, error) {
	writable := map[meta.Ino]bool{}
	if c.super {
		for _, ino := range open {
			writable[ino] = true
		}
		return open, writable, nil
	}
	refused := func(err error) bool {
		return fserr.Is(fserr.Permission, err) || fserr.Is(fserr.NotPermitted, err) || fserr.Is(fserr.NotExist, err)
	}
	decided := map[meta.Ino]bool{} // ino -> kept
	kept := make([]meta.Ino, 0, len(open))
	for _, ino := range open {
		keep, seen := decided[ino]
		if !seen {
			err := c.fs.Access(ctx, c.id, ino, meta.AccessWrite)
			switch {
			case err == nil:
				keep, writable[ino] = true, true
			case !refused(err):
				return nil, nil, err
			default:
				err = c.fs.Access(ctx, c.id, ino, meta.AccessRead)
				if err != nil && !refused(err) {
					return nil, nil, err
				}
				keep = err == nil
				if !keep && !fserr.Is(fserr.NotExist, err) {
					// The owner keeps the hold on a file it made
					// unreadable to itself (chmod 000 while open): it
					// may chmod it back, so the hold gives it nothing
					// new, and dropping it would reclaim the file under
					// its handle.
					a, err := c.fs.GetAttr(ctx, ino)
					if err != nil && !refused(err) {
						return nil, nil, err
					}
					keep = err == nil && a.Uid == c.id.Uid
				}
			}
			decided[ino] = keep
		}
		if keep {
			kept = append(kept, ino)
		}
	}
	return kept, writable, nil
}

// resumeGrants rebuilds the grants of a resumed session from the open
// inodes resumeAccess kept: writable where the caller may write the file
// now, readable elsewhere.
func (s *Server) resumeGrants(c *call, id uint64, open []meta.Ino, writable map[meta.Ino]bool) {
	g := s.adopt(c, id)
	for _, ino := range open {
		gr := g.open[ino]
		gr.handles++
		gr.writable = writable[ino]
		g.open[ino] = gr
	}
}

// Block grants. With tokens, the block server lets a non-super token
// reach only the blocks meta vouched for (blockserver.GrantKey): ReadChunk
// and OpenRead return, in the response header shoal-grant, a read grant
// for the slices they list of an inode open in the caller's session;
// AllocSliceIDs returns a write grant for the ids it reserved when the
// session holds an inode open for writing. A Heartbeat whose metadata
// carries shoal-grant-renew tokens (expired or not) gets them renewed in
// its header, for as long as the conditions they were issued under still
// hold: the inode open in the same session (read), an inode open for
// writing (write). Grants carry no state here, so they survive a restart
// of this server as long as the key does.

// DefaultGrantTTL is how long a block grant lasts when
// ServerOptions.GrantTTL is 0. The holder renews it, so this only bounds
// how long a grant outlives the handle it was issued for.
const DefaultGrantTTL = 15 * time.Minute

// MaxWriteGrantAge bounds how long after its first issue a write grant is
// renewed. A write grant is renewed while its session holds any inode
// open for writing, which a long-lived mount may do for days; without a
// bound one leaked token would write its ids for as long. Clients take a
// fresh id batch (and with it a fresh grant) well within this age
// (client.go, newSliceID). A version 1 grant carries no issue time and
// is not renewed as a write grant.
const MaxWriteGrantAge = time.Hour

// maxRenew bounds the grants one Heartbeat renews.
const maxRenew = 1024

func (s *Server) issuesGrants(c *call) bool {
	return s.opts.Grants != nil && len(s.opts.Tokens) > 0 && !c.super
}

func (s *Server) grantTTL() time.Duration {
	if s.opts.GrantTTL > 0 {
		return s.opts.GrantTTL
	}
	return DefaultGrantTTL
}

// sendGrants adds tokens to the response header. A failure (the header
// was sent already) only costs the client a refused block request.
func sendGrants(ctx context.Context, key string, tokens []string) {
	if len(tokens) == 0 {
		return
	}
	md := metadata.MD{}
	md.Append(key, tokens...)
	_ = grpc.SetHeader(ctx, md)
}

// sendReadGrant attaches a read grant for the slices of ino that a data
// call of c returns.
func (s *Server) sendReadGrant(ctx context.Context, c *call, ino meta.Ino, ss []meta.Slice) {
	if !s.issuesGrants(c) || len(ss) == 0 {
		return
	}
	ids := make([]uint64, len(ss))
	for i, sl := range ss {
		ids[i] = sl.ID
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	ranges := blockserver.IDRanges(ids)
	if len(ranges) == 0 {
		return
	}
	now := time.Now()
	tok := s.opts.Grants.Sign(blockserver.Grant{FS: c.fsName, FSID: uint64(c.fs.ID()), Session: c.sessID, Ino: uint64(ino),
		Mode: blockserver.GrantRead, IDs: ranges, Expires: now.Add(s.grantTTL()), Issued: now})
	sendGrants(ctx, mdGrant, []string{tok})
}

// sendWriteGrant attaches a write grant for ids [lo, hi) reserved under
// session sess when it holds an inode open for writing.
func (s *Server) sendWriteGrant(ctx context.Context, c *call, sess, lo, hi uint64) {
	if !s.issuesGrants(c) || !s.holdsWritable(c.fsName, sess) {
		return
	}
	now := time.Now()
	tok := s.opts.Grants.Sign(blockserver.Grant{FS: c.fsName, FSID: uint64(c.fs.ID()), Session: sess, Mode: blockserver.GrantWrite,
		IDs: [][2]uint64{{lo, hi}}, Expires: now.Add(s.grantTTL()), Issued: now})
	sendGrants(ctx, mdGrant, []string{tok})
}

// holdsWritable reports whether session sess holds some inode open for
// writing.
func (s *Server) holdsWritable(fsName string, sess uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.mu.grants[sessKey{fsName, sess}]; g != nil {
		for _, gr := range g.open {
			if gr.writable {
				return true
			}
		}
	}
	return false
}

// holdsOpen reports whether session sess holds ino open.
func (s *Server) holdsOpen(fsName string, sess uint64, ino meta.Ino) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.mu.grants[sessKey{fsName, sess}]; g != nil {
		_, ok := g.open[ino]
		return ok
	}
	return false
}

// renewGrants renews the grants a Heartbeat of session sess carries in
// its metadata; the ones whose conditions no longer hold, or that are not
// this session's or this filesystem's (by id: a filesystem deleted and
// created again under its name starts its sessions and slice ids over),
// or write grants first issued more than MaxWriteGrantAge ago, are
// dropped, and so are version 1 grants, which name no filesystem id. A
// renewal keeps the first issue time.
func (s *Server) renewGrants(ctx context.Context, c *call, sess uint64) {
	if !s.issuesGrants(c) {
		return
	}
	md, _ := metadata.FromIncomingContext(ctx)
	old := md.Get(mdGrantRenew)
	if len(old) > maxRenew {
		old = old[:maxRenew]
	}
	var out []string
	now := time.Now()
	exp := now.Add(s.grantTTL())
	for _, t := range old {
		g, err := s.opts.Grants.Verify(t)
		if err != nil || g.FS != c.fsName || g.FSID != uint64(c.fs.ID()) || g.Session != sess {
			continue
		}
		switch g.Mode {
		case blockserver.GrantRead:
			if !s.holdsOpen(c.fsName, sess, meta.Ino(g.Ino)) {
				continue
			}
		case blockserver.GrantWrite:
			if g.Issued.IsZero() || now.Sub(g.Issued) > MaxWriteGrantAge || !s.holdsWritable(c.fsName, sess) {
				continue
			}
		default:
			continue
		}
		g.Expires = exp
		out = append(out, s.opts.Grants.Sign(g))
	}
	sendGrants(ctx, mdGrant, out)
}
