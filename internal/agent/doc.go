// Package agent is `shoal agent`: the per-user local daemon through which
// the Python SDK (and any other out-of-process caller) reaches Shoal. It
// runs the Go SDK (package shoal) and serves it over a Unix domain socket
// with a small framed binary protocol (wire.go; the spec is in
// docs/python.md), dispatched through a table of one handler per opcode
// (optable.go); bulk payloads travel through POSIX shared memory that
// the caller allocates and hands over with SCM_RIGHTS, so a read lands
// in the caller's buffer without crossing the socket.
//
// What it owns and its invariants:
//   - One Agent per socket path; the socket's directory is private to the
//     user (0700, owned by the agent's uid) and every connection's peer
//     credentials (SO_PEERCRED) must be the agent's uid or root: the
//     agent never trusts a uid a caller claims.
//   - Go clients are shared: one *shoal.Client per (addresses or data
//     directory, filesystem, token, identity), so every process of the
//     user shares one block cache. A client no session uses is closed
//     after Config.ClientLinger.
//   - A session is one caller-side client object in one process. Open
//     files, directory iterators and registered shared-memory buffers
//     belong to a session, whichever of its connections made them, and
//     are released when its last connection closes, so a caller that dies
//     leaks nothing in the agent. Files and directories are opened under
//     the session's context (session.cl), never a request's: a Go File
//     keeps its opening context for every later call, and a handle must
//     outlive the request, connection and thread that opened it. A
//     per-request timeout therefore bounds path requests, not I/O on a
//     handle.
//   - Descriptors passed with SCM_RIGHTS belong to the frame they were
//     sent with, even when one read returns the ends of earlier frames
//     too (conn.claimFDs).
//   - Requests on one connection are answered in order; callers get
//     parallelism from several connections per session (one per thread)
//     and from batch calls (PREADV/PWRITEV), which the agent runs
//     concurrently with a bound.
//   - Every error answered names its operation and path, and its errno
//     is fserr.Errno's, the one mapping FUSE uses too (optable.go).
//   - The agent exits after Config.IdleTimeout with no connection.
//   - Every request passes dispatch once, and is timed, counted and
//     logged there (observe.go) under its opcode's name and errno name,
//     never under anything the caller sent (docs/metrics.md).
package agent
