// Package etcdtest starts a real, single-member etcd server inside the test
// process; it forwards to internal/testserver/etcd, the shared home of the
// test servers, and stays for the tests that import it by this name.
package etcdtest

import (
	"testing"

	"github.com/shoalfs/shoal/internal/testserver/etcd"
)

// MaxTxnOps is the server's --max-txn-ops.
const MaxTxnOps = etcd.MaxTxnOps

// Start starts a server and returns its client endpoints.
func Start(t testing.TB) []string { return etcd.Start(t) }
