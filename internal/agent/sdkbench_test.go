package agent

import (
	"context"
	"fmt"
	"os"
	"testing"

	shoal "github.com/shoalfs/shoal"
)

// BenchmarkSDKSmallFiles measures what the agent builds on: the Go SDK's
// own rate for 4 KiB files against a running server, the ceiling for the
// Python SDK's per-file figures. It runs only with SHOAL_BENCH_ADDRS set:
//
//	SHOAL_BENCH_ADDRS=127.0.0.1:7700 go test -run x -bench SDKSmallFiles ./internal/agent
func BenchmarkSDKSmallFiles(b *testing.B) {
	addrs := os.Getenv("SHOAL_BENCH_ADDRS")
	if addrs == "" {
		b.Skip("SHOAL_BENCH_ADDRS not set")
	}
	ctx := context.Background()
	cl, err := shoal.Dial(ctx, addrs, shoal.WithIdentity(uint32(os.Getuid()), uint32(os.Getgid())))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	dir := fmt.Sprintf("sdkbench-%d", os.Getpid())
	if err := cl.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	defer cl.RemoveAll(dir)
	data := make([]byte, 4096)
	b.Run("create", func(b *testing.B) {
		for i := range b.N {
			f, err := cl.OpenFile(fmt.Sprintf("%s/c%d", dir, i), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	const files = 1000
	for i := range files {
		if err := cl.WriteFile(fmt.Sprintf("%s/r%d", dir, i), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, 4096)
	b.Run("open-read-close", func(b *testing.B) {
		for i := range b.N {
			f, err := cl.OpenFile(fmt.Sprintf("%s/r%d", dir, i%files), os.O_RDONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.ReadAt(buf, 0); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
