"""KV tables through the agent (shoal.kv) against the real server."""

import errno
import threading
import time

import pytest

import shoal
from shoal.kv import CheckType, FilterType, MultiGetOptions, Mutations, ScanOptions


@pytest.fixture
def t(client, request):
    name = "t_" + request.node.name.replace("[", "_").replace("]", "")
    if name in [ti.name for ti in client.list_tables()]:
        client.drop_table(name)
    client.create_table(name)
    yield client.table(name)
    client.drop_table(name)


def test_tables(client):
    info = client.create_table("kv_tables_a", default_ttl=60)
    assert info.name == "kv_tables_a" and info.default_ttl == 60 and info.id > 0
    assert "kv_tables_a" in [ti.name for ti in client.list_tables()]
    assert client.describe_table("kv_tables_a").default_ttl == 60
    with pytest.raises(FileExistsError):
        client.create_table("kv_tables_a")
    t = client.table("kv_tables_a")
    t.set(b"h", b"s", b"v")
    assert 0 < t.ttl(b"h", b"s") <= 60  # the default TTL applied
    client.drop_table("kv_tables_a")
    assert "kv_tables_a" not in [ti.name for ti in client.list_tables()]
    with pytest.raises(shoal.ShoalError) as ei:
        client.drop_table("kv_tables_a")
    assert ei.value.errno == errno.ENOENT


def test_unknown_table(client):
    t = client.table("no_such_table")
    with pytest.raises(FileNotFoundError) as ei:
        t.get(b"h", b"s")
    assert isinstance(ei.value, shoal.ShoalError)
    assert "no_such_table" in str(ei.value)
    with pytest.raises(FileNotFoundError):
        t.set(b"h", b"s", b"v")
    with pytest.raises(FileNotFoundError):
        t.get_scanner(b"h").get_next()


def test_single_records(t):
    assert t.get(b"h", b"s") is None
    assert not t.exist(b"h", b"s")
    assert t.ttl(b"h", b"s") is None
    t.set(b"h", b"s", b"v")
    assert t.get(b"h", b"s") == b"v"
    assert t.exist(b"h", b"s")
    assert t.ttl(b"h", b"s") == -1
    t.set("h", "s2", "text", ttl=100)
    assert t.get(b"h", b"s2") == b"text"
    assert 90 <= t.ttl(b"h", b"s2") <= 100
    t.set(b"h", b"empty", b"")
    assert t.get(b"h", b"empty") == b""  # an empty value is not a missing one
    t.remove(b"h", b"s")
    t.remove(b"h", b"s")  # removing a missing record is fine
    assert t.get(b"h", b"s") is None
    # empty hash key: allowed for single-record calls (as Pegasus's Java client)
    t.set(b"", b"s", b"e")
    assert t.get(b"", b"s") == b"e"
    binary = bytes(range(256))
    t.set(binary, binary, binary * 10)
    assert t.get(binary, binary) == binary * 10


def test_ttl_expiry(t):
    t.set(b"h", b"s", b"v", ttl=1)
    assert t.get(b"h", b"s") == b"v"
    time.sleep(2.1)
    assert t.get(b"h", b"s") is None
    assert t.multi_get(b"h") == {}


def test_incr(t):
    assert t.incr(b"h", b"c") == 1
    assert t.incr(b"h", b"c", 41) == 42
    assert t.incr(b"h", b"c", -2) == 40
    assert t.get(b"h", b"c") == b"40"
    t.set(b"h", b"x", b"not a number")
    with pytest.raises(shoal.ShoalError) as ei:
        t.incr(b"h", b"x")
    assert ei.value.errno == errno.EINVAL


def test_incr_concurrent(t):
    def work():
        for _ in range(50):
            t.incr(b"h", b"n")
    ths = [threading.Thread(target=work) for _ in range(4)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    assert t.get(b"h", b"n") == b"200"


def test_multi(t):
    t.multi_set(b"h", {b"a": b"1", b"b": b"2", b"c": b"3", b"d": b"4"})
    assert t.multi_get(b"h", {b"a", b"c", b"zz"}) == {b"a": b"1", b"c": b"3"}
    assert t.multi_get(b"h", set()) == {b"a": b"1", b"b": b"2", b"c": b"3", b"d": b"4"}
    kvs, more = t.multi_get(b"h", (), max_kv_count=2, with_more=True)
    assert list(kvs) == [b"a", b"b"] and more
    assert t.multi_get(b"h", (), no_value=True) == {b"a": b"", b"b": b"", b"c": b"", b"d": b""}
    assert t.sort_key_count(b"h") == 4
    assert t.get_sort_keys(b"h") == [b"a", b"b", b"c", b"d"]
    keys, more = t.get_sort_keys(b"h", max_kv_count=3, with_more=True)
    assert keys == [b"a", b"b", b"c"] and more
    assert t.multi_del(b"h", {b"a", b"zz"}) == 1
    assert t.sort_key_count(b"h") == 3


def test_multi_get_opt(t):
    t.multi_set(b"h", {b"k%02d" % i: b"v%d" % i for i in range(20)})
    t.multi_set(b"h", {b"x_pre": b"1", b"y_post_fix": b"2"})
    r = t.multi_get_opt(b"h", b"k05", b"k08", MultiGetOptions())
    assert list(r) == [b"k05", b"k06", b"k07"]
    o = MultiGetOptions(start_inclusive=False, stop_inclusive=True)
    assert list(t.multi_get_opt(b"h", b"k05", b"k08", o)) == [b"k06", b"k07", b"k08"]
    o = MultiGetOptions(reverse=True)
    kvs, more = t.multi_get_opt(b"h", b"k00", b"k99", o, max_kv_count=3, with_more=True)
    assert list(kvs) == [b"k17", b"k18", b"k19"] and more
    o = MultiGetOptions(sortkey_filter_type=FilterType.FT_MATCH_PREFIX, sortkey_filter_pattern=b"x_")
    assert t.multi_get_opt(b"h", b"", b"", o) == {b"x_pre": b"1"}
    o = MultiGetOptions(sortkey_filter_type=FilterType.FT_MATCH_POSTFIX, sortkey_filter_pattern=b"fix")
    assert t.multi_get_opt(b"h", b"", b"", o) == {b"y_post_fix": b"2"}
    o = MultiGetOptions(sortkey_filter_type=FilterType.FT_MATCH_ANYWHERE, sortkey_filter_pattern=b"post")
    assert list(t.multi_get_opt(b"h", b"", b"", o, max_kv_count=0)) == [b"y_post_fix"]
    o = MultiGetOptions(no_value=True)
    assert set(t.multi_get_opt(b"h", b"k00", b"k02", o).values()) == {b""}


def test_del_range(t):
    t.multi_set(b"h", {b"%d" % i: b"v" for i in range(10)})
    assert t.del_range(b"h", b"2", b"5") == 3
    assert t.get_sort_keys(b"h") == [b"0", b"1", b"5", b"6", b"7", b"8", b"9"]
    assert t.del_range(b"h", b"5", b"7", start_inclusive=False, stop_inclusive=True) == 2
    assert t.del_range(b"h") == 5
    assert t.sort_key_count(b"h") == 0


def test_check_and_set(t):
    r = t.check_and_set(b"h", b"lock", CheckType.CT_VALUE_NOT_EXIST, b"", b"lock", b"me")
    assert r["set_succeed"]
    r = t.check_and_set(b"h", b"lock", CheckType.CT_VALUE_NOT_EXIST, b"", b"lock", b"you",
                        return_check_value=True)
    assert not r["set_succeed"] and r["check_value_exist"] and r["check_value"] == b"me"
    t.set(b"h", b"n", b"10")
    r = t.check_and_set(b"h", b"n", CheckType.CT_VALUE_INT_GREATER, b"5", b"flag", b"big")
    assert r["set_succeed"] and t.get(b"h", b"flag") == b"big"
    r = t.check_and_set(b"h", b"n", CheckType.CT_VALUE_BYTES_EQUAL, b"11", b"flag", b"no")
    assert not r["set_succeed"] and t.get(b"h", b"flag") == b"big"
    r = t.check_and_set(b"h", b"lock", CheckType.CT_VALUE_MATCH_PREFIX, b"m", b"x", b"1",
                        set_value_ttl_seconds=50)
    assert r["set_succeed"] and 40 <= t.ttl(b"h", b"x") <= 50


def test_check_and_mutate(t):
    t.multi_set(b"h", {b"a": b"1", b"b": b"2"})
    m = Mutations().set(b"c", b"3").delete(b"a")
    r = t.check_and_mutate(b"h", b"b", CheckType.CT_VALUE_EXIST, b"", m)
    assert r["mutate_succeed"]
    assert t.multi_get(b"h") == {b"b": b"2", b"c": b"3"}
    r = t.check_and_mutate(b"h", b"a", CheckType.CT_VALUE_EXIST, b"", Mutations().delete(b"b"),
                           return_check_value=True)
    assert not r["mutate_succeed"] and not r["check_value_exist"]
    assert t.get(b"h", b"b") == b"2"
    with pytest.raises(shoal.ShoalError) as ei:
        t.check_and_mutate(b"h", b"a", CheckType.CT_NO_CHECK, b"", Mutations())
    assert ei.value.errno == errno.EINVAL


def test_compare_exchange(t):
    t.set(b"h", b"s", b"old")
    r = t.compare_exchange(b"h", b"s", b"old", b"new")
    assert r["set_succeed"] and t.get(b"h", b"s") == b"new"
    r = t.compare_exchange(b"h", b"s", b"old", b"newer")
    assert not r["set_succeed"] and r["actual_value"] == b"new"


def test_check_and_set_concurrent(t):
    t.set(b"h", b"v", b"0")

    def work():
        done = 0
        while done < 25:
            cur = t.get(b"h", b"v")
            r = t.compare_exchange(b"h", b"v", cur, b"%d" % (int(cur) + 1))
            done += r["set_succeed"]
    ths = [threading.Thread(target=work) for _ in range(4)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    assert t.get(b"h", b"v") == b"100"


def test_batches(t):
    errs = t.batch_set([(b"h1", b"s", b"1"), (b"h2", b"s", b"2", 100), (b"h3", b"s", b"x" * (2 << 20))])
    assert errs[0] is None and errs[1] is None
    assert isinstance(errs[2], shoal.ShoalError) and errs[2].errno == errno.E2BIG
    assert t.get(b"h3", b"s") is None
    assert 90 <= t.ttl(b"h2", b"s") <= 100
    assert t.batch_get([(b"h1", b"s"), (b"h2", b"s"), (b"h9", b"s")]) == [b"1", b"2", None]
    assert t.batch_del([(b"h1", b"s"), (b"h9", b"s")]) == [None, None]
    assert t.get(b"h1", b"s") is None


def test_scanner(t):
    t.multi_set(b"h", {b"%04d" % i: b"v%d" % i for i in range(2500)})
    t.set(b"other", b"0001", b"x")
    with t.get_scanner(b"h", b"", b"", ScanOptions(batch_size=300)) as sc:
        got = []
        while True:
            r = sc.get_next()
            if r is None:
                break
            got.append(r)
    assert len(got) == 2500
    assert got[0] == ((b"h", b"0000"), b"v0") and got[-1] == ((b"h", b"2499"), b"v2499")
    assert sc.get_next.__self__ is sc
    with pytest.raises(shoal.ShoalError) as ei:
        sc.get_next()  # after close
    assert ei.value.errno == errno.EBADF
    o = ScanOptions(start_inclusive=False, stop_inclusive=True, no_value=True)
    got = list(t.get_scanner(b"h", b"0010", b"0013", o))
    assert got == [((b"h", b"0011"), b""), ((b"h", b"0012"), b""), ((b"h", b"0013"), b"")]
    o = ScanOptions(sortkey_filter_type=FilterType.FT_MATCH_POSTFIX, sortkey_filter_pattern=b"99")
    assert [k[1] for k, _ in t.get_scanner(b"h", scan_options=o)] == [b"%02d99" % i for i in range(25)]
    sc = t.get_scanner(b"h")
    assert sc.get_next() is not None
    sc.close()
    sc.close()  # idempotent
    with pytest.raises(shoal.ShoalError):
        sc.get_next()


def test_unordered_scanners(t):
    want = set()
    for h in range(200):
        kvs = {b"s%d" % s: b"%d.%d" % (h, s) for s in range(5)}
        t.multi_set(b"hash%03d" % h, kvs)
        want |= {(b"hash%03d" % h, k) for k in kvs}
    scs = t.get_unordered_scanners(4, ScanOptions(batch_size=64))
    assert 1 <= len(scs) <= 4
    got = []
    for sc in scs:
        with sc:
            got += [k for k, _ in sc]
    assert len(got) == len(want) and set(got) == want
    o = ScanOptions(hashkey_filter_type=FilterType.FT_MATCH_PREFIX, hashkey_filter_pattern=b"hash01")
    got = [k for sc in t.get_unordered_scanners(3, o) for k, _ in sc]
    assert len(got) == 50


def test_bad_input(t):
    big = b"x" * (65535)
    with pytest.raises(shoal.ShoalError) as ei:
        t.set(big, b"s", b"v")
    assert ei.value.errno == errno.E2BIG
    with pytest.raises(shoal.ShoalError) as ei:
        t.set(b"h", b"s", b"v" * ((1 << 20) + 1))
    assert ei.value.errno == errno.E2BIG
    assert t.get(b"h", b"s") is None
    for call in (lambda: t.multi_set(b"", {b"a": b"1"}), lambda: t.multi_get(b""),
                 lambda: t.sort_key_count(b""), lambda: t.get_scanner(b""),
                 lambda: t.multi_set(b"h", {})):
        with pytest.raises(shoal.ShoalError) as ei:
            call()
        assert ei.value.errno == errno.EINVAL
    # a multi_set with one oversize value writes nothing
    with pytest.raises(shoal.ShoalError):
        t.multi_set(b"h", {b"a": b"1", b"b": b"v" * ((1 << 20) + 1)})
    assert t.sort_key_count(b"h") == 0
    with pytest.raises(TypeError):
        t.set(b"h", None, b"v")
    with pytest.raises(shoal.ShoalError) as ei:
        t.set(b"h", b"s", b"v", ttl=-5)
    assert ei.value.errno == errno.EINVAL


def test_large_scan_batches(t):
    # values big enough that one batch crosses the agent's per-answer cap
    v = b"v" * 200000
    t.batch_set([(b"h", b"%03d" % i, v) for i in range(40)])
    n = sum(1 for _ in t.get_scanner(b"h", scan_options=ScanOptions(batch_size=1000)))
    assert n == 40
