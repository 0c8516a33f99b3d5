package server

import (
	"context"

	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/rpc"
)

var _ rpc.BlockStorer = backend{}

// BlockStore gives the Inline service the store this process's block
// server serves. It is nil (clients then use the workers) in a meta role
// alone, and when clients are sent to other workers (WorkerURLs), whose
// stores may not be this one.
func (b backend) BlockStore(ctx context.Context, name string) (objstore.Store, error) {
	if b.s.cfg.Roles&RoleWorker == 0 || len(b.s.cfg.WorkerURLs) > 0 {
		return nil, nil
	}
	st, err := b.s.reg.get(ctx, name)
	if err != nil {
		return nil, err
	}
	return st.store, nil
}
