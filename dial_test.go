package shoal

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/rpc"
)

// Dial of an address nothing listens on fails at once, and the message
// leads with the address and its problem.
func TestDialRefusedFailsFast(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = Dial(context.Background(), addr)
	if err == nil {
		t.Fatal("Dial succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("failed after %v, want at once", d)
	}
	var ae *rpc.AddrError
	if !errors.As(err, &ae) || !errors.Is(err, syscall.ECONNREFUSED) ||
		!strings.HasPrefix(err.Error(), "dial: input/output error: "+addr+" refused the connection") {
		t.Fatalf("error %q", err)
	}
}
