package rpc

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/meta"
)

type adminServer struct {
	pb.UnimplementedAdminServer
	s *Server
}

func (a *adminServer) ListFS(ctx context.Context, _ *pb.Empty) (*pb.FSList, error) {
	ctx, _, err := a.s.state(ctx, pb.Admin_ListFS_FullMethodName)
	if err != nil {
		return nil, err
	}
	list, err := meta.ListFS(ctx, a.s.b.Engine())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.FSList{Fs: make([]*pb.FSInfo, len(list))}
	for i, f := range list {
		out.Fs[i] = fsInfoToPB(f)
	}
	return out, nil
}

func (a *adminServer) CreateFS(ctx context.Context, r *pb.FSName) (*pb.FSInfo, error) {
	ctx, c, err := a.s.state(ctx, pb.Admin_CreateFS_FullMethodName)
	if err != nil {
		return nil, err
	}
	if !c.super {
		return nil, status.Error(codes.PermissionDenied, "rpc: creating a filesystem needs a super token")
	}
	info, err := meta.CreateFS(ctx, a.s.b.Engine(), r.Name)
	if err != nil {
		return nil, toStatus(err)
	}
	return fsInfoToPB(info), nil
}

func (a *adminServer) DeleteFS(ctx context.Context, r *pb.FSName) (*pb.Empty, error) {
	ctx, c, err := a.s.state(ctx, pb.Admin_DeleteFS_FullMethodName)
	if err != nil {
		return nil, err
	}
	if !c.super {
		return nil, status.Error(codes.PermissionDenied, "rpc: deleting a filesystem needs a super token")
	}
	return emptyReply(meta.DeleteFS(ctx, a.s.b.Engine(), r.Name))
}

func (a *adminServer) Status(ctx context.Context, _ *pb.Empty) (*pb.StatusReply, error) {
	ctx, _, err := a.s.state(ctx, pb.Admin_Status_FullMethodName)
	if err != nil {
		return nil, err
	}
	st, err := a.s.b.Status(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.StatusReply{Version: st.Version, Started: unixNano(st.Started), Listen: st.Listen, BlockUrls: st.BlockURLs,
		EngineUrl: st.EngineURL, StoreUrl: st.StoreURL}
	if !st.Started.IsZero() {
		out.Uptime = int64(time.Since(st.Started))
	}
	list, err := meta.ListFS(ctx, a.s.b.Engine())
	if err != nil {
		return nil, toStatus(err)
	}
	for _, f := range list {
		fs, err := a.s.b.FS(ctx, f.Name)
		if err != nil {
			return nil, toStatus(err)
		}
		usage, err := fs.StatFS(ctx)
		if err != nil {
			return nil, toStatus(err)
		}
		sessions, err := fs.Sessions(ctx)
		if err != nil {
			return nil, toStatus(err)
		}
		fst := &pb.FSStatus{Info: fsInfoToPB(f), Usage: statFSToPB(usage), Sessions: make([]*pb.SessionInfo, len(sessions))}
		for i, s := range sessions {
			fst.Sessions[i] = sessionInfoToPB(s)
		}
		out.Fs = append(out.Fs, fst)
	}
	return out, nil
}
