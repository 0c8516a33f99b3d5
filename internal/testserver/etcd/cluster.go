package etcd

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Cluster is an etcd cluster of several members inside the test process,
// each on its own loopback ports, whose members a fault test stops and
// restarts.
type Cluster struct {
	// Endpoints are the members' client URLs, member i at index i.
	Endpoints []string

	mu      sync.Mutex
	members []*member
}

type member struct {
	cfg *embed.Config
	e   *embed.Etcd // nil while stopped
}

// StartCluster starts an n-member cluster and waits until every member
// serves.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	var lastErr error
	for range 3 { // the free ports may be taken before etcd binds them
		c, err := startCluster(t, n)
		if err == nil {
			t.Cleanup(c.close)
			return c
		}
		lastErr = err
	}
	t.Fatalf("testserver/etcd: start a %d-member cluster: %v", n, lastErr)
	return nil
}

func startCluster(t testing.TB, n int) (*Cluster, error) {
	c := &Cluster{}
	var peers []string
	for i := range n {
		clientURL, err := freeURL()
		if err != nil {
			return nil, err
		}
		peerURL, err := freeURL()
		if err != nil {
			return nil, err
		}
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = t.TempDir()
		cfg.ListenClientUrls = []url.URL{*clientURL}
		cfg.AdvertiseClientUrls = []url.URL{*clientURL}
		cfg.ListenPeerUrls = []url.URL{*peerURL}
		cfg.AdvertisePeerUrls = []url.URL{*peerURL}
		cfg.InitialClusterToken = "shoal-test"
		cfg.MaxTxnOps = MaxTxnOps
		cfg.UnsafeNoFsync = true
		cfg.LogLevel = "error"
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		peers = append(peers, cfg.Name+"="+peerURL.String())
		c.members = append(c.members, &member{cfg: cfg})
		c.Endpoints = append(c.Endpoints, clientURL.String())
	}
	for _, m := range c.members {
		m.cfg.InitialCluster = strings.Join(peers, ",")
	}
	// Every member must be up for the first one to reach a quorum.
	for _, m := range c.members {
		e, err := embed.StartEtcd(m.cfg)
		if err != nil {
			c.close()
			return nil, err
		}
		m.e = e
	}
	for i := range c.members {
		if err := c.wait(i); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) wait(i int) error {
	e := c.members[i].e
	select {
	case <-e.Server.ReadyNotify():
		return nil
	case err := <-e.Err():
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("testserver/etcd: member %d not ready after 30s", i)
	}
}

// Stop stops member i (a no-op if it is stopped). Its data stays for
// Restart.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.members[i]; m.e != nil {
		m.e.Close()
		m.e = nil
	}
}

// Restart starts a stopped member i again on its ports and data and
// waits until it serves (which needs a quorum of members up).
func (c *Cluster) Restart(t testing.TB, i int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[i]
	if m.e != nil {
		return
	}
	e, err := embed.StartEtcd(m.cfg)
	if err != nil {
		t.Fatalf("testserver/etcd: restart member %d: %v", i, err)
	}
	m.e = e
	if err := c.wait(i); err != nil {
		t.Fatalf("testserver/etcd: restart member %d: %v", i, err)
	}
}

func (c *Cluster) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.members {
		if m.e != nil {
			m.e.Close()
			m.e = nil
		}
	}
}
