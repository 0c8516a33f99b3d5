"""Consistent-hash placement, the twin of Go's internal/ring.

Every client places a key (a block, a dataset-cache page) on the ring of
live members the meta service lists, with the parameters it serves; the Go
and Python sides must agree exactly, which internal/ring/testdata/golden.json
checks for both (python/tests/test_ring.py).

Version 1: a member's points are hash(id + "#" + i) for i in [0, vnodes),
ordered by hash and then by member id; a key belongs to the first point at
or after hash(key), wrapping at the top. hash is the first 8 bytes of
SHA-256 of the UTF-8 bytes, read big-endian.
"""

import bisect
import hashlib

HASH_SHA256 = "sha256"
MAX_VNODES = 4096


def hash64(s):
    """Version 1's hash of the string s."""
    return int.from_bytes(hashlib.sha256(s.encode("utf-8")).digest()[:8], "big")


class Params:
    """The ring's parameters as the meta service serves them."""

    __slots__ = ("version", "vnodes", "hash")

    def __init__(self, version=1, vnodes=128, hash=HASH_SHA256):
        self.version = version
        self.vnodes = vnodes
        self.hash = hash

    def validate(self):
        """Refuse parameters this implementation cannot place with, rather
        than placing differently from the other clients."""
        if self.version != 1:
            raise ValueError("ring: unknown version %d (this build knows 1)" % self.version)
        if not 1 <= self.vnodes <= MAX_VNODES:
            raise ValueError("ring: vnodes %d out of range [1, %d]" % (self.vnodes, MAX_VNODES))
        if self.hash != HASH_SHA256:
            raise ValueError("ring: unknown hash %r (this build knows %r)" % (self.hash, HASH_SHA256))


class Ring:
    """An immutable ring over member ids; build a new one when they change."""

    def __init__(self, params, members):
        params.validate()
        ids = sorted(set(members))
        if "" in ids:
            raise ValueError("ring: empty member id")
        self.params = params
        self.members = ids
        # Sorting (hash, index) matches Go's (hash, member id) order because
        # ids are sorted, so the lower index is the lower id.
        pts = sorted(
            (hash64("%s#%d" % (m, i)), mi)
            for mi, m in enumerate(ids)
            for i in range(params.vnodes)
        )
        self._hashes = [h for h, _ in pts]
        self._owners = [mi for _, mi in pts]

    def __len__(self):
        return len(self.members)

    def _start(self, key):
        i = bisect.bisect_left(self._hashes, hash64(key))
        return 0 if i == len(self._hashes) else i

    def place(self, key):
        """The member holding key, or None on an empty ring."""
        if not self._hashes:
            return None
        return self.members[self._owners[self._start(key)]]

    def walk(self, key, n=0):
        """Up to n distinct members in ring order from key's point (all of
        them when n <= 0): the holder, then the ones to fall back to."""
        if n <= 0 or n > len(self.members):
            n = len(self.members)
        out = []
        if n == 0:
            return out
        taken = set()
        s, total = self._start(key), len(self._owners)
        for i in range(total):
            m = self._owners[(s + i) % total]
            if m not in taken:
                taken.add(m)
                out.append(self.members[m])
                if len(out) == n:
                    break
        return out
