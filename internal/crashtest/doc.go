// Package crashtest holds Shoal's crash-consistency test (crash_test.go):
// a child process writes, appends, overwrites, renames and unlinks files
// through the Go SDK and reports, line by line on a pipe, each state it is
// about to make durable and each state it has made durable; the parent
// kills it with SIGKILL at a random moment, reopens the data directory and
// checks that every file holds its last acknowledged state (or the one the
// child was in the middle of making durable) and that fsck finds nothing.
//
// The invariant under test is DESIGN.md principle 1: any Shoal process can
// be killed at any moment without losing acknowledged data, and without
// leaving the namespace or the block store inconsistent.
//
// The package has no non-test code; this file exists for its doc comment.
package crashtest
