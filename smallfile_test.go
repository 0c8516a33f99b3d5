package shoal

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"
)

// TestCreateTruncBuffered checks that open(O_CREAT|O_TRUNC) of a file
// another handle of this client has buffered writes for leaves it empty,
// before and after that handle closes (the fast create path must still
// flush or clip those writes), and that it follows a symlink to a file.
func TestCreateTruncBuffered(t *testing.T) { eachBackend(t, testCreateTruncBuffered) }

func testCreateTruncBuffered(t *testing.T, b backend) {
	c, _ := b.open(t)
	a, err := c.Create("f")
	must(t, err)
	_, err = a.Write([]byte("hello"))
	must(t, err)
	tr, err := c.Create("f")
	must(t, err)
	if fi, err := tr.Stat(); err != nil || fi.Size() != 0 {
		t.Fatalf("after O_TRUNC: size %v, err %v", fi.Size(), err)
	}
	must(t, a.Close())
	must(t, tr.Close())
	if got, err := c.ReadFile("f"); err != nil || len(got) != 0 {
		t.Fatalf("after closes: %q, %v", got, err)
	}
	must(t, c.Symlink("f", "l"))
	w, err := c.OpenFile("l", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	must(t, err)
	_, err = io.WriteString(w, "via link")
	must(t, err)
	must(t, w.Close())
	if got, err := c.ReadFile("f"); err != nil || string(got) != "via link" {
		t.Fatalf("through symlink: %q, %v", got, err)
	}
}

// BenchmarkRemoteSmallFiles measures the small-file paths through Dial
// against the shared in-process server (loopback gRPC and block HTTP):
// 4 KiB create+write+close, open+read+close of those files, and stat.
// Each op is one file; files/s is 1e9/(ns/op).
//
//	go test -run '^$' -bench RemoteSmallFiles -benchtime 2000x .
func BenchmarkRemoteSmallFiles(b *testing.B) {
	srv := sharedServer(b)
	c, err := Dial(context.Background(), srv.Addr())
	must(b, err)
	defer c.Close()
	dir := fmt.Sprintf("bench-small-%d", os.Getpid())
	must(b, c.MkdirAll(dir, 0o755))
	buf := make([]byte, 4096)
	files := 0
	b.Run("create-write-close", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		for i := 0; i < b.N; i++ {
			f, err := c.Create(fmt.Sprintf("%s/f%d", dir, i))
			must(b, err)
			_, err = f.Write(buf)
			must(b, err)
			must(b, f.Close())
		}
		files = max(files, b.N)
	})
	if files == 0 {
		return
	}
	b.Run("open-read-close", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		for i := 0; i < b.N; i++ {
			f, err := c.OpenFile(fmt.Sprintf("%s/f%d", dir, i%files), os.O_RDONLY, 0)
			must(b, err)
			if _, err := f.Read(buf); err != nil {
				b.Fatal(err)
			}
			must(b, f.Close())
		}
	})
	b.Run("stat", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, err := c.Stat(fmt.Sprintf("%s/f%d", dir, i%files))
			must(b, err)
		}
	})
}
