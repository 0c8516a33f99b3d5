package meta

import (
	"context"
	"strings"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// The capabilities that the in-process backends offer as compositions
// of Service calls (capability.go): each is the same transactions a
// caller would run itself, and the rpc server runs the session's for the
// remote backend, so the two are equally atomic.

// CreatePath is Resolve of the parent followed by Create.
func (fs *FS) CreatePath(ctx context.Context, id Identity, path string, mode uint32, flags int, excl bool) (CreatePathResult, error) {
	return createPath(ctx, fs, id, path, mode, flags, excl)
}

// CreatePath is FS.CreatePath, the handle counted in this session.
func (s *Session) CreatePath(ctx context.Context, id Identity, path string, mode uint32, flags int, excl bool) (CreatePathResult, error) {
	return createPath(ctx, s, id, path, mode, flags, excl)
}

// createPath resolves the parent (a read) and creates in svc (one
// transaction, deduplicated by ctx's request id as Create's is). Like
// Create it opens whatever it finds, a symlink included: the caller
// releases what it does not use.
func createPath(ctx context.Context, svc Service, id Identity, path string, mode uint32, flags int, excl bool) (CreatePathResult, error) {
	const op = "meta.CreatePath"
	i := strings.LastIndexByte(path, '/')
	if i < 0 || i == len(path)-1 {
		return CreatePathResult{}, fserr.E(op, path, fserr.Invalid)
	}
	dir, base := path[:i], path[i+1:]
	if dir == "" {
		dir = "/"
	}
	pa, err := svc.Resolve(ctx, id, dir, true)
	if err != nil {
		return CreatePathResult{}, err
	}
	if pa.Type != TypeDir {
		return CreatePathResult{ParentNotDir: true}, nil
	}
	a, err := svc.Create(ctx, id, pa.Ino, base, mode, flags, excl)
	if err != nil {
		return CreatePathResult{}, err
	}
	return CreatePathResult{Attr: a}, nil
}

// OpenRead is Resolve, Open and ReadChunk of chunk 0. It returns no
// block objects whatever maxInline says: the in-process meta holds no
// block store, and its caller's data layer reads the blocks itself.
func (fs *FS) OpenRead(ctx context.Context, id Identity, path string, follow bool, flags, maxInline int) (OpenReadResult, error) {
	return openRead(ctx, fs, id, path, follow, flags)
}

// OpenRead is FS.OpenRead, the handle counted in this session.
func (s *Session) OpenRead(ctx context.Context, id Identity, path string, follow bool, flags, maxInline int) (OpenReadResult, error) {
	return openRead(ctx, s, id, path, follow, flags)
}

// openRead opens (one transaction, deduplicated by ctx's request id as
// Open's is) what path names, when it is a regular file, and reads its
// first chunk's records. If that read fails the handle is given back, so
// the caller sees no open.
func openRead(ctx context.Context, svc Service, id Identity, path string, follow bool, flags int) (OpenReadResult, error) {
	if path == "" {
		path = "/" // the root, as the rpc client sends it
	}
	a, err := svc.Resolve(ctx, id, path, follow)
	if err != nil {
		return OpenReadResult{}, err
	}
	if a.Type != TypeRegular {
		return OpenReadResult{Attr: a}, nil
	}
	a, err = svc.Open(ctx, id, a.Ino, flags)
	if err != nil {
		return OpenReadResult{}, err
	}
	ss, err := svc.ReadChunk(ctx, a.Ino, 0)
	if err != nil {
		// Not under this call's request id, which the Open just recorded
		// as applied: meta would take the Release for a retry of it and
		// release nothing. Should the Release fail too, the handle goes
		// with the session, as any handle its holder lost.
		_ = svc.Release(WithRequest(context.WithoutCancel(ctx), 0, 0), a.Ino)
		return OpenReadResult{}, err
	}
	return OpenReadResult{Attr: a, Opened: true, Slices: ss}, nil
}

// Sync syncs the engine when it can (kv.Syncer); otherwise there is
// nothing more durable to reach.
func (fs *FS) Sync() error {
	if sy, ok := fs.eng.(kv.Syncer); ok {
		return sy.Sync()
	}
	return nil
}

// Sync is FS.Sync.
func (s *Session) Sync() error { return s.fs.Sync() }

// Check is FS.Check.
func (s *Session) Check(ctx context.Context) ([]string, error) { return s.fs.Check(ctx) }
