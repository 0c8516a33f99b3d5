// Package rpc carries meta.Service over gRPC (api/shoal/v1): Server serves
// the Meta, Session and Admin services over the meta.FS of each named
// filesystem, and Dial returns a Conn whose Meta() implements
// meta.Service against a list of servers. One package holds both ends
// because they share the metadata keys, the message conversions and the
// error mapping, which must stay in step.
//
// The wire protocol:
//
//   - Every call carries gRPC metadata: shoal-fs (default "default"),
//     shoal-session, shoal-request (mutations), the caller's identity
//     shoal-uid, shoal-gid, shoal-gids, and "authorization: Bearer TOKEN".
//     The server's interceptors turn it into a call state once per call.
//   - Identity: with tokens configured the token decides who the caller is
//     (an unknown or missing token is Unauthenticated); only a super token
//     may act as another identity, root included. Without tokens (loopback
//     only, enforced by internal/server) the client-sent identity is trusted.
//   - Errors: a status whose code follows the fserr.Kind, with one
//     ErrorDetail{kind, op, path, message}; the client rebuilds the same
//     *fserr.Error, so errors.Is(err, fs.ErrNotExist) holds across the wire.
//     Context errors stay context.Canceled / DeadlineExceeded.
//   - Sessions: the server keeps a map from session id to *meta.Session.
//     A call naming a session the server does not hold (it restarted, or
//     the client failed over to another server) fails with
//     ErrorDetail.unknown_session; the client then calls Session.Resume with
//     every inode it holds open (once per handle) and retries. A session
//     that expired meanwhile is replaced by a new one.
//   - Retries: a call that fails with Unavailable and no ErrorDetail never
//     reached the service or lost its reply; the client moves to the next
//     address and retries for up to ClientOptions.RetryTimeout. Mutations
//     are safe to retry because they carry the same request id, which meta
//     deduplicates (meta.WithRequest). Until some server has answered,
//     an address that fails definitely (refused, unknown host, no port, or
//     HTTP answering: the block or S3 port) is not retried: when every
//     address failed so, the call fails at once with an AddrsError naming
//     each address, its problem and, when it can tell, the API address.
//   - Inline service (inline_*.go, optional: a client falls back when the
//     server answers Unimplemented): WriteBlocks stores a small flush's
//     blocks and commits them in one call; OpenRead resolves, opens and
//     returns chunk 0's records (and a small file's blocks) in one call.
//   - Data-path authority (with tokens): Write and CompactChunk need the
//     inode open for writing in the caller's session, ReadChunk needs it
//     open; garbage-collection calls and Check need a super token; only a
//     session's owner (or a super token) may heartbeat, resume or close it.
//     Meta checks permissions at Open, so these grants keep a token holder
//     from changing data it could not open (server_grants.go).
//   - Block grants (with tokens, for non-super tokens): ReadChunk and
//     OpenRead return a signed read grant for the slices they list, and
//     AllocSliceIDs a write grant for the ids it reserves while the session
//     holds an inode open for writing, in the shoal-grant response header;
//     the block server checks them (internal/blockserver). A Heartbeat
//     carrying shoal-grant-renew tokens gets them renewed in its header
//     while their conditions hold. Conn.Grants hands them to the block
//     store (objstore/remote). See docs/security.md.
//
// Invariant: the server holds one open handle per client-side handle of
// the session (the client calls Open/Create/Release once per handle and
// tracks its counts so a resume rebuilds exactly them).
package rpc
