"""The fsspec layer: fsspec's own abstract suites (run from the installed
fsspec), pyarrow and pandas through it, and the Shoal-specific surface."""

import os
import pickle
import secrets
import subprocess
import sys

import pytest

fsspec = pytest.importorskip("fsspec")
from fsspec.tests.abstract import (  # noqa: E402
    AbstractCopyTests, AbstractFixtures, AbstractGetTests, AbstractOpenTests, AbstractPipeTests,
    AbstractPutTests,
)

import shoal  # noqa: E402
from shoal.fsspec import ShoalFileSystem  # noqa: E402


@pytest.fixture(scope="module")
def sfs(env):
    return fsspec.filesystem("shoal", **env["build"])


class _Fixtures(AbstractFixtures):
    prefix = "/"  # the path form under test: "/x" or "<fs name>/x"

    @pytest.fixture
    def fs(self, sfs):
        return sfs

    @pytest.fixture
    def fs_path(self, sfs):
        p = self.prefix + "fsspec-" + secrets.token_hex(4)
        sfs.makedirs(p)
        yield p
        sfs.rm(p, recursive=True)


class TestAbsolutePaths(_Fixtures, AbstractCopyTests, AbstractGetTests, AbstractPutTests, AbstractPipeTests,
                        AbstractOpenTests):
    prefix = "/"


class TestBucketPaths(_Fixtures, AbstractCopyTests, AbstractGetTests, AbstractPutTests, AbstractPipeTests,
                      AbstractOpenTests):
    prefix = "default/"


def test_entry_point_and_urls(env, sfs):
    assert fsspec.get_filesystem_class("shoal") is ShoalFileSystem
    sfs.pipe_file("/url.txt", b"via url")
    with fsspec.open("shoal://default/url.txt", "rb", **env["build"]) as f:
        assert f.read() == b"via url"
    assert sfs.cat_file("default/url.txt") == b"via url"
    assert sfs.unstrip_protocol("/url.txt") == "shoal://default/url.txt"
    assert ShoalFileSystem._strip_protocol("shoal://default/a/b/") == "default/a/b"
    assert ShoalFileSystem._parent("default/a") == "default"
    assert ShoalFileSystem._parent("/a") == "/"


def test_ls_info_names_follow_the_form_asked(sfs):
    sfs.makedirs("/lsform/sub", exist_ok=True)
    sfs.pipe_file("/lsform/f", b"12345")
    assert sfs.ls("/lsform", detail=False) == ["/lsform/f", "/lsform/sub"]
    assert sfs.ls("default/lsform", detail=False) == ["default/lsform/f", "default/lsform/sub"]
    assert sfs.ls("shoal://default/lsform/", detail=False) == ["default/lsform/f", "default/lsform/sub"]
    info = sfs.info("/lsform/f")
    assert info["name"] == "/lsform/f" and info["size"] == 5 and info["type"] == "file"
    assert sfs.info("default/lsform/sub")["type"] == "directory"
    assert sfs.ls("/lsform/f", detail=True) == [info] and sfs.ls("/lsform/f") == ["/lsform/f"]
    with pytest.raises(FileNotFoundError):
        sfs.info("/lsform/missing")
    assert sfs.created("/lsform/f").tzinfo is not None
    assert sfs.modified("/lsform/f") >= sfs.created("/lsform/f").replace(year=2000)
    k = sfs.ukey("/lsform/f")
    assert k == sfs.ukey("default/lsform/f") and isinstance(sfs.checksum("/lsform/f"), int)
    sfs.pipe_file("/lsform/f", b"123456")
    assert sfs.ukey("/lsform/f") != k
    sfs.touch("/lsform/t")
    assert sfs.cat_file("/lsform/t") == b""
    sfs.touch("/lsform/f", truncate=False)
    assert sfs.cat_file("/lsform/f") == b"123456"
    sfs.rm("/lsform", recursive=True)
    assert not sfs.exists("/lsform")


def test_cat_ranges_and_files(sfs):
    data = os.urandom(300_000)
    sfs.makedirs("/cat", exist_ok=True)
    sfs.pipe_file("/cat/a", data)
    sfs.pipe_file("/cat/b", b"0123456789")
    assert sfs.cat_file("/cat/a") == data
    assert sfs.cat_file("/cat/a", 10, 20) == data[10:20]
    assert sfs.cat_file("/cat/a", -5) == data[-5:]
    assert sfs.cat_file("/cat/a", 5, -5) == data[5:-5]
    got = sfs.cat_ranges(["/cat/a", "/cat/b", "/cat/a", "/cat/b", "/cat/missing"],
                         [0, 2, 299_990, -3, 0], [100, 5, None, None, 1])
    assert got[:4] == [data[:100], b"234", data[299_990:], b"789"]
    assert isinstance(got[4], FileNotFoundError)
    with pytest.raises(FileExistsError):
        sfs.pipe_file("/cat/b", b"x", mode="create")
    with sfs.open("/cat/a", "rb", block_size=4096) as f:
        f.seek(123_456)
        assert f.read(1000) == data[123_456:124_456]
    with sfs.open("/cat/b", "ab") as f:
        f.write(b"AB")
    assert sfs.cat_file("/cat/b") == b"0123456789AB"
    sfs.cp_file("/cat/a", "/cat/c")
    assert sfs.cat_file("/cat/c") == data
    sfs.mv("/cat/c", "/cat/d")
    assert not sfs.exists("/cat/c") and sfs.cat_file("/cat/d") == data
    with sfs.open("/cat/text.txt", "w") as f:
        f.write("héllo\n")
    with sfs.open("/cat/text.txt", "r") as f:
        assert f.read() == "héllo\n"
    sfs.rm("/cat", recursive=True)


def test_transaction(sfs):
    sfs.makedirs("/txn", exist_ok=True)
    with sfs.transaction:
        with sfs.open("/txn/f", "wb") as f:
            f.write(b"later")
        assert not sfs.exists("/txn/f")
    assert sfs.cat_file("/txn/f") == b"later"
    sfs.rm("/txn", recursive=True)


def test_pickle_and_to_dict(env, sfs):
    sfs.pipe_file("/pickled", b"p")
    fs2 = pickle.loads(pickle.dumps(sfs))
    assert fs2.cat_file("/pickled") == b"p"
    d = sfs.to_dict()
    assert d["protocol"] == "shoal"
    fs3 = fsspec.AbstractFileSystem.from_dict(d)
    assert fs3.cat_file("/pickled") == b"p"
    # In another process (a Ray/Dask worker) the instance connects on first use.
    code = ("import pickle, sys; fs = pickle.loads(sys.stdin.buffer.read()); "
            "assert fs._clients == {}; sys.stdout.buffer.write(fs.cat_file('/pickled'))")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(sfs), capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"p"


def test_pyarrow_parquet(sfs):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    t = pa.table({"a": list(range(1000)), "b": [str(i) for i in range(1000)]})
    sfs.makedirs("/pq", exist_ok=True)
    pq.write_table(t, "/pq/x.parquet", filesystem=sfs)
    assert pq.read_table("/pq/x.parquet", filesystem=sfs).equals(t)
    assert pq.read_table("default/pq/x.parquet", filesystem=sfs).equals(t)
    with sfs.open("/pq/y.parquet", "wb") as f:
        pq.write_table(t, f)
    assert pq.read_table("shoal://default/pq/y.parquet", filesystem=sfs).equals(t)
    ds = pytest.importorskip("pyarrow.dataset")
    assert ds.dataset("/pq", filesystem=sfs, format="parquet").to_table().num_rows == 2000


def test_pandas_read_csv(env, sfs, monkeypatch):
    pd = pytest.importorskip("pandas")
    sfs.pipe_file("/data.csv", b"a,b\n1,x\n2,y\n")
    if "mds_addrs" in env["build"]:
        monkeypatch.setenv("SHOAL_MDS_ADDRS", env["build"]["mds_addrs"])
        df = pd.read_csv("shoal://default/data.csv")
    else:
        df = pd.read_csv("shoal://default/data.csv", storage_options=env["build"])
    assert list(df["a"]) == [1, 2] and list(df["b"]) == ["x", "y"]
    df.to_csv("shoal://default/out.csv", index=False, storage_options=env["build"])
    assert sfs.cat_file("/out.csv") == b"a,b\n1,x\n2,y\n"


@pytest.fixture
def fresh(env):
    """An fsspec instance of its own whose clients are not built yet: the
    libraries below then build them, and use them, from their own threads."""
    fs = fsspec.filesystem("shoal", skip_instance_cache=True, **env["build"])
    yield fs
    for c in fs._clients.values():
        c.stop()


def _hive_table(pa):
    n = 3000
    return pa.table({
        "year": [2020 + i % 3 for i in range(n)],
        "city": [["oslo", "lima", "pune"][i // 3 % 3] for i in range(n)],
        "v": list(range(n)),
        "s": ["row %d" % i for i in range(n)],
    })


def test_pyarrow_write_dataset_hive(fresh):
    """write_dataset writes its part files from pyarrow's I/O threads (issue 9:
    they were left with 0 bytes)."""
    pa = pytest.importorskip("pyarrow")
    ds = pytest.importorskip("pyarrow.dataset")
    t = _hive_table(pa)
    base = "shoal://default/hive-" + secrets.token_hex(4)
    part = ds.partitioning(pa.schema([("year", pa.int64()), ("city", pa.string())]), flavor="hive")
    ds.write_dataset(t, base, filesystem=fresh, format="parquet", partitioning=part,
                     max_rows_per_file=400, max_rows_per_group=400)
    files = fresh.find(base)
    assert len(files) >= 9 and all(fresh.size(f) > 0 for f in files)
    assert any("/year=2021/city=lima/" in f for f in files)
    # pyarrow checks that a listing stays under the base it asked for, and
    # fsspec lists names without the scheme (as s3fs does): read back by name.
    back = ds.dataset(fresh._strip_protocol(base), filesystem=fresh, format="parquet",
                      partitioning=part).to_table()
    assert back.sort_by("v").select(t.column_names).equals(t)
    fresh.rm(base, recursive=True)


def test_duckdb_hive_glob_and_copy_to(fresh):
    """DuckDB reads a hive glob and runs COPY TO through register_filesystem,
    calling fsspec from its own threads."""
    try:
        import duckdb
    except ImportError:
        pytest.skip("duckdb is not installed (the Makefile's PYDEPS installs it)")
    pa = pytest.importorskip("pyarrow")
    pc = pytest.importorskip("pyarrow.compute")
    pq = pytest.importorskip("pyarrow.parquet")
    t = _hive_table(pa)
    root = "hive-duck-" + secrets.token_hex(4)
    for year in (2020, 2021, 2022):
        for city in ("oslo", "lima", "pune"):
            rows = t.filter(pc.and_(pc.equal(t["year"], year), pc.equal(t["city"], city)))
            d = "/%s/in/year=%d/city=%s" % (root, year, city)
            fresh.makedirs(d, exist_ok=True)
            for i in range(2):
                half = rows.slice(i * (len(rows) // 2), len(rows) // 2 if i == 0 else None)
                pq.write_table(half.drop_columns(["year", "city"]), d + "/part-%d.parquet" % i, filesystem=fresh)
    con = duckdb.connect()
    try:
        con.register_filesystem(fresh)
        glob = "shoal://default/%s/in/*/*/*.parquet" % root
        got = con.sql("SELECT year, city, count(*) AS n, sum(v) AS s FROM read_parquet('%s', hive_partitioning=true) "
                      "GROUP BY ALL ORDER BY year, city" % glob).fetchall()
        want = con.sql("SELECT year, city, count(*) AS n, sum(v) AS s FROM t GROUP BY ALL ORDER BY year, city").fetchall()
        assert [(int(y), c, n, s) for y, c, n, s in got] == want
        out = "shoal://default/%s/out.parquet" % root
        con.sql("COPY (SELECT * FROM read_parquet('%s', hive_partitioning=true)) TO '%s' (FORMAT parquet)"
                % (glob, out))
        assert fresh.size(out) > 0
        n, total = con.sql("SELECT count(*), sum(v) FROM read_parquet('%s')" % out).fetchone()
        assert (n, total) == (t.num_rows, sum(range(t.num_rows)))
        csv = "shoal://default/%s/out.csv" % root
        con.sql("COPY (SELECT v, s FROM t ORDER BY v) TO '%s' (HEADER)" % csv)
        assert fresh.cat_file(csv).decode().splitlines()[:2] == ["v,s", "0,row 0"]
    finally:
        con.close()
    fresh.rm("/" + root, recursive=True)
