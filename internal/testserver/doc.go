// Package testserver is the home of the helpers that start real
// third-party servers for tests: etcd embedded from its Go module
// (testserver/etcd), PostgreSQL from the distribution's binaries with
// initdb and pg_ctl on a temporary directory (testserver/pg), and the
// versitygw S3 server over a temporary directory (testserver/versitygw).
//
// Every server listens on a free loopback port, keeps its data in a
// temporary directory, trades durability for speed (no fsync), and is
// stopped when the test that started it ends. A server whose program is
// missing makes the test skip with the reason printed, never pass
// silently. None of them is a mock: they are the servers Shoal is
// deployed on.
package testserver
