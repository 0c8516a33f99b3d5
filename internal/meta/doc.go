// Package meta owns Shoal's namespace: inodes, directory entries, chunk
// slice lists, xattrs, symlinks, open-file sessions, usage counters and the
// garbage-collection queues, client sessions, request ids and the
// registry of filesystems, all stored in one kv.Engine (DESIGN.md
// "Metadata schema"). FS and Session implement Service over any
// kv.Engine. Service is composed of Namespace, Handles, Chunks and
// Reclaimer; the optional capabilities a backend may add (NameLister,
// Cloner, Publisher, Checker, Syncer, PathCreator, OpenReader,
// InlineWriter, Locker, Loader) are declared in capability.go, and docs/architecture.md
// tables which backend offers which.
//
// Every namespace operation is one engine transaction, so the invariants
// below hold between transactions whatever the interleaving; (*FS).Check
// verifies them:
//
//   - every dentry (D) points at a live inode of the recorded type, and has
//     exactly one readdir index entry (E) with the same sequence number;
//   - a file's nlink equals its number of dentries; a directory's nlink is
//     2 plus its number of subdirectories, and its Parent is the directory
//     holding its dentry (the root is its own parent);
//   - an inode with nlink 0 exists only while some session holds it open,
//     and every session holding it has an S sess ino record (and the
//     reverse O ino sess); once closed, its I record is deleted and, if it
//     had data, its ino is queued under G until Reclaim deletes its chunks;
//   - every chunk belongs to a live inode or to an inode queued under G;
//   - a slice id is referenced by n >= 1 chunk records and has an R record
//     holding n-1 when n > 1; a slice in the freed list (F) is referenced
//     by no record;
//   - every slice id range (A), open record (S sess ino) and request
//     record (Q) and lock (K, P) belongs to a session with a record;
//   - the striped usage counters (U) sum to the regular-file bytes and the
//     number of inodes recomputed from the I records.
//
// Key layout (all keys start with 'F' and the big-endian filesystem id, so
// one engine holds several filesystems; ids are big-endian so scans are
// ordered):
//
//	V                 format record (magic, version, name)
//	N name            id counters (inode, slice, session), bumped in batches
//	I ino             attributes, fixed 72-byte encoding, version byte first
//	D parent name     child ino, type, entry sequence number
//	E parent seq      child ino, type, name (the readdir index)
//	C ino index       chunk: concatenated 24-byte slice records, oldest first
//	X ino name        xattr value
//	L ino             symlink target
//	S sess            session record: host, pid, client, peer address,
//	                  started, heartbeat, expires (0: a process's built-in
//	                  session, which never expires), TTL
//	S sess ino        ino held open by sess (see "Sessions" for when)
//	O ino sess        the reverse of S sess ino ("is ino open anywhere?")
//	Q sess req        request req of sess was applied (value: the inode a
//	                  create-like request made); the last 4096 per session
//	G ino             unlinked, closed inode whose chunks await Reclaim
//	R slice           extra references to a slice beyond its implicit one
//	F slice           freed slice awaiting deletion of its blocks (value: size)
//	U stripe          usage deltas (bytes, inodes), 64 stripes chosen by ino
//	A sess lo         slice ids [lo, value) allocated by session sess
//	W lo              slice ids [lo, value) of dead sessions, awaiting sweep
//	K ino kind sess owner start
//	                  an advisory lock (kind 'p' POSIX, 'f' flock) of owner
//	                  in sess on [start, value's end]: type, pid (locks.go)
//	P sess ino        sess holds a lock on ino (cleanSession drops them)
//	H                 the garbage collector's claim: owner, expiry (gcclaim.go)
//	J sub ...         load jobs: J n (next job number), J j n (a job), J p path
//	                  (the running job of path), J f n path (a file of job n),
//	                  J w n worker (one worker's progress on job n) (loadjobs.go)
//
// Outside every filesystem's prefix, the registry (registry.go) maps
// names to filesystem ids: M n name -> id, created, state; M c -> the
// next id. "default" is id 1.
//
// Sessions. Every FS has a built-in session (used when FS itself is
// called as a Service); NewSession starts client sessions for a server's
// clients, which expire TTL after their last Heartbeat (ExpireSessions
// cleans them: handles released, slice ranges swept) and survive a
// restart of the process (ResumeSession re-attaches one with the inodes
// the client still has open). Open handles are counted in memory per
// session and inode (openState). Without Config.Exclusive a session's
// first handle on an inode also writes S sess ino / O ino sess and its
// last deletes them, so several processes sharing the engine see each
// other's opens. With Exclusive (one process owns the engine) Open,
// Create and Release write nothing: an unlink or rename that leaves an
// open inode without links writes the records for each holder instead,
// under the inode's openState lock so no open or release interleaves
// (see hold); then the last release, or the cleaning of the sessions
// after a crash, drops it. After a restart in exclusive mode the client
// sessions of the previous process are in limbo until they resume or
// expire (not before a TTL from the restart): they may hold any inode,
// so an unlink to zero links records a hold for each of them too.
//
// Lookup cache. In exclusive mode every write goes through this FS, so
// the attributes, dentries, chunk records and symlink targets that reads
// get are cached exactly (cache.go): write transactions keep the cache
// in step around their commit and install what they wrote, and Resolve,
// Lookup, GetAttr, Access, Open and ReadChunk run from the cache alone,
// without an engine transaction, when everything they need is there.
// Without Exclusive there is no cache.
//
// Request ids. A client tags each mutation with a per-session request id
// (WithRequest). The mutation's transaction checks Q sess req: if present
// the request was applied and the call returns what the first success
// returned (create-like calls the inode recorded, the rest success)
// without applying it again; else it applies the mutation and records
// the id, deleting id-4096 so a session keeps a bounded window. Open,
// Create and Release also affect in-memory counts, so this process keeps
// a window of the ids it applied (reqWindow): a retried Create found in Q
// but not in the window was applied by a process that is gone, with the
// handle count the resumed session did not include, so it counts one.
// Calls without a request id write no Q records.
//
// ReadDir cookies. A cookie must be a uint64 that survives concurrent
// creates and deletes, and names do not fit in 64 bits. Each directory
// therefore hands out a monotonic sequence number (kept in its attribute
// record, which every entry change writes anyway for mtime) to each entry
// it gains; the E index orders entries by that number, so ReadDir is one
// scan of E starting after the cookie, and resuming after a deleted entry
// simply continues with the next larger number. Entries created during a
// listing appear at its end; a renamed entry gets a new number (POSIX
// allows it to be seen twice or not at all).
//
// Slice references. A slice committed by Write has one implicit reference
// per chunk record naming it; the first is implicit and the others are
// counted in R. Dropping a record (truncate, compaction, reclaim) consumes
// R first; when the last reference goes the slice moves to F. Write and
// the replacement list of CompactChunk must use fresh slice ids (from
// NewSliceID, committed once); ids that CompactChunk carries over from
// the records it replaces are recounted exactly.
//
// Uncommitted blocks. A writer uploads a slice's blocks before Write
// commits the slice, so a process that dies in between leaves blocks no
// record names. Every batch of slice ids is recorded under the session
// that reserved it (A), in the transaction that bumps the counter, so
// this costs nothing per write. A clean Close drops the session's ranges
// (the data layer deletes what it did not commit); cleaning a stale
// session moves them to the sweep list (W), where the data layer's GC
// deletes the blocks of ids in the range that no live slice accounts for
// (SweepRanges, LiveSlices, ForgetSweep). A live session's ids are never
// in W, so its in-flight uploads are safe from a concurrent sweep. An id
// of a dead session can never become live again, so sweeping needs no
// lock against writers.
//
// Large truncates delete at most truncateBatch chunk keys per transaction;
// a truncate over more chunks first shrinks the file in several
// transactions from the end (each an intermediate, consistent, shorter
// file) before the final one.
package meta
