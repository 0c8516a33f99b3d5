// Package multitest holds Shoal's multi-process tests (issue 3, items 6
// and 7): a `shoal server` runs as a child process of the test binary
// (the binary re-executed in the server role, serving through
// internal/server), and clients are either more children (the binary
// re-executed in the agent role, each with its own shoal.Dial client,
// driven by JSON commands on stdin) or goroutines of the test, each with
// its own Dial.
//
// What the tests prove, each against real separate processes talking
// gRPC and HTTP over loopback:
//   - close-to-open consistency between clients (multi_test.go);
//   - many clients creating files in one directory lose and duplicate
//     nothing;
//   - concurrent renames never lose a file;
//   - a client killed with SIGKILL mid-write leaves nothing fsck objects
//     to once its session expires, and its unlinked-open files are
//     reclaimed;
//   - the server killed with SIGKILL while clients write and fsync keeps
//     every fsync-acknowledged byte, fsck stays clean, and the same
//     clients carry on once it is restarted on the same port
//     (servercrash_test.go);
//   - a cluster of 3 etcd members, 2 meta and 3 worker processes and
//     versitygw, one process at a time killed and restarted under 4
//     writing clients, keeps every acknowledged byte, create and rename,
//     checks clean, resumes, and its namespace history is linearizable
//     (faults_test.go, with porcupine);
//   - connections to the meta API and the block port cut (mid-transfer,
//     or dropping a reply the server acted on) and delayed by a proxy
//     of the test lose and double nothing; a worker's full disk fails
//     writes with ENOSPC and loses nothing; an engine slower than the
//     client's deadlines gives timeouts, then recovers
//     (netfaults_test.go).
//
// The package has no non-test code; this file exists for its doc comment.
package multitest
