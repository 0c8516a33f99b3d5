// Package fusefs is Shoal's FUSE mount: it serves one shoal.Client (local
// or remote) to the kernel through go-fuse's fs API, so every program on
// the machine reads and writes Shoal through a path.
//
// It is a surface: it imports the public SDK (package shoal) and nothing
// below it, so every semantic (permissions, rename rules, close-to-open,
// O_APPEND, xattrs) is the SDK's, implemented once. The mount translates:
// a kernel node becomes the SDK name of its path from the mount root; the
// caller's uid, gid and supplementary groups become the identity of an SDK
// view (shoal.Client.AsIdentity), so permission checks happen where they
// happen for every other surface; an SDK error becomes its one errno
// (shoal.Errno).
//
// Invariants:
//   - A kernel node's inode number is the Shoal inode number, so hard links
//     share one node and st_ino is stable across mounts.
//   - Every open file is one shoal.File. flush(2) (each close of a
//     descriptor) commits its writes, release closes it: after close
//     returns, any client that opens the file sees the data.
//   - The kernel keeps a file's page cache across opens (FOPEN_KEEP_CACHE)
//     only when the file's size and mtime are what they were when this
//     mount last closed it; otherwise the cache is dropped at open, so a
//     change made through another client is never served stale after
//     close-to-open.
//   - A read-only mount is mounted MS_RDONLY (the kernel answers EROFS)
//     and refuses every change itself as well.
package fusefs
