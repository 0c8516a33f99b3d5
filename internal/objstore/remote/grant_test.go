package remote_test

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/blockserver"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore/mem"
	"github.com/shoalfs/shoal/internal/objstore/remote"
)

// testGranter hands out one token per slice id and renews by signing a
// fresh one.
type testGranter struct {
	key    *blockserver.GrantKey
	mu     sync.Mutex
	tokens map[uint64]string
	renews int
	expiry time.Time // of renewed grants
}

func sliceOfKey(key string) (uint64, bool) {
	id, _, _ := strings.Cut(strings.TrimPrefix(key, "s"), "/")
	n, err := strconv.ParseUint(id, 10, 64)
	return n, err == nil && strings.HasPrefix(key, "s")
}

func (g *testGranter) Grant(key string) string {
	id, _ := sliceOfKey(key)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.tokens[id]
}

func (g *testGranter) Renew(ctx context.Context, keys []string, since time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.renews++
	for _, k := range keys {
		id, _ := sliceOfKey(k)
		g.tokens[id] = g.key.Sign(blockserver.Grant{FS: "", Mode: blockserver.GrantWrite, IDs: [][2]uint64{{id, id + 1}}, Expires: g.expiry})
	}
	return nil
}

// TestGrants: requests carry the grant of their key, and a refusal for
// an expired grant is retried once after Renew.
func TestGrants(t *testing.T) {
	ctx := context.Background()
	key, err := blockserver.NewGrantKey(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st := &syncStore{Store: mem.New()}
	ts := serve(t, st, blockserver.Options{
		Trusted: func(*http.Request) bool { return false },
		Grants:  key,
		SliceOf: sliceOfKey,
	})
	past := time.Now().Add(-time.Minute)
	g := &testGranter{key: key, tokens: map[uint64]string{}, expiry: time.Now().Add(time.Hour)}
	g.tokens[1] = key.Sign(blockserver.Grant{Mode: blockserver.GrantWrite, IDs: [][2]uint64{{1, 2}}, Expires: past})
	s := remote.New(ts.URL, "", remote.Options{Grants: g})
	if err := s.Put(ctx, "s1/a", []byte("one")); err != nil {
		t.Fatalf("Put under an expired grant, renewed: %v", err)
	}
	if g.renews != 1 {
		t.Fatalf("%d renewals, want 1", g.renews)
	}
	if b, err := s.Get(ctx, "s1/a", 0, -1); err != nil || string(b) != "one" {
		t.Fatalf("Get = %q, %v", b, err)
	}
	if err := s.Sync(ctx, []string{"s1/a"}); err != nil {
		t.Fatalf("Sync under the grant: %v", err)
	}
	// No grant at all: refused, and Renew is not asked (nothing expired).
	if err := s.Put(ctx, "s2/a", []byte("two")); !fserr.Is(fserr.Permission, err) {
		t.Fatalf("Put without a grant: %v", err)
	}
	if _, err := s.List(ctx, "", "", 0); !fserr.Is(fserr.Permission, err) {
		t.Fatalf("List by an untrusted caller: %v", err)
	}
	if g.renews != 1 {
		t.Fatalf("%d renewals, want 1", g.renews)
	}
}
