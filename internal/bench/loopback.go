package bench

import (
	"context"
	"io"
	"net"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
)

// LoopbackTCP measures the loopback TCP limit: one goroutine writes 1 MiB
// buffers into a connection over 127.0.0.1 for about d while another
// reads and discards them. It returns MiB/s as the reader saw them. This
// is the ceiling of any one stream a client and a server on the same
// machine can use, printed beside the throughput figures of a remote run.
func LoopbackTCP(ctx context.Context, d time.Duration) (float64, error) {
	const op = "bench.loopback"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fserr.E(op, "", fserr.IO, err)
	}
	defer l.Close()
	type result struct {
		n   int64
		dur time.Duration
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		start := time.Now()
		n, err := io.CopyBuffer(io.Discard, c, make([]byte, 1<<20))
		got <- result{n, time.Since(start), err}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return 0, fserr.E(op, "", fserr.IO, err)
	}
	buf := make([]byte, 1<<20)
	for end := time.Now().Add(d); time.Now().Before(end) && ctx.Err() == nil; {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, fserr.E(op, "", fserr.IO, err)
		}
	}
	c.Close()
	r := <-got
	if r.err != nil {
		return 0, fserr.E(op, "", fserr.IO, r.err)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return mibps(r.n, r.dur), nil
}
