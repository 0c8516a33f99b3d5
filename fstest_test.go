package shoal

import (
	"bytes"
	"testing"
	"testing/fstest"
)

func TestFSTest(t *testing.T) { eachBackend(t, testFSTest) }

func testFSTest(t *testing.T, b backend) {
	c, _ := b.open(t)
	files := map[string][]byte{
		"empty":          nil,
		"small.txt":      []byte("hello\n"),
		"a/b/c/deep.txt": bytes.Repeat([]byte("deep "), 1000),
		"a/one":          []byte("1"),
		"a/b/two":        bytes.Repeat([]byte{2}, 70000),
		"big/large.bin":  bytes.Repeat([]byte("0123456789"), (4<<20)/10+200), // > 4 MiB: two blocks
	}
	var names []string
	for name, data := range files {
		must(t, c.MkdirAll(dirOf(name), 0o755))
		must(t, c.WriteFile(name, data, 0o644))
		names = append(names, name)
	}
	must(t, c.Mkdir("emptydir", 0o755))
	names = append(names, "emptydir")
	if err := fstest.TestFS(c, names...); err != nil {
		t.Fatal(err)
	}
}

func dirOf(name string) string {
	d, _ := splitName(name)
	return d
}
