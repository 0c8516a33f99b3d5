"""KV tables (docs/kvtables.md): the Pegasus Python client's methods on a
Shoal client, through the agent.

    t = client.table("features")
    t.set(b"user1", b"age", b"42", ttl=3600)
    t.get(b"user1", b"age")            # b"42", or None when missing
    with t.get_scanner(b"user1", b"", b"") as sc:
        for (hash_key, sort_key), value in sc:
            ...

Pegasus returns ``(code, result)``; Shoal returns the result and raises a
ShoalError on failure (an unknown table: ShoalFileNotFoundError, ENOENT;
invalid input: EINVAL; a key or value over the limits: E2BIG; a closed
scanner: EBADF). Keys and values are bytes (str is encoded as UTF-8);
results are always bytes.
"""

import errno
from collections import namedtuple

from . import _wire
from .errors import error

__all__ = [
    "CheckType", "FilterType", "MultiGetOptions", "MutateOperation", "Mutations", "ScanOptions",
    "Scanner", "Table", "TableInfo",
]

TableInfo = namedtuple("TableInfo", "name id default_ttl created_ns")


class FilterType:
    """Sort-key and hash-key filters (Pegasus's ``filter_type``)."""
    FT_NO_FILTER = 0
    FT_MATCH_ANYWHERE = 1
    FT_MATCH_PREFIX = 2
    FT_MATCH_POSTFIX = 3


filter_type = FilterType  # Pegasus's spelling


class CheckType:
    """Conditions of check_and_set / check_and_mutate (Pegasus's
    ``cas_check_type``)."""
    CT_NO_CHECK = 0
    CT_VALUE_NOT_EXIST = 1
    CT_VALUE_NOT_EXIST_OR_EMPTY = 2
    CT_VALUE_EXIST = 3
    CT_VALUE_NOT_EMPTY = 4
    CT_VALUE_MATCH_ANYWHERE = 5
    CT_VALUE_MATCH_PREFIX = 6
    CT_VALUE_MATCH_POSTFIX = 7
    CT_VALUE_BYTES_LESS = 8
    CT_VALUE_BYTES_LESS_OR_EQUAL = 9
    CT_VALUE_BYTES_EQUAL = 10
    CT_VALUE_BYTES_GREATER_OR_EQUAL = 11
    CT_VALUE_BYTES_GREATER = 12
    CT_VALUE_INT_LESS = 13
    CT_VALUE_INT_LESS_OR_EQUAL = 14
    CT_VALUE_INT_EQUAL = 15
    CT_VALUE_INT_GREATER_OR_EQUAL = 16
    CT_VALUE_INT_GREATER = 17


class MutateOperation:
    MO_PUT = 0
    MO_DELETE = 1


class MultiGetOptions:
    """Pegasus's MultiGetOptions, with its defaults."""

    def __init__(self, start_inclusive=True, stop_inclusive=False,
                 sortkey_filter_type=FilterType.FT_NO_FILTER, sortkey_filter_pattern=b"",
                 no_value=False, reverse=False):
        self.start_inclusive = start_inclusive
        self.stop_inclusive = stop_inclusive
        self.sortkey_filter_type = sortkey_filter_type
        self.sortkey_filter_pattern = sortkey_filter_pattern
        self.no_value = no_value
        self.reverse = reverse


class ScanOptions:
    """Pegasus's ScanOptions, with its defaults, plus the Java client's
    filters and no_value. ``timeout_millis`` and ``snapshot`` are accepted
    and unused (the client's timeout_ms option applies to every call)."""

    def __init__(self, batch_size=1000, start_inclusive=True, stop_inclusive=False,
                 sortkey_filter_type=FilterType.FT_NO_FILTER, sortkey_filter_pattern=b"",
                 hashkey_filter_type=FilterType.FT_NO_FILTER, hashkey_filter_pattern=b"",
                 no_value=False, timeout_millis=5000):
        self.timeout_millis = timeout_millis
        self.batch_size = batch_size
        self.start_inclusive = start_inclusive
        self.stop_inclusive = stop_inclusive
        self.sortkey_filter_type = sortkey_filter_type
        self.sortkey_filter_pattern = sortkey_filter_pattern
        self.hashkey_filter_type = hashkey_filter_type
        self.hashkey_filter_pattern = hashkey_filter_pattern
        self.no_value = no_value
        self.snapshot = None


class Mutations:
    """The writes of check_and_mutate (the Java client's Mutations)."""

    def __init__(self):
        self.items = []

    def set(self, sort_key, value, ttl=0):
        self.items.append((MutateOperation.MO_PUT, _b(sort_key), _b(value), int(ttl)))
        return self

    def delete(self, sort_key):
        self.items.append((MutateOperation.MO_DELETE, _b(sort_key), b"", 0))
        return self

    def __len__(self):
        return len(self.items)


_START_INCL, _STOP_INCL, _NO_VALUE, _REVERSE = 1, 2, 4, 8


def _b(v):
    """A key or value as bytes-like; str is UTF-8."""
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, (bytes, bytearray, memoryview)):
        return v
    if v is None:
        raise TypeError("shoal: kv: a key or value must be bytes or str, not None")
    raise TypeError("shoal: kv: a key or value must be bytes or str, not %s" % type(v).__name__)


def _flags(start_inclusive, stop_inclusive, no_value=False, reverse=False):
    return ((_START_INCL if start_inclusive else 0) | (_STOP_INCL if stop_inclusive else 0)
            | (_NO_VALUE if no_value else 0) | (_REVERSE if reverse else 0))


def _scan_args(o):
    o = o if o is not None else ScanOptions()
    return (int(o.batch_size), _flags(o.start_inclusive, o.stop_inclusive, getattr(o, "no_value", False)),
            int(getattr(o, "sortkey_filter_type", 0)), _b(getattr(o, "sortkey_filter_pattern", b"") or b""),
            int(getattr(o, "hashkey_filter_type", 0)), _b(getattr(o, "hashkey_filter_pattern", b"") or b""))


def _table_info(d):
    return TableInfo(d.str(), d.int(), d.int(), d.int())


def _kvs(d):
    more = d.int() != 0
    n = d.int()
    out = {}
    for _ in range(n):
        k = d.bytes()
        out[k] = d.bytes()
    return out, more


def _item_error(d, table):
    code = d.int()
    if code == 0:
        return None
    return error(code, table, detail=d.str())


class Table:
    """A handle on one KV table; cheap, made by ``Client.table(name)``. Every
    method is one request to the agent. Safe to share between threads."""

    def __init__(self, client, name):
        if not name:
            raise ValueError("shoal: kv: empty table name")
        self._c = client
        self.name = name

    def __repr__(self):
        return "<shoal.kv.Table %r>" % self.name

    def _call(self, op, *args):
        return self._c._call(op, self.name, *args, path=self.name)

    # ---- single records ----

    def set(self, hash_key, sort_key, value, ttl=0, timeout=0):
        """Store value under (hash_key, sort_key); ttl in seconds (0: the
        table's default TTL)."""
        self._call(_wire.OP_KV_SET, _b(hash_key), _b(sort_key), _b(value), int(ttl))

    def get(self, hash_key, sort_key, timeout=0):
        """The value, or None when there is no live record."""
        d = self._call(_wire.OP_KV_GET, _b(hash_key), _b(sort_key))
        found = d.int() != 0
        v = d.bytes()
        return v if found else None

    def exist(self, hash_key, sort_key, timeout=0):
        return self._call(_wire.OP_KV_EXIST, _b(hash_key), _b(sort_key)).int() != 0

    def ttl(self, hash_key, sort_key, timeout=0):
        """Remaining seconds, -1 when the record never expires, None when
        there is no live record."""
        d = self._call(_wire.OP_KV_TTL, _b(hash_key), _b(sort_key))
        found = d.int() != 0
        t = d.int()
        return t if found else None

    def remove(self, hash_key, sort_key, timeout=0):
        self._call(_wire.OP_KV_REMOVE, _b(hash_key), _b(sort_key))

    def incr(self, hash_key, sort_key, increment=1, ttl=0, timeout=0):
        """Add increment to the integer stored at the record (a missing or
        empty one counts as 0) and return the new value. ttl as Pegasus: 0
        keeps the record's TTL, -1 removes it, > 0 sets it."""
        return self._call(_wire.OP_KV_INCR, _b(hash_key), _b(sort_key), int(increment), int(ttl)).int()

    # ---- one hash key ----

    def multi_set(self, hash_key, sortkey_value_dict, ttl=0, timeout=0):
        """Store several records of one hash key atomically."""
        args = [_b(hash_key), len(sortkey_value_dict)]
        for k, v in sortkey_value_dict.items():
            args += (_b(k), _b(v))
        args.append(int(ttl))
        self._call(_wire.OP_KV_MULTI_SET, *args)

    def multi_get(self, hash_key, sortkey_set=(), max_kv_count=100, max_kv_size=1000000, no_value=False,
                  timeout=0, *, with_more=False):
        """{sort_key: value} of the live records among sortkey_set (empty:
        all sort keys), within the limits (<= 0: none). no_value gives
        b"" values. with_more=True returns (dict, more)."""
        keys = [_b(k) for k in sortkey_set]
        d = self._call(_wire.OP_KV_MULTI_GET, _b(hash_key), len(keys), *keys, int(max_kv_count),
                       int(max_kv_size), int(bool(no_value)))
        kvs, more = _kvs(d)
        return (kvs, more) if with_more else kvs

    def multi_get_opt(self, hash_key, start_sort_key, stop_sort_key, multi_get_options=None,
                      max_kv_count=100, max_kv_size=1000000, timeout=0, *, with_more=False):
        """{sort_key: value} of hash_key's live records between start and
        stop (b"": the ends) selected by multi_get_options; the dict is in
        ascending sort-key order (reverse keeps the last records under the
        limits). with_more=True returns (dict, more)."""
        o = multi_get_options if multi_get_options is not None else MultiGetOptions()
        d = self._call(_wire.OP_KV_MULTI_GET_OPT, _b(hash_key), _b(start_sort_key), _b(stop_sort_key),
                       _flags(o.start_inclusive, o.stop_inclusive, o.no_value, o.reverse),
                       int(o.sortkey_filter_type), _b(o.sortkey_filter_pattern or b""),
                       int(max_kv_count), int(max_kv_size))
        kvs, more = _kvs(d)
        return (kvs, more) if with_more else kvs

    def multi_del(self, hash_key, sortkey_set, timeout=0):
        """Delete records of one hash key atomically; returns how many
        existed."""
        keys = [_b(k) for k in sortkey_set]
        return self._call(_wire.OP_KV_MULTI_DEL, _b(hash_key), len(keys), *keys).int()

    def del_range(self, hash_key, start_sort_key=b"", stop_sort_key=b"", start_inclusive=True,
                  stop_inclusive=False, sortkey_filter_type=FilterType.FT_NO_FILTER,
                  sortkey_filter_pattern=b""):
        """Delete hash_key's records between start and stop (b"": the
        ends); returns the count."""
        return self._call(_wire.OP_KV_DEL_RANGE, _b(hash_key), _b(start_sort_key), _b(stop_sort_key),
                          _flags(start_inclusive, stop_inclusive), int(sortkey_filter_type),
                          _b(sortkey_filter_pattern or b"")).int()

    def sort_key_count(self, hash_key, timeout=0):
        return self._call(_wire.OP_KV_SORT_KEY_COUNT, _b(hash_key)).int()

    def get_sort_keys(self, hash_key, max_kv_count=100, max_kv_size=1000000, timeout=0, *, with_more=False):
        """hash_key's sort keys in ascending order, as a list."""
        d = self._call(_wire.OP_KV_GET_SORT_KEYS, _b(hash_key), int(max_kv_count), int(max_kv_size))
        more = d.int() != 0
        keys = [d.bytes() for _ in range(d.int())]
        return (keys, more) if with_more else keys

    def check_and_set(self, hash_key, check_sort_key, check_type, check_operand, set_sort_key, set_value,
                      set_value_ttl_seconds=0, return_check_value=False):
        """If the check on (hash_key, check_sort_key) passes, set
        (hash_key, set_sort_key), atomically. Returns {"set_succeed",
        "check_value_returned", "check_value_exist", "check_value"}; a
        failed check is not an error."""
        d = self._call(_wire.OP_KV_CHECK_AND_SET, _b(hash_key), _b(check_sort_key), int(check_type),
                       _b(check_operand), _b(set_sort_key), _b(set_value), int(set_value_ttl_seconds),
                       int(bool(return_check_value)))
        return _check_result(d, "set_succeed")

    def check_and_mutate(self, hash_key, check_sort_key, check_type, check_operand, mutations,
                         return_check_value=False):
        """If the check passes, apply mutations (a Mutations, or a list of
        (op, sort_key, value, ttl)) atomically. Returns {"mutate_succeed",
        "check_value_returned", "check_value_exist", "check_value"}."""
        items = mutations.items if isinstance(mutations, Mutations) else list(mutations)
        args = [_b(hash_key), _b(check_sort_key), int(check_type), _b(check_operand), len(items)]
        for op, sk, v, ttl in items:
            args += (int(op), _b(sk), _b(v if v is not None else b""), int(ttl))
        args.append(int(bool(return_check_value)))
        return _check_result(self._call(_wire.OP_KV_CHECK_AND_MUTATE, *args), "mutate_succeed")

    def compare_exchange(self, hash_key, sort_key, expected_value, desired_value, ttl_seconds=0):
        """Set the record to desired_value if it holds expected_value.
        Returns {"set_succeed", "actual_value_exist", "actual_value"}."""
        d = self._call(_wire.OP_KV_COMPARE_EXCHANGE, _b(hash_key), _b(sort_key), _b(expected_value),
                       _b(desired_value), int(ttl_seconds))
        ok, exist = d.int() != 0, d.int() != 0
        v = d.bytes()
        return {"set_succeed": ok, "actual_value_exist": exist, "actual_value": v if exist and not ok else None}

    # ---- across hash keys ----

    def batch_get(self, keys):
        """Values of [(hash_key, sort_key), ...]: a list with, per key, the
        value, None when missing, or the ShoalError of an invalid key."""
        args = [len(keys)]
        for h, s in keys:
            args += (_b(h), _b(s))
        d = self._call(_wire.OP_KV_BATCH_GET, *args)
        out = []
        for _ in range(d.int()):
            e = _item_error(d, self.name)
            if e is not None:
                out.append(e)
                continue
            found = d.int() != 0
            v = d.bytes()
            out.append(v if found else None)
        return out

    def batch_set(self, items):
        """Write [(hash_key, sort_key, value[, ttl]), ...] (atomically per
        hash key): a list with None per success or the item's ShoalError."""
        args = [len(items)]
        for it in items:
            h, s, v = it[0], it[1], it[2]
            ttl = it[3] if len(it) > 3 else 0
            args += (_b(h), _b(s), _b(v), int(ttl))
        d = self._call(_wire.OP_KV_BATCH_SET, *args)
        return [_item_error(d, self.name) for _ in range(d.int())]

    def batch_del(self, keys):
        """Delete [(hash_key, sort_key), ...]: a list with None per success
        or the item's ShoalError."""
        args = [len(keys)]
        for h, s in keys:
            args += (_b(h), _b(s))
        d = self._call(_wire.OP_KV_BATCH_DEL, *args)
        return [_item_error(d, self.name) for _ in range(d.int())]

    # ---- scanners ----

    def get_scanner(self, hash_key, start_sort_key=b"", stop_sort_key=b"", scan_options=None):
        """A Scanner over hash_key's records from start to stop (b"": the
        ends) in sort-key order."""
        a = _scan_args(scan_options)
        h = self._call(_wire.OP_KV_GET_SCANNER, _b(hash_key), _b(start_sort_key), _b(stop_sort_key), *a).int()
        return Scanner(self, h, a[0])

    def get_unordered_scanners(self, max_split_count, scan_options=None):
        """At most max_split_count Scanners over disjoint parts of the
        table that together cover it exactly once."""
        a = _scan_args(scan_options)
        d = self._call(_wire.OP_KV_UNORDERED_SCANNERS, int(max_split_count), *a)
        return [Scanner(self, d.int(), a[0]) for _ in range(d.int())]


def _check_result(d, name):
    ok, returned, exist = d.int() != 0, d.int() != 0, d.int() != 0
    v = d.bytes()
    return {name: ok, "check_value_returned": returned, "check_value_exist": exist,
            "check_value": v if returned and exist else None}


class Scanner:
    """Streams records in batches (Pegasus's PegasusScanner). ``get_next()``
    returns ``((hash_key, sort_key), value)`` and None at the end; it is
    also an iterator and a context manager. A scanner belongs to the
    client's agent session: it does not survive fork() or a reconnection
    (it then raises EBADF). An abandoned scanner is released when the
    session ends (its cost in the agent is a cursor)."""

    def __init__(self, table, handle, batch_size):
        self._t = table
        self._h = handle
        self._batch = batch_size if batch_size > 0 else 1000
        self._buf = []
        self._i = 0
        self._end = False
        self._closed = False

    def get_next(self):
        if self._closed:
            raise error(errno.EBADF, self._t.name, detail="shoal: kv: scanner used after close")
        if self._i >= len(self._buf):
            if self._end:
                return None
            d = self._t._c._call(_wire.OP_KV_NEXT, self._h, self._batch, path=self._t.name)
            n = d.int()
            self._buf = [((d.bytes(), d.bytes()), d.bytes()) for _ in range(n)]
            self._i = 0
            if n == 0:
                self._end = True
                self._release()
                return None
        r = self._buf[self._i]
        self._i += 1
        return r

    next = get_next

    def __iter__(self):
        return self

    def __next__(self):
        r = self.get_next()
        if r is None:
            raise StopIteration
        return r

    def _release(self):
        h, self._h = self._h, None
        if h is not None:
            try:
                self._t._c._call(_wire.OP_KV_CLOSE_SCANNER, h, path=self._t.name)
            except OSError:
                pass  # the session may be gone; the agent closed it then

    def close(self):
        """Release the scanner in the agent. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._buf = []
        if not self._t._c._stopped:
            self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
