"""The Python ring places exactly as Go's internal/ring: both check
internal/ring/testdata/golden.json (regenerated only by the Go side)."""

import json
import os

import pytest

from shoal._ring import Params, Ring, hash64

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "internal", "ring", "testdata", "golden.json")


def _golden():
    with open(GOLDEN, encoding="utf-8") as f:
        return json.load(f)


def test_hashes():
    for h in _golden()["hashes"]:
        assert "%016x" % hash64(h["s"]) == h["h"], h["s"]


def test_walks():
    rings = _golden()["rings"]
    assert rings
    for g in rings:
        r = Ring(Params(g["version"], g["vnodes"], g["hash"]), g["members"])
        for k in g["keys"]:
            assert r.walk(k["key"]) == k["walk"], (g["members"], k["key"])
            assert r.place(k["key"]) == k["walk"][0]
            assert r.walk(k["key"], 1) == k["walk"][:1]


def test_order_independent():
    a = Ring(Params(), ["c", "a", "b", "a"])
    b = Ring(Params(), ["a", "b", "c"])
    assert len(a) == 3
    for k in ("x", "chunks/0/0/1_0_4194304"):
        assert a.walk(k) == b.walk(k)


def test_empty_and_bad():
    r = Ring(Params(), [])
    assert r.place("k") is None and r.walk("k") == []
    for p in (Params(2), Params(1, 0), Params(1, 5000), Params(1, 8, "md5")):
        with pytest.raises(ValueError):
            Ring(p, ["a"])
    with pytest.raises(ValueError):
        Ring(Params(), ["a", ""])
