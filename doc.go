// Package shoal is the public Go SDK of Shoal: a POSIX filesystem reached
// without FUSE. A Client is opened in one of two ways, and behaves the
// same either way (one test suite runs against both):
//
//   - OpenLocal: on a local data directory, in process (an embedded
//     Badger engine for metadata and a directory of immutable blocks for
//     file data, one process at a time);
//   - Dial: on running servers (`shoal server`), by address. Namespace
//     calls go over gRPC to the meta role, with failover across the
//     listed addresses, automatic reconnection and a session kept alive
//     by heartbeats; the client moves file data itself, straight to and
//     from the workers' block servers over HTTP.
//
// A server or data directory holds named filesystems; WithFS picks one
// ("default" otherwise). Every other surface (the S3 gateway, FUSE, the
// Python agent, the CLI) is built on the same Client.
//
// # Names
//
// Names are io/fs-style, like Go's os.Root: slash-separated and relative
// to the filesystem root, with "." naming the root itself. Every method
// accepts a single leading "/" and strips it ("/a/b" is "a/b"), except the
// io/fs interface methods Open, Stat, ReadDir and ReadFile, which follow
// fs.ValidPath strictly (testing/fstest requires Open("/x") to fail).
// After that, a name must satisfy fs.ValidPath: no "." or ".." elements
// other than a lone ".", no empty elements ("a//b"), no trailing slash and
// no NUL byte. Anything else is an error of kind KindInvalid (EINVAL)
// naming the path. Symbolic links met while resolving a name are followed
// as POSIX does, within the filesystem: an absolute target is taken from
// the filesystem root.
//
// # Contexts
//
// Methods take no context, like the os package, so that a Client is an
// io/fs.FS. WithContext returns a cheap view of the Client bound to a
// context; the default context is context.Background.
//
// # Errors
//
// Every error is a *Error (an alias of Shoal's one error type) carrying
// the SDK operation ("mkdir", "open", ...), the name as given, and a Kind
// that maps to one POSIX errno. errors.Is works against the io/fs
// sentinels (fs.ErrNotExist ...) and against syscall.Errno values
// (syscall.ENOENT ...). context.Canceled and DeadlineExceeded stay
// reachable with errors.Is.
//
// # Consistency
//
// Metadata operations are linearizable. File data is close-to-open: after
// File.Close or File.Sync returns, any client that opens the file sees the
// data. Within one Client, Stat of a file open for writing reports the
// size including writes not yet flushed, as POSIX requires.
//
// # The filesystem
//
// A Client has the os package's calls under the same names (Mkdir,
// OpenFile, Rename, Symlink, Chmod, ...) and is an io/fs.FS; a File is an
// os.File. Beyond os: SetAttr changes several attributes at once as an
// AttrMask selects, Rename takes renameat2's flags, SetFlags sets inode
// flags (FlagImmutable, FlagAppend), the xattr calls are Linux's, OpenDir
// lists a directory lazily, Walk visits a tree one directory at a time,
// StatFS reports usage, and Check and GC verify and reclaim storage.
//
// # KV tables
//
// CreateTable, DropTable, ListTables and DescribeTable manage named
// tables of records (hash key, sort key) -> value with an optional TTL,
// kept in the same engine as the filesystems; Client.Table returns a
// Table, whose methods are those of Apache Pegasus's clients (Set, Get,
// MultiGetOpt, CheckAndSet, BatchGet, GetScanner, ...) with Pegasus's
// semantics (docs/kvtables.md). Over Dial they go to the servers' KV
// service; both behave the same.
//
// # S3 support
//
// What an object store built on the filesystem needs, and other programs
// may use: AsIdentity (a view acting as another user, sharing the
// caches), ListNames (a directory in name order, paged, with an xattr per
// entry), CloneFile, ConcatFiles and CopyFileRange (copies that share
// blocks instead of copying bytes) and Publish (rename a staged file into
// place and stamp it, in one transaction, optionally only if the target
// is unchanged). The S3 gateway (`shoal gateway`, or the S3 role of
// `shoal server`) is built on them.
//
// The examples (example_*_test.go) run as tests.
package shoal
