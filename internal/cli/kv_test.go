package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// kvsh runs "shoal kv SUB TABLE? --where args..." and fails the test
// unless it exits 0 with nothing on stderr.
func kvsh(t *testing.T, where []string, sub string, args ...string) string {
	t.Helper()
	r := run(t, strings.NewReader("from stdin"), append(append([]string{"kv", sub}, where...), args...)...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("shoal kv %s %s: exit %d, stderr %q", sub, strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func TestKV(t *testing.T) {
	local := []string{"--data", t.TempDir()}
	addr, _ := startServer(t, t.TempDir())
	for _, where := range [][]string{local, {"--addr", addr}} {
		t.Run(where[0], func(t *testing.T) { testKV(t, where) })
	}
}

func testKV(t *testing.T, where []string) {
	out := kvsh(t, where, "create", "feats", "--default-ttl", "60")
	if !strings.Contains(out, "feats") || !strings.Contains(out, "60") {
		t.Fatalf("create printed %q", out)
	}
	kvsh(t, where, "set", "feats", "--hash", "u1", "--sort", "a", "hello world")
	kvsh(t, where, "set", "feats", "--hash", "u1", "--sort", "b", "x\ty")
	kvsh(t, where, "set", "feats", "--hash", "u1", "--sort", "c", "-")
	// A TTL far beyond the test's run time: under -race on a loaded machine the
	// test takes seconds, and an expired record would vanish from the scan.
	kvsh(t, where, "set", "feats", "--hash", "u2", "--ttl", "3600", "v2")
	kvsh(t, where, "set", "feats", "--encoding", "hex", "--hash", "ff00", "--sort", "01", "fe")
	if out := kvsh(t, where, "get", "feats", "--hash", "u1", "--sort", "a"); out != "hello world\n" {
		t.Fatalf("get: %q", out)
	}
	if out := kvsh(t, where, "get", "feats", "--hash", "u1", "--sort", "c"); out != "from stdin\n" {
		t.Fatalf("get of a value from stdin: %q", out)
	}
	out = kvsh(t, where, "scan", "feats", "--hash", "u1")
	if out != "u1\ta\thello world\nu1\tb\t\"x\\ty\"\nu1\tc\tfrom stdin\n" {
		t.Fatalf("scan --hash: %q", out)
	}
	out = kvsh(t, where, "scan", "feats", "--hash", "u1", "--start", "b", "--json")
	var recs []map[string]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]string
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("scan --json line %q: %v", line, err)
		}
		recs = append(recs, m)
	}
	if len(recs) != 2 || recs[0]["value"] != "x\ty" || recs[1]["sort_key"] != "c" {
		t.Fatalf("scan --json: %v", recs)
	}
	// The whole table, in key order: hash keys by length, then bytes.
	out = kvsh(t, where, "scan", "feats", "--encoding", "hex", "--no-value")
	if out != "7531\t61\n7531\t62\n7531\t63\n7532\t\nff00\t01\n" {
		t.Fatalf("scan of the table: %q", out)
	}
	if out := kvsh(t, where, "scan", "feats", "--limit", "2"); strings.Count(out, "\n") != 2 {
		t.Fatalf("scan --limit 2: %q", out)
	}
	// Bytes that are not UTF-8 cannot be JSON strings as typed.
	r := run(t, nil, append([]string{"kv", "scan", "feats", "--json"}, where...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "use --encoding hex or base64") {
		t.Fatalf("scan --json of binary keys: exit %d, %q", r.code, r.stderr)
	}
	kvsh(t, where, "del", "feats", "--hash", "u1", "--sort", "a")
	kvsh(t, where, "del", "feats", "--hash", "u1", "--sort", "a") // missing: not an error

	var list []map[string]any
	if err := json.Unmarshal([]byte(kvsh(t, where, "list", "--json")), &list); err != nil || len(list) != 1 ||
		list[0]["name"] != "feats" || list[0]["default_ttl"] != float64(60) {
		t.Fatalf("list --json: %v %v", list, err)
	}
	if out := kvsh(t, where, "describe", "feats"); !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "feats") {
		t.Fatalf("describe: %q", out)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"get", "feats", "--hash", "u1", "--sort", "a"}, 1, "shoal: get: feats: no record (hash u1, sort \"\"a\"\")"},
		{[]string{"get", "nope", "--hash", "u1"}, 1, "table \"nope\" does not exist"},
		{[]string{"create", "feats"}, 1, "shoal: create: feats: file exists"},
		{[]string{"create", "bad name"}, 1, "only letters, digits"},
		{[]string{"set", "feats", "--hash", "", "--sort", "s", "--ttl", "-5", "v"}, 1, "ttl -5 is outside"},
		{[]string{"get", "feats"}, 2, "required flag(s) \"hash\" not set"},
		{[]string{"get", "feats", "--hash", "zz", "--encoding", "hex"}, 2, "is not hex"},
		{[]string{"scan", "feats", "--start", "a"}, 2, "give --hash"},
		{[]string{"list", "--encoding", "rot13"}, 2, "want utf8, hex or base64"},
	} {
		r := run(t, nil, append(append([]string{"kv"}, tc.args...), where...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, strings.ReplaceAll(tc.msg, `""a""`, "a")) {
			t.Errorf("shoal kv %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.msg)
		}
	}
	kvsh(t, where, "drop", "feats")
	if out := kvsh(t, where, "list"); strings.Contains(out, "feats") {
		t.Fatalf("list after drop: %q", out)
	}
}
