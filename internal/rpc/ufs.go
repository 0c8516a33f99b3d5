package rpc

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// The Ufs service (api/shoal/v1/ufs.proto) administers dataset mounts:
// meta.MountAdmin over the wire. Mount and Unmount need a super token
// (they change what every user sees and which store the servers read);
// Mounts needs only a valid identity, since a record holds no secret.

// RegisterUfs adds the Ufs service to g (beside Register's).
func (s *Server) RegisterUfs(g *grpc.Server) {
	pb.RegisterUfsServer(g, &ufsServer{s: s})
}

type ufsServer struct {
	pb.UnimplementedUfsServer
	s *Server
}

func (us *ufsServer) Mount(ctx context.Context, r *pb.MountRecord) (*pb.MountRecord, error) {
	ctx, c, err := us.s.state(ctx, pb.Ufs_Mount_FullMethodName)
	if err != nil {
		return nil, err
	}
	if !c.super {
		return nil, status.Error(codes.PermissionDenied, "rpc: mounting a dataset needs a super token")
	}
	m, err := c.fs.Mount(ctx, meta.Root, mountFromPB(r))
	if err != nil {
		return nil, toStatus(err)
	}
	return mountToPB(&m), nil
}

func (us *ufsServer) Unmount(ctx context.Context, r *pb.UnmountRequest) (*pb.MountRecord, error) {
	ctx, c, err := us.s.state(ctx, pb.Ufs_Unmount_FullMethodName)
	if err != nil {
		return nil, err
	}
	if !c.super {
		return nil, status.Error(codes.PermissionDenied, "rpc: unmounting a dataset needs a super token")
	}
	m, err := c.fs.Unmount(ctx, meta.Root, r.Path)
	if err != nil {
		return nil, toStatus(err)
	}
	return mountToPB(&m), nil
}

func (us *ufsServer) Mounts(ctx context.Context, _ *pb.Empty) (*pb.MountList, error) {
	ctx, c, err := us.s.state(ctx, pb.Ufs_Mounts_FullMethodName)
	if err != nil {
		return nil, err
	}
	l, err := c.fs.Mounts(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.MountList{Mounts: make([]*pb.MountRecord, len(l))}
	for i := range l {
		out.Mounts[i] = mountToPB(&l[i])
	}
	return out, nil
}

func mountToPB(m *meta.Mount) *pb.MountRecord {
	return &pb.MountRecord{Root: uint64(m.Root), Path: m.Path, Url: m.URL, Endpoint: m.Endpoint, Region: m.Region,
		PathStyle: m.PathStyle, CredentialsFile: m.CredentialsFile, SyncIntervalNs: int64(m.SyncInterval),
		WriteThrough: m.WriteThrough, Uid: m.Uid, Gid: m.Gid, Mode: m.Mode, Created: m.Created}
}

func mountFromPB(r *pb.MountRecord) meta.Mount {
	return meta.Mount{Root: meta.Ino(r.Root), Path: r.Path, URL: r.Url, Endpoint: r.Endpoint, Region: r.Region,
		PathStyle: r.PathStyle, CredentialsFile: r.CredentialsFile, SyncInterval: time.Duration(r.SyncIntervalNs),
		WriteThrough: r.WriteThrough, Uid: r.Uid, Gid: r.Gid, Mode: r.Mode, Created: r.Created}
}

func doUfs[R any](ctx context.Context, c *Conn, op string, mutation bool,
	fn func(ctx context.Context, uc pb.UfsClient) (R, error)) (R, error) {
	var out R
	if c.closed.Load() {
		return out, fserr.Errorf(op, fserr.Closed, "rpc: connection closed")
	}
	err := c.invoke(ctx, op, mutation, nil, callOpts{}, func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
		var err error
		out, err = fn(ctx, pb.NewUfsClient(cc))
		return err
	})
	return out, err
}

// Mount is meta.MountAdmin's over the Ufs service; id is ignored (the
// server acts for the token, which must be a super token).
func (m *metaClient) Mount(ctx context.Context, _ meta.Identity, mo meta.Mount) (meta.Mount, error) {
	r, err := doUfs(ctx, m.c, "rpc.Mount", true, func(ctx context.Context, uc pb.UfsClient) (*pb.MountRecord, error) {
		return uc.Mount(ctx, mountToPB(&mo))
	})
	if err != nil {
		return meta.Mount{}, err
	}
	return mountFromPB(r), nil
}

// Unmount is meta.MountAdmin's over the Ufs service.
func (m *metaClient) Unmount(ctx context.Context, _ meta.Identity, path string) (meta.Mount, error) {
	r, err := doUfs(ctx, m.c, "rpc.Unmount", true, func(ctx context.Context, uc pb.UfsClient) (*pb.MountRecord, error) {
		return uc.Unmount(ctx, &pb.UnmountRequest{Path: path})
	})
	if err != nil {
		return meta.Mount{}, err
	}
	return mountFromPB(r), nil
}

// Mounts is meta.MountAdmin's over the Ufs service.
func (m *metaClient) Mounts(ctx context.Context) ([]meta.Mount, error) {
	r, err := doUfs(ctx, m.c, "rpc.Mounts", false, func(ctx context.Context, uc pb.UfsClient) (*pb.MountList, error) {
		return uc.Mounts(ctx, empty)
	})
	if err != nil {
		return nil, err
	}
	out := make([]meta.Mount, len(r.Mounts))
	for i, x := range r.Mounts {
		out[i] = mountFromPB(x)
	}
	return out, nil
}

var _ meta.MountAdmin = (*metaClient)(nil)
