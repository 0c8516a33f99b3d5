package rpc

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/blockfmt"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
)

// The Inline service (api/shoal/v1/inline.proto) carries the block
// objects of a small write inside its commit, saving the block PUT's
// round trip. It stores into the same store the process's block server
// serves, so clients read the blocks back over HTTP as any other.
// Authority is Meta.Write's: the inode open for writing in the caller's
// session, and the request id deduplicates the commit. The blocks must
// belong to the slices committed (blockfmt.CheckObjects), so a caller cannot
// overwrite blocks of other files' committed slices through it any more
// than through the block server.

// BlockStorer is an optional Backend method: the block store of
// filesystem fsName that this process serves, or nil when it serves none
// (a meta role alone). Without it the Inline service answers
// Unimplemented and clients use the block servers.
type BlockStorer interface {
	BlockStore(ctx context.Context, fsName string) (objstore.Store, error)
}

// RegisterInline adds the Inline service to g (beside Register's).
func (s *Server) RegisterInline(g *grpc.Server) {
	pb.RegisterInlineServer(g, &inlineServer{s: s})
}

type inlineServer struct {
	pb.UnimplementedInlineServer
	s *Server
}

// store returns the block store of c's filesystem, or Unimplemented.
func (is *inlineServer) store(ctx context.Context, c *call) (objstore.Store, error) {
	bs, ok := is.s.b.(BlockStorer)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "rpc: this server stores no blocks")
	}
	st, err := bs.BlockStore(ctx, c.fsName)
	if err != nil {
		return nil, toStatus(err)
	}
	if st == nil {
		return nil, status.Error(codes.Unimplemented, "rpc: this server stores no blocks")
	}
	return st, nil
}

func (is *inlineServer) WriteBlocks(ctx context.Context, r *pb.WriteBlocksRequest) (*pb.Attr, error) {
	const op = "rpc.WriteBlocks"
	ctx, c, err := is.s.state(ctx, pb.Inline_WriteBlocks_FullMethodName)
	if err != nil {
		return nil, err
	}
	store, err := is.store(ctx, c)
	if err != nil {
		return nil, err
	}
	if c.sess == nil {
		return nil, errNoSession(op)
	}
	ino := meta.Ino(r.Ino)
	if err := is.s.mayData(op, c, ino, true); err != nil {
		return nil, err
	}
	ws := make([]meta.ChunkWrite, len(r.Writes))
	for i, w := range r.Writes {
		ws[i] = meta.ChunkWrite{Index: w.Index, Slice: sliceFromPB(w.Slice)}
	}
	keys := make([]string, len(r.Blocks))
	objs := make([][]byte, len(r.Blocks))
	for i, b := range r.Blocks {
		keys[i], objs[i] = b.Key, b.Data
	}
	slices := make([]blockfmt.Slice, len(ws))
	for i, w := range ws {
		slices[i] = blockfmt.Slice{ID: w.Slice.ID, Size: w.Slice.Size}
	}
	if err := blockfmt.CheckObjects(keys, objs, slices); err != nil {
		return nil, toStatus(err)
	}
	// A retried request stores the same bytes again (blocks are
	// immutable, so Put is idempotent) and meta answers the commit from
	// its record of the first.
	for i, k := range keys {
		if err := store.Put(ctx, k, objs[i]); err != nil {
			return nil, toStatus(fserr.E(op, k, err))
		}
	}
	return attrReply(c.svc.Write(meta.WithWriter(ctx, c.id), ino, ws, time.Unix(0, r.Mtime)))
}

// maxInlineRead bounds OpenRequest.max_inline: the format's small size
// class, what an inline commit may carry too.
const maxInlineRead = blockfmt.SmallMax

func (is *inlineServer) OpenRead(ctx context.Context, r *pb.OpenReadRequest) (*pb.OpenReadResponse, error) {
	const op = "rpc.OpenRead"
	ctx, c, err := is.s.state(ctx, pb.Inline_OpenRead_FullMethodName)
	if err != nil {
		return nil, err
	}
	if c.sess == nil {
		return nil, errNoSession(op)
	}
	flags := int(r.Flags)
	var (
		a  meta.Attr
		ss []meta.Slice
	)
	if len(r.Path) > 0 {
		// The session's meta.OpenReader: resolve, open, chunk 0.
		res, err := c.sess.OpenRead(ctx, c.id, string(r.Path), r.Follow, flags, 0)
		if err != nil {
			return nil, toStatus(err)
		}
		if !res.Opened {
			return &pb.OpenReadResponse{Attr: attrToPB(&res.Attr)}, nil
		}
		a, ss = res.Attr, res.Slices
		is.s.grantOpen(c, a.Ino, writeFlags(flags))
	} else {
		a, err = c.svc.Open(ctx, c.id, meta.Ino(r.Ino), flags)
		if err != nil {
			return nil, toStatus(err)
		}
		is.s.grantOpen(c, a.Ino, writeFlags(flags))
		if ss, err = c.svc.ReadChunk(ctx, a.Ino, 0); err != nil {
			// Give the handle back: the client saw no open. Not under this
			// call's request id, which the Open just recorded as applied: meta
			// would take the Release for a retry of it and release nothing.
			relCtx := meta.WithRequest(context.WithoutCancel(ctx), c.sessID, 0)
			if rerr := c.svc.Release(relCtx, a.Ino); rerr == nil {
				is.s.grantRelease(c, a.Ino)
			}
			return nil, toStatus(err)
		}
	}
	is.s.sendReadGrant(ctx, c, a.Ino, ss)
	out := &pb.OpenReadResponse{Attr: attrToPB(&a), Slices: slicesToPB(ss), Opened: true}
	max := int(min(r.MaxInline, maxInlineRead))
	if a.Size > uint64(max) {
		return out, nil
	}
	store, err := is.store(ctx, c)
	if err != nil {
		return out, nil // no blocks here: the client fetches them
	}
	for _, k := range inlineReadKeys(ss, max) {
		obj, err := store.Get(ctx, k, 0, -1)
		if err != nil {
			out.Blocks = nil // the client fetches them and reports what fails
			break
		}
		out.Blocks = append(out.Blocks, &pb.InlineBlock{Key: k, Data: obj})
	}
	return out, nil
}

// inlineReadKeys returns the block keys of the slices recs (a chunk's
// records), for OpenRead to send with them, when they hold at most max
// data bytes in all; otherwise nil (the client fetches what it reads).
func inlineReadKeys(recs []meta.Slice, max int) []string {
	var keys []string
	total := 0
	for _, s := range recs {
		if s.Len == 0 {
			continue
		}
		if total += int(s.Size); total > max {
			return nil
		}
		blockfmt.SliceKeys(s.ID, s.Size, func(k string) { keys = append(keys, k) })
	}
	return keys
}

// CreatePath is the session's meta.PathCreator, so a remote
// open(O_CREAT) costs one round trip. The request id deduplicates the
// Create as it would Meta.Create's; the Resolve is a read. Like
// Meta.Create it opens whatever it finds, a symlink included: the client
// releases what it does not use, as after Meta.Create.
func (is *inlineServer) CreatePath(ctx context.Context, r *pb.CreatePathRequest) (*pb.CreatePathResponse, error) {
	const op = "rpc.CreatePath"
	ctx, c, err := is.s.state(ctx, pb.Inline_CreatePath_FullMethodName)
	if err != nil {
		return nil, err
	}
	if c.sess == nil {
		return nil, errNoSession(op)
	}
	res, err := c.sess.CreatePath(ctx, c.id, string(r.Path), r.Mode, int(r.Flags), r.Excl)
	if err != nil {
		return nil, toStatus(err)
	}
	if res.ParentNotDir {
		return &pb.CreatePathResponse{ParentNotDir: true}, nil
	}
	a := res.Attr
	is.s.grantOpen(c, a.Ino, true) // as Meta.Create: its creator may write a new file whatever the flags
	return &pb.CreatePathResponse{Attr: attrToPB(&a)}, nil
}
