// Package kvtable owns Shoal's KV tables: records of (hash key, sort key)
// -> value with an optional TTL, grouped in named tables, with the
// operations and semantics of Apache Pegasus's clients (set, get,
// multi_get, check_and_set, incr, scanners...). It stores them in a
// kv.Engine next to the filesystem metadata; the gRPC service, the Go
// client, the Python client and the CLI are thin layers over it.
//
// Layout (all under the byte 'T', apart from the metadata's 'F'):
//
//	'T' id(4, BE) hkLen(2, BE) hashKey sortKey -> expiry(8, BE Unix ms, 0 = none) value
//	'T' 0 'n' name -> catalogue entry: version 1, id, default TTL (s), created (Unix ms)
//	'T' 0 'c'      -> last table id handed out
//	'T' 0 'd' id   -> name of a dropped table whose records are not yet purged
//
// Invariants:
//   - A table is one contiguous key range; the hash key's length comes
//     before it, so one hash key's records are one contiguous range in
//     sort-key order and no hash key is a prefix of another's range.
//   - Every operation on one hash key is one engine transaction that also
//     reads the table's catalogue entry: it is atomic, and it cannot write
//     into a table dropped meanwhile (the drop conflicts with it).
//   - Table ids are never reused, so the records of a dropped table that
//     are still being purged are unreachable.
//   - A record is visible iff its expiry is 0 or later than the clock.
//     Reclaim only frees space; nothing depends on it having run.
//   - Invalid input is rejected before any write: nothing is partially
//     written (del_range and batch writes, which span transactions as in
//     Pegasus, are atomic per transaction).
//
// docs/kvtables.md maps the Pegasus client calls to this package's.
package kvtable
