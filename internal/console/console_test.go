package console_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	shoal "github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/console"
	"github.com/shoalfs/shoal/internal/load"
	"github.com/shoalfs/shoal/internal/rpc"
	"github.com/shoalfs/shoal/internal/server"
)

const (
	rootTok  = "root-token-0123456789"
	aliceTok = "alice-token-0123456789"
	bobTok   = "bob-token-0123456789"
)

// start runs a real server (meta, worker and console on loopback ports
// picked by the kernel) until the test ends.
func start(t *testing.T, tokens map[string]rpc.Token) *server.Server {
	t.Helper()
	cfg := server.Config{
		DataDir:      t.TempDir(),
		Listen:       "127.0.0.1:0",
		WorkerListen: "127.0.0.1:0",
		WebListen:    "127.0.0.1:0",
		Console:      forServer,
		Tokens:       tokens,
		GCInterval:   -1,
		LoadClient:   loadClient,
		LoadPoll:     100 * time.Millisecond,
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return srv
}

// loadClient is server.Config.LoadClient, as internal/cli sets it.
func loadClient(ctx context.Context, addrs, fsName, token string) (func(context.Context) load.FS, func() error, error) {
	c, err := shoal.Dial(ctx, addrs, shoal.WithFS(fsName), shoal.WithToken(token))
	if err != nil {
		return nil, nil, err
	}
	return func(ctx context.Context) load.FS { return load.Unrooted(c.WithContext(ctx)) }, c.Close, nil
}

// forServer is server.Config.Console, as internal/cli sets it.
func forServer(c server.ConsoleConfig) (server.Console, error) {
	return console.New(console.Options{Addr: c.Addr, TLS: c.TLS, Tokens: c.Tokens, Logger: c.Logger, Info: console.Info{
		Roles: c.Roles, DataDir: c.DataDir, Engine: c.Engine, Store: c.Store, S3: c.S3, Metrics: c.Metrics,
	}})
}

func tokens() map[string]rpc.Token {
	return map[string]rpc.Token{
		rootTok:  {Super: true},
		aliceTok: {Uid: 1000, Gid: 1000},
		bobTok:   {Uid: 1001, Gid: 1001},
	}
}

func dial(t *testing.T, srv *server.Server, tok string) *shoal.Client {
	t.Helper()
	c, err := shoal.Dial(context.Background(), srv.Addr(), shoal.WithToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// browser is an HTTP client that behaves as the console's pages do: a
// cookie jar and the X-Shoal-Console header.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newBrowser(t *testing.T, srv *server.Server) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: "http://" + srv.WebAddr(), hc: &http.Client{Jar: jar}}
}

// do sends a request and returns the status and body; hdr false leaves
// out the console header.
func (b *browser) do(method, path string, body io.Reader, hdr bool, extra map[string]string) (int, []byte) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if hdr {
		req.Header.Set("X-Shoal-Console", "1")
	}
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (b *browser) json(method, path string, in any, want int) map[string]any {
	b.t.Helper()
	var body io.Reader
	if in != nil {
		raw, _ := json.Marshal(in)
		body = bytes.NewReader(raw)
	}
	code, out := b.do(method, path, body, true, nil)
	if code != want {
		b.t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
	}
	var m map[string]any
	if len(out) > 0 && out[0] == '{' {
		if err := json.Unmarshal(out, &m); err != nil {
			b.t.Fatalf("%s %s: %v in %s", method, path, err, out)
		}
	}
	return m
}

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return "?" + v.Encode()
}

// TestPermissionsAreTheSDKs: a logged-in user's file operations are
// checked as that user's SDK calls are.
func TestPermissionsAreTheSDKs(t *testing.T) {
	srv := start(t, tokens())
	root := dial(t, srv, rootTok)
	if err := root.Mkdir("alice", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := root.Chown("alice", 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if err := root.WriteFile("alice/secret", []byte("only alice"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := root.Chown("alice/secret", 1000, 1000); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, srv)
	b.json("GET", "/api/overview", nil, http.StatusUnauthorized)
	b.json("POST", "/api/login", map[string]string{"token": "wrong-token-123"}, http.StatusUnauthorized)
	me := b.json("POST", "/api/login", map[string]string{"token": bobTok}, http.StatusOK)
	if me["uid"].(float64) != 1001 {
		t.Fatalf("login: %v", me)
	}
	// Bob may list alice's directory (0755) but not read her 0600 file or
	// write in her directory.
	l := b.json("GET", "/api/fs/list"+q("path", "alice"), nil, http.StatusOK)
	if n := len(l["entries"].([]any)); n != 1 {
		t.Fatalf("list: %v", l)
	}
	if code, out := b.do("GET", "/api/fs/download"+q("path", "alice/secret"), nil, true, nil); code != http.StatusForbidden {
		t.Fatalf("bob downloads alice's 0600 file: %d %s", code, out)
	}
	b.json("PUT", "/api/fs/upload"+q("path", "alice/intruder"), nil, http.StatusForbidden)
	b.json("POST", "/api/fs/mkdir", map[string]string{"path": "alice/x"}, http.StatusForbidden)
	b.json("POST", "/api/fs/delete", map[string]string{"path": "alice/secret"}, http.StatusForbidden)
	// Nothing was left behind by the refused upload.
	if ents, err := root.ReadDir("alice"); err != nil || len(ents) != 1 {
		t.Fatalf("alice/ after bob's attempts: %v %v", ents, err)
	}

	// Alice, through a bearer token, may.
	a := newBrowser(t, srv)
	bearer := map[string]string{"Authorization": "Bearer " + aliceTok}
	code, out := a.do("PUT", "/api/fs/upload"+q("path", "alice/up.txt"), strings.NewReader("uploaded by alice"), true, bearer)
	if code != http.StatusOK {
		t.Fatalf("alice uploads: %d %s", code, out)
	}
	got, err := root.ReadFile("alice/up.txt")
	if err != nil || string(got) != "uploaded by alice" {
		t.Fatalf("read back through the SDK: %q %v", got, err)
	}
	fi, err := root.Stat("alice/up.txt")
	if err != nil || fi.Sys().(*shoal.Attr).Uid != 1000 {
		t.Fatalf("uploaded file's owner: %v %v", fi, err)
	}
	code, out = a.do("GET", "/api/fs/download"+q("path", "alice/secret"), nil, false, bearer)
	if code != http.StatusOK || string(out) != "only alice" {
		t.Fatalf("alice downloads: %d %q", code, out)
	}
	// A file of several blocks goes up and comes back whole, and a range
	// of it comes back as asked.
	big := make([]byte, 9<<20+123)
	rand.Read(big)
	if code, out := a.do("PUT", "/api/fs/upload"+q("path", "alice/big"), bytes.NewReader(big), true, bearer); code != http.StatusOK {
		t.Fatalf("big upload: %d %s", code, out)
	}
	if got, err := root.ReadFile("alice/big"); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big file read back through the SDK: %d bytes, %v", len(got), err)
	}
	rng := map[string]string{"Authorization": "Bearer " + aliceTok, "Range": "bytes=5000000-5000099"}
	if code, out := a.do("GET", "/api/fs/download"+q("path", "alice/big"), nil, true, rng); code != http.StatusPartialContent || !bytes.Equal(out, big[5000000:5000100]) {
		t.Fatalf("ranged download: %d, %d bytes", code, len(out))
	}
	// Logout ends the session: the cookie is worthless afterwards.
	b.json("POST", "/api/logout", nil, http.StatusOK)
	b.json("GET", "/api/overview", nil, http.StatusUnauthorized)
}

// TestCrossSiteRefused: what a page of another site could send is refused.
func TestCrossSiteRefused(t *testing.T) {
	srv := start(t, tokens())
	b := newBrowser(t, srv)
	b.json("POST", "/api/login", map[string]string{"token": rootTok}, http.StatusOK)
	body := func() io.Reader { return strings.NewReader(`{"path":"evil"}`) }
	for name, c := range map[string]struct {
		hdr   bool
		extra map[string]string
	}{
		"no console header": {false, nil},
		"foreign origin":    {true, map[string]string{"Origin": "http://evil.example"}},
		"cross-site fetch":  {true, map[string]string{"Sec-Fetch-Site": "cross-site"}},
	} {
		if code, out := b.do("POST", "/api/fs/mkdir", body(), c.hdr, c.extra); code != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 403", name, code, out)
		}
	}
	if code, out := b.do("POST", "/api/fs/mkdir", body(), true, map[string]string{"Origin": b.base}); code != http.StatusOK {
		t.Fatalf("same origin: %d %s", code, out)
	}
	// The pages come with a policy that forbids inline script.
	req, _ := http.NewRequest("GET", b.base+"/", nil)
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
}

// TestNoTokensLoopbackOnly: without tokens the console needs no login but
// answers only to a loopback Host (no DNS rebinding).
func TestNoTokensLoopbackOnly(t *testing.T) {
	srv := start(t, nil)
	b := newBrowser(t, srv)
	me := b.json("GET", "/api/whoami", nil, http.StatusOK)
	if me["auth"] != "none" || me["loggedIn"] != true {
		t.Fatalf("whoami: %v", me)
	}
	b.json("POST", "/api/fs/mkdir", map[string]string{"path": "d"}, http.StatusOK)
	req, _ := http.NewRequest("GET", b.base+"/api/whoami", nil)
	req.Host = "attacker.example"
	req.Header.Set("X-Shoal-Console", "1")
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("foreign Host: %d, want 421", resp.StatusCode)
	}
	// Bad input gets a clear error.
	out := b.json("GET", "/api/fs/list"+q("path", "a//b"), nil, http.StatusBadRequest)
	if !strings.Contains(out["error"].(string), "a//b") {
		t.Fatalf("bad path error: %v", out)
	}
	b.json("GET", "/api/fs/list"+q("path", "nope"), nil, http.StatusNotFound)
	b.json("GET", "/api/fs/list"+q("limit", "0"), nil, http.StatusBadRequest)

	// A server listening beyond loopback without tokens is refused.
	_, err = server.New(server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", WorkerListen: "127.0.0.1:0", WebListen: "0.0.0.0:0"})
	if err == nil || !strings.Contains(err.Error(), "without tokens") {
		t.Fatalf("console on 0.0.0.0 without tokens: %v", err)
	}
}

// TestKVAndS3: the KV pages read tables, the S3 page lists buckets.
func TestKVAndS3(t *testing.T) {
	srv := start(t, tokens())
	root := dial(t, srv, rootTok)
	if _, err := root.CreateTable("users", shoal.TableOptions{}); err != nil {
		t.Fatal(err)
	}
	tb := root.Table("users")
	for _, k := range []string{"a", "b", "c", "d"} {
		if err := tb.Set([]byte("h1"), []byte(k), []byte("v-"+k), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.Set([]byte("h2"), []byte("z"), []byte{0xff, 0}, 0); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"bucket1", "bucket1/dir", ".shoal-s3"} {
		if err := root.WithInternalNames().Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := root.WriteFile("bucket1/dir/key.txt", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, srv)
	b.json("POST", "/api/login", map[string]string{"token": aliceTok}, http.StatusOK)
	sc := b.json("GET", "/api/kv/scan"+q("table", "users", "hash", "h1", "start", "b", "stop", "d", "limit", "1"), nil, http.StatusOK)
	recs := sc["records"].([]any)
	if len(recs) != 1 || sc["next"] == nil {
		t.Fatalf("scan page 1: %v", sc)
	}
	sc = b.json("GET", "/api/kv/scan"+q("table", "users", "hash", "h1", "start", "b", "stop", "d", "after", sc["next"].(string)), nil, http.StatusOK)
	recs = sc["records"].([]any)
	if len(recs) != 1 || recs[0].(map[string]any)["sort"].(map[string]any)["text"] != "c" || sc["next"] != nil {
		t.Fatalf("scan page 2: %v", sc)
	}
	all := b.json("GET", "/api/kv/scan"+q("table", "users"), nil, http.StatusOK)
	if n := len(all["records"].([]any)); n != 5 {
		t.Fatalf("whole-table scan: %d records", n)
	}
	g := b.json("GET", "/api/kv/get"+q("table", "users", "hash", "h2", "sort", "z"), nil, http.StatusOK)
	v := g["value"].(map[string]any)
	if g["found"] != true || v["text"] != nil || v["hex"] != "ff00" {
		t.Fatalf("get binary value: %v", g)
	}
	b.json("GET", "/api/kv/scan"+q("table", "nope"), nil, http.StatusNotFound)

	bk := b.json("GET", "/api/s3/buckets", nil, http.StatusOK)
	if bs := bk["buckets"].([]any); len(bs) != 1 || bs[0].(map[string]any)["name"] != "bucket1" {
		t.Fatalf("buckets: %v", bk)
	}
	keys := b.json("GET", "/api/s3/keys"+q("bucket", "bucket1", "prefix", "dir/"), nil, http.StatusOK)
	if es := keys["entries"].([]any); len(es) != 1 || es[0].(map[string]any)["name"] != "key.txt" {
		t.Fatalf("keys: %v", keys)
	}
	for _, bad := range []string{"../", "dir", "./", "dir//"} {
		b.json("GET", "/api/s3/keys"+q("bucket", "bucket1", "prefix", bad), nil, http.StatusBadRequest)
	}
	b.json("GET", "/api/s3/keys"+q("bucket", ".shoal-s3"), nil, http.StatusBadRequest)
	w := b.json("GET", "/api/workers", nil, http.StatusOK)
	if ws := w["workers"].([]any); len(ws) != 1 || !strings.HasPrefix(ws[0].(map[string]any)["ready"].(string), "200") {
		t.Fatalf("workers: %v", w)
	}
}

// TestListPaging: a listing pages in name order through next.
func TestListPaging(t *testing.T) {
	srv := start(t, nil)
	c := dial(t, srv, "")
	for _, n := range []string{"e", "c", "a", "d", "b"} {
		if err := c.WriteFile(n, []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, srv)
	var names []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatalf("too many pages: %v", names)
		}
		l := b.json("GET", "/api/fs/list"+q("limit", "2", "after", after), nil, http.StatusOK)
		for _, e := range l["entries"].([]any) {
			names = append(names, e.(map[string]any)["name"].(string))
		}
		if after = l["next"].(string); after == "" {
			break
		}
	}
	if strings.Join(names, "") != "abcde" {
		t.Fatalf("pages: %v", names)
	}
	st := b.json("GET", "/api/fs/stat"+q("path", "c"), nil, http.StatusOK)
	if st["size"].(float64) != 1 || st["type"] != "file" {
		t.Fatalf("stat: %v", st)
	}
}
