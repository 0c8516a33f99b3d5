package rpc

import (
	"context"
	"time"

	"google.golang.org/grpc"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/meta"
)

// metaServer serves meta.Service over the call's session (or FS).
type metaServer struct {
	pb.UnimplementedMetaServer
	s *Server
}

// liveBatch is how many slices one LiveSlices message carries.
const liveBatch = 4096

var empty = &pb.Empty{}

func (m *metaServer) call(ctx context.Context, method string) (context.Context, *call, error) {
	return m.s.state(ctx, method)
}

func attrReply(a meta.Attr, err error) (*pb.Attr, error) {
	if err != nil {
		return nil, toStatus(err)
	}
	return attrToPB(&a), nil
}

func emptyReply(err error) (*pb.Empty, error) {
	if err != nil {
		return nil, toStatus(err)
	}
	return empty, nil
}

func (m *metaServer) Resolve(ctx context.Context, r *pb.ResolveRequest) (*pb.Attr, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Resolve_FullMethodName)
	if err != nil {
		return nil, err
	}
	return attrReply(c.svc.Resolve(ctx, c.id, string(r.Path), r.Follow))
}

func (m *metaServer) Lookup(ctx context.Context, r *pb.LookupRequest) (*pb.Attr, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Lookup_FullMethodName)
	if err != nil {
		return nil, err
	}
	return attrReply(c.svc.Lookup(ctx, c.id, meta.Ino(r.Parent), string(r.Name)))
}

func (m *metaServer) GetAttr(ctx context.Context, r *pb.InoRequest) (*pb.Attr, error) {
	ctx, c, err := m.call(ctx, pb.Meta_GetAttr_FullMethodName)
	if err != nil {
		return nil, err
	}
	return attrReply(c.svc.GetAttr(ctx, meta.Ino(r.Ino)))
}

func (m *metaServer) SetAttr(ctx context.Context, r *pb.SetAttrRequest) (*pb.Attr, error) {
	ctx, c, err := m.call(ctx, pb.Meta_SetAttr_FullMethodName)
	if err != nil {
		return nil, err
	}
	return attrReply(c.svc.SetAttr(ctx, c.id, meta.Ino(r.Ino), r.Mask, attrFromPB(r.Attr)))
}

func (m *metaServer) Access(ctx context.Context, r *pb.AccessRequest) (*pb.Empty, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Access_FullMethodName)
	if err != nil {
		return nil, err
	}
	return emptyReply(c.svc.Access(ctx, c.id, meta.Ino(r.Ino), r.Mask))
}

func (m *metaServer) Mknod(ctx context.Context, r *pb.MknodRequest) (*pb.Attr, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Mknod_FullMethodName)
	if err != nil {
		return nil, err
	}
	return attrReply(c.svc.Mknod(ctx, c.id, meta.Ino(r.Parent), string(r.Name), meta.Type(r.Type), r.Mode, r.Rdev))
}

func (m *metaServer) Create(ctx context.Context, r *pb.CreateRequest) (*pb.Attr, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Create_FullMethodName)
	if err != nil {
		return nil, err
	}
	if c.sess == nil {
		return nil, errNoSession("rpc.Create")
	}
	a, err := c.svc.Create(ctx, c.id, meta.Ino(r.Parent), string(r.Name), r.Mode, int(r.Flags), r.Excl)
	if err == nil {
		m.s.grantOpen(c, a.Ino, true) // its creator may write a new file whatever the flags
	}
	return attrReply(a, err)
}

func (m *metaServer) Mkdir(ctx context.Context, r *pb.MkdirRequest) (*pb.Attr, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Mkdir_FullMethodName)
	if err != nil {
		return nil, err
	}
	return attrReply(c.svc.Mkdir(ctx, c.id, meta.Ino(r.Parent), string(r.Name), r.Mode))
}

func (m *metaServer) Unlink(ctx context.Context, r *pb.RemoveRequest) (*pb.Empty, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Unlink_FullMethodName)
	if err != nil {
		return nil, err
	}
	return emptyReply(c.svc.Unlink(ctx, c.id, meta.Ino(r.Parent), string(r.Name)))
}

func (m *metaServer) Rmdir(ctx context.Context, r *pb.RemoveRequest) (*pb.Empty, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Rmdir_FullMethodName)
	if err != nil {
		return nil, err
	}
	return emptyReply(c.svc.Rmdir(ctx, c.id, meta.Ino(r.Parent), string(r.Name)))
}

func (m *metaServer) Rename(ctx context.Context, r *pb.RenameRequest) (*pb.Empty, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Rename_FullMethodName)
	if err != nil {
		return nil, err
	}
	return emptyReply(c.svc.Rename(ctx, c.id, meta.Ino(r.Parent), string(r.Name), meta.Ino(r.NewParent), string(r.NewName), r.Flags))
}

func (m *metaServer) Link(ctx context.Context, r *pb.LinkRequest) (*pb.Attr, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Link_FullMethodName)
	if err != nil {
		return nil, err
	}
	return attrReply(c.svc.Link(ctx, c.id, meta.Ino(r.Ino), meta.Ino(r.NewParent), string(r.NewName)))
}

func (m *metaServer) Symlink(ctx context.Context, r *pb.SymlinkRequest) (*pb.Attr, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Symlink_FullMethodName)
	if err != nil {
		return nil, err
	}
	return attrReply(c.svc.Symlink(ctx, c.id, meta.Ino(r.Parent), string(r.Name), string(r.Target)))
}

func (m *metaServer) Readlink(ctx context.Context, r *pb.InoRequest) (*pb.ReadlinkResponse, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Readlink_FullMethodName)
	if err != nil {
		return nil, err
	}
	t, err := c.svc.Readlink(ctx, meta.Ino(r.Ino))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ReadlinkResponse{Target: []byte(t)}, nil
}

func (m *metaServer) ReadDir(ctx context.Context, r *pb.ReadDirRequest) (*pb.ReadDirResponse, error) {
	ctx, c, err := m.call(ctx, pb.Meta_ReadDir_FullMethodName)
	if err != nil {
		return nil, err
	}
	limit := int(r.Limit)
	if limit > maxReadDir {
		limit = maxReadDir
	}
	ents, cookie, err := c.svc.ReadDir(ctx, c.id, meta.Ino(r.Ino), r.Cookie, limit, r.Plus)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.ReadDirResponse{Cookie: cookie, Entries: make([]*pb.Entry, len(ents))}
	for i := range ents {
		e := &ents[i]
		pe := &pb.Entry{Name: []byte(e.Name), Ino: uint64(e.Ino), Type: uint32(e.Type)}
		if e.Attr != nil {
			pe.Attr = attrToPB(e.Attr)
		}
		out.Entries[i] = pe
	}
	return out, nil
}

func (m *metaServer) GetXattr(ctx context.Context, r *pb.XattrRequest) (*pb.XattrValue, error) {
	ctx, c, err := m.call(ctx, pb.Meta_GetXattr_FullMethodName)
	if err != nil {
		return nil, err
	}
	v, err := c.svc.GetXattr(ctx, c.id, meta.Ino(r.Ino), string(r.Name))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.XattrValue{Value: v}, nil
}

func (m *metaServer) SetXattr(ctx context.Context, r *pb.XattrRequest) (*pb.Empty, error) {
	ctx, c, err := m.call(ctx, pb.Meta_SetXattr_FullMethodName)
	if err != nil {
		return nil, err
	}
	return emptyReply(c.svc.SetXattr(ctx, c.id, meta.Ino(r.Ino), string(r.Name), r.Value, int(r.Flags)))
}

func (m *metaServer) ListXattr(ctx context.Context, r *pb.InoRequest) (*pb.XattrNames, error) {
	ctx, c, err := m.call(ctx, pb.Meta_ListXattr_FullMethodName)
	if err != nil {
		return nil, err
	}
	names, err := c.svc.ListXattr(ctx, c.id, meta.Ino(r.Ino))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.XattrNames{Names: make([][]byte, len(names))}
	for i, n := range names {
		out.Names[i] = []byte(n)
	}
	return out, nil
}

func (m *metaServer) RemoveXattr(ctx context.Context, r *pb.XattrRequest) (*pb.Empty, error) {
	ctx, c, err := m.call(ctx, pb.Meta_RemoveXattr_FullMethodName)
	if err != nil {
		return nil, err
	}
	return emptyReply(c.svc.RemoveXattr(ctx, c.id, meta.Ino(r.Ino), string(r.Name)))
}

func (m *metaServer) StatFS(ctx context.Context, _ *pb.Empty) (*pb.StatFS, error) {
	ctx, c, err := m.call(ctx, pb.Meta_StatFS_FullMethodName)
	if err != nil {
		return nil, err
	}
	st, err := c.svc.StatFS(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return statFSToPB(st), nil
}

func (m *metaServer) Open(ctx context.Context, r *pb.OpenRequest) (*pb.Attr, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Open_FullMethodName)
	if err != nil {
		return nil, err
	}
	if c.sess == nil {
		return nil, errNoSession("rpc.Open")
	}
	a, err := c.svc.Open(ctx, c.id, meta.Ino(r.Ino), int(r.Flags))
	if err == nil {
		m.s.grantOpen(c, a.Ino, writeFlags(int(r.Flags)))
	}
	return attrReply(a, err)
}

func (m *metaServer) Release(ctx context.Context, r *pb.InoRequest) (*pb.Empty, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Release_FullMethodName)
	if err != nil {
		return nil, err
	}
	if c.sess == nil {
		return nil, errNoSession("rpc.Release")
	}
	err = c.svc.Release(ctx, meta.Ino(r.Ino))
	if err == nil {
		m.s.grantRelease(c, meta.Ino(r.Ino))
	}
	return emptyReply(err)
}

func (m *metaServer) ReadChunk(ctx context.Context, r *pb.ReadChunkRequest) (*pb.Slices, error) {
	ctx, c, err := m.call(ctx, pb.Meta_ReadChunk_FullMethodName)
	if err != nil {
		return nil, err
	}
	if err := m.s.mayData("rpc.ReadChunk", c, meta.Ino(r.Ino), false); err != nil {
		return nil, err
	}
	ss, err := c.svc.ReadChunk(ctx, meta.Ino(r.Ino), r.Index)
	if err != nil {
		return nil, toStatus(err)
	}
	m.s.sendReadGrant(ctx, c, meta.Ino(r.Ino), ss)
	return &pb.Slices{Slices: slicesToPB(ss)}, nil
}

func (m *metaServer) Write(ctx context.Context, r *pb.WriteRequest) (*pb.Attr, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Write_FullMethodName)
	if err != nil {
		return nil, err
	}
	if err := m.s.mayData("rpc.Write", c, meta.Ino(r.Ino), true); err != nil {
		return nil, err
	}
	ws := make([]meta.ChunkWrite, len(r.Writes))
	for i, w := range r.Writes {
		ws[i] = meta.ChunkWrite{Index: w.Index, Slice: sliceFromPB(w.Slice)}
	}
	// The caller is the writer: root keeps setuid/setgid (CAP_FSETID).
	return attrReply(c.svc.Write(meta.WithWriter(ctx, c.id), meta.Ino(r.Ino), ws, time.Unix(0, r.Mtime)))
}

func (m *metaServer) CompactChunk(ctx context.Context, r *pb.CompactChunkRequest) (*pb.Empty, error) {
	ctx, c, err := m.call(ctx, pb.Meta_CompactChunk_FullMethodName)
	if err != nil {
		return nil, err
	}
	if err := m.s.mayData("rpc.CompactChunk", c, meta.Ino(r.Ino), true); err != nil {
		return nil, err
	}
	return emptyReply(c.svc.CompactChunk(ctx, meta.Ino(r.Ino), r.Index, slicesFromPB(r.Old), slicesFromPB(r.Repl)))
}

func (m *metaServer) Reclaim(ctx context.Context, r *pb.LimitRequest) (*pb.Count, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Reclaim_FullMethodName)
	if err != nil {
		return nil, err
	}
	if err := maySuper("rpc.Reclaim", c); err != nil {
		return nil, err
	}
	n, err := c.svc.Reclaim(ctx, int(r.Limit))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.Count{N: int64(n)}, nil
}

func (m *metaServer) FreedSlices(ctx context.Context, r *pb.LimitRequest) (*pb.Slices, error) {
	ctx, c, err := m.call(ctx, pb.Meta_FreedSlices_FullMethodName)
	if err != nil {
		return nil, err
	}
	if err := maySuper("rpc.FreedSlices", c); err != nil {
		return nil, err
	}
	ss, err := c.svc.FreedSlices(ctx, int(r.Limit))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.Slices{Slices: slicesToPB(ss)}, nil
}

func (m *metaServer) ForgetSlices(ctx context.Context, r *pb.SliceIDs) (*pb.Empty, error) {
	ctx, c, err := m.call(ctx, pb.Meta_ForgetSlices_FullMethodName)
	if err != nil {
		return nil, err
	}
	if err := maySuper("rpc.ForgetSlices", c); err != nil {
		return nil, err
	}
	return emptyReply(c.svc.ForgetSlices(ctx, r.Ids))
}

func (m *metaServer) SweepRanges(ctx context.Context, r *pb.LimitRequest) (*pb.Ranges, error) {
	ctx, c, err := m.call(ctx, pb.Meta_SweepRanges_FullMethodName)
	if err != nil {
		return nil, err
	}
	if err := maySuper("rpc.SweepRanges", c); err != nil {
		return nil, err
	}
	rs, err := c.svc.SweepRanges(ctx, int(r.Limit))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.Ranges{Ranges: rangesToPB(rs)}, nil
}

func (m *metaServer) ForgetSweep(ctx context.Context, r *pb.Ranges) (*pb.Empty, error) {
	ctx, c, err := m.call(ctx, pb.Meta_ForgetSweep_FullMethodName)
	if err != nil {
		return nil, err
	}
	if err := maySuper("rpc.ForgetSweep", c); err != nil {
		return nil, err
	}
	return emptyReply(c.svc.ForgetSweep(ctx, rangesFromPB(r.Ranges)))
}

func (m *metaServer) LiveSlices(_ *pb.Empty, stream grpc.ServerStreamingServer[pb.Slices]) error {
	ctx, c, err := m.call(stream.Context(), pb.Meta_LiveSlices_FullMethodName)
	if err != nil {
		return err
	}
	if err := maySuper("rpc.LiveSlices", c); err != nil {
		return err
	}
	batch := make([]*pb.Slice, 0, liveBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := stream.Send(&pb.Slices{Slices: batch})
		batch = make([]*pb.Slice, 0, liveBatch)
		return err
	}
	err = c.svc.LiveSlices(ctx, func(s meta.Slice) error {
		batch = append(batch, sliceToPB(s))
		if len(batch) == liveBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return toStatus(err)
}

func (m *metaServer) Check(ctx context.Context, _ *pb.Empty) (*pb.CheckResponse, error) {
	ctx, c, err := m.call(ctx, pb.Meta_Check_FullMethodName)
	if err != nil {
		return nil, err
	}
	if err := maySuper("rpc.Check", c); err != nil {
		return nil, err
	}
	probs, err := c.fs.Check(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CheckResponse{Problems: probs}, nil
}

// Sync syncs the server's engine. Any caller may: it changes nothing and
// costs one fsync, which File.Sync needs anyway.
func (m *metaServer) Sync(ctx context.Context, _ *pb.Empty) (*pb.Empty, error) {
	if _, _, err := m.call(ctx, pb.Meta_Sync_FullMethodName); err != nil {
		return nil, err
	}
	if sy, ok := m.s.b.Engine().(kv.Syncer); ok {
		return emptyReply(sy.Sync())
	}
	return empty, nil
}
