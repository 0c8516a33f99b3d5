package server

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/shoalfs/shoal/internal/data"
	"github.com/shoalfs/shoal/internal/datadir"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/metrics"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/remote"
	"github.com/shoalfs/shoal/internal/ufs"
)

// fsState is one served filesystem.
type fsState struct {
	info  meta.FSInfo
	fs    *meta.FS       // meta role
	store objstore.Store // the block store this process serves (worker role)
	gc    *data.Layer    // meta role: runs GC over fs and the blocks
	// gcStore is the store gc deletes from when it is not store (a meta
	// role alone reaches its workers' blocks remotely).
	gcStore objstore.Store
}

func (st *fsState) close() error {
	var errs []error
	if st.gc != nil {
		errs = append(errs, st.gc.Close())
	}
	if st.fs != nil {
		errs = append(errs, st.fs.Close())
	}
	if st.store != nil {
		errs = append(errs, st.store.Close())
	}
	if st.gcStore != nil {
		errs = append(errs, st.gcStore.Close())
	}
	return errors.Join(errs...)
}

// registry holds the open filesystems by name. Lock order: mu, then
// nothing (opening a filesystem happens under mu so that one name is
// never opened twice; it touches only the engine and the disk).
type registry struct {
	s  *Server
	mu struct {
		sync.Mutex
		byName map[string]*fsState
		closed bool
	}
}

func newRegistry(s *Server) *registry {
	r := &registry{s: s}
	r.mu.byName = map[string]*fsState{}
	return r
}

// openAll opens every registered filesystem (creating "default" on the
// first start), so that sessions of filesystems no client touches after
// a restart still expire.
func (r *registry) openAll(ctx context.Context) error {
	if _, err := meta.EnsureDefaultFS(ctx, r.s.eng); err != nil {
		return err
	}
	infos, err := meta.ListFS(ctx, r.s.eng)
	if err != nil {
		return err
	}
	for _, info := range infos {
		if _, err := r.get(ctx, info.Name); err != nil {
			return err
		}
	}
	return nil
}

// lookup finds a filesystem in the registry: in the engine for the meta
// role, at the meta server for a worker alone.
func (r *registry) lookup(ctx context.Context, name string) (meta.FSInfo, error) {
	if r.s.eng != nil {
		return meta.LookupFS(ctx, r.s.eng, name)
	}
	infos, err := r.remoteList(ctx)
	if err != nil {
		return meta.FSInfo{}, err
	}
	for _, info := range infos {
		if info.Name == name {
			return info, nil
		}
	}
	return meta.FSInfo{}, fserr.E("server.lookup", name, fserr.NotExist)
}

// get returns the open filesystem name, opening it on first use.
func (r *registry) get(ctx context.Context, name string) (*fsState, error) {
	if name == "" {
		name = datadir.DefaultFS
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed {
		return nil, fserr.E("server.fs", name, fserr.Closed)
	}
	if st := r.mu.byName[name]; st != nil {
		return st, nil
	}
	info, err := r.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	st, err := r.open(ctx, info)
	if err != nil {
		return nil, err
	}
	r.mu.byName[name] = st
	return st, nil
}

// open opens the pieces of one filesystem for this process's roles.
func (r *registry) open(ctx context.Context, info meta.FSInfo) (_ *fsState, err error) {
	cfg := &r.s.cfg
	st := &fsState{info: info}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	if cfg.Roles&RoleWorker != 0 {
		fst, err := r.s.storage.Blocks.Open(ctx, info.ID)
		if err != nil {
			return nil, err
		}
		st.store = r.s.obs.store(metrics.StoreLocal, fst)
	}
	if cfg.Roles&RoleMeta != 0 {
		var space func() (uint64, error)
		if st.store != nil {
			// The blocks are here: df shows the room left on their disk.
			space = func() (uint64, error) { return datadir.Space(cfg.DataDir) }
		}
		// The loader's stores are closed with the process (they hold
		// only idle connections and no state).
		st.fs, err = meta.New(ctx, r.s.eng, meta.Config{
			MountLoader: &ufs.Loader{Logger: cfg.Logger},
			Space:       space,
			ID:          info.ID,
			Logger:      cfg.Logger,
			// Exclusive only on an engine of its own: other meta
			// processes on a shared one change what a cache would hold.
			Exclusive:  !r.s.shared,
			SessionTTL: cfg.SessionTTL,
			Capacity:   cfg.Capacity,
			// Sessions outlive a restart: clients resume them, and the
			// ones that do not come back expire.
			CleanStaleSessions: false,
		})
		if err != nil {
			return nil, err
		}
		gcStore := st.store
		if gcStore == nil {
			// Deletes go to the live workers (leasePlacer), then to
			// the --worker-urls, if any were given.
			urls := append([]string{""}, r.s.blockURLs...)
			if len(urls) > 1 {
				urls = urls[1:]
			}
			st.gcStore = r.s.obs.store(metrics.StoreRemote,
				remote.New(urls[0], info.Name, remote.Options{Token: cfg.PeerToken, FailoverURLs: urls[1:], Placer: &leasePlacer{s: r.s}}))
			gcStore = st.gcStore
		}
		st.gc, err = data.New(st.fs, gcStore, data.Config{Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
	}
	return st, nil
}

// blockStore is blockserver.Options.Store.
func (r *registry) blockStore(name string) (objstore.Store, error) {
	st, err := r.get(context.Background(), name)
	if err != nil {
		return nil, err
	}
	return st.store, nil
}

// blockFSID is blockserver.Options.FSID: the id of the filesystem whose
// store blockStore serves under name.
func (r *registry) blockFSID(name string) (uint64, error) {
	st, err := r.get(context.Background(), name)
	if err != nil {
		return 0, err
	}
	return uint64(st.info.ID), nil
}

// list returns the registered filesystems, dropping from the process
// any that were deleted.
func (r *registry) list(ctx context.Context) []meta.FSInfo {
	infos, err := r.reconcile(ctx)
	if err != nil {
		r.s.log.Warn("server: listing filesystems", "err", err)
	}
	return infos
}

// reconcile closes the filesystems that left the registry (deleted, or
// deleted and created again under a new id) and removes their blocks.
func (r *registry) reconcile(ctx context.Context) ([]meta.FSInfo, error) {
	var infos []meta.FSInfo
	var err error
	if r.s.eng != nil {
		infos, err = meta.ListFS(ctx, r.s.eng)
	} else {
		infos, err = r.remoteList(ctx)
	}
	if err != nil {
		return nil, err
	}
	live := map[string]uint32{}
	ids := map[uint32]bool{}
	for _, info := range infos {
		live[info.Name] = info.ID
		ids[info.ID] = true
	}
	var gone []*fsState
	r.mu.Lock()
	for name, st := range r.mu.byName {
		if id, ok := live[name]; !ok || id != st.info.ID {
			delete(r.mu.byName, name)
			gone = append(gone, st)
		}
	}
	r.mu.Unlock()
	for _, st := range gone {
		if err := st.close(); err != nil {
			r.s.log.Warn("server: closing deleted filesystem", "fs", st.info.Name, "err", err)
		}
		if r.s.cfg.Roles&RoleWorker != 0 && !ids[st.info.ID] {
			if err := r.s.storage.Blocks.Remove(ctx, st.info.ID); err != nil {
				r.s.log.Warn("server: removing a deleted filesystem's blocks", "id", st.info.ID, "err", err)
			}
		}
		r.s.log.Info("server: filesystem deleted", "fs", st.info.Name, "id", st.info.ID)
	}
	return infos, nil
}

// remoteList asks the meta server for the registry (a worker alone).
func (r *registry) remoteList(ctx context.Context) ([]meta.FSInfo, error) {
	conn, err := r.s.peerConn(ctx)
	if err != nil {
		return nil, err
	}
	return conn.Admin().ListFS(ctx)
}

// open returns the open filesystems.
func (r *registry) states() []*fsState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*fsState, 0, len(r.mu.byName))
	for _, st := range r.mu.byName {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *fsState) int { return int(a.info.ID) - int(b.info.ID) })
	return out
}

// gcLoop expires sessions and collects garbage in every filesystem.
func (r *registry) gcLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.releaseGC()
			return
		case <-t.C:
		}
		r.gcOnce(ctx)
	}
}

func (r *registry) gcOnce(ctx context.Context) {
	r.s.pruneLeases(ctx)
	if _, err := r.reconcile(ctx); err != nil && ctx.Err() == nil {
		r.s.log.Warn("server: reading the filesystem registry", "err", err)
	}
	for _, st := range r.states() {
		if st.fs == nil {
			continue
		}
		n, err := st.fs.ExpireSessions(ctx)
		if err != nil && ctx.Err() == nil {
			r.s.log.Warn("server: expiring sessions", "fs", st.info.Name, "err", err)
		}
		if n > 0 {
			r.s.log.Info("server: sessions expired", "fs", st.info.Name, "count", n)
		}
		if !r.claimGC(ctx, st) {
			continue // another meta process collects this filesystem
		}
		if _, err := st.gc.GC(ctx); err != nil && ctx.Err() == nil {
			r.s.log.Warn("server: garbage collection", "fs", st.info.Name, "err", err)
		}
	}
}

// claimGC reports whether this process may collect st's garbage now: on
// an engine of its own always; on a shared one only while it holds the
// collector's claim in the engine (meta.FS.ClaimGC), which it renews
// every pass, so two meta processes never collect the same garbage.
func (r *registry) claimGC(ctx context.Context, st *fsState) bool {
	if !r.s.shared {
		return true
	}
	held, err := st.fs.ClaimGC(ctx, r.s.gcOwner, r.s.gcClaimTTL())
	if err != nil {
		if ctx.Err() == nil {
			r.s.log.Warn("server: claiming garbage collection", "fs", st.info.Name, "err", err)
		}
		return false
	}
	return held
}

// releaseGC gives up the collector's claims on a clean stop.
func (r *registry) releaseGC() {
	if !r.s.shared {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, st := range r.states() {
		if st.fs != nil {
			if err := st.fs.ReleaseGC(ctx, r.s.gcOwner); err != nil {
				r.s.log.Warn("server: releasing garbage collection", "fs", st.info.Name, "err", err)
			}
		}
	}
}

func (r *registry) close() error {
	r.mu.Lock()
	r.mu.closed = true
	all := r.mu.byName
	r.mu.byName = nil
	r.mu.Unlock()
	var errs []error
	for _, st := range all {
		errs = append(errs, st.close())
	}
	return errors.Join(errs...)
}
