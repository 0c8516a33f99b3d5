package etcd_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalfs/shoal/internal/testserver/etcd"
)

// A 3-member cluster keeps serving with one member down and takes it
// back: what was written meanwhile reaches the restarted member.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 etcd members")
	}
	c := etcd.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints, Logger: zap.NewNop(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	c.Stop(0)
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("put with one member down: %v", err)
	}
	c.Restart(t, 0)
	one, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints[:1], Logger: zap.NewNop(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	resp, err := one.Get(ctx, "k") // linearizable: through the quorum
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("get from the restarted member: %v %v", resp, err)
	}
}
