package rpc

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

type sessionServer struct {
	pb.UnimplementedSessionServer
	s *Server
}

// maxAlloc bounds one AllocSliceIDs call.
const maxAlloc = 1 << 16

func (ss *sessionServer) reply(ctx context.Context, sess *meta.Session, ttl time.Duration) (*pb.SessionReply, error) {
	st, err := ss.s.b.Status(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.SessionReply{Id: sess.ID(), Ttl: int64(ttl), BlockUrls: st.BlockURLs}, nil
}

func (ss *sessionServer) Create(ctx context.Context, r *pb.CreateSessionRequest) (*pb.SessionReply, error) {
	ctx, c, err := ss.s.state(ctx, pb.Session_Create_FullMethodName)
	if err != nil {
		return nil, err
	}
	ttl := time.Duration(r.Ttl)
	if ttl <= 0 {
		ttl = ss.s.opts.SessionTTL
	}
	info := meta.SessionInfo{Host: r.Host, PID: int(r.Pid), Client: r.Client, Addr: peerAddr(ctx),
		Owner: c.id.Uid, OwnerSet: true}
	sess, err := c.fs.NewSession(ctx, info, ttl)
	if err != nil {
		return nil, toStatus(err)
	}
	ss.s.putSession(c.fsName, sess)
	ss.s.adopt(c, sess.ID())
	return ss.reply(ctx, sess, ttl)
}

func (ss *sessionServer) Resume(ctx context.Context, r *pb.ResumeSessionRequest) (*pb.SessionReply, error) {
	ctx, c, err := ss.s.state(ctx, pb.Session_Resume_FullMethodName)
	if err != nil {
		return nil, err
	}
	// meta makes the session's holds exactly the client's handles, whether
	// or not this server held it already.
	open := make([]meta.Ino, len(r.Open))
	for i, ino := range r.Open {
		open[i] = meta.Ino(ino)
	}
	if !ss.s.ownsSession(ctx, c, r.Id) {
		return nil, status.Errorf(codes.PermissionDenied, "rpc: session %d belongs to another user", r.Id)
	}
	// Only the inodes the caller may read or write are held, before meta
	// holds anything.
	open, writable, err := ss.s.resumeAccess(ctx, c, open)
	if err != nil {
		return nil, toStatus(err)
	}
	sess, err := c.fs.ResumeSession(ctx, r.Id, open)
	if err != nil {
		return nil, toStatus(err)
	}
	ss.s.putSession(c.fsName, sess)
	ss.s.resumeGrants(c, r.Id, open, writable)
	return ss.reply(ctx, sess, ss.s.opts.SessionTTL)
}

func (ss *sessionServer) Heartbeat(ctx context.Context, r *pb.SessionID) (*pb.Empty, error) {
	ctx, c, err := ss.s.state(ctx, pb.Session_Heartbeat_FullMethodName)
	if err != nil {
		return nil, err
	}
	if !ss.s.ownsSession(ctx, c, r.Id) {
		return nil, status.Errorf(codes.PermissionDenied, "rpc: session %d belongs to another user", r.Id)
	}
	sess, err := ss.s.session(c.fsName, r.Id)
	if err != nil {
		return nil, err
	}
	if err := sess.Heartbeat(ctx); err != nil {
		if fserr.Is(fserr.NotExist, err) {
			// Expired and cleaned behind our back: let the client find out
			// through Resume, which replaces it.
			ss.s.dropSession(c.fsName, r.Id)
			return nil, errUnknownSession(r.Id)
		}
		return nil, toStatus(err)
	}
	ss.s.renewGrants(ctx, c, r.Id)
	return empty, nil
}

func (ss *sessionServer) Close(ctx context.Context, r *pb.SessionID) (*pb.Empty, error) {
	ctx, c, err := ss.s.state(ctx, pb.Session_Close_FullMethodName)
	if err != nil {
		return nil, err
	}
	if !ss.s.ownsSession(ctx, c, r.Id) {
		return nil, status.Errorf(codes.PermissionDenied, "rpc: session %d belongs to another user", r.Id)
	}
	sess, err := ss.s.session(c.fsName, r.Id)
	if err != nil {
		// Not held here (a restart): resume it with no opens so that its
		// Close cleans the record instead of leaving it to expire.
		if sess, err = c.fs.ResumeSession(ctx, r.Id, nil); err != nil {
			if fserr.Is(fserr.NotExist, err) {
				return empty, nil
			}
			return nil, toStatus(err)
		}
	}
	ss.s.dropSession(c.fsName, r.Id)
	return emptyReply(sess.Close())
}

func (ss *sessionServer) AllocSliceIDs(ctx context.Context, r *pb.AllocRequest) (*pb.Range, error) {
	ctx, c, err := ss.s.state(ctx, pb.Session_AllocSliceIDs_FullMethodName)
	if err != nil {
		return nil, err
	}
	if !ss.s.ownsSession(ctx, c, r.Id) {
		return nil, status.Errorf(codes.PermissionDenied, "rpc: session %d belongs to another user", r.Id)
	}
	if r.N <= 0 || r.N > maxAlloc {
		return nil, status.Errorf(codes.InvalidArgument, "rpc: AllocSliceIDs: n %d outside [1, %d]", r.N, maxAlloc)
	}
	sess, err := ss.s.session(c.fsName, r.Id)
	if err != nil {
		return nil, err
	}
	lo, hi, err := sess.AllocSliceIDs(ctx, int(r.N))
	if err != nil {
		if fserr.Is(fserr.NotExist, err) { // the only NotExist: the session is gone
			ss.s.dropSession(c.fsName, r.Id)
			return nil, errUnknownSession(r.Id)
		}
		return nil, toStatus(err)
	}
	ss.s.sendWriteGrant(ctx, c, r.Id, lo, hi)
	return &pb.Range{Lo: lo, Hi: hi}, nil
}
