package fusefs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkReadDir lists a directory of 10,000 empty files through the
// mount (os.ReadDir: getdents, which the kernel serves with READDIRPLUS),
// remote backend. Issue 12's target is JuiceFS's 24-31 ms per listing;
// go test -bench ReadDir -cpuprofile keeps the profile of the mount and
// the server together (one process).
func BenchmarkReadDir(b *testing.B) {
	needFUSE(b)
	const n = 10000
	e := backends[1].fresh(b)
	dir, c := e.mount(b, Options{})
	if err := c.Mkdir("d", 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		f, err := c.Create(fmt.Sprintf("d/f%05d", i))
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	b.ResetTimer()
	for range b.N {
		ents, err := os.ReadDir(filepath.Join(dir, "d"))
		if err != nil {
			b.Fatal(err)
		}
		if len(ents) != n {
			b.Fatalf("%d entries, want %d", len(ents), n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/listing")
}
