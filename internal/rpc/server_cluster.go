package rpc

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/ring"
)

// clusterServer keeps the worker leases in the engine every meta process
// shares, so a worker may heartbeat to any of them.
type clusterServer struct {
	pb.UnimplementedClusterServer
	s *Server
}

func leaseToPB(w meta.Worker) *pb.WorkerLease {
	return &pb.WorkerLease{Id: w.ID, Url: w.URL, Capacity: w.Capacity,
		Heartbeat: w.Heartbeat.UnixNano(), Expires: w.Expires.UnixNano()}
}

func leaseFromPB(l *pb.WorkerLease) meta.Worker {
	return meta.Worker{ID: l.Id, URL: l.Url, Capacity: l.Capacity,
		Heartbeat: time.Unix(0, l.Heartbeat), Expires: time.Unix(0, l.Expires)}
}

func ringToPB(p ring.Params) *pb.RingParams {
	return &pb.RingParams{Version: p.Version, Vnodes: uint32(p.VNodes), Hash: p.Hash}
}

func ringFromPB(p *pb.RingParams) ring.Params {
	if p == nil {
		return ring.Params{}
	}
	return ring.Params{Version: p.Version, VNodes: int(p.Vnodes), Hash: p.Hash}
}

func (cs *clusterServer) Heartbeat(ctx context.Context, r *pb.WorkerLease) (*pb.WorkerLease, error) {
	ctx, c, err := cs.s.state(ctx, pb.Cluster_Heartbeat_FullMethodName)
	if err != nil {
		return nil, err
	}
	if !c.super {
		return nil, status.Error(codes.PermissionDenied, "rpc: a worker lease needs a super token")
	}
	w, err := meta.HeartbeatWorker(ctx, cs.s.b.Engine(), leaseFromPB(r), time.Duration(r.Ttl))
	if err != nil {
		return nil, toStatus(err)
	}
	return leaseToPB(w), nil
}

func (cs *clusterServer) Leave(ctx context.Context, r *pb.WorkerID) (*pb.Empty, error) {
	ctx, c, err := cs.s.state(ctx, pb.Cluster_Leave_FullMethodName)
	if err != nil {
		return nil, err
	}
	if !c.super {
		return nil, status.Error(codes.PermissionDenied, "rpc: dropping a worker lease needs a super token")
	}
	return emptyReply(meta.LeaveWorker(ctx, cs.s.b.Engine(), r.Id))
}

func (cs *clusterServer) Members(ctx context.Context, r *pb.MembersRequest) (*pb.MemberList, error) {
	ctx, _, err := cs.s.state(ctx, pb.Cluster_Members_FullMethodName)
	if err != nil {
		return nil, err
	}
	eng := cs.s.b.Engine()
	p, err := meta.RingParams(ctx, eng)
	if err != nil {
		return nil, toStatus(err)
	}
	ws, err := meta.Workers(ctx, eng, time.Now(), r.All)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.MemberList{Ring: ringToPB(p), Workers: make([]*pb.WorkerLease, len(ws))}
	for i, w := range ws {
		out.Workers[i] = leaseToPB(w)
	}
	return out, nil
}
