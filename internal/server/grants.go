package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"

	"github.com/shoalfs/shoal/internal/blockserver"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// Block grants (see internal/blockserver's grant.go): with tokens, the
// meta role signs what a non-super token may do with which blocks, and
// the worker role checks the signature. Both need the same secret, and a
// grant must outlive a restart (clients keep theirs across one), so the
// secret is not made up per process:
//
//   - a process with the engine (meta alone, or every role) keeps it in
//     the engine under grantKeyKey, created once, so that every process
//     serving one engine signs and verifies alike;
//   - a worker alone has no engine: it and the meta role derive the key
//     from the peer token they share (HMAC of a fixed label), so a split
//     deployment needs no further secret. A meta role alone with a peer
//     token uses the same derivation, so its workers agree with it.
//
// Without tokens no grant is issued or checked (every caller is trusted,
// on loopback only).

// grantKeyKey holds the grant secret in the engine, outside every
// filesystem's ('F'), the registry's ('M') and the KV tables' ('T') keys.
var grantKeyKey = []byte("Zserver/block-grant-key/v1")

// peerGrantLabel is the label the peer-token derivation signs.
const peerGrantLabel = "shoal block grant key from peer token v1"

// grantKey returns the grant key this process signs and verifies with,
// or nil when it issues and checks none.
func (s *Server) grantKey(ctx context.Context) (*blockserver.GrantKey, error) {
	if len(s.cfg.Tokens) == 0 {
		return nil, nil
	}
	if s.cfg.Roles != RoleAll && s.cfg.PeerToken != "" {
		m := hmac.New(sha256.New, []byte(s.cfg.PeerToken))
		m.Write([]byte(peerGrantLabel))
		return blockserver.NewGrantKey(m.Sum(nil))
	}
	if s.eng == nil {
		// A worker alone without a peer token cannot know meta's key:
		// only super tokens reach its blocks.
		return nil, nil
	}
	secret, err := loadGrantSecret(ctx, s.eng)
	if err != nil {
		return nil, err
	}
	return blockserver.NewGrantKey(secret)
}

// loadGrantSecret reads the engine's grant secret, creating it on first
// use. Concurrent creators conflict in the engine and the loser reads
// the winner's.
func loadGrantSecret(ctx context.Context, eng kv.Engine) ([]byte, error) {
	const op = "server.grantKey"
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fserr.E(op, fserr.IO, err)
	}
	var secret []byte
	err := eng.Update(ctx, func(tx kv.Txn) error {
		v, err := tx.Get(grantKeyKey)
		switch {
		case err == nil:
			if len(v) < blockserver.MinGrantKeyLen {
				return fserr.Errorf(op, fserr.Corrupt, "server: grant key in the engine is %d bytes", len(v))
			}
			secret = append([]byte(nil), v...)
			return nil
		case errors.Is(err, kv.ErrNotFound):
			secret = fresh
			return tx.Put(grantKeyKey, fresh)
		default:
			return err
		}
	})
	if err != nil {
		return nil, fserr.E(op, err)
	}
	return secret, nil
}

// trusted is blockserver.Options.Trusted: without tokens every caller,
// with tokens the super ones (authorize has already rejected the rest).
func (s *Server) trusted(r *http.Request) bool {
	if len(s.cfg.Tokens) == 0 {
		return true
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	t, ok := lookupToken(s.cfg.Tokens, tok)
	return ok && t.Super
}
