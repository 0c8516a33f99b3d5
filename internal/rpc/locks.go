package rpc

import (
	"context"

	"google.golang.org/grpc"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// The Locks service carries meta.Locker. Its calls act in the caller's
// session (begin binds it), which owns the locks: the server's session
// reaper releases them when the client stops beating. Both calls are
// idempotent (setting or clearing the same range twice leaves the same
// table), so they carry no request id.

type locksServer struct {
	pb.UnimplementedLocksServer
	s *Server
}

func (ls *locksServer) locker(ctx context.Context, method string) (context.Context, meta.Locker, error) {
	ctx, c, err := ls.s.state(ctx, method)
	if err != nil {
		return ctx, nil, err
	}
	// Without a session the locks would belong to the server's own
	// session, which never expires: refuse rather than leak them.
	if c.sess == nil {
		return ctx, nil, toStatus(fserr.Errorf("rpc.Lock", fserr.Invalid, "rpc: lock calls need a session"))
	}
	return ctx, c.sess, nil
}

func lockOfPB(r *pb.LockRequest) meta.Lock {
	return meta.Lock{Flock: r.Flock, Owner: r.Owner, Type: meta.LockType(r.Type), Start: r.Start, End: r.End, PID: r.Pid}
}

func lockToPB(ino meta.Ino, l *meta.Lock) *pb.LockRequest {
	return &pb.LockRequest{Ino: uint64(ino), Flock: l.Flock, Owner: l.Owner, Type: pb.LockRequest_Type(l.Type),
		Start: l.Start, End: l.End, Pid: l.PID}
}

func (ls *locksServer) SetLock(ctx context.Context, r *pb.LockRequest) (*pb.Empty, error) {
	ctx, lk, err := ls.locker(ctx, pb.Locks_SetLock_FullMethodName)
	if err != nil {
		return nil, err
	}
	if err := lk.SetLock(ctx, meta.Ino(r.Ino), lockOfPB(r)); err != nil {
		return nil, toStatus(err)
	}
	return &pb.Empty{}, nil
}

func (ls *locksServer) GetLock(ctx context.Context, r *pb.LockRequest) (*pb.LockReply, error) {
	ctx, lk, err := ls.locker(ctx, pb.Locks_GetLock_FullMethodName)
	if err != nil {
		return nil, err
	}
	l, err := lk.GetLock(ctx, meta.Ino(r.Ino), lockOfPB(r))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.LockReply{Lock: lockToPB(meta.Ino(r.Ino), &l), Session: l.Session}, nil
}

var _ meta.Locker = (*metaClient)(nil)

func doLocks[R any](ctx context.Context, c *Conn, op string, fn func(ctx context.Context, lc pb.LocksClient) (R, error)) (R, error) {
	var out R
	if c.closed.Load() {
		return out, fserr.Errorf(op, fserr.Closed, "rpc: connection closed")
	}
	err := c.invoke(ctx, op, false, nil, callOpts{}, func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
		var err error
		out, err = fn(ctx, pb.NewLocksClient(cc))
		return err
	})
	return out, err
}

// SetLock is meta.Locker's over the Locks service.
func (m *metaClient) SetLock(ctx context.Context, ino meta.Ino, l meta.Lock) error {
	_, err := doLocks(ctx, m.c, "rpc.SetLock", func(ctx context.Context, lc pb.LocksClient) (*pb.Empty, error) {
		return lc.SetLock(ctx, lockToPB(ino, &l))
	})
	return err
}

// GetLock is meta.Locker's over the Locks service.
func (m *metaClient) GetLock(ctx context.Context, ino meta.Ino, l meta.Lock) (meta.Lock, error) {
	r, err := doLocks(ctx, m.c, "rpc.GetLock", func(ctx context.Context, lc pb.LocksClient) (*pb.LockReply, error) {
		return lc.GetLock(ctx, lockToPB(ino, &l))
	})
	if err != nil || r.Lock == nil {
		return meta.Lock{}, err
	}
	out := lockOfPB(r.Lock)
	out.Session = r.Session
	return out, nil
}
