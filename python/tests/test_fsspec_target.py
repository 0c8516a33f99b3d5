"""target_protocol, as alluxiofs users write it:
fsspec.filesystem("shoal", target_protocol="s3", target_options={...})
takes s3://bucket/key URLs, reads each through the mount whose under-store
URL covers it, and reads from the target filesystem (s3fs against a real
versitygw here) a URL no mount covers, or any URL when Shoal itself fails,
saying so once in the log.

Until the agent's MOUNTS op lands (the mounts of issue 11), the mount
table is injected (mounts=[...]) and a Shoal directory stands for the
mounted prefix, holding bytes that differ from the store's, so every read
shows which side served it.
"""

import logging
import os
import pickle
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

fsspec = pytest.importorskip("fsspec")

from shoal._mounts import MountTable  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ACCESS, SECRET = "shoaltestaccess", "shoaltestsecretkey0123456789"
BUCKET = "bkt"


def test_mount_table_lookup():
    t = MountTable([
        {"path": "/datasets/x", "url": "s3://bkt/data?endpoint=http://127.0.0.1:9000"},
        {"path": "/datasets/x-deep", "url": "s3a://bkt/data/deep/"},
        {"path": "/whole", "url": "s3://other"},
        {"path": "/local", "url": "file:///srv/data"},
        {"path": "/nothing", "url": "s3://"},
    ], {"s3", "s3a"})
    assert len(t) == 3
    assert t.lookup("s3://bkt/data") == "/datasets/x"
    assert t.lookup("s3://bkt/data/") == "/datasets/x"
    assert t.lookup("s3://bkt/data/a/b.parquet") == "/datasets/x/a/b.parquet"
    assert t.lookup("s3a://bkt/data/a") == "/datasets/x/a"
    assert t.lookup("s3://bkt/data/deep/z") == "/datasets/x-deep/z"  # the longest mount wins
    assert t.lookup("s3://bkt/database") is None  # whole components only
    assert t.lookup("s3://bkt") is None
    assert t.lookup("s3://other/k") == "/whole/k"
    assert t.lookup("gs://bkt/data/a") is None
    assert t.lookup("/datasets/x") is None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def store():
    """A versitygw S3 server over a temporary directory, one bucket."""
    pytest.importorskip("s3fs")
    binary = os.environ.get("SHOAL_VERSITYGW") or os.path.join(REPO, ".cache", "bin", "versitygw")
    if not os.path.exists(binary):
        pytest.skip("versitygw not found: set SHOAL_VERSITYGW or `make .cache/bin/versitygw`")
    tmp = tempfile.mkdtemp(prefix="shoal-vgw-")
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, BUCKET))
    port = _free_port()
    proc = subprocess.Popen([binary, "--access", ACCESS, "--secret", SECRET, "--region", "us-east-1",
                             "--port", "127.0.0.1:%d" % port, "--quiet", "posix", root],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "versitygw exited with %s" % proc.returncode
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "versitygw did not listen"
                time.sleep(0.05)
        opts = {"key": ACCESS, "secret": SECRET, "endpoint_url": "http://127.0.0.1:%d" % port,
                "client_kwargs": {"region_name": "us-east-1"}}
        s3 = fsspec.filesystem("s3", skip_instance_cache=True, **opts)
        s3.pipe_file(BUCKET + "/ds/a.txt", b"from the store")
        s3.pipe_file(BUCKET + "/other/b.txt", b"only in the store")
        s3.pipe_file(BUCKET + "/other/sub/c.txt", b"c in the store")
        yield {"opts": opts, "s3": s3}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def mounted(env, store):
    """A Shoal directory standing for the mount of s3://bkt/ds, and an
    instance with that mount table and s3 as its target."""
    plain = fsspec.filesystem("shoal", **env["build"])
    d = "/mnt-" + secrets.token_hex(4)
    plain.pipe_file(d + "/a.txt", b"from shoal")
    plain.pipe_file(d + "/sub/n.txt", b"nested")
    mounts = [{"path": d, "url": "s3://%s/ds?endpoint=%s" % (BUCKET, store["opts"]["endpoint_url"])}]
    fs = fsspec.filesystem("shoal", skip_instance_cache=True, target_protocol="s3", target_options=store["opts"],
                           mounts=mounts, **env["build"])
    yield fs, plain, d
    plain.rm(d, recursive=True)


def _said(caplog, text):
    return [r for r in caplog.records if r.name == "shoal.fsspec" and text in r.getMessage()]


def test_covered_urls_read_through_the_mount(mounted):
    fs, plain, d = mounted
    u = "s3://%s/ds" % BUCKET
    assert fs.cat_file(u + "/a.txt") == b"from shoal"
    assert fs.cat_file(u + "/a.txt", 5) == b"shoal"
    with fs.open(u + "/a.txt", "rb") as f:
        assert f.read() == b"from shoal"
    assert fs.ls(u) == [u + "/a.txt", u + "/sub"]
    info = fs.info(u + "/sub/n.txt")
    assert info["name"] == u + "/sub/n.txt" and info["size"] == 6 and info["type"] == "file"
    assert fs.find(u) == [u + "/a.txt", u + "/sub/n.txt"]
    assert fs.isdir(u + "/sub") and fs.exists(u + "/a.txt") and not fs.exists(u + "/missing")
    with pytest.raises(FileNotFoundError):  # an answer of Shoal's, not a reason to ask the store
        fs.cat_file(u + "/missing")
    fs.pipe_file(u + "/w.txt", b"written")
    assert plain.cat_file(d + "/w.txt") == b"written"
    assert fs.head(u + "/a.txt", num_of_bytes=4) == b"from"
    assert fs.cat_ranges([u + "/a.txt", u + "/sub/n.txt"], [0, 1], [4, 3]) == [b"from", b"es"]


def test_uncovered_urls_go_to_the_target_said_once(mounted, store, caplog):
    fs, plain, d = mounted
    caplog.set_level(logging.WARNING, logger="shoal.fsspec")
    o = "s3://%s/other" % BUCKET
    assert fs.cat_file(o + "/b.txt") == b"only in the store"
    assert fs.ls(o) == [o + "/b.txt", o + "/sub"]
    assert fs.info(o + "/b.txt")["name"] == o + "/b.txt"
    assert fs.find(o) == [o + "/b.txt", o + "/sub/c.txt"]
    with fs.open(o + "/sub/c.txt", "rb") as f:
        assert f.read() == b"c in the store"
    with pytest.raises(FileNotFoundError):
        fs.cat_file(o + "/missing")
    fs.pipe_file(o + "/new.txt", b"to the store")
    assert store["s3"].cat_file(BUCKET + "/other/new.txt") == b"to the store"
    assert len(_said(caplog, "no mount covers")) == 1
    # Across the two sides: bytes stream from one to the other.
    fs.cp_file(o + "/b.txt", "s3://%s/ds/copied.txt" % BUCKET)
    assert plain.cat_file(d + "/copied.txt") == b"only in the store"
    fs.cp_file("s3://%s/ds/a.txt" % BUCKET, o + "/from-shoal.txt")
    assert store["s3"].cat_file(BUCKET + "/other/from-shoal.txt") == b"from shoal"
    store["s3"].invalidate_cache()
    fs.rm(o + "/new.txt")
    assert not store["s3"].exists(BUCKET + "/other/new.txt")


def test_shoal_down_falls_back_to_the_target(store, caplog):
    """No server answers: every URL (covered or not) is read from the
    target, said once; a Shoal path keeps its error, and so does a write
    through a mount."""
    caplog.set_level(logging.WARNING, logger="shoal.fsspec")
    fs = fsspec.filesystem("shoal", skip_instance_cache=True, mds_addrs="127.0.0.1:%d" % _free_port(),
                           target_protocol="s3", target_options=store["opts"],
                           mounts=[{"path": "/m", "url": "s3://%s/ds" % BUCKET}])
    u = "s3://%s/ds/a.txt" % BUCKET
    assert fs.cat_file(u) == b"from the store"
    with fs.open(u, "rb") as f:
        assert f.read() == b"from the store"
    assert fs.ls("s3://%s/ds" % BUCKET) == [u]
    assert len(_said(caplog, "failed")) == 1
    with pytest.raises(OSError):
        fs.cat_file("/m/a.txt")
    # A write through a mount never goes around Shoal (it would bypass a
    # read-only mount); one to a URL no mount covers goes to the store.
    with pytest.raises(OSError):
        fs.pipe_file("s3://%s/ds/down.txt" % BUCKET, b"x")
    with pytest.raises(OSError):
        fs.open("s3://%s/ds/down.txt" % BUCKET, "wb")
    assert not store["s3"].exists(BUCKET + "/ds/down.txt")
    fs.pipe_file("s3://%s/other/down.txt" % BUCKET, b"x")
    assert store["s3"].cat_file(BUCKET + "/other/down.txt") == b"x"


def test_mounts_from_the_agent(env, store, caplog):
    """Without an injected table the mounts come from the agent's MOUNTS
    op; an agent without it (or with no mount covering the URL) sends
    every URL to the target, said once."""
    caplog.set_level(logging.WARNING, logger="shoal.fsspec")
    fs = fsspec.filesystem("shoal", skip_instance_cache=True, target_protocol="s3",
                           target_options=store["opts"], **env["build"])
    assert fs.cat_file("s3://%s/ds/a.txt" % BUCKET) == b"from the store"
    assert fs.cat_file("s3://%s/other/b.txt" % BUCKET) == b"only in the store"
    unknown = _said(caplog, "cannot list mounts")
    assert len(unknown + _said(caplog, "no mount covers")) == 1
    if unknown:
        # The URL may be under a (read-only) mount: a write does not go around Shoal.
        with pytest.raises(OSError):
            fs.pipe_file("s3://%s/ds/w.txt" % BUCKET, b"x")
        assert not store["s3"].exists(BUCKET + "/ds/w.txt")


def test_target_instance_pickles_and_loads_pyarrow(mounted, store):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pads = pytest.importorskip("pyarrow.dataset")
    fs, plain, d = mounted
    t = pa.table({"x": list(range(100))})
    pq.write_table(t, d + "/pq/part-0.parquet", filesystem=plain)
    pq.write_table(t, d + "/pq/part-1.parquet", filesystem=plain)
    u = "s3://%s/ds/pq" % BUCKET
    assert pads.dataset(u, filesystem=fs, format="parquet").count_rows() == 200
    assert pads.dataset(u + "/part-1.parquet", filesystem=fs).to_table().equals(t)
    fs2 = pickle.loads(pickle.dumps(fs))
    assert fs2.cat_file("s3://%s/ds/a.txt" % BUCKET) == b"from shoal"
    assert fs2.cat_file("s3://%s/other/b.txt" % BUCKET) == b"only in the store"


def test_url_without_target_protocol(env):
    fs = fsspec.filesystem("shoal", **env["build"])
    with pytest.raises(ValueError, match="target_protocol"):
        fs.cat_file("s3://bkt/x")


def test_ray_read_parquet_s3_url(mounted):
    """alluxiofs's Ray example, ray.data.read_parquet("s3://...",
    filesystem=fs): Ray strips the scheme of a URL whose protocol is not
    the filesystem's before calling it, so the URL is given as the mount's
    shoal:// URL (fs.mounted_url)."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        print("ray not installed (%s): skipping" % e)
        pytest.skip("ray is not installed (pip install 'ray[data]' to run this test)")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    fs, plain, d = mounted
    t = pa.table({"x": list(range(100))})
    pq.write_table(t, d + "/rpq/part-0.parquet", filesystem=plain)
    pq.write_table(t, d + "/rpq/part-1.parquet", filesystem=plain)
    tmp = tempfile.mkdtemp(prefix="ray-")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
             object_store_memory=128 << 20, _temp_dir=tmp)
    try:
        u = "s3://%s/ds/rpq" % BUCKET
        assert fs.mounted_url(u) == "shoal://default%s/rpq" % d
        with pytest.raises(ValueError, match="no mount covers"):
            fs.mounted_url("s3://%s/other" % BUCKET)
        assert ray.data.read_parquet(fs.mounted_url(u + "/part-1.parquet"), filesystem=fs).count() == 100
        ds = ray.data.read_parquet(fs.mounted_url(u), filesystem=fs)
        assert ds.count() == 200
        assert sorted(r["x"] for r in ds.take_all()) == sorted(list(range(100)) * 2)
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
