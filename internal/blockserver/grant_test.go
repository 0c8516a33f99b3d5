package blockserver_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/blockserver"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/mem"
)

// sliceOf is a toy key layout: "s<id>/<anything>".
func sliceOf(key string) (uint64, bool) {
	rest, ok := strings.CutPrefix(key, "s")
	if !ok {
		return 0, false
	}
	id, _, _ := strings.Cut(rest, "/")
	n, err := strconv.ParseUint(id, 10, 64)
	return n, err == nil
}

func grantKey(t *testing.T, b byte) *blockserver.GrantKey {
	t.Helper()
	k, err := blockserver.NewGrantKey(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestGrantToken(t *testing.T) {
	k := grantKey(t, 1)
	g := blockserver.Grant{FS: "default", Session: 7, Ino: 42, Mode: blockserver.GrantRead,
		IDs: [][2]uint64{{5, 6}, {100, 356}}, Expires: time.Unix(0, 1_700_000_000_123_456_789)}
	tok := k.Sign(g)
	got, err := k.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.FS != g.FS || got.Session != 7 || got.Ino != 42 || got.Mode != g.Mode || !got.Expires.Equal(g.Expires) ||
		len(got.IDs) != 2 || got.IDs[1] != g.IDs[1] {
		t.Fatalf("round trip: %+v, want %+v", got, g)
	}
	if !got.Covers(5) || got.Covers(6) || !got.Covers(355) || got.Covers(356) || got.Covers(0) {
		t.Fatal("Covers is not the half-open ranges")
	}
	if p, err := blockserver.ParseGrant(tok); err != nil || p.Ino != 42 {
		t.Fatalf("ParseGrant: %+v %v", p, err)
	}
	// Another key, a flipped payload byte, truncation: all refused.
	if _, err := grantKey(t, 2).Verify(tok); fserr.KindOf(err) != fserr.Permission {
		t.Errorf("verify with another key: %v", err)
	}
	parts := strings.Split(tok, ".")
	tampered := g
	tampered.IDs = [][2]uint64{{0, 1 << 40}}
	forgedPayload := strings.Split(k.Sign(tampered), ".")[1]
	for _, bad := range []string{
		parts[0] + "." + forgedPayload + "." + parts[2],
		tok[:len(tok)-2],
		"g1..",
		"",
		strings.Repeat("A", 70<<10),
	} {
		if _, err := k.Verify(bad); fserr.KindOf(err) != fserr.Permission {
			t.Errorf("verify %.30q: %v", bad, err)
		}
	}
	if _, err := blockserver.NewGrantKey([]byte("short")); fserr.KindOf(err) != fserr.Invalid {
		t.Errorf("short key: %v", err)
	}
	if r := blockserver.IDRanges([]uint64{0, 3, 4, 5, 9}); len(r) != 2 || r[0] != [2]uint64{3, 6} || r[1] != [2]uint64{9, 10} {
		t.Errorf("IDRanges: %v", r)
	}
}

// TestGrantChecks drives the server's decisions for an untrusted caller.
func TestGrantChecks(t *testing.T) {
	k := grantKey(t, 1)
	now := time.Unix(1_000_000, 0)
	stores := map[string]objstore.Store{"a": mem.New(), "b": mem.New()}
	for _, st := range stores {
		st.Put(context.Background(), "s5/blk", []byte("five"))
		st.Put(context.Background(), "s6/blk", []byte("six"))
		st.Put(context.Background(), "other", []byte("x"))
	}
	srv := blockserver.New(nil, blockserver.Options{
		Trusted: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer super" },
		Grants:  k,
		SliceOf: sliceOf,
		Now:     func() time.Time { return now },
		Store:   func(fs string) (objstore.Store, error) { return stores[fs], nil },
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	sign := func(fs string, mode blockserver.GrantMode, lo, hi uint64, exp time.Time) string {
		return k.Sign(blockserver.Grant{FS: fs, Mode: mode, IDs: [][2]uint64{{lo, hi}}, Expires: exp})
	}
	later := now.Add(time.Minute)
	read5 := sign("a", blockserver.GrantRead, 5, 6, later)
	write5 := sign("a", blockserver.GrantWrite, 5, 6, later)
	for _, tc := range []struct {
		name, method, path, body string
		super                    bool
		grants                   []string
		status                   int
		expired                  bool
	}{
		{name: "super lists", method: "GET", path: "/v1/fs/a/blocks/?prefix=", super: true, status: 200},
		{name: "untrusted lists", method: "GET", path: "/v1/fs/a/blocks/?prefix=", grants: []string{write5}, status: 403},
		{name: "no grant", method: "GET", path: "/v1/fs/a/blocks/s5/blk", status: 403},
		{name: "read grant reads", method: "GET", path: "/v1/fs/a/blocks/s5/blk", grants: []string{read5}, status: 200},
		{name: "read grant heads", method: "HEAD", path: "/v1/fs/a/blocks/s5/blk", grants: []string{read5}, status: 200},
		{name: "read grant, other slice", method: "GET", path: "/v1/fs/a/blocks/s6/blk", grants: []string{read5}, status: 403},
		{name: "read grant, other fs", method: "GET", path: "/v1/fs/b/blocks/s5/blk", grants: []string{read5}, status: 403},
		{name: "read grant cannot put", method: "PUT", path: "/v1/fs/a/blocks/s5/new", body: "x", grants: []string{read5}, status: 403},
		{name: "read grant cannot delete", method: "DELETE", path: "/v1/fs/a/blocks/s5/blk", grants: []string{read5}, status: 403},
		{name: "not a block key", method: "GET", path: "/v1/fs/a/blocks/other", grants: []string{write5}, status: 403},
		{name: "write grant, other fs", method: "PUT", path: "/v1/fs/b/blocks/s5/new", body: "x", grants: []string{write5}, status: 403},
		{name: "expired", method: "GET", path: "/v1/fs/a/blocks/s5/blk", grants: []string{sign("a", blockserver.GrantRead, 5, 6, now)}, status: 403, expired: true},
		{name: "forged", method: "GET", path: "/v1/fs/a/blocks/s5/blk", grants: []string{grantKey(t, 9).Sign(blockserver.Grant{FS: "a", Mode: blockserver.GrantWrite, IDs: [][2]uint64{{0, 100}}, Expires: later})}, status: 403},
		{name: "one of several grants", method: "GET", path: "/v1/fs/a/blocks/s6/blk", grants: []string{read5 + ", " + sign("a", blockserver.GrantRead, 6, 7, later)}, status: 200},
		{name: "sync without grants", method: "POST", path: "/v1/fs/a/sync", body: `{"keys":["s5/blk"]}`, status: 403},
		{name: "sync under read grant", method: "POST", path: "/v1/fs/a/sync", body: `{"keys":["s5/blk"]}`, grants: []string{read5}, status: 403},
		{name: "sync, one key uncovered", method: "POST", path: "/v1/fs/a/sync", body: `{"keys":["s5/blk","s6/blk"]}`, grants: []string{write5}, status: 403},
		{name: "sync under write grant", method: "POST", path: "/v1/fs/a/sync", body: `{"keys":["s5/blk"]}`, grants: []string{write5}, status: 204},
		{name: "write grant puts", method: "PUT", path: "/v1/fs/a/blocks/s5/new", body: "x", grants: []string{write5}, status: 204},
		{name: "write grant deletes", method: "DELETE", path: "/v1/fs/a/blocks/s5/new", grants: []string{write5}, status: 204},
		{name: "super deletes", method: "DELETE", path: "/v1/fs/a/blocks/s6/blk", super: true, status: 204},
	} {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
		if tc.super {
			req.Header.Set("Authorization", "Bearer super")
		}
		for _, g := range tc.grants {
			req.Header.Add(blockserver.GrantHeader, g)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %s %s: %d, want %d", tc.name, tc.method, tc.path, resp.StatusCode, tc.status)
		}
		if got := resp.Header.Get(blockserver.GrantErrorHeader) == "expired"; got != tc.expired {
			t.Errorf("%s: expired header %v, want %v", tc.name, got, tc.expired)
		}
	}
	// The refused requests changed nothing.
	if b, err := stores["a"].Get(context.Background(), "s5/blk", 0, -1); err != nil || string(b) != "five" {
		t.Errorf("s5/blk after refusals: %q %v", b, err)
	}
	if _, err := stores["b"].Head(context.Background(), "s5/new"); err == nil {
		t.Error("a refused PUT stored an object")
	}
}
