package meta

import (
	"context"
	"testing"

	"github.com/shoalfs/shoal/internal/kv/mem"
)

// TestPublishRetry: a Publish retried under its request id (a reply lost
// on the wire) applies once and answers with the file it published, not
// with the NotExist a second rename of the staged name would give.
func TestPublishRetry(t *testing.T) {
	ctx := context.Background()
	eng := mem.New()
	defer eng.Close()
	fs, err := New(ctx, eng, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	s, err := fs.NewSession(ctx, SessionInfo{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := s.Mknod(ctx, Root, RootIno, "tmp", TypeRegular, 0o644, 0)
	if err != nil {
		t.Fatal(err)
	}
	rctx := WithRequest(ctx, s.ID(), 1)
	o := PublishOptions{Ino: a.Ino, Mtime: 777, Xattr: "user.x", Value: []byte("v")}
	first, err := s.Publish(rctx, Root, RootIno, "tmp", RootIno, "obj", o)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Publish(rctx, Root, RootIno, "tmp", RootIno, "obj", o)
	if err != nil {
		t.Fatalf("retried publish: %v", err)
	}
	if again.Ino != a.Ino || again.Mtime != 777 || again.Ctime != first.Ctime {
		t.Fatalf("retried publish answered %+v, first %+v", again, first)
	}
	if probs, _ := fs.Check(ctx); len(probs) != 0 {
		t.Fatalf("Check: %q", probs)
	}
}
