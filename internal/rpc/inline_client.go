package rpc

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// The client side of the Inline service: metaClient (Conn.Meta) is a
// meta.InlineWriter, meta.OpenReader and meta.PathCreator. A server
// without the service (older) or without a block store answers
// Unimplemented, which reaches the caller as fserr.NotSupported; data.Layer
// and the SDK then remember and stop asking.

var (
	_ meta.InlineWriter = (*metaClient)(nil)
	_ meta.OpenReader   = (*metaClient)(nil)
	_ meta.PathCreator  = (*metaClient)(nil)
)

func doInline[R any](ctx context.Context, c *Conn, op string, mutation bool, id *meta.Identity,
	fn func(ctx context.Context, ic pb.InlineClient) (R, error)) (R, error) {
	var out R
	if c.closed.Load() {
		return out, fserr.Errorf(op, fserr.Closed, "rpc: connection closed")
	}
	// As do: a mutation must not overtake a Release sent before it.
	err := c.invoke(ctx, op, mutation, id, callOpts{wait: mutation}, func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
		var err error
		out, err = fn(ctx, pb.NewInlineClient(cc))
		return err
	})
	return out, err
}

// WriteInline stores the block objects keys[i] = objs[i] on the server and
// commits writes, in one call deduplicated by its request id.
func (m *metaClient) WriteInline(ctx context.Context, ino meta.Ino, keys []string, objs [][]byte, writes []meta.ChunkWrite, mtime time.Time) (meta.Attr, error) {
	req := &pb.WriteBlocksRequest{
		Ino:    uint64(ino),
		Mtime:  mtime.UnixNano(),
		Blocks: make([]*pb.InlineBlock, len(keys)),
		Writes: make([]*pb.ChunkWrite, len(writes)),
	}
	for i, k := range keys {
		req.Blocks[i] = &pb.InlineBlock{Key: k, Data: objs[i]}
	}
	for i, w := range writes {
		req.Writes[i] = &pb.ChunkWrite{Index: w.Index, Slice: sliceToPB(w.Slice)}
	}
	return attrOf(doInline(ctx, m.c, "rpc.WriteBlocks", true, writerOf(ctx), func(ctx context.Context, ic pb.InlineClient) (*pb.Attr, error) {
		return ic.WriteBlocks(ctx, req)
	}))
}

// OpenRead resolves path (following a final symlink when follow is set)
// and, when it is a regular file, opens it with flags as Open does, in
// one call that also returns chunk 0's records and, when the file is at
// most maxInline bytes, its block objects. It fails with kind
// fserr.NotSupported on a server without the Inline service.
func (m *metaClient) OpenRead(ctx context.Context, id meta.Identity, path string, follow bool, flags, maxInline int) (meta.OpenReadResult, error) {
	req := &pb.OpenReadRequest{Path: []byte(path), Follow: follow, Flags: int64(flags), MaxInline: uint64(max(maxInline, 0))}
	if path == "" {
		req.Path = []byte("/") // the root, as Resolve("") would
	}
	c := m.c
	var resp *pb.OpenReadResponse
	if c.closed.Load() {
		return meta.OpenReadResult{}, fserr.Errorf("rpc.OpenRead", fserr.Closed, "rpc: connection closed")
	}
	// A mutation (it opens a handle, deduplicated by request id), so it
	// waits for the Releases sent before it as Open does.
	var hdr metadata.MD
	err := c.invoke(ctx, "rpc.OpenRead", true, &id, callOpts{wait: true}, func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
		var err error
		resp, err = pb.NewInlineClient(cc).OpenRead(ctx, req, grpc.Header(&hdr))
		return err
	})
	if err != nil {
		return meta.OpenReadResult{}, err
	}
	c.grants.add(hdr)
	out := meta.OpenReadResult{Attr: attrFromPB(resp.Attr), Opened: resp.Opened}
	if !resp.Opened {
		return out, nil
	}
	c.opened(out.Attr.Ino)
	out.Slices = slicesFromPB(resp.Slices)
	for _, b := range resp.Blocks {
		out.Keys = append(out.Keys, b.Key)
		out.Objs = append(out.Objs, b.Data)
	}
	return out, nil
}

// CreatePath resolves the parent of path (following symlinks) and
// creates or opens its last element as Create does, in one call
// deduplicated by its request id. As after Create, a handle is open on
// Attr.Ino whatever its type. path is absolute, clean and not the root.
// It fails with kind fserr.NotSupported on a server without the call.
func (m *metaClient) CreatePath(ctx context.Context, id meta.Identity, path string, mode uint32, flags int, excl bool) (meta.CreatePathResult, error) {
	const op = "rpc.CreatePath"
	req := &pb.CreatePathRequest{Path: []byte(path), Mode: mode, Flags: int64(flags), Excl: excl}
	c := m.c
	if c.closed.Load() {
		return meta.CreatePathResult{}, fserr.Errorf(op, fserr.Closed, "rpc: connection closed")
	}
	var resp *pb.CreatePathResponse
	err := c.invoke(ctx, op, true, &id, callOpts{wait: true}, func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
		var err error
		resp, err = pb.NewInlineClient(cc).CreatePath(ctx, req)
		return err
	})
	if err != nil {
		return meta.CreatePathResult{}, err
	}
	if resp.ParentNotDir {
		return meta.CreatePathResult{ParentNotDir: true}, nil
	}
	out := meta.CreatePathResult{Attr: attrFromPB(resp.Attr)}
	c.opened(out.Attr.Ino)
	return out, nil
}
