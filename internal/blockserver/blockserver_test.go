package blockserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoalfs/shoal/internal/blockserver"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore/file"
	"github.com/shoalfs/shoal/internal/objstore/mem"
	"github.com/shoalfs/shoal/internal/objstore/tiered"
)

// TestProtocol checks the raw HTTP a non-Go client sees; the Go client's
// behaviour is tested in objstore/remote.
func TestProtocol(t *testing.T) {
	st := mem.New()
	st.Put(context.Background(), "k", []byte("0123456789"))
	ts := httptest.NewServer(blockserver.New(st, blockserver.Options{MaxObjectSize: 16}))
	defer ts.Close()
	for _, tc := range []struct {
		method, path, body string
		noLength           bool
		header             map[string]string
		status             int
		kind               fserr.Kind // checked for error statuses
		want               string     // body prefix for 2xx
	}{
		{method: "GET", path: "/v1/blocks/k", status: 200, want: "0123456789"},
		{method: "GET", path: "/v1/blocks/k", header: map[string]string{"Range": "bytes=3-4"}, status: 206, want: "34"},
		{method: "GET", path: "/v1/blocks/k", header: map[string]string{"Range": "bytes=-2"}, status: 206, want: "89"},
		{method: "GET", path: "/v1/blocks/k", header: map[string]string{"Range": "bytes=10-"}, status: 416},
		{method: "GET", path: "/v1/blocks/k", header: map[string]string{"Range": "bytes=x"}, status: 400, kind: fserr.Invalid},
		{method: "GET", path: "/v1/blocks/nope", status: 404, kind: fserr.NotExist},
		{method: "GET", path: "/v1/blocks/?prefix=k", status: 200, want: `{"objects":[{"key":"k","size":10,`},
		{method: "GET", path: "/v1/blocks/?limit=x", status: 400, kind: fserr.Invalid},
		{method: "PUT", path: "/v1/blocks/n", body: "abc", status: 204},
		{method: "PUT", path: "/v1/blocks/n", body: strings.Repeat("x", 17), status: 413, kind: fserr.TooBig},
		{method: "PUT", path: "/v1/blocks/n", body: "abc", noLength: true, status: 411, kind: fserr.Invalid},
		{method: "POST", path: "/v1/blocks/n", status: 405, kind: fserr.NotSupported},
		{method: "DELETE", path: "/v1/blocks/n", status: 204},
		{method: "DELETE", path: "/v1/blocks/n", status: 204},
		{method: "GET", path: "/v1/sync", status: 405, kind: fserr.NotSupported},
		{method: "POST", path: "/v1/sync", body: "{", status: 400, kind: fserr.Invalid},
		{method: "POST", path: "/v1/sync", body: `{"keys":["k"]}`, status: 204},
		{method: "GET", path: "/v2/blocks/k", status: 404, kind: fserr.NotExist},
		{method: "GET", path: "/v1/fs/x/blocks/k", status: 404, kind: fserr.NotExist},
		{method: "GET", path: "/v1/fs//blocks/k", status: 404, kind: fserr.NotExist},
	} {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
			if tc.noLength {
				body = io.MultiReader(body) // hides the length: chunked
			}
		}
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, body)
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		name := tc.method + " " + tc.path
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d (%s), want %d", name, resp.StatusCode, b, tc.status)
			continue
		}
		if tc.status >= 400 && tc.status != 416 {
			var eb blockserver.ErrorBody
			if err := json.Unmarshal(b, &eb); err != nil || eb.Kind != tc.kind || eb.Message == "" {
				t.Errorf("%s: error body %s (%v), want kind %d", name, b, err, tc.kind)
			}
		}
		if tc.status < 300 && !strings.HasPrefix(string(b), tc.want) {
			t.Errorf("%s: body %q, want prefix %q", name, b, tc.want)
		}
	}
}

func TestStatus(t *testing.T) {
	for k, want := range map[fserr.Kind]int{
		fserr.NotExist: 404, fserr.Invalid: 400, fserr.TooBig: 413, fserr.Permission: 403,
		fserr.IO: 500, fserr.Other: 500, fserr.NoSpace: 507,
	} {
		if got := blockserver.Status(k); got != want {
			t.Errorf("Status(%v) = %d, want %d", k, got, want)
		}
	}
}

// TestTieredFallsBackToGet: a store whose small objects live outside files
// (the tiered store's KV tier) answers NotExist from OpenFile for them; the
// server must then serve them through Get, and still 404 a missing key.
func TestTieredFallsBackToGet(t *testing.T) {
	ctx := context.Background()
	large, err := file.Open(t.TempDir(), file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := tiered.New(mem.New(), large, 4)
	if err := st.Put(ctx, "small", []byte("ab")); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "large", []byte("abcdefgh")); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(blockserver.New(st, blockserver.Options{}))
	defer ts.Close()
	for key, want := range map[string]string{"small": "ab", "large": "abcdefgh", "missing": ""} {
		resp, err := http.Get(ts.URL + "/v1/blocks/" + key)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want == "" {
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s: status %d, want 404", key, resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("%s: %d %q, want 200 %q", key, resp.StatusCode, body, want)
		}
	}
}
