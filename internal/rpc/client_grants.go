package rpc

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/blockfmt"
	"github.com/shoalfs/shoal/internal/blockserver"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore/remote"
)

// The client side of block grants (server_grants.go): the Conn keeps the
// grants its responses carried, by slice id, and hands the block store
// (objstore/remote) the one for a key's slice. Grants are opaque here
// apart from what they cover; the server alone can check them.

// maxGrantIDs bounds the slice ids the cache holds before it drops the
// expired ones.
const maxGrantIDs = 1 << 18

// maxGrantSpan bounds the ids one range of a grant adds to the cache
// (AllocSliceIDs reserves at most maxAlloc).
const maxGrantSpan = maxAlloc

type grantEntry struct {
	token   string
	expires time.Time // as the server wrote it
	got     time.Time // when this client received it
}

// grantCache is the grants of one Conn.
type grantCache struct {
	c  *Conn
	mu struct {
		sync.Mutex
		m map[uint64]*grantEntry
	}
	// renew serialises renewals so that requests refused together renew
	// once.
	renew sync.Mutex
}

var _ remote.Granter = (*grantCache)(nil)

// Grants is the remote.Granter of this Conn's session: it returns the
// grant for a block key and renews expired ones.
func (c *Conn) Grants() remote.Granter { return &c.grants }

// addGrants records the grants of a response header.
func (g *grantCache) add(md metadata.MD) {
	tokens := md.Get(mdGrant)
	if len(tokens) == 0 {
		return
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mu.m == nil {
		g.mu.m = make(map[uint64]*grantEntry)
	}
	for _, t := range tokens {
		gr, err := blockserver.ParseGrant(t)
		if err != nil {
			continue
		}
		e := &grantEntry{token: t, expires: gr.Expires, got: now}
		for _, r := range gr.IDs {
			if r[1]-r[0] > maxGrantSpan {
				continue
			}
			for id := r[0]; id < r[1]; id++ {
				g.mu.m[id] = e
			}
		}
	}
	if len(g.mu.m) > maxGrantIDs {
		for id, e := range g.mu.m {
			if now.After(e.expires) {
				delete(g.mu.m, id)
			}
		}
	}
}

// Grant implements remote.Granter.
func (g *grantCache) Grant(key string) string {
	id, ok := blockfmt.SliceOfKey(key)
	if !ok {
		return ""
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.mu.m[id]; e != nil {
		return e.token
	}
	return ""
}

// Renew implements remote.Granter: it asks the server to renew the
// grants of keys, unless every one of them was received after since (a
// concurrent renewal got them).
func (g *grantCache) Renew(ctx context.Context, keys []string, since time.Time) error {
	const op = "rpc.RenewGrants"
	g.renew.Lock()
	defer g.renew.Unlock()
	var tokens []string
	seen := map[string]bool{}
	fresh := true
	g.mu.Lock()
	for _, k := range keys {
		id, ok := blockfmt.SliceOfKey(k)
		if !ok {
			continue
		}
		e := g.mu.m[id]
		if e == nil {
			continue
		}
		if !e.got.After(since) {
			fresh = false
		}
		if !seen[e.token] {
			seen[e.token] = true
			tokens = append(tokens, e.token)
		}
	}
	g.mu.Unlock()
	if len(tokens) == 0 {
		return fserr.Errorf(op, fserr.Permission, "rpc: no grant to renew for %d block(s)", len(keys))
	}
	if fresh {
		return nil
	}
	var hdr metadata.MD
	err := g.c.invoke(ctx, op, false, nil, callOpts{}, func(ctx context.Context, cc *grpc.ClientConn, sess uint64) error {
		hdr = nil
		ctx = metadata.AppendToOutgoingContext(ctx, flatPairs(mdGrantRenew, tokens)...)
		_, err := pb.NewSessionClient(cc).Heartbeat(ctx, &pb.SessionID{Id: sess}, grpc.Header(&hdr))
		return err
	})
	if err != nil {
		return err
	}
	if len(hdr.Get(mdGrant)) == 0 {
		return fserr.Errorf(op, fserr.Permission, "rpc: the server renewed none of %d grant(s) (the file is no longer open in this session)", len(tokens))
	}
	g.add(hdr)
	return nil
}

func flatPairs(key string, values []string) []string {
	out := make([]string, 0, 2*len(values))
	for _, v := range values {
		out = append(out, key, v)
	}
	return out
}
