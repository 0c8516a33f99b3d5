"""Data loaders through shoal://: pyarrow datasets and pandas over a
directory of Parquet shards, a fork-based multi-process loader (the
PyTorch DataLoader pattern: one fs object made before the fork, used by 4
workers), and Ray Data where Ray is installed. Every reader must see the
exact rows and bytes written."""

import hashlib
import multiprocessing
import os
import secrets
import shutil
import tempfile

import pytest

fsspec = pytest.importorskip("fsspec")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pads = pytest.importorskip("pyarrow.dataset")

SHARDS = 8
ROWS = 2500


def _shard(i):
    base = i * ROWS
    return pa.table({
        "id": pa.array(range(base, base + ROWS), pa.int64()),
        "shard": pa.array([i] * ROWS, pa.int32()),
        "text": ["row %d of shard %d" % (base + j, i) for j in range(ROWS)],
        "blob": [hashlib.sha256(b"%d" % (base + j)).digest() for j in range(ROWS)],
    })


@pytest.fixture(scope="module")
def dataset(env):
    """SHARDS Parquet files under one directory (and a non-Parquet file
    pyarrow must be told to skip), their table and each file's sha256."""
    fs = fsspec.filesystem("shoal", **env["build"])
    d = "/loaders-" + secrets.token_hex(4)
    fs.makedirs(d)
    digests = {}
    for i in range(SHARDS):
        p = "%s/part-%03d.parquet" % (d, i)
        pq.write_table(_shard(i), p, filesystem=fs, row_group_size=1000)
        digests[p] = hashlib.sha256(fs.cat_file(p)).hexdigest()
    want = pa.concat_tables([_shard(i) for i in range(SHARDS)])
    yield fs, d, want, digests
    fs.rm(d, recursive=True)


def _sorted(t):
    return t.sort_by("id").select(["id", "shard", "text", "blob"])


@pytest.mark.parametrize("form", ["shoal://default%s", "default%s", "%s"], ids=["url", "bucket", "absolute"])
def test_pyarrow_dataset_directory(dataset, form):
    fs, d, want, _ = dataset
    ds = pads.dataset(form % d, filesystem=fs, format="parquet")
    assert len(ds.files) == SHARDS
    assert ds.count_rows() == SHARDS * ROWS
    assert ds.schema.names == want.schema.names
    assert _sorted(ds.to_table()).equals(want)
    # A filtered, projected scan reads only what it needs, and gets it right.
    got = ds.to_table(columns=["id", "text"], filter=pads.field("shard") == 3)
    assert got.num_rows == ROWS and got["id"].to_pylist() == list(range(3 * ROWS, 4 * ROWS))
    assert ds.take([0, ROWS * SHARDS - 1]).num_rows == 2


def test_pyarrow_single_file_and_pyfilesystem(dataset):
    """alluxiofs's two pyarrow examples: a dataset of one file, and a
    PyFileSystem over FSSpecHandler."""
    from pyarrow.fs import FSSpecHandler, PyFileSystem
    fs, d, _, _ = dataset
    one = "shoal://default%s/part-005.parquet" % d
    assert pads.dataset(one, filesystem=fs).to_table().equals(_shard(5))
    pfs = PyFileSystem(FSSpecHandler(fs))
    with pfs.open_input_file(one) as f:
        data = f.read()
    assert data == fs.cat_file(one)
    assert pq.read_table(d + "/part-002.parquet", filesystem=pfs).equals(_shard(2))


def test_pandas_read_parquet_directory(env, dataset):
    pd = pytest.importorskip("pandas")
    fs, d, want, _ = dataset
    df = pd.read_parquet(d, filesystem=fs).sort_values("id", ignore_index=True)
    assert list(df["id"]) == want["id"].to_pylist()
    assert list(df["text"]) == want["text"].to_pylist()
    assert list(df["blob"]) == want["blob"].to_pylist()
    # The URL form, the filesystem built by fsspec from storage_options.
    df2 = pd.read_parquet("shoal://default" + d, storage_options=env["build"], columns=["id", "shard"])
    assert sorted(df2["id"]) == want["id"].to_pylist()
    assert df2.groupby("shard").size().to_dict() == {i: ROWS for i in range(SHARDS)}


_LOADER_FS = None  # set before the fork: the one fs object the workers share


def _load_shard(path):
    """A worker's step: read one shard whole through the inherited fs (the
    bytes and a parse of them), as a Dataset.__getitem__ would."""
    import io
    fs = _LOADER_FS
    with fs.open(path, "rb", block_size=64 << 10) as f:
        data = f.read()
    t = pq.read_table(io.BytesIO(data))
    ranged = fs.cat_file(path, 100, 4196)  # a range too, as readers of columns do
    return path, os.getpid(), hashlib.sha256(data).hexdigest(), t["id"].to_pylist()[:1], t.num_rows, \
        hashlib.sha256(ranged).hexdigest()


def test_fork_multiprocess_loader(dataset):
    """4 forked workers (multiprocessing's fork context, as a PyTorch
    DataLoader with num_workers=4 on Linux) read every shard through one
    fs object made and used before the fork."""
    global _LOADER_FS
    fs, d, _, digests = dataset
    fs.ls(d)  # the parent has used its client before forking
    _LOADER_FS = fs
    paths = sorted(digests) * 3  # three epochs
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(4) as pool:
        out = pool.map(_load_shard, paths, chunksize=1)
    assert len({pid for _, pid, _, _, _, _ in out} - {os.getpid()}) >= 2
    for path, _, digest, first, n, ranged in out:
        i = int(path.rsplit("-", 1)[1].split(".")[0])
        assert digest == digests[path], path
        assert first == [i * ROWS] and n == ROWS
        assert ranged == hashlib.sha256(fs.cat_file(path, 100, 4196)).hexdigest()
    # The parent's client still works after its children used theirs.
    assert hashlib.sha256(fs.cat_file(paths[0])).hexdigest() == digests[paths[0]]


def test_ray_read_parquet(dataset):
    """ray.data.read_parquet(..., filesystem=fs) where Ray is installed.
    Ray is not in the Makefile's PYDEPS (a wheel of ~70 MB plus its
    dependencies, and a local cluster that takes seconds and a few hundred
    MB to start): `pip install 'ray[data]'` into the venv to run this."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        print("ray not installed (%s): skipping ray.data.read_parquet" % e)
        pytest.skip("ray is not installed (pip install 'ray[data]' to run this test)")
    fs, d, want, _ = dataset
    tmp = tempfile.mkdtemp(prefix="ray-")  # short: Ray puts Unix sockets under it
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
             object_store_memory=128 << 20, _temp_dir=tmp)
    try:
        ds = ray.data.read_parquet("shoal://default" + d, filesystem=fs)
        assert ds.count() == SHARDS * ROWS
        assert ds.schema().names == want.schema.names
        rows = ds.take_all()
        assert sorted(r["id"] for r in rows) == want["id"].to_pylist()
        by_id = {r["id"]: r for r in rows}
        for j in (0, ROWS, SHARDS * ROWS - 1):
            assert by_id[j]["text"] == want["text"][j].as_py() and by_id[j]["blob"] == want["blob"][j].as_py()
        one = ray.data.read_parquet("shoal://default%s/part-001.parquet" % d, filesystem=fs)
        assert one.count() == ROWS and one.take(1)[0]["id"] == ROWS
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
