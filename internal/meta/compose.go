package meta

import (
	"context"
	"strings"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// The capabilities that the in-process backends offer as compositions
// of Service calls (capability.go): each is the same transactions a
// caller would run itself, so the remote backend, whose server runs
// them, is no less atomic.

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
