package blockserver_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/blockserver"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/mem"
)

// v1Token is a grant in the version 1 format (no issue time, no
// filesystem id), as servers before version 2 signed it.
func v1Token(secret []byte, fs string, mode blockserver.GrantMode, lo, hi uint64, exp time.Time) string {
	b := []byte{byte(mode)}
	b = binary.AppendUvarint(b, uint64(exp.UnixNano()))
	b = binary.AppendUvarint(b, 0) // session
	b = binary.AppendUvarint(b, 0) // inode
	b = binary.AppendUvarint(b, uint64(len(fs)))
	b = append(b, fs...)
	b = binary.AppendUvarint(b, 1)
	b = binary.AppendUvarint(b, lo)
	b = binary.AppendUvarint(b, hi-lo)
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("shoal block grant v1\n"))
	h.Write(b)
	enc := base64.RawURLEncoding
	return "g1." + enc.EncodeToString(b) + "." + enc.EncodeToString(h.Sum(nil))
}

// TestGrantFilesystemID: a grant names its filesystem by id as well as
// by name, so one signed for a filesystem since deleted and created again
// under the same name (whose slice ids start over) reaches none of the
// new one's blocks.
func TestGrantFilesystemID(t *testing.T) {
	secret := bytes.Repeat([]byte{1}, 32)
	k := grantKey(t, 1)
	now := time.Unix(1_000_000, 0)
	st := mem.New()
	st.Put(context.Background(), "s5/blk", []byte("five"))
	srv := blockserver.New(nil, blockserver.Options{
		Grants:  k,
		SliceOf: sliceOf,
		Trusted: func(*http.Request) bool { return false },
		Now:     func() time.Time { return now },
		Store:   func(fs string) (objstore.Store, error) { return st, nil },
		FSID:    func(fs string) (uint64, error) { return 7, nil }, // "a" is now id 7
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	later := now.Add(time.Minute)
	sign := func(id uint64, mode blockserver.GrantMode) string {
		return k.Sign(blockserver.Grant{FS: "a", FSID: id, Mode: mode, IDs: [][2]uint64{{5, 6}}, Expires: later, Issued: now})
	}
	for _, tc := range []struct {
		name, method, path, grant string
		status                    int
	}{
		{"this filesystem's grant reads", "GET", "/v1/fs/a/blocks/s5/blk", sign(7, blockserver.GrantRead), 200},
		{"the old filesystem's read grant", "GET", "/v1/fs/a/blocks/s5/blk", sign(3, blockserver.GrantRead), 403},
		{"the old filesystem's write grant deletes", "DELETE", "/v1/fs/a/blocks/s5/blk", sign(3, blockserver.GrantWrite), 403},
		{"the old filesystem's write grant puts", "PUT", "/v1/fs/a/blocks/s5/blk", sign(3, blockserver.GrantWrite), 403},
		{"a version 1 grant passes on the name until it expires", "GET", "/v1/fs/a/blocks/s5/blk", v1Token(secret, "a", blockserver.GrantRead, 5, 6, later), 200},
		{"an expired version 1 grant", "GET", "/v1/fs/a/blocks/s5/blk", v1Token(secret, "a", blockserver.GrantRead, 5, 6, now), 403},
	} {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, bytes.NewReader([]byte("x")))
		req.Header.Add(blockserver.GrantHeader, tc.grant)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %s %s: %d, want %d", tc.name, tc.method, tc.path, resp.StatusCode, tc.status)
		}
	}
	if b, err := st.Get(context.Background(), "s5/blk", 0, -1); err != nil || string(b) != "five" {
		t.Errorf("s5/blk after refusals: %q %v", b, err)
	}
	g, err := k.Verify(v1Token(secret, "a", blockserver.GrantWrite, 5, 6, later))
	if err != nil || g.FSID != 0 || !g.Issued.IsZero() || g.Mode != blockserver.GrantWrite {
		t.Errorf("version 1 grant verified as %+v, %v", g, err)
	}
}
