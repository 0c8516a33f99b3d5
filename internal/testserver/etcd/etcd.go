// Package etcd starts real etcd servers inside the test process, for
// tests of anything that runs over etcd: one member (Start, or StartTLS
// with certificates made for the test) or a cluster of several whose
// members a fault test stops and restarts (StartCluster).
//
// The server listens on 127.0.0.1 only, keeps its data in the test's
// temporary directory, skips fsync (tests need no durability against power
// loss), logs nothing, and is stopped when the test ends. MaxTxnOps is
// raised to 10,000: Shoal's etcd engine checks every key a transaction read
// in its commit, so real deployments need --max-txn-ops raised the same way.
package etcd

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/shoalfs/shoal/internal/testserver"
)

// MaxTxnOps is the server's --max-txn-ops.
const MaxTxnOps = 10000

// Start starts a server and returns its client endpoints.
func Start(t testing.TB) []string {
	t.Helper()
	return StartTLS(t, nil)
}

// StartTLS starts a server whose client port speaks TLS with
// certificates made for the test (tc nil: plain HTTP, as Start) and
// returns its https:// endpoints.
func StartTLS(t testing.TB, tc *TLS) []string {
	t.Helper()
	var lastErr error
	for range 3 { // the free ports may be taken before etcd binds them
		eps, err := start(t, tc)
		if err == nil {
			return eps
		}
		lastErr = err
	}
	t.Fatalf("testserver/etcd: start etcd: %v", lastErr)
	return nil
}

func start(t testing.TB, tc *TLS) ([]string, error) {
	clientURL, err := freeURL()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		clientURL.Scheme = "https"
	}
	peerURL, err := freeURL()
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "shoal-test"
	cfg.Dir = t.TempDir()
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.MaxTxnOps = MaxTxnOps
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	if tc != nil {
		cfg.ClientTLSInfo = transport.TLSInfo{
			CertFile:       tc.ServerCert,
			KeyFile:        tc.ServerKey,
			TrustedCAFile:  tc.CA,
			ClientCertAuth: tc.RequireClientCert,
		}
	}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, fmt.Errorf("testserver/etcd: server not ready after 30s")
	}
	t.Cleanup(e.Close)
	return []string{clientURL.String()}, nil
}

func freeURL() (*url.URL, error) {
	addr, err := testserver.FreeAddr()
	if err != nil {
		return nil, err
	}
	return &url.URL{Scheme: "http", Host: addr}, nil
}
