"""Differential test of the fsspec surface: every operation of alluxiofs's
table (seed 002) runs with the same inputs on shoal:// and on fsspec's own
reference, LocalFileSystem on a temporary directory (with the one fix of
_Reference below), and must give the same
result (names taken relative to the root of each side) or the same
exception class, and leave the same tree behind (names, types, sizes and
bytes) on both sides and in the local scratch directory used by
put/get/upload/download.

alluxiofs's own names without an fsspec method of that name (read, write,
upload_data, download_data) are compared with the fsspec call they stand
for (cat_file, pipe_file, BytesIO(cat_file)).

The two sides run with auto_mkdir on (Shoal's default, and what pyarrow
assumes) and off.
"""

import hashlib
import io
import os
import secrets
import shutil

import pytest

fsspec = pytest.importorskip("fsspec")
from fsspec.implementations.local import LocalFileSystem  # noqa: E402

from shoal.fsspec import ShoalFileSystem  # noqa: E402

DATA = b"0123456789"
BIG = bytes(range(256)) * (3 << 12)  # 3 MiB, past the write buffer and inline_max

# Exception classes compared, most specific first: a side's exception is
# reduced to the first of these it is an instance of.
_CLASSES = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError,
            ValueError, TypeError, NotImplementedError, OSError)


def _tree(fs, root, lr):
    """The fixture tree both sides start from."""
    fs.makedirs(root + "/d/sub", exist_ok=True)
    fs.makedirs(root + "/e", exist_ok=True)
    fs.pipe_file(root + "/a.txt", DATA)
    fs.pipe_file(root + "/empty", b"")
    fs.pipe_file(root + "/d/x", b"xx")
    fs.pipe_file(root + "/d/sub/y", b"yyy")
    os.makedirs(os.path.join(lr, "srcdir", "q"))
    with open(os.path.join(lr, "src.bin"), "wb") as f:
        f.write(b"local bytes" * 1000)
    with open(os.path.join(lr, "srcdir", "p"), "wb") as f:
        f.write(b"p")
    with open(os.path.join(lr, "srcdir", "q", "z"), "wb") as f:
        f.write(b"zz")


# Alluxiofs-only names, with the fsspec call each stands for on the
# reference side.
def _read(fs, p):
    return fs.read(p) if isinstance(fs, ShoalFileSystem) else fs.cat_file(p)


def _write(fs, p, v):
    return fs.write(p, v) if isinstance(fs, ShoalFileSystem) else (fs.pipe_file(p, v), True)[1]


def _upload_data(fs, p, v):
    return fs.upload_data(p, v) if isinstance(fs, ShoalFileSystem) else (fs.pipe_file(p, v), True)[1]


def _download_data(fs, p):
    b = fs.download_data(p) if isinstance(fs, ShoalFileSystem) else io.BytesIO(fs.cat_file(p))
    assert isinstance(b, io.BytesIO)
    return b.read()


def _open_read(fs, p, n=-1, seek=None, **kw):
    with fs.open(p, "rb", **kw) as f:
        if seek is not None:
            f.seek(*seek)
        return f.read(n), f.tell()


def _open_write(fs, p, mode, *chunks, **kw):
    with fs.open(p, mode, **kw) as f:
        for c in chunks:
            f.write(c)
    return fs.cat_file(p)


def _text(fs, p):
    with fs.open(p, "w") as f:
        f.write("héllo\nwörld\n")
    with fs.open(p, "r") as f:
        return f.readlines()


def _lp(lr, *parts):
    return os.path.join(lr, *parts)


# (id, fn(fs, root, local scratch dir) -> value)
CASES = [
    # ls, with detail off (the default, as alluxiofs and LocalFileSystem have it) and on
    ("ls", lambda fs, r, lr: fs.ls(r)),
    ("ls-detail", lambda fs, r, lr: fs.ls(r, detail=True)),
    ("ls-detail-false", lambda fs, r, lr: fs.ls(r + "/d", False)),
    ("ls-trailing-slash", lambda fs, r, lr: fs.ls(r + "/d/", detail=False)),
    ("ls-file", lambda fs, r, lr: fs.ls(r + "/a.txt", detail=True)),
    ("ls-empty-dir", lambda fs, r, lr: fs.ls(r + "/e")),
    ("ls-missing", lambda fs, r, lr: fs.ls(r + "/missing")),
    ("ls-under-file", lambda fs, r, lr: fs.ls(r + "/a.txt/x")),
    ("listdir", lambda fs, r, lr: fs.listdir(r + "/d")),
    # info, isdir, isfile, exists
    ("info-file", lambda fs, r, lr: fs.info(r + "/a.txt")),
    ("info-dir", lambda fs, r, lr: fs.info(r + "/d")),
    ("info-empty", lambda fs, r, lr: fs.info(r + "/empty")),
    ("info-missing", lambda fs, r, lr: fs.info(r + "/missing")),
    ("info-under-file", lambda fs, r, lr: fs.info(r + "/a.txt/x")),
    ("info-trailing-slash", lambda fs, r, lr: fs.info(r + "/d/")),
    ("size", lambda fs, r, lr: (fs.size(r + "/a.txt"), fs.sizes([r + "/a.txt", r + "/d/x"]))),
    ("isdir", lambda fs, r, lr: [fs.isdir(r + p) for p in ("", "/d", "/a.txt", "/missing", "/a.txt/x")]),
    ("isfile", lambda fs, r, lr: [fs.isfile(r + p) for p in ("", "/d", "/a.txt", "/missing", "/a.txt/x")]),
    ("exists", lambda fs, r, lr: [fs.exists(r + p) for p in ("", "/d", "/a.txt", "/missing", "/a.txt/x")]),
    # _open for reading: whole, partial, seeks, block sizes, errors
    ("open-rb", lambda fs, r, lr: _open_read(fs, r + "/a.txt")),
    ("open-rb-n", lambda fs, r, lr: _open_read(fs, r + "/a.txt", 3)),
    ("open-rb-seek", lambda fs, r, lr: _open_read(fs, r + "/a.txt", 4, seek=(6,))),
    ("open-rb-seek-end", lambda fs, r, lr: _open_read(fs, r + "/a.txt", 10, seek=(-3, 2))),
    ("open-rb-seek-past-end", lambda fs, r, lr: _open_read(fs, r + "/a.txt", 10, seek=(20,))),
    ("open-rb-block2", lambda fs, r, lr: _open_read(fs, r + "/a.txt", 7, seek=(1,), block_size=2)),
    ("open-rb-empty", lambda fs, r, lr: _open_read(fs, r + "/empty")),
    ("open-rb-missing", lambda fs, r, lr: _open_read(fs, r + "/missing")),
    ("open-rb-dir", lambda fs, r, lr: _open_read(fs, r + "/d")),
    ("_open-rb", lambda fs, r, lr: fs._open(r + "/a.txt", mode="rb").read()),
    ("open-lines", lambda fs, r, lr: list(fs.open(r + "/d/sub/y", "rb"))),
    # _open for writing: wb (new, over, missing parent, over a dir), ab, xb, block sizes, text
    ("open-wb-new", lambda fs, r, lr: _open_write(fs, r + "/new", "wb", b"abc", b"def")),
    ("open-wb-over", lambda fs, r, lr: _open_write(fs, r + "/a.txt", "wb", b"Z")),
    ("open-wb-missing-parent", lambda fs, r, lr: _open_write(fs, r + "/m/n/new", "wb", b"abc")),
    ("open-wb-under-file", lambda fs, r, lr: _open_write(fs, r + "/a.txt/new", "wb", b"abc")),
    ("open-wb-dir", lambda fs, r, lr: _open_write(fs, r + "/d", "wb", b"abc")),
    ("open-wb-block5", lambda fs, r, lr: _open_write(fs, r + "/new", "wb", b"abc", b"defgh", b"ijklmnop",
                                                     block_size=5)),
    ("open-wb-big", lambda fs, r, lr: len(_open_write(fs, r + "/big", "wb", BIG, b"x"))),
    ("open-ab", lambda fs, r, lr: _open_write(fs, r + "/a.txt", "ab", b"AB", b"CD")),
    ("open-ab-new", lambda fs, r, lr: _open_write(fs, r + "/new", "ab", b"AB")),
    ("_open-ab", lambda fs, r, lr: (fs._open(r + "/a.txt", mode="ab").close(), fs.cat_file(r + "/a.txt"))),
    ("open-xb-existing", lambda fs, r, lr: _open_write(fs, r + "/a.txt", "xb", b"no")),
    ("open-xb-new", lambda fs, r, lr: _open_write(fs, r + "/new", "xb", b"yes")),
    ("open-text", lambda fs, r, lr: _text(fs, r + "/t.txt")),
    ("open-bad-mode", lambda fs, r, lr: fs.open(r + "/a.txt", "zz")),
    # cat_file with start/end, negative too
    ("cat_file", lambda fs, r, lr: fs.cat_file(r + "/a.txt")),
    ("cat_file-range", lambda fs, r, lr: fs.cat_file(r + "/a.txt", start=2, end=5)),
    ("cat_file-start", lambda fs, r, lr: fs.cat_file(r + "/a.txt", 4)),
    ("cat_file-neg-start", lambda fs, r, lr: fs.cat_file(r + "/a.txt", -3)),
    ("cat_file-neg-end", lambda fs, r, lr: fs.cat_file(r + "/a.txt", 2, -2)),
    ("cat_file-neg-both", lambda fs, r, lr: fs.cat_file(r + "/a.txt", -4, -1)),
    ("cat_file-neg-past-start", lambda fs, r, lr: fs.cat_file(r + "/a.txt", -100)),
    ("cat_file-end-past", lambda fs, r, lr: fs.cat_file(r + "/a.txt", 0, 100)),
    ("cat_file-start-past", lambda fs, r, lr: fs.cat_file(r + "/a.txt", 20)),
    ("cat_file-end-only", lambda fs, r, lr: fs.cat_file(r + "/a.txt", None, 3)),
    ("cat_file-empty-range", lambda fs, r, lr: fs.cat_file(r + "/a.txt", 5, 5)),
    ("cat_file-missing", lambda fs, r, lr: fs.cat_file(r + "/missing")),
    ("cat_file-dir", lambda fs, r, lr: fs.cat_file(r + "/d")),
    ("cat", lambda fs, r, lr: fs.cat([r + "/a.txt", r + "/d/x"])),
    ("cat-recursive", lambda fs, r, lr: fs.cat(r + "/d", recursive=True)),
    ("read_bytes", lambda fs, r, lr: fs.read_bytes(r + "/a.txt", 1, 3)),
    ("read_text", lambda fs, r, lr: fs.read_text(r + "/a.txt")),
    ("read_block", lambda fs, r, lr: fs.read_block(r + "/a.txt", 2, 4)),
    # mkdir, makedirs, rmdir
    ("mkdir", lambda fs, r, lr: fs.mkdir(r + "/new/deep")),
    ("mkdir-no-parents", lambda fs, r, lr: fs.mkdir(r + "/new/deep", create_parents=False)),
    ("mkdir-no-parents-ok", lambda fs, r, lr: fs.mkdir(r + "/new", create_parents=False)),
    ("mkdir-existing", lambda fs, r, lr: fs.mkdir(r + "/d")),
    ("mkdir-existing-file", lambda fs, r, lr: fs.mkdir(r + "/a.txt")),
    ("mkdir-under-file", lambda fs, r, lr: fs.mkdir(r + "/a.txt/x")),
    ("makedirs", lambda fs, r, lr: fs.makedirs(r + "/n1/n2")),
    ("makedirs-existing", lambda fs, r, lr: fs.makedirs(r + "/d")),
    ("makedirs-exist-ok", lambda fs, r, lr: fs.makedirs(r + "/d/sub", exist_ok=True)),
    ("makedirs-over-file", lambda fs, r, lr: fs.makedirs(r + "/a.txt", exist_ok=True)),
    ("rmdir", lambda fs, r, lr: fs.rmdir(r + "/e")),
    ("rmdir-nonempty", lambda fs, r, lr: fs.rmdir(r + "/d")),
    ("rmdir-file", lambda fs, r, lr: fs.rmdir(r + "/a.txt")),
    ("rmdir-missing", lambda fs, r, lr: fs.rmdir(r + "/missing")),
    # rm (recursive), rm_file
    ("rm-file", lambda fs, r, lr: fs.rm(r + "/a.txt")),
    ("rm-dir", lambda fs, r, lr: fs.rm(r + "/d")),
    ("rm-empty-dir", lambda fs, r, lr: fs.rm(r + "/e")),
    ("rm-recursive", lambda fs, r, lr: fs.rm(r + "/d", recursive=True)),
    ("rm-recursive-file", lambda fs, r, lr: fs.rm(r + "/a.txt", recursive=True)),
    ("rm-missing", lambda fs, r, lr: fs.rm(r + "/missing")),
    ("rm-missing-recursive", lambda fs, r, lr: fs.rm(r + "/missing", recursive=True)),
    ("rm-list", lambda fs, r, lr: fs.rm([r + "/a.txt", r + "/d/x"])),
    ("rm_file", lambda fs, r, lr: fs.rm_file(r + "/d/x")),
    ("rm_file-missing", lambda fs, r, lr: fs.rm_file(r + "/missing")),
    ("rm_file-dir", lambda fs, r, lr: fs.rm_file(r + "/e")),
    ("delete", lambda fs, r, lr: fs.delete(r + "/d", recursive=True)),
    # touch, with and without truncating
    ("touch-new", lambda fs, r, lr: (fs.touch(r + "/t"), fs.cat_file(r + "/t"))),
    ("touch-truncate", lambda fs, r, lr: (fs.touch(r + "/a.txt"), fs.cat_file(r + "/a.txt"))),
    ("touch-keep", lambda fs, r, lr: (fs.touch(r + "/a.txt", truncate=False), fs.cat_file(r + "/a.txt"))),
    ("touch-keep-new", lambda fs, r, lr: (fs.touch(r + "/t", truncate=False), fs.cat_file(r + "/t"))),
    ("touch-missing-parent", lambda fs, r, lr: fs.touch(r + "/m/t")),
    ("touch-dir", lambda fs, r, lr: fs.touch(r + "/d")),
    ("touch-dir-keep", lambda fs, r, lr: fs.touch(r + "/d", truncate=False)),
    # head, tail
    ("head", lambda fs, r, lr: fs.head(r + "/a.txt")),
    ("head-3", lambda fs, r, lr: fs.head(r + "/a.txt", 3)),
    ("head-missing", lambda fs, r, lr: fs.head(r + "/missing")),
    ("tail", lambda fs, r, lr: fs.tail(r + "/a.txt")),
    ("tail-3", lambda fs, r, lr: fs.tail(r + "/a.txt", size=3)),
    ("tail-empty", lambda fs, r, lr: fs.tail(r + "/empty", 3)),
    ("tail-dir", lambda fs, r, lr: fs.tail(r + "/d", 3)),
    # mv, rename, move
    ("mv-file", lambda fs, r, lr: fs.mv(r + "/a.txt", r + "/b.txt")),
    ("mv-file-into-dir", lambda fs, r, lr: fs.mv(r + "/a.txt", r + "/e")),
    ("mv-file-over-file", lambda fs, r, lr: fs.mv(r + "/a.txt", r + "/d/x")),
    ("mv-file-missing-parent", lambda fs, r, lr: fs.mv(r + "/a.txt", r + "/m/b.txt")),
    ("mv-dir", lambda fs, r, lr: fs.mv(r + "/d", r + "/d2")),
    ("mv-dir-recursive", lambda fs, r, lr: fs.mv(r + "/d", r + "/d2", recursive=True)),
    ("mv-dir-into-dir", lambda fs, r, lr: fs.mv(r + "/d", r + "/e")),
    ("mv-missing", lambda fs, r, lr: fs.mv(r + "/missing", r + "/b")),
    ("mv-same", lambda fs, r, lr: fs.mv(r + "/a.txt", r + "/a.txt")),
    ("rename", lambda fs, r, lr: fs.rename(r + "/a.txt", r + "/b.txt")),
    ("rename-dir", lambda fs, r, lr: fs.rename(r + "/d", r + "/d2")),
    ("move", lambda fs, r, lr: fs.move(r + "/d/x", r + "/x2")),
    # copy, cp_file, cp
    ("copy-file", lambda fs, r, lr: fs.copy(r + "/a.txt", r + "/b.txt")),
    ("copy-file-into-dir", lambda fs, r, lr: fs.copy(r + "/a.txt", r + "/e")),
    ("copy-file-into-dir-slash", lambda fs, r, lr: fs.copy(r + "/a.txt", r + "/n/")),
    ("copy-file-over", lambda fs, r, lr: fs.copy(r + "/a.txt", r + "/d/x")),
    ("copy-dir", lambda fs, r, lr: fs.copy(r + "/d", r + "/d2")),
    ("copy-dir-recursive", lambda fs, r, lr: fs.copy(r + "/d", r + "/d2", recursive=True)),
    ("copy-dir-recursive-into", lambda fs, r, lr: fs.copy(r + "/d", r + "/e", recursive=True)),
    ("copy-dir-slash-recursive", lambda fs, r, lr: fs.copy(r + "/d/", r + "/e", recursive=True)),
    ("copy-glob", lambda fs, r, lr: fs.copy(r + "/d/*", r + "/e")),
    ("copy-missing", lambda fs, r, lr: fs.copy(r + "/missing", r + "/b")),
    ("cp_file", lambda fs, r, lr: fs.cp_file(r + "/a.txt", r + "/b.txt")),
    ("cp_file-empty", lambda fs, r, lr: fs.cp_file(r + "/empty", r + "/b")),
    ("cp_file-dir", lambda fs, r, lr: fs.cp_file(r + "/d", r + "/d2")),
    ("cp_file-missing", lambda fs, r, lr: fs.cp_file(r + "/missing", r + "/b")),
    ("cp_file-missing-parent", lambda fs, r, lr: fs.cp_file(r + "/a.txt", r + "/m/b")),
    ("cp", lambda fs, r, lr: fs.cp(r + "/d", r + "/d3", recursive=True)),
    # read, write, upload_data, download_data (alluxiofs's names)
    ("read", lambda fs, r, lr: _read(fs, r + "/a.txt")),
    ("read-missing", lambda fs, r, lr: _read(fs, r + "/missing")),
    ("read-dir", lambda fs, r, lr: _read(fs, r + "/d")),
    ("write", lambda fs, r, lr: (_write(fs, r + "/w", b"written"), fs.cat_file(r + "/w"))),
    ("write-over", lambda fs, r, lr: (_write(fs, r + "/a.txt", b"W"), fs.cat_file(r + "/a.txt"))),
    ("write-dir", lambda fs, r, lr: _write(fs, r + "/d", b"W")),
    ("upload_data", lambda fs, r, lr: (_upload_data(fs, r + "/u/v", b"up"), fs.cat_file(r + "/u/v"))),
    ("download_data", lambda fs, r, lr: _download_data(fs, r + "/a.txt")),
    ("download_data-missing", lambda fs, r, lr: _download_data(fs, r + "/missing")),
    ("pipe_file", lambda fs, r, lr: fs.pipe_file(r + "/p", b"piped")),
    ("pipe_file-create-existing", lambda fs, r, lr: fs.pipe_file(r + "/a.txt", b"x", mode="create")),
    ("pipe", lambda fs, r, lr: fs.pipe({r + "/p1": b"1", r + "/p2": b"22"})),
    # upload/put, download/get
    ("put-file", lambda fs, r, lr: fs.put(_lp(lr, "src.bin"), r + "/up.bin")),
    ("put-file-into-dir", lambda fs, r, lr: fs.put(_lp(lr, "src.bin"), r + "/e")),
    ("put-file-over", lambda fs, r, lr: fs.put(_lp(lr, "src.bin"), r + "/a.txt")),
    ("put-dir-recursive", lambda fs, r, lr: fs.put(_lp(lr, "srcdir"), r + "/upd", recursive=True)),
    ("put-dir-recursive-into", lambda fs, r, lr: fs.put(_lp(lr, "srcdir"), r + "/e", recursive=True)),
    ("put-missing", lambda fs, r, lr: fs.put(_lp(lr, "missing"), r + "/x")),
    ("put_file", lambda fs, r, lr: fs.put_file(_lp(lr, "srcdir", "p"), r + "/pp")),
    ("upload", lambda fs, r, lr: fs.upload(_lp(lr, "src.bin"), r + "/m/up.bin")),
    ("upload-recursive", lambda fs, r, lr: fs.upload(_lp(lr, "srcdir"), r + "/upd", recursive=True)),
    ("get-file", lambda fs, r, lr: fs.get(r + "/a.txt", _lp(lr, "got"))),
    ("get-file-into-dir", lambda fs, r, lr: fs.get(r + "/a.txt", _lp(lr, "srcdir"))),
    ("get-dir-recursive", lambda fs, r, lr: fs.get(r + "/d", _lp(lr, "gotd"), recursive=True)),
    ("get-dir-recursive-into", lambda fs, r, lr: fs.get(r + "/d", _lp(lr, "srcdir"), recursive=True)),
    ("get-missing", lambda fs, r, lr: fs.get(r + "/missing", _lp(lr, "got"))),
    ("get_file", lambda fs, r, lr: fs.get_file(r + "/d/sub/y", _lp(lr, "y"))),
    ("download", lambda fs, r, lr: fs.download(r + "/a.txt", _lp(lr, "dl", "a"))),
    ("download-recursive", lambda fs, r, lr: fs.download(r + "/d", _lp(lr, "dl"), recursive=True)),
    # listings built on ls
    ("find", lambda fs, r, lr: fs.find(r)),
    ("find-withdirs", lambda fs, r, lr: fs.find(r, withdirs=True)),
    ("find-maxdepth", lambda fs, r, lr: fs.find(r, maxdepth=1)),
    ("find-file", lambda fs, r, lr: fs.find(r + "/a.txt")),
    ("walk", lambda fs, r, lr: sorted((p, sorted(ds), sorted(fs_)) for p, ds, fs_ in fs.walk(r))),
    ("glob", lambda fs, r, lr: fs.glob(r + "/*")),
    ("glob-deep", lambda fs, r, lr: fs.glob(r + "/**/y")),
    ("du", lambda fs, r, lr: fs.du(r)),
    ("du-each", lambda fs, r, lr: fs.du(r, total=False)),
    ("expand_path", lambda fs, r, lr: fs.expand_path(r + "/d", recursive=True)),
]


def _norm(v, root, lr):
    """v with each side's roots replaced by markers, info dicts reduced to
    the keys both sides define the same way, and listings sorted."""
    if isinstance(v, str):
        if v.startswith(root):
            return "<R>" + v[len(root):]
        if v.startswith(lr):
            return "<L>" + v[len(lr):]
        return v
    if isinstance(v, dict):
        if "type" in v and "name" in v:
            # A directory's size is the local filesystem's block size on one
            # side and 0 on the other (as in s3fs and MemoryFileSystem).
            size = v["size"] if v["type"] == "file" else None
            return {"name": _norm(v["name"], root, lr), "type": v["type"], "size": size}
        return {_norm(k, root, lr): _norm(x, root, lr) for k, x in sorted(v.items())}
    if isinstance(v, (list, tuple)):
        out = [_norm(x, root, lr) for x in v]
        if isinstance(v, list) and all(isinstance(x, str) for x in out):
            out.sort()
        elif isinstance(v, list) and all(isinstance(x, dict) and "name" in x for x in out):
            out.sort(key=lambda x: x["name"])
        return out if isinstance(v, list) else tuple(out)
    return v


def _snapshot(fs, root, lr):
    tree = {}
    for name, info in fs.find(root, withdirs=True, detail=True).items():
        rel = name[len(root):]
        tree[rel] = (info["type"], info["size"], hashlib.sha256(fs.cat_file(name)).hexdigest()[:16]) if info["type"] == "file" else (info["type"],)
    local = {}
    for top, dirs, files in os.walk(lr):
        for d in dirs:
            local[os.path.relpath(os.path.join(top, d), lr) + "/"] = None
        for f in files:
            p = os.path.join(top, f)
            with open(p, "rb") as fh:
                local[os.path.relpath(p, lr)] = hashlib.sha256(fh.read()).hexdigest()[:16]
    return tree, local


def _run(fs, root, lr, fn):
    try:
        out = ("ok", _norm(fn(fs, root, lr), root, lr))
    except shutil.Error:
        # LocalFileSystem.mv is shutil.move, whose refusals (a name that
        # exists in the target directory, a directory into itself) are
        # shutil.Error, a bare OSError: any OSError matches it.
        out = ("err", "OSError*")
    except Exception as e:  # noqa: BLE001: the class is the result compared
        out = ("err", next(c for c in _CLASSES + (Exception,) if isinstance(e, c)).__name__)
    return out, _snapshot(fs, root, lr)


def _same(sres, lres):
    if lres == ("err", "OSError*"):
        return sres[0] == "err" and sres[1] in {c.__name__ for c in _CLASSES if issubclass(c, OSError)}
    return sres == lres


class _Reference(LocalFileSystem):
    """LocalFileSystem with three things put right. With auto_mkdir, its mv
    and cp_file make the target's parent before they look at the source,
    and leave it behind when the source is missing (or the move is refused);
    here the source is looked at first, as Shoal does, so a failed call
    leaves the tree as it was. Without auto_mkdir, its mv of a directory
    makes missing parents of the target anyway (shutil.move falls back to
    copytree when os.rename fails); here that is os.rename's
    FileNotFoundError. And mv of a path onto itself moves nothing, as
    fsspec's AbstractFileSystem.mv has it."""

    def mv(self, path1, path2, recursive=True, **kwargs):
        if path1 == path2:
            # fsspec's AbstractFileSystem.mv moves nothing (shutil.move
            # refuses a directory onto itself, and renames a file onto itself).
            os.lstat(self._strip_protocol(path1))
            return None
        if self.auto_mkdir:
            os.lstat(self._strip_protocol(path1))  # FileNotFoundError, NotADirectoryError
        if self.isdir(path1) and (self._strip_protocol(path2) + "/").startswith(self._strip_protocol(path1) + "/"):
            raise shutil.Error("Cannot move a directory '%s' into itself '%s'" % (path1, path2))
        if not self.auto_mkdir and self.isdir(path1) and not self.isdir(path2):
            # shutil.move's fallback (copytree) would make the missing
            # parents that os.rename refuses to.
            os.lstat(self._parent(path2))
        return super().mv(path1, path2, recursive=recursive, **kwargs)

    def cp_file(self, path1, path2, **kwargs):
        if self.auto_mkdir and not self.exists(path1):
            raise FileNotFoundError(path1)
        return super().cp_file(path1, path2, **kwargs)


@pytest.fixture(scope="module")
def sides(env):
    made = {}

    def get(auto_mkdir):
        if auto_mkdir not in made:
            made[auto_mkdir] = (fsspec.filesystem("shoal", auto_mkdir=auto_mkdir, **env["build"]),
                                _Reference(auto_mkdir=auto_mkdir))
        return made[auto_mkdir]
    return get


@pytest.mark.parametrize("auto_mkdir", [True, False], ids=["auto_mkdir", "no_auto_mkdir"])
@pytest.mark.parametrize("name,fn", CASES, ids=[c[0] for c in CASES])
def test_same_as_local(sides, tmp_path, name, fn, auto_mkdir):
    sfs, lfs = sides(auto_mkdir)
    results = []
    sroot = "/diff-" + secrets.token_hex(4)
    for fs, root, lr in ((lfs, str(tmp_path / "root"), str(tmp_path / "l-local")),
                         (sfs, sroot, str(tmp_path / "l-shoal"))):
        os.makedirs(lr)
        _tree(fs, root, lr)
        try:
            results.append(_run(fs, root, lr, fn))
        finally:
            if fs is sfs:
                sfs.rm(root, recursive=True)
            shutil.rmtree(lr)
    (lres, ltree), (sres, stree) = results
    assert _same(sres, lres), "%s: shoal %r, local %r" % (name, sres, lres)
    assert stree == ltree, "%s: trees differ after the call" % name


def test_alluxiofs_names(env, tmp_path):
    """The spellings alluxiofs's table uses beyond fsspec's: head/tail's
    num_of_bytes, rm's and copy's extra flags, cp_file(recursive=True),
    download/upload by keyword, and the values they return. cat_file with
    end < start is empty (slice semantics, as MemoryFileSystem has it;
    LocalFileSystem inherits a quirk there: it seeks to start and reads
    end - start < 0 bytes, so to the end of the file or ValueError)."""
    mem = fsspec.filesystem("memory", skip_instance_cache=True)
    fs = fsspec.filesystem("shoal", **env["build"])
    r = "/alx-" + secrets.token_hex(4)
    fs.pipe_file(r + "/a", DATA)
    mem.pipe_file("/a", DATA)
    assert fs.cat_file(r + "/a", 5, 2) == mem.cat_file("/a", 5, 2) == b""
    assert fs.head(r + "/a", num_of_bytes=4) == b"0123"
    assert fs.tail(r + "/a", num_of_bytes=4) == b"6789"
    assert fs.read(r + "/a") == DATA
    assert fs.write(r + "/w", b"w") is True and fs.cat_file(r + "/w") == b"w"
    assert fs.upload_data(r + "/u", b"u") is True and fs.cat_file(r + "/u") == b"u"
    b = fs.download_data(r + "/a")
    assert isinstance(b, io.BytesIO) and b.read() == DATA
    lp = str(tmp_path / "f")
    fs.download(rpath=r + "/a", lpath=lp)
    assert open(lp, "rb").read() == DATA
    fs.upload(lpath=lp, rpath=r + "/up")
    assert fs.cat_file(r + "/up") == DATA
    fs.pipe_file(r + "/d/x", b"x")
    fs.cp_file(r + "/d", r + "/d2", recursive=True)
    assert fs.cat_file(r + "/d2/x") == b"x"
    fs.copy(r + "/d", r + "/d3", recursive=True, force=True, thread=4, bufferSize=1 << 20, preserve=True)
    assert fs.cat_file(r + "/d3/x") == b"x"
    fs.rm(r + "/d3", recursiveAlias=True)
    assert not fs.exists(r + "/d3")
    with pytest.raises(ValueError):
        fs.rm(r + "/d2", recursive=True, removeAlluxioOnly=True)
    assert fs.exists(r + "/d2/x")
    fs.rm(r, recursive=True)


_NAMES = ["a", "b", "d", "d/a", "d/b", "d/e", "d/e/f", "e", "e/a"]


def _cat_slice(fs, p, s, e):
    """cat_file(p, s, e) on Shoal; on the reference, the whole file sliced
    [s:e], which is what fsspec documents ("like usual python slices"):
    LocalFileSystem's own cat_file reads to the end or raises ValueError
    when the range is inverted (it seeks to start and reads end - start < 0
    bytes)."""
    if isinstance(fs, ShoalFileSystem):
        return fs.cat_file(p, s, e)
    return fs.cat_file(p)[s:e]


def _random_op(rng):
    """One random call over a small namespace, as (description, fn)."""
    p, q = rng.choice(_NAMES), rng.choice(_NAMES)
    data = bytes([rng.randrange(256)]) * rng.choice([0, 1, 7, 1000, 200_000])
    s, e = rng.choice([None, 0, 3, -2, -500, 10]), rng.choice([None, 5, -1, 100])
    flag = rng.random() < 0.5
    ops = [
        ("pipe_file %s" % p, lambda fs, r, lr: fs.pipe_file(r + "/" + p, data)),
        ("open wb %s" % p, lambda fs, r, lr: _open_write(fs, r + "/" + p, "wb", data, data[:3])),
        ("open ab %s" % p, lambda fs, r, lr: _open_write(fs, r + "/" + p, "ab", data)),
        ("open xb %s" % p, lambda fs, r, lr: _open_write(fs, r + "/" + p, "xb", data)),
        ("cat_file %s %s %s" % (p, s, e), lambda fs, r, lr: _cat_slice(fs, r + "/" + p, s, e)),
        ("open rb %s" % p, lambda fs, r, lr: _open_read(fs, r + "/" + p, 5, seek=(2,))),
        ("head %s" % p, lambda fs, r, lr: fs.head(r + "/" + p, 4)),
        ("tail %s" % p, lambda fs, r, lr: fs.tail(r + "/" + p, 4)),
        ("ls %s %s" % (p, flag), lambda fs, r, lr: fs.ls(r + "/" + p, detail=flag)),
        ("info %s" % p, lambda fs, r, lr: fs.info(r + "/" + p)),
        ("exists %s" % p, lambda fs, r, lr: (fs.exists(r + "/" + p), fs.isdir(r + "/" + p), fs.isfile(r + "/" + p))),
        ("mkdir %s %s" % (p, flag), lambda fs, r, lr: fs.mkdir(r + "/" + p, create_parents=flag)),
        ("makedirs %s %s" % (p, flag), lambda fs, r, lr: fs.makedirs(r + "/" + p, exist_ok=flag)),
        ("rmdir %s" % p, lambda fs, r, lr: fs.rmdir(r + "/" + p)),
        ("rm %s %s" % (p, flag), lambda fs, r, lr: fs.rm(r + "/" + p, recursive=flag)),
        ("rm_file %s" % p, lambda fs, r, lr: fs.rm_file(r + "/" + p)),
        ("touch %s %s" % (p, flag), lambda fs, r, lr: fs.touch(r + "/" + p, truncate=flag)),
        ("mv %s %s" % (p, q), lambda fs, r, lr: fs.mv(r + "/" + p, r + "/" + q)),
        ("copy %s %s %s" % (p, q, flag), lambda fs, r, lr: fs.copy(r + "/" + p, r + "/" + q, recursive=flag)),
        ("cp_file %s %s" % (p, q), lambda fs, r, lr: fs.cp_file(r + "/" + p, r + "/" + q)),
        ("put %s" % p, lambda fs, r, lr: fs.put(_lp(lr, "src.bin"), r + "/" + p)),
        ("get %s" % p, lambda fs, r, lr: fs.get(r + "/" + p, _lp(lr, "got-" + p.replace("/", "_")))),
        ("find", lambda fs, r, lr: fs.find(r, withdirs=True)),
        ("du", lambda fs, r, lr: fs.du(r)),
    ]
    return rng.choice(ops)


@pytest.mark.parametrize("auto_mkdir", [False, True], ids=["no_auto_mkdir", "auto_mkdir"])
def test_random_sequence_same_as_local(sides, tmp_path, auto_mkdir):
    """A seeded random sequence of the calls above on both sides, compared
    after every step (SHOAL_FSSPEC_DIFF_OPS steps, default 200, seed
    SHOAL_FSSPEC_DIFF_SEED)."""
    import random
    n = int(os.environ.get("SHOAL_FSSPEC_DIFF_OPS", "200"))
    seed = int(os.environ.get("SHOAL_FSSPEC_DIFF_SEED", str(secrets.randbits(32))))
    rng = random.Random(seed)
    sfs, lfs = sides(auto_mkdir)
    lroot, sroot = str(tmp_path / "root"), "/rdiff-" + secrets.token_hex(4)
    llr, slr = str(tmp_path / "l-local"), str(tmp_path / "l-shoal")
    for fs, root, lr in ((lfs, lroot, llr), (sfs, sroot, slr)):
        os.makedirs(lr)
        _tree(fs, root, lr)
    try:
        for step in range(n):
            what, fn = _random_op(rng)
            lres, ltree = _run(lfs, lroot, llr, fn)
            sres, stree = _run(sfs, sroot, slr, fn)
            assert _same(sres, lres), "seed %d step %d %s: shoal %r, local %r" % (seed, step, what, sres, lres)
            assert stree == ltree, "seed %d step %d %s: trees differ: shoal %r, local %r (result %r)" % (
                seed, step, what, stree[0], ltree[0], lres)
    finally:
        sfs.rm(sroot, recursive=True)


def test_cp_file_onto_itself_keeps_the_bytes(env):
    """A copy of a file onto itself or onto a hard link of it is refused and
    empties nothing (the agent's COPY truncated dst before it compared
    inodes)."""
    fs = fsspec.filesystem("shoal", **env["build"])
    r = "/self-" + secrets.token_hex(4)
    fs.pipe_file(r + "/f", b"precious")
    fs.client.link(r + "/f", r + "/alias")
    for dst in (r + "/f", r + "/alias", "default" + r + "/f"):
        with pytest.raises(OSError):
            fs.cp_file(r + "/f", dst)
        assert fs.cat_file(r + "/f") == b"precious"
    with pytest.raises(OSError):
        fs.client.copy_file(r + "/f", r + "/f")
    assert fs.cat_file(r + "/alias") == b"precious"
    fs.rm(r, recursive=True)
