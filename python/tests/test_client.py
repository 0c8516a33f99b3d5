import errno
import io
import os
import pickle
import shutil
import stat
import tarfile
import threading
import zipfile

import pytest

import shoal


def test_build_and_context_manager(env):
    with shoal.Client.build(**env["build"]) as c:
        assert stat.S_ISDIR(c.stat("/").st_mode)
        st = c.statfs()
        assert st.block_size > 0 and st.total_bytes >= st.used_bytes
    with pytest.raises(shoal.ShoalError):
        c.stat("/")


def test_paths_and_attributes(client, d):
    client.mkdir(d + "/a")
    client.mkdir(d + "/b/c/d", 0o750, recursive=True)
    assert stat.S_IMODE(client.stat(d + "/b/c/d").st_mode) == 0o750 & ~client._umask
    with client.open(d + "/a/f", "wb") as f:
        f.write(b"0123456789")
    st = client.stat(d + "/a/f")
    assert stat.S_ISREG(st.st_mode) and st.st_size == 10 and st.st_nlink == 1
    client.chmod(d + "/a/f", 0o600)
    assert stat.S_IMODE(client.stat(d + "/a/f").st_mode) == 0o600
    client.chown(d + "/a/f", 1234, -1)
    st = client.stat(d + "/a/f")
    assert (st.st_uid, st.st_gid) == (1234, 0)
    client.chown(d + "/a/f", -1, 55)
    st = client.stat(d + "/a/f")
    assert (st.st_uid, st.st_gid) == (1234, 55)
    client.utime(d + "/a/f", (1000.5, 2000.25))
    st = client.stat(d + "/a/f")
    assert st.st_atime_ns == 1_000_500_000_000 and st.st_mtime_ns == 2_000_250_000_000
    client.utime(d + "/a/f", ns=(5, 7))
    assert client.stat(d + "/a/f").st_mtime_ns == 7
    client.utime(d + "/a/f")
    assert client.stat(d + "/a/f").st_mtime > 1e9
    client.truncate(d + "/a/f", 4)
    assert client.stat(d + "/a/f").st_size == 4
    out = client.set_attr(d + "/a/f", shoal.SET_ATTR_MODE | shoal.SET_ATTR_SIZE, {"mode": 0o640, "size": 2})
    assert stat.S_IMODE(out.st_mode) == 0o640 and out.st_size == 2

    client.symlink("a/f", d + "/ln")
    assert client.readlink(d + "/ln") == "a/f"
    assert stat.S_ISLNK(client.lstat(d + "/ln").st_mode)
    assert stat.S_ISREG(client.stat(d + "/ln").st_mode)
    assert client.realpath(d + "/ln") == d + "/a/f"
    client.link(d + "/a/f", d + "/hard")
    assert client.stat(d + "/a/f").st_nlink == 2
    client.rename(d + "/hard", d + "/hard2")
    assert not client.exists(d + "/hard") and client.exists(d + "/hard2")
    client.unlink(d + "/hard2")
    st = client.mknod(d + "/fifo", stat.S_IFIFO | 0o600)
    assert stat.S_ISFIFO(st.st_mode)
    client.mknod(d + "/plain")
    assert stat.S_ISREG(client.stat(d + "/plain").st_mode)

    client.setxattr(d + "/a/f", "user.k", b"v1")
    client.setxattr(d + "/a/f", "user.s", "text")
    assert client.getxattr(d + "/a/f", "user.k") == b"v1"
    assert sorted(client.listxattr(d + "/a/f")) == ["user.k", "user.s"]
    client.removexattr(d + "/a/f", "user.k")
    with pytest.raises(shoal.ShoalError) as ei:
        client.getxattr(d + "/a/f", "user.k")
    assert ei.value.errno == errno.ENODATA

    flags = int.from_bytes(client.ioctl(d + "/a/f", shoal.FS_IOC_GETFLAGS), "little")
    assert flags == 0
    client.ioctl(d + "/a/f", shoal.FS_IOC_SETFLAGS, (shoal.FS_APPEND_FL).to_bytes(8, "little"))
    assert int.from_bytes(client.ioctl(d + "/a/f", shoal.FS_IOC_GETFLAGS, out_size=4), "little") == shoal.FS_APPEND_FL
    client.ioctl(d + "/a/f", shoal.FS_IOC_SETFLAGS, bytes(8))
    with pytest.raises(OSError) as ei:
        client.ioctl(d + "/a/f", 0x1234)
    assert ei.value.errno == errno.ENOTTY

    client.rmdir(d + "/b/c/d")
    client.remove(d + "/b", recursive=True)
    assert not client.exists(d + "/b")
    client.remove(d + "/plain")


def test_errors(client, d):
    with pytest.raises(FileNotFoundError) as ei:
        client.stat(d + "/missing")
    e = ei.value
    assert isinstance(e, shoal.ShoalError) and isinstance(e, OSError)
    assert e.errno == errno.ENOENT == e.shoal_errno and e.filename == d + "/missing"
    assert e.strerror == os.strerror(errno.ENOENT)
    client.mkdir(d + "/x")
    with pytest.raises(FileExistsError):
        client.mkdir(d + "/x")
    with client.open(d + "/file", "w"):
        pass
    with pytest.raises(NotADirectoryError):
        client.mkdir(d + "/file/sub")
    with pytest.raises(NotADirectoryError):
        client.rmdir(d + "/file")
    with pytest.raises(IsADirectoryError):
        client.unlink(d + "/x")
    with client.open(d + "/x/y", "w"):
        pass
    with pytest.raises(shoal.ShoalError) as ei:
        client.rmdir(d + "/x")
    assert ei.value.errno == errno.ENOTEMPTY
    with pytest.raises(FileExistsError):
        client.open(d + "/file", "x")
    with pytest.raises(FileNotFoundError):
        client.remove(d + "/nothing", recursive=True)
    with pytest.raises(shoal.ShoalError) as ei:
        client.rename(d + "/nothing", d + "/else")
    assert ei.value.filename == d + "/nothing" and ei.value.filename2 == d + "/else"
    for bad in ("", "rw", "rr", "q", "rbt", "+", "wx"):
        with pytest.raises(ValueError):
            client.open(d + "/file", bad)
    with pytest.raises(ValueError):
        client.open(d + "/file", "rb", encoding="utf-8")
    with pytest.raises(shoal.ShoalError) as ei:
        client.close(99999)
    assert ei.value.errno == errno.EBADF


def _names(entries):
    return sorted(e.name for e in entries)


def test_listdir_scandir_walk(client, d):
    for i in range(150):
        client.open(d + "/f%03d" % i, "w").close()
    client.mkdir(d + "/sub/deeper", recursive=True)
    client.open(d + "/sub/g", "w").close()
    client.symlink("sub", d + "/lnk")
    entries = client.listdir(d)
    assert len(entries) == 152
    by = {e.name: e for e in entries}
    assert by["sub"].is_dir() and not by["sub"].is_file()
    assert by["f000"].is_file() and by["f000"].inode() == by["f000"].ino == client.stat(d + "/f000").st_ino
    assert by["lnk"].is_symlink() and by["lnk"].is_dir() and not by["lnk"].is_dir(follow_symlinks=False)
    assert by["f000"].stat().st_size == 0 and os.fspath(by["f000"]) == d + "/f000"

    with client.scandir(d) as it:
        got = _names(it)
    assert got == _names(entries)
    # early break releases the handle (no leak in the agent: close is idempotent)
    it = client.scandir(d)
    for n, e in enumerate(it):
        if n == 3:
            break
    it.close()
    it.close()
    client.set_option("scandir_batch", 7)
    assert len(list(client.scandir(d))) == 152
    client.set_option("scandir_batch", 64)
    with pytest.raises(NotADirectoryError):
        client.scandir(d + "/f000")

    walked = list(client.walk(d))
    assert walked[0][0] == d and sorted(walked[0][1]) == ["lnk", "sub"]
    assert (d + "/sub", ["deeper"], ["g"]) in walked and (d + "/sub/deeper", [], []) in walked
    assert not any(p.startswith(d + "/lnk") for p, _, _ in walked)
    followed = [p for p, _, _ in client.walk(d, followlinks=True)]
    assert d + "/lnk" in followed
    bottom = [p for p, _, _ in client.walk(d, topdown=False)]
    assert bottom.index(d + "/sub/deeper") < bottom.index(d + "/sub") < bottom.index(d)
    errs = []
    assert list(client.walk(d + "/missing", onerror=errs.append)) == []
    assert isinstance(errs[0], FileNotFoundError)


MODES = ["r", "rb", "w", "wb", "a", "ab", "r+", "r+b", "w+", "w+b", "a+", "a+b", "x", "xb"]


def _exercise(opener, path, mode):
    """Run the same steps on a file object; return what happened."""
    out = []
    try:
        f = opener(path, mode)
    except OSError as e:
        builtin = next(c for c in type(e).__mro__ if c.__module__ == "builtins")
        return [("open", builtin.__name__, e.errno)]
    text = "b" not in mode
    with f:
        out.append(("tell0", f.tell()))
        if f.writable():
            out.append(("write", f.write("XY" if text else b"XY")))
        f.seek(0)
        if f.readable():
            out.append(("read", f.read()))
        else:
            with pytest.raises(io.UnsupportedOperation):
                f.read()
        out.append(("tell", f.tell()))
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("exists", [True, False])
def test_open_modes_match_python(client, d, tmp_path, mode, exists):
    local = str(tmp_path / "f")
    remote = d + "/f"
    if exists:
        with open(local, "wb") as f:
            f.write(b"abc")
        with client.open(remote, "wb") as f:
            f.write(b"abc")
    want = _exercise(open, local, mode)
    got = _exercise(client.open, remote, mode)
    assert got == want
    if os.path.exists(local):
        with open(local, "rb") as f, client.open(remote, "rb") as g:
            assert g.read() == f.read()
    else:
        assert not client.exists(remote)


def test_text_mode(client, d):
    with client.open(d + "/t.txt", "w", encoding="utf-16") as f:
        f.write("línea 1\nlínea 2\n")
        f.fsync()
    with client.open(d + "/t.txt", encoding="utf-16") as f:
        assert f.mode == "r"
        assert list(f) == ["línea 1\n", "línea 2\n"]
    with client.open(d + "/n.txt", "w", newline="\r\n") as f:
        f.write("a\nb\n")
    with client.open(d + "/n.txt", "rb") as f:
        assert f.read() == b"a\r\nb\r\n"
    with client.open(d + "/n.txt", "r") as f:
        assert f.readline() == "a\n"
        assert f.read() == "b\n"


def test_file_objects_work_with_stdlib(client, d):
    obj = {"a": list(range(1000)), "b": "x" * 5000}
    with client.open(d + "/obj.pkl", "wb") as f:
        pickle.dump(obj, f)
    with client.open(d + "/obj.pkl", "rb") as f:
        assert pickle.load(f) == obj
    raw = client.open(d + "/obj.pkl", "rb", buffering=0)
    assert isinstance(raw, shoal.RawFile)
    with io.BufferedReader(raw) as f:
        assert pickle.load(f) == obj

    src = io.BytesIO(os.urandom(3 << 20))
    with client.open(d + "/copy", "wb") as f:
        shutil.copyfileobj(src, f)
    with client.open(d + "/copy", "rb") as f:
        out = io.BytesIO()
        shutil.copyfileobj(f, out, 1 << 20)
    assert out.getvalue() == src.getvalue()

    with client.open(d + "/a.zip", "w+b") as f:
        with zipfile.ZipFile(f, "w") as z:
            z.writestr("one.txt", "one")
            z.writestr("two.bin", os.urandom(100000))
    with client.open(d + "/a.zip", "rb") as f, zipfile.ZipFile(f) as z:
        assert z.read("one.txt") == b"one" and len(z.read("two.bin")) == 100000

    with client.open(d + "/a.tar", "wb") as f:
        with tarfile.open(fileobj=f, mode="w") as t:
            data = b"tar data" * 1000
            ti = tarfile.TarInfo("x/y.txt")
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    with client.open(d + "/a.tar", "rb") as f, tarfile.open(fileobj=f) as t:
        assert t.extractfile("x/y.txt").read() == data

    with client.open(d + "/s", "w+b") as f:
        f.write(b"hello world")
        f.seek(6)
        assert f.read(5) == b"world"
        f.truncate(5)
        f.seek(0, io.SEEK_END)
        assert f.tell() == 5
        assert f.stat().st_size == 5
        with pytest.raises(io.UnsupportedOperation):
            f.fileno()
        assert f.name == d + "/s"


def test_fd_api(client, d):
    fd = client.open(d + "/fd", os.O_CREAT | os.O_RDWR, 0o640)
    assert isinstance(fd, int)
    assert client.write(fd, b"hello ") == 6
    assert client.write(memoryview(b"world"), ) if False else client.write(fd, memoryview(b"world")) == 5
    assert client.lseek(fd, 0, os.SEEK_CUR) == 11
    assert client.lseek(fd, 0, os.SEEK_SET) == 0
    buf = bytearray(5)
    assert client.read(fd, buf) == 5 and buf == b"hello"
    assert client.lseek(fd, -5, os.SEEK_END) == 6
    assert client.pread(fd, 100, 0) == b"hello world"
    st = client.fstat(fd)
    assert st.st_size == 11 and stat.S_IMODE(st.st_mode) == 0o640 & ~client._umask
    client.ftruncate(fd, 3)
    client.fsync(fd)
    assert client.fstat(fd).st_size == 3
    client.close(fd)
    with pytest.raises(shoal.ShoalError) as ei:
        client.read(fd, bytearray(1))
    assert ei.value.errno == errno.EBADF
    fd = client.open(d + "/fd", os.O_WRONLY | os.O_APPEND)
    client.write(fd, b"++")
    client.close(fd)
    with client.open(d + "/fd", "rb") as f:
        assert f.read() == b"hel++"
    with pytest.raises(FileNotFoundError):
        client.open(d + "/none", os.O_RDONLY)
    fd = client.creat(d + "/c", 0o600)
    client.close(fd)


def test_large_io_through_shared_memory(client, d):
    data = os.urandom((5 << 20) + 123)
    with client.open(d + "/big", "wb") as f:
        f.write(data)
    with client.open(d + "/big", "rb") as f:
        assert f.read() == data
    fd = client.open(d + "/big", os.O_RDONLY)
    buf = bytearray(len(data) + 10)
    assert client.read(fd, buf) == len(data) and bytes(buf[:len(data)]) == data
    client.close(fd)


def test_iovec_preadv_numpy(client, d):
    np = pytest.importorskip("numpy")
    files = []
    for i in range(4):
        arr = np.arange(i * 4096, (i + 1) * 4096, dtype=np.uint32)
        with client.open(d + "/part%d" % i, "wb") as f:
            f.write(arr.tobytes())
        files.append(client.open(d + "/part%d" % i, os.O_RDONLY))
    iov = client.iovalloc(4 * 16384)
    assert isinstance(iov, shoal.iovec) and len(iov) == 65536
    entries = [(shoal.iovec(iov, i * 16384, 16384), fd, 0) for i, fd in enumerate(files)]
    entries.append((shoal.iovec(iov, 0, 100), files[0], 1 << 30))  # past the end
    assert client.preadv(entries) == [16384] * 4 + [0]
    view = np.frombuffer(iov, dtype=np.uint32)
    assert (view == np.arange(4 * 4096, dtype=np.uint32)).all()
    # the numpy view shares the memory: a later read shows through it
    sub = shoal.iovec(iov, 0, 8)
    assert client.read(files[1], sub) == 8
    assert view[0] == 4096 and memoryview(sub).nbytes == 8
    # pwritev from the iovec
    out = client.open(d + "/out", os.O_CREAT | os.O_RDWR)
    iov[0:4] = b"ABCD"
    assert client.pwritev([(shoal.iovec(iov, 0, 4), out, 10), (shoal.iovec(iov, 0, 2), out, 0)]) == [4, 2]
    assert client.pread(out, 14, 0) == b"AB" + bytes(8) + b"ABCD"
    assert client.preadv([(iov, 123456, 0)])[0] == -errno.EBADF
    client.write(out, shoal.iovec(iov, 0, 3))
    del view, sub
    client.iovfree(iov)
    for fd in files + [out]:
        client.close(fd)


def test_shared_handles(env, client, d):
    iov = client.iovalloc(4096, global_=True)
    iov[0:5] = b"hello"
    h = client.sharedIovecHandle(shoal.iovec(iov, 0, 10))
    other = shoal.Client.build(**env["build"])
    try:
        seen = other.openIovecHandle(h)
        assert len(seen) == 10 and seen[0:5] == b"hello"
        with pytest.raises(ValueError):
            client.sharedIovecHandle(client.iovalloc(4096))
        with client.open(d + "/shared", "wb") as f:
            f.write(b"shared data")
        fd = client.open(d + "/shared", os.O_RDONLY)
        tokens = client.sharedFileHandles([fd])
        (fd2,) = other.openWithFileHandles(tokens)
        assert other.pread(fd2, 100, 0) == b"shared data"
        other.close(fd2)
        client.close(fd)
    finally:
        other.stop()
    client.iovfree(iov)


def test_options(client):
    names = [o.name for o in client.list_options()]
    assert "read_timeout_ms" in names and "scandir_batch" in names
    client.set_option("read_timeout_ms", 30000)
    assert client.get_option("read_timeout_ms") == "30000"
    buf = io.StringIO()
    client.print_options(file=buf)
    assert "read_timeout_ms" in buf.getvalue()
    with pytest.raises(OSError):
        client.set_option("nope", 1)
    with pytest.raises(ValueError):
        client.set_option("scandir_batch", "many")
    client.set_option("read_timeout_ms", 0)


def test_threads_use_their_own_connections(client, d):
    data = os.urandom(1 << 20)
    with client.open(d + "/t", "wb") as f:
        f.write(data)
    conns, errors = set(), []
    barrier = threading.Barrier(4)

    def work():
        try:
            barrier.wait()
            for _ in range(5):
                with client.open(d + "/t", "rb") as f:
                    assert f.read() == data
            conns.add(id(client._conn()))
        except Exception as e:  # pragma: no cover
            errors.append(e)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors and len(conns) == 4


def test_write_behind_errors_surface(client, d):
    """Small writes of write-only files are sent without waiting; a failed
    one is raised by the file's close (or its next write/fsync)."""
    import errno as _errno
    p = d + "/wb"
    f = client.open(p, "wb")
    f.write(b"ok")
    f.seek(1 << 62)
    f.write(b"too far")
    with pytest.raises(OSError) as e:
        f.close()
    assert e.value.errno == _errno.EFBIG and e.value.filename == p
    raw = client.open(p, "wb", buffering=0)
    raw.seek(1 << 62)
    assert raw.write(b"x") == 1  # accepted now...
    with pytest.raises(OSError):
        raw.fsync()  # ...reported at the next fsync
    raw.close()
    with client.open(p, "wb") as f:
        for i in range(500):  # more posted writes than the pending bound
            f.write(b"%05d" % i)
            f.flush()
    assert client.read_file(p) == b"".join(b"%05d" % i for i in range(500))
