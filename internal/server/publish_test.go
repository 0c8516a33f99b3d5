package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/s3"
	"github.com/shoalfs/shoal/internal/s3/shoalfs"
	"github.com/shoalfs/shoal/internal/server"
)

// TestGatewayPublishOverDial: over Dial, as `shoal gateway` runs, the SDK's
// Publish is offered (the Clone service's Publish, one transaction on the
// server), so two gateways racing on the same conditional PUT cannot both
// win: the condition is checked in the transaction that renames. Without
// it each gateway checks under its own lock and then renames, and both
// could succeed.
func TestGatewayPublishOverDial(t *testing.T) {
	ctx := context.Background()
	srv, _ := start(t, server.Config{})
	c1, c2 := dial(t, srv.Addr()), dial(t, srv.Addr())

	// The SDK over Dial publishes: no NotSupported fallback.
	must(t, c1.WriteFile("staged", []byte("x"), 0o644))
	a, err := c1.Publish("staged", "published", shoal.PublishOptions{Xattr: "user.k", Value: []byte("v"), Mtime: time.Unix(1e9, 0)})
	if fserr.Is(fserr.NotSupported, err) {
		t.Fatal("Publish over Dial is not supported")
	}
	must(t, err)
	if !a.Mtime.Equal(time.Unix(1e9, 0)) {
		t.Fatalf("published mtime %v", a.Mtime)
	}
	if v, err := c1.GetXattr("published", "user.k"); err != nil || string(v) != "v" {
		t.Fatalf("xattr after publish: %q %v", v, err)
	}

	b1, err := shoalfs.New(ctx, c1, shoalfs.Options{})
	must(t, err)
	defer b1.Close()
	b2, err := shoalfs.New(ctx, c2, shoalfs.Options{})
	must(t, err)
	defer b2.Close()
	root := s3.Identity{AccessKey: "root"}
	must(t, b1.CreateBucket(ctx, root, "bkt"))
	put := func(b *shoalfs.Backend, key string, body []byte) error {
		_, err := b.PutObject(ctx, root, "bkt", key, s3.PutInput{Body: bytes.NewReader(body), Size: int64(len(body)),
			Digest: func() s3.Digest { return s3.Digest{MD5: "m"} }}, s3.WriteCond{IfNoneMatchStar: true})
		return err
	}
	for round := 0; round < 10; round++ {
		key := fmt.Sprintf("k%d", round)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, b := range []*shoalfs.Backend{b1, b2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = put(b, key, []byte{byte('a' + i)})
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, s3.ErrPreconditionFailed):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d gateways won an If-None-Match PUT (%v)", round, wins, errs)
		}
	}
}
