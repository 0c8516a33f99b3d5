package rpc

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// metaClient is meta.Service over the wire, bound to its Conn's session.
type metaClient struct{ c *Conn }

var _ meta.Service = (*metaClient)(nil)

// do runs one unary Meta call.
func do[R any](ctx context.Context, c *Conn, op string, mutation bool, id *meta.Identity,
	fn func(ctx context.Context, m pb.MetaClient) (R, error)) (R, error) {
	var out R
	if c.closed.Load() {
		return out, fserr.Errorf(op, fserr.Closed, "rpc: connection closed")
	}
	// A mutation must not overtake a Release sent before it: the server
	// runs concurrent calls in any order, and an Unlink, a GC pass or an
	// Open of the same inode sees the open counts.
	err := c.invoke(ctx, op, mutation, id, callOpts{wait: mutation}, func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
		var err error
		out, err = fn(ctx, pb.NewMetaClient(cc))
		return err
	})
	return out, err
}

// doRead is do for a read that must not overtake this Conn's Releases
// of ino (0: of any inode): reads by inode see whether it still exists.
func doRead[R any](ctx context.Context, c *Conn, op string, ino meta.Ino, id *meta.Identity,
	fn func(ctx context.Context, m pb.MetaClient) (R, error)) (R, error) {
	if err := c.waitReleases(ctx, ino); err != nil {
		var out R
		return out, err
	}
	return do(ctx, c, op, false, id, fn)
}

func attrOf(a *pb.Attr, err error) (meta.Attr, error) {
	if err != nil {
		return meta.Attr{}, err
	}
	return attrFromPB(a), nil
}

func (m *metaClient) Resolve(ctx context.Context, id meta.Identity, path string, follow bool) (meta.Attr, error) {
	return attrOf(do(ctx, m.c, "rpc.Resolve", false, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.Attr, error) {
		return mc.Resolve(ctx, &pb.ResolveRequest{Path: []byte(path), Follow: follow})
	}))
}

func (m *metaClient) Lookup(ctx context.Context, id meta.Identity, parent meta.Ino, name string) (meta.Attr, error) {
	return attrOf(do(ctx, m.c, "rpc.Lookup", false, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.Attr, error) {
		return mc.Lookup(ctx, &pb.LookupRequest{Parent: uint64(parent), Name: []byte(name)})
	}))
}

func (m *metaClient) GetAttr(ctx context.Context, ino meta.Ino) (meta.Attr, error) {
	return attrOf(doRead(ctx, m.c, "rpc.GetAttr", ino, nil, func(ctx context.Context, mc pb.MetaClient) (*pb.Attr, error) {
		return mc.GetAttr(ctx, &pb.InoRequest{Ino: uint64(ino)})
	}))
}

func (m *metaClient) SetAttr(ctx context.Context, id meta.Identity, ino meta.Ino, mask uint32, attr meta.Attr) (meta.Attr, error) {
	return attrOf(do(ctx, m.c, "rpc.SetAttr", true, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.Attr, error) {
		return mc.SetAttr(ctx, &pb.SetAttrRequest{Ino: uint64(ino), Mask: mask, Attr: attrToPB(&attr)})
	}))
}

func (m *metaClient) Access(ctx context.Context, id meta.Identity, ino meta.Ino, mask uint32) error {
	_, err := doRead(ctx, m.c, "rpc.Access", ino, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.Empty, error) {
		return mc.Access(ctx, &pb.AccessRequest{Ino: uint64(ino), Mask: mask})
	})
	return err
}

func (m *metaClient) Mknod(ctx context.Context, id meta.Identity, parent meta.Ino, name string, typ meta.Type, mode uint32, rdev uint32) (meta.Attr, error) {
	return attrOf(do(ctx, m.c, "rpc.Mknod", true, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.Attr, error) {
		return mc.Mknod(ctx, &pb.MknodRequest{Parent: uint64(parent), Name: []byte(name), Type: uint32(typ), Mode: mode, Rdev: rdev})
	}))
}

func (m *metaClient) Create(ctx context.Context, id meta.Identity, parent meta.Ino, name string, mode uint32, flags int, excl bool) (meta.Attr, error) {
	a, err := attrOf(do(ctx, m.c, "rpc.Create", true, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.Attr, error) {
		return mc.Create(ctx, &pb.CreateRequest{Parent: uint64(parent), Name: []byte(name), Mode: mode, Flags: int64(flags), Excl: excl})
	}))
	if err == nil {
		m.c.opened(a.Ino)
	}
	return a, err
}

func (m *metaClient) Mkdir(ctx context.Context, id meta.Identity, parent meta.Ino, name string, mode uint32) (meta.Attr, error) {
	return attrOf(do(ctx, m.c, "rpc.Mkdir", true, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.Attr, error) {
		return mc.Mkdir(ctx, &pb.MkdirRequest{Parent: uint64(parent), Name: []byte(name), Mode: mode})
	}))
}

func (m *metaClient) Unlink(ctx context.Context, id meta.Identity, parent meta.Ino, name string) error {
	_, err := do(ctx, m.c, "rpc.Unlink", true, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.Empty, error) {
		return mc.Unlink(ctx, &pb.RemoveRequest{Parent: uint64(parent), Name: []byte(name)})
	})
	return err
}

func (m *metaClient) Rmdir(ctx context.Context, id meta.Identity, parent meta.Ino, name string) error {
	_, err := do(ctx, m.c, "rpc.Rmdir", true, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.Empty, error) {
		return mc.Rmdir(ctx, &pb.RemoveRequest{Parent: uint64(parent), Name: []byte(name)})
	})
	return err
}

func (m *metaClient) Rename(ctx context.Context, id meta.Identity, parent meta.Ino, name string, newParent meta.Ino, newName string, flags uint32) error {
	_, err := do(ctx, m.c, "rpc.Rename", true, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.Empty, error) {
		return mc.Rename(ctx, &pb.RenameRequest{Parent: uint64(parent), Name: []byte(name),
			NewParent: uint64(newParent), NewName: []byte(newName), Flags: flags})
	})
	return err
}

func (m *metaClient) Link(ctx context.Context, id meta.Identity, ino meta.Ino, newParent meta.Ino, newName string) (meta.Attr, error) {
	return attrOf(do(ctx, m.c, "rpc.Link", true, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.Attr, error) {
		return mc.Link(ctx, &pb.LinkRequest{Ino: uint64(ino), NewParent: uint64(newParent), NewName: []byte(newName)})
	}))
}

func (m *metaClient) Symlink(ctx context.Context, id meta.Identity, parent meta.Ino, name string, target string) (meta.Attr, error) {
	return attrOf(do(ctx, m.c, "rpc.Symlink", true, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.Attr, error) {
		return mc.Symlink(ctx, &pb.SymlinkRequest{Parent: uint64(parent), Name: []byte(name), Target: []byte(target)})
	}))
}

func (m *metaClient) Readlink(ctx context.Context, ino meta.Ino) (string, error) {
	r, err := doRead(ctx, m.c, "rpc.Readlink", ino, nil, func(ctx context.Context, mc pb.MetaClient) (*pb.ReadlinkResponse, error) {
		return mc.Readlink(ctx, &pb.InoRequest{Ino: uint64(ino)})
	})
	if err != nil {
		return "", err
	}
	return string(r.Target), nil
}

func (m *metaClient) ReadDir(ctx context.Context, id meta.Identity, ino meta.Ino, cookie uint64, limit int, plus bool) ([]meta.Entry, uint64, error) {
	r, err := do(ctx, m.c, "rpc.ReadDir", false, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.ReadDirResponse, error) {
		return mc.ReadDir(ctx, &pb.ReadDirRequest{Ino: uint64(ino), Cookie: cookie, Limit: int64(limit), Plus: plus})
	})
	if err != nil {
		return nil, 0, err
	}
	out := make([]meta.Entry, len(r.Entries))
	var attrs []meta.Attr
	if plus {
		attrs = make([]meta.Attr, len(r.Entries)) // one allocation for the batch
	}
	for i, e := range r.Entries {
		out[i] = meta.Entry{Name: string(e.Name), Ino: meta.Ino(e.Ino), Type: meta.Type(e.Type)}
		if e.Attr != nil && attrs != nil {
			attrs[i] = attrFromPB(e.Attr)
			out[i].Attr = &attrs[i]
		}
	}
	return out, r.Cookie, nil
}

func (m *metaClient) GetXattr(ctx context.Context, id meta.Identity, ino meta.Ino, name string) ([]byte, error) {
	r, err := doRead(ctx, m.c, "rpc.GetXattr", ino, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.XattrValue, error) {
		return mc.GetXattr(ctx, &pb.XattrRequest{Ino: uint64(ino), Name: []byte(name)})
	})
	if err != nil {
		return nil, err
	}
	if r.Value == nil {
		return []byte{}, nil
	}
	return r.Value, nil
}

func (m *metaClient) SetXattr(ctx context.Context, id meta.Identity, ino meta.Ino, name string, value []byte, flags int) error {
	_, err := do(ctx, m.c, "rpc.SetXattr", true, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.Empty, error) {
		return mc.SetXattr(ctx, &pb.XattrRequest{Ino: uint64(ino), Name: []byte(name), Value: value, Flags: int64(flags)})
	})
	return err
}

func (m *metaClient) ListXattr(ctx context.Context, id meta.Identity, ino meta.Ino) ([]string, error) {
	r, err := doRead(ctx, m.c, "rpc.ListXattr", ino, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.XattrNames, error) {
		return mc.ListXattr(ctx, &pb.InoRequest{Ino: uint64(ino)})
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(r.Names))
	for i, n := range r.Names {
		out[i] = string(n)
	}
	return out, nil
}

func (m *metaClient) RemoveXattr(ctx context.Context, id meta.Identity, ino meta.Ino, name string) error {
	_, err := do(ctx, m.c, "rpc.RemoveXattr", true, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.Empty, error) {
		return mc.RemoveXattr(ctx, &pb.XattrRequest{Ino: uint64(ino), Name: []byte(name)})
	})
	return err
}

func (m *metaClient) StatFS(ctx context.Context) (meta.StatFS, error) {
	r, err := doRead(ctx, m.c, "rpc.StatFS", 0, nil, func(ctx context.Context, mc pb.MetaClient) (*pb.StatFS, error) {
		return mc.StatFS(ctx, empty)
	})
	if err != nil {
		return meta.StatFS{}, err
	}
	return statFSFromPB(r), nil
}

// Open asks the server for every handle (it checks permission with this
// identity and flags, truncates, and returns fresh attributes) so the
// server's per-session count matches the handles tracked here.
func (m *metaClient) Open(ctx context.Context, id meta.Identity, ino meta.Ino, flags int) (meta.Attr, error) {
	a, err := attrOf(do(ctx, m.c, "rpc.Open", true, &id, func(ctx context.Context, mc pb.MetaClient) (*pb.Attr, error) {
		return mc.Open(ctx, &pb.OpenRequest{Ino: uint64(ino), Flags: int64(flags)})
	}))
	if err == nil {
		m.c.opened(ino)
	}
	return a, err
}

// Release does not wait for the reply: the handle is gone here whatever
// the server says (a resume must not bring it back), and every later
// mutation of this Conn waits for the Releases sent before it, so the
// server sees them in order wherever the order shows (open counts for
// delete-on-last-close, grants, GC). Only reads may overtake it, and no
// read by path depends on open counts; reads by inode wait for the
// inode's Releases (after the last one an unlinked inode is gone).
// Errors are logged.
func (m *metaClient) Release(ctx context.Context, ino meta.Ino) error {
	const op = "rpc.Release"
	c := m.c
	c.released(ino)
	call := func(ctx context.Context) error {
		if c.closed.Load() {
			return fserr.Errorf(op, fserr.Closed, "rpc: connection closed")
		}
		return c.invoke(ctx, op, true, nil, callOpts{}, func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
			_, err := pb.NewMetaClient(cc).Release(ctx, &pb.InoRequest{Ino: uint64(ino)})
			return err
		})
	}
	if c.closed.Load() || !c.startRelease(ino) {
		return call(ctx)
	}
	go func() {
		defer c.endRelease(ino)
		if err := call(context.WithoutCancel(ctx)); err != nil {
			c.log.Warn("rpc: release failed", "ino", ino, "session", c.session.Load(), "err", err)
		}
	}()
	return nil
}

func (m *metaClient) ReadChunk(ctx context.Context, ino meta.Ino, index uint32) ([]meta.Slice, error) {
	var hdr metadata.MD
	r, err := doRead(ctx, m.c, "rpc.ReadChunk", ino, nil, func(ctx context.Context, mc pb.MetaClient) (*pb.Slices, error) {
		return mc.ReadChunk(ctx, &pb.ReadChunkRequest{Ino: uint64(ino), Index: index}, grpc.Header(&hdr))
	})
	if err != nil {
		return nil, err
	}
	m.c.grants.add(hdr)
	return slicesFromPB(r.Slices), nil
}

func (m *metaClient) NewSliceID(ctx context.Context) (uint64, error) {
	if m.c.closed.Load() {
		return 0, fserr.Errorf("rpc.NewSliceID", fserr.Closed, "rpc: connection closed")
	}
	return m.c.newSliceID(ctx)
}

// writerOf is the identity a Write is sent as: the writer its context
// names (meta.WithWriter), else the connection's default (nil). The
// server tags the commit with the call's identity again.
func writerOf(ctx context.Context) *meta.Identity {
	if id, ok := meta.WriterOf(ctx); ok {
		return &id
	}
	return nil
}

func (m *metaClient) Write(ctx context.Context, ino meta.Ino, writes []meta.ChunkWrite, mtime time.Time) (meta.Attr, error) {
	req := &pb.WriteRequest{Ino: uint64(ino), Mtime: mtime.UnixNano(), Writes: make([]*pb.ChunkWrite, len(writes))}
	for i, w := range writes {
		req.Writes[i] = &pb.ChunkWrite{Index: w.Index, Slice: sliceToPB(w.Slice)}
	}
	return attrOf(do(ctx, m.c, "rpc.Write", true, writerOf(ctx), func(ctx context.Context, mc pb.MetaClient) (*pb.Attr, error) {
		return mc.Write(ctx, req)
	}))
}

func (m *metaClient) CompactChunk(ctx context.Context, ino meta.Ino, index uint32, old []meta.Slice, repl []meta.Slice) error {
	_, err := do(ctx, m.c, "rpc.CompactChunk", true, nil, func(ctx context.Context, mc pb.MetaClient) (*pb.Empty, error) {
		return mc.CompactChunk(ctx, &pb.CompactChunkRequest{Ino: uint64(ino), Index: index, Old: slicesToPB(old), Repl: slicesToPB(repl)})
	})
	return err
}

func (m *metaClient) Reclaim(ctx context.Context, limit int) (int, error) {
	r, err := do(ctx, m.c, "rpc.Reclaim", true, nil, func(ctx context.Context, mc pb.MetaClient) (*pb.Count, error) {
		return mc.Reclaim(ctx, &pb.LimitRequest{Limit: int64(limit)})
	})
	if err != nil {
		return 0, err
	}
	return int(r.N), nil
}

func (m *metaClient) FreedSlices(ctx context.Context, limit int) ([]meta.Slice, error) {
	r, err := doRead(ctx, m.c, "rpc.FreedSlices", 0, nil, func(ctx context.Context, mc pb.MetaClient) (*pb.Slices, error) {
		return mc.FreedSlices(ctx, &pb.LimitRequest{Limit: int64(limit)})
	})
	if err != nil {
		return nil, err
	}
	return slicesFromPB(r.Slices), nil
}

func (m *metaClient) ForgetSlices(ctx context.Context, ids []uint64) error {
	_, err := do(ctx, m.c, "rpc.ForgetSlices", true, nil, func(ctx context.Context, mc pb.MetaClient) (*pb.Empty, error) {
		return mc.ForgetSlices(ctx, &pb.SliceIDs{Ids: ids})
	})
	return err
}

func (m *metaClient) SweepRanges(ctx context.Context, limit int) ([][2]uint64, error) {
	r, err := doRead(ctx, m.c, "rpc.SweepRanges", 0, nil, func(ctx context.Context, mc pb.MetaClient) (*pb.Ranges, error) {
		return mc.SweepRanges(ctx, &pb.LimitRequest{Limit: int64(limit)})
	})
	if err != nil {
		return nil, err
	}
	return rangesFromPB(r.Ranges), nil
}

func (m *metaClient) ForgetSweep(ctx context.Context, ranges [][2]uint64) error {
	_, err := do(ctx, m.c, "rpc.ForgetSweep", true, nil, func(ctx context.Context, mc pb.MetaClient) (*pb.Empty, error) {
		return mc.ForgetSweep(ctx, &pb.Ranges{Ranges: rangesToPB(ranges)})
	})
	return err
}

// LiveSlices retries only until the first batch arrives: after that a
// retry would call fn twice for the same slices.
func (m *metaClient) LiveSlices(ctx context.Context, fn func(meta.Slice) error) error {
	const op = "rpc.LiveSlices"
	if m.c.closed.Load() {
		return fserr.Errorf(op, fserr.Closed, "rpc: connection closed")
	}
	if err := m.c.waitReleases(ctx, 0); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stream grpc.ServerStreamingClient[pb.Slices]
	var firstBatch *pb.Slices
	err := m.c.invoke(ctx, op, false, nil, callOpts{}, func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
		s, err := pb.NewMetaClient(cc).LiveSlices(ctx, empty)
		if err != nil {
			return err
		}
		b, err := s.Recv()
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		stream, firstBatch = s, b
		return nil
	})
	if err != nil {
		return err
	}
	for b := firstBatch; b != nil; {
		for _, s := range b.Slices {
			if err := fn(sliceFromPB(s)); err != nil {
				return err
			}
		}
		var err error
		b, err = stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			st := status.Convert(err)
			hdr, _ := stream.Header() // received with the first batch
			if detailOf(st) == nil {
				return withRequestID(fserr.E(op, fserr.IO, err), hdr)
			}
			return withRequestID(fromStatus(op, st), hdr)
		}
	}
	return nil
}

// Check runs fsck on the server and returns the problems it found.
func (m *metaClient) Check(ctx context.Context) ([]string, error) {
	r, err := doRead(ctx, m.c, "rpc.Check", 0, nil, func(ctx context.Context, mc pb.MetaClient) (*pb.CheckResponse, error) {
		return mc.Check(ctx, empty)
	})
	if err != nil {
		return nil, err
	}
	return r.Problems, nil
}

// Close closes the Conn (and its session).
func (m *metaClient) Close() error { return m.c.Close() }

// Sync makes the server's engine durable (its kv.Syncer), so the Conn's
// Meta() is a meta.Syncer for File.Sync.
func (m *metaClient) Sync() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := doRead(ctx, m.c, "rpc.Sync", 0, nil, func(ctx context.Context, mc pb.MetaClient) (*pb.Empty, error) {
		return mc.Sync(ctx, empty)
	})
	return err
}

var (
	_ meta.Syncer  = (*metaClient)(nil)
	_ meta.Checker = (*metaClient)(nil)
)
