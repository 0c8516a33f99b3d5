package rpc

import (
	"context"
	"errors"

	"google.golang.org/grpc"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// The Clone service (api/shoal/v1/clone.proto) carries meta.NameLister,
// meta.Cloner and meta.Publisher, which the S3 gateway needs and
// meta.Service does not have. Permissions are meta's own (read on the
// source, write on the destination), so no data-path grant is needed: a
// copy only names slices the caller could read, and a publish changes
// metadata only.

// RegisterClone adds the Clone service to g (beside Register's).
func (s *Server) RegisterClone(g *grpc.Server) {
	pb.RegisterCloneServer(g, &cloneServer{s: s})
}

type cloneServer struct {
	pb.UnimplementedCloneServer
	s *Server
}

func (cs *cloneServer) ListByName(ctx context.Context, r *pb.ListByNameRequest) (*pb.ListByNameResponse, error) {
	ctx, c, err := cs.s.state(ctx, pb.Clone_ListByName_FullMethodName)
	if err != nil {
		return nil, err
	}
	limit := int(min(r.Limit, maxReadDir))
	var (
		ents []meta.Entry
		vals [][]byte
	)
	if len(r.Xattr) > 0 {
		ents, vals, err = c.fs.ReadDirByNameXattr(ctx, c.id, meta.Ino(r.Ino), string(r.After), limit, string(r.Xattr))
	} else {
		ents, err = c.fs.ReadDirByName(ctx, c.id, meta.Ino(r.Ino), string(r.After), limit, r.Plus)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.ListByNameResponse{Entries: make([]*pb.Entry, len(ents))}
	for i := range ents {
		e := &ents[i]
		pe := &pb.Entry{Name: []byte(e.Name), Ino: uint64(e.Ino), Type: uint32(e.Type)}
		if e.Attr != nil {
			pe.Attr = attrToPB(e.Attr)
		}
		out.Entries[i] = pe
	}
	if vals != nil {
		out.Xattrs = make([][]byte, len(vals))
		out.HasXattr = make([]bool, len(vals))
		for i, v := range vals {
			out.Xattrs[i], out.HasXattr[i] = v, v != nil
		}
	}
	return out, nil
}

func (cs *cloneServer) CopyRange(ctx context.Context, r *pb.CopyRangeRequest) (*pb.Attr, error) {
	ctx, c, err := cs.s.state(ctx, pb.Clone_CopyRange_FullMethodName)
	if err != nil {
		return nil, err
	}
	var a meta.Attr
	switch r.Mode {
	case pb.CopyRangeRequest_CLONE:
		a, err = c.fs.CloneChunks(ctx, c.id, meta.Ino(r.Src), meta.Ino(r.Dst))
	case pb.CopyRangeRequest_APPEND:
		a, err = c.fs.AppendChunks(ctx, c.id, meta.Ino(r.Dst), meta.Ino(r.Src), r.DstOff)
	case pb.CopyRangeRequest_RANGE:
		a, err = c.fs.CopyRange(ctx, c.id, meta.Ino(r.Src), r.SrcOff, meta.Ino(r.Dst), r.DstOff, r.Length)
	default:
		err = fserr.E("rpc.CopyRange", fserr.Invalid)
	}
	return attrReply(a, err)
}

// Publish is meta.Publisher's, through the caller's session so that its
// request id makes a retried publish apply once. meta.ErrStale, a cause
// the ErrorDetail does not carry, comes back as the response's stale flag.
func (cs *cloneServer) Publish(ctx context.Context, r *pb.PublishRequest) (*pb.PublishResponse, error) {
	ctx, c, err := cs.s.state(ctx, pb.Clone_Publish_FullMethodName)
	if err != nil {
		return nil, err
	}
	o := meta.PublishOptions{
		Ino:         meta.Ino(r.Ino),
		Mtime:       r.Mtime,
		Xattr:       string(r.Xattr),
		Value:       r.Value,
		Check:       r.Check,
		Expect:      meta.Ino(r.Expect),
		ExpectCtime: r.ExpectCtime,
	}
	a, err := c.fs.Publish(ctx, c.id, meta.Ino(r.Parent), string(r.Name), meta.Ino(r.NewParent), string(r.NewName), o)
	if errors.Is(err, meta.ErrStale) {
		return &pb.PublishResponse{Stale: true}, nil
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.PublishResponse{Attr: attrToPB(&a)}, nil
}

// The client side: metaClient (Conn.Meta) offers the three capabilities.

var (
	_ meta.NameLister = (*metaClient)(nil)
	_ meta.Cloner     = (*metaClient)(nil)
	_ meta.Publisher  = (*metaClient)(nil)
)

func doClone[R any](ctx context.Context, c *Conn, op string, mutation bool, id *meta.Identity,
	fn func(ctx context.Context, cc pb.CloneClient) (R, error)) (R, error) {
	var out R
	if c.closed.Load() {
		return out, fserr.Errorf(op, fserr.Closed, "rpc: connection closed")
	}
	err := c.invoke(ctx, op, mutation, id, callOpts{}, func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
		var err error
		out, err = fn(ctx, pb.NewCloneClient(cc))
		return err
	})
	return out, err
}

func (m *metaClient) listByName(ctx context.Context, id meta.Identity, r *pb.ListByNameRequest) ([]meta.Entry, [][]byte, error) {
	resp, err := doClone(ctx, m.c, "rpc.ListByName", false, &id, func(ctx context.Context, cc pb.CloneClient) (*pb.ListByNameResponse, error) {
		return cc.ListByName(ctx, r)
	})
	if err != nil {
		return nil, nil, err
	}
	out := make([]meta.Entry, len(resp.Entries))
	attrs := make([]meta.Attr, len(resp.Entries))
	for i, e := range resp.Entries {
		out[i] = meta.Entry{Name: string(e.Name), Ino: meta.Ino(e.Ino), Type: meta.Type(e.Type)}
		if e.Attr != nil {
			attrs[i] = attrFromPB(e.Attr)
			out[i].Attr = &attrs[i]
		}
	}
	var vals [][]byte
	if len(r.Xattr) > 0 {
		vals = make([][]byte, len(out))
		for i := range vals {
			if i < len(resp.HasXattr) && resp.HasXattr[i] {
				vals[i] = append([]byte{}, resp.Xattrs[i]...)
			}
		}
	}
	return out, vals, nil
}

func (m *metaClient) ReadDirByName(ctx context.Context, id meta.Identity, ino meta.Ino, after string, limit int, plus bool) ([]meta.Entry, error) {
	ents, _, err := m.listByName(ctx, id, &pb.ListByNameRequest{Ino: uint64(ino), After: []byte(after), Limit: int64(limit), Plus: plus})
	return ents, err
}

func (m *metaClient) ReadDirByNameXattr(ctx context.Context, id meta.Identity, ino meta.Ino, after string, limit int, name string) ([]meta.Entry, [][]byte, error) {
	return m.listByName(ctx, id, &pb.ListByNameRequest{Ino: uint64(ino), After: []byte(after), Limit: int64(limit), Plus: true, Xattr: []byte(name)})
}

// copyRange is not deduplicated by request id: meta's copies span
// several transactions, and repeating one converges to the same content.
func (m *metaClient) copyRange(ctx context.Context, id meta.Identity, r *pb.CopyRangeRequest) (meta.Attr, error) {
	return attrOf(doClone(ctx, m.c, "rpc.CopyRange", false, &id, func(ctx context.Context, cc pb.CloneClient) (*pb.Attr, error) {
		return cc.CopyRange(ctx, r)
	}))
}

func (m *metaClient) CloneChunks(ctx context.Context, id meta.Identity, src, dst meta.Ino) (meta.Attr, error) {
	return m.copyRange(ctx, id, &pb.CopyRangeRequest{Mode: pb.CopyRangeRequest_CLONE, Src: uint64(src), Dst: uint64(dst)})
}

func (m *metaClient) AppendChunks(ctx context.Context, id meta.Identity, dst, src meta.Ino, offset uint64) (meta.Attr, error) {
	return m.copyRange(ctx, id, &pb.CopyRangeRequest{Mode: pb.CopyRangeRequest_APPEND, Src: uint64(src), Dst: uint64(dst), DstOff: offset})
}

func (m *metaClient) CopyRange(ctx context.Context, id meta.Identity, src meta.Ino, srcOff uint64, dst meta.Ino, dstOff, length uint64) (meta.Attr, error) {
	return m.copyRange(ctx, id, &pb.CopyRangeRequest{Mode: pb.CopyRangeRequest_RANGE, Src: uint64(src), SrcOff: srcOff, Dst: uint64(dst), DstOff: dstOff, Length: length})
}

// Publish is meta.Publisher's over the Clone service: one transaction on
// the server, deduplicated by its request id. A server without the call
// answers Unimplemented, which reaches the caller as fserr.NotSupported.
func (m *metaClient) Publish(ctx context.Context, id meta.Identity, parent meta.Ino, name string, newParent meta.Ino, newName string, o meta.PublishOptions) (meta.Attr, error) {
	const op = "rpc.Publish"
	req := &pb.PublishRequest{
		Parent: uint64(parent), Name: []byte(name), NewParent: uint64(newParent), NewName: []byte(newName),
		Ino: uint64(o.Ino), Mtime: o.Mtime, Xattr: []byte(o.Xattr), Value: o.Value,
		Check: o.Check, Expect: uint64(o.Expect), ExpectCtime: o.ExpectCtime,
	}
	// A mutation: it must not overtake a Release sent before it, as Rename.
	var resp *pb.PublishResponse
	if m.c.closed.Load() {
		return meta.Attr{}, fserr.Errorf(op, fserr.Closed, "rpc: connection closed")
	}
	err := m.c.invoke(ctx, op, true, &id, callOpts{wait: true}, func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
		var err error
		resp, err = pb.NewCloneClient(cc).Publish(ctx, req)
		return err
	})
	if err != nil {
		return meta.Attr{}, err
	}
	if resp.Stale {
		return meta.Attr{}, fserr.E(op, newName, fserr.Exist, meta.ErrStale)
	}
	return attrFromPB(resp.Attr), nil
}
