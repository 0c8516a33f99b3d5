"""Open files, fds and iovecs belong to the client's session, not to the
thread (connection) or the request that made them (issue 9): they live
until they are closed or the session ends, whichever thread uses them."""

import errno
import json
import os
import subprocess
import sys
import threading
import time

import pytest

import shoal


@pytest.fixture
def own(env):
    """A client of its own, so options set here reach no other test."""
    c = shoal.Client.build(**env["build"])
    yield c
    c.stop()


def in_thread(fn):
    """Run fn in a new thread that has ended when this returns."""
    box = {}

    def run():
        try:
            box["v"] = fn()
        except BaseException as e:  # re-raised in the caller
            box["e"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box.get("v")


def test_file_opened_in_a_thread_written_and_closed_in_another(env, d):
    # The snippet.
    c = shoal.Client.build(**env["build"])
    try:
        box = {}
        t = threading.Thread(target=lambda: box.update(f=c.open(d + "/t.bin", "wb")))
        t.start()
        t.join()
        box["f"].write(b"x" * 100)
        box["f"].close()
        assert c.stat(d + "/t.bin").st_size == 100
        with c.open(d + "/t.bin", "rb") as f:
            assert f.read() == b"x" * 100
    finally:
        c.stop()


def test_reads_after_the_openers_thread_is_gone(own, d):
    data = os.urandom((3 << 20) + 17)  # larger than a message: shared memory too
    with own.open(d + "/r", "wb") as f:
        f.write(data)
    f = in_thread(lambda: own.open(d + "/r", "rb", buffering=0))
    assert f.read(10) == data[:10]
    assert f.read() == data[10:]
    f.close()


def test_one_opener_eight_users(own, d):
    chunk = 64 << 10
    fd = in_thread(lambda: own.open(d + "/shared", os.O_CREAT | os.O_RDWR, 0o644))
    parts = [os.urandom(chunk) for _ in range(8)]
    iov = in_thread(lambda: [own.iovalloc(chunk) for _ in range(8)])  # iovecs too
    for v, p in zip(iov, parts):
        v[:] = p
    errors = []
    barrier = threading.Barrier(8, timeout=60)  # a failed thread breaks it, not hangs it

    def use(i):
        try:
            barrier.wait()
            assert own.pwritev([(iov[i], fd, i * chunk)]) == [chunk]
            barrier.wait()  # every part is written
            assert own.pread(fd, 8 * chunk, 0) == b"".join(parts)
        except BaseException as e:
            errors.append(e)

    ts = [threading.Thread(target=use, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    in_thread(lambda: own.close(fd))
    for v in iov:
        own.iovfree(v)
    with own.open(d + "/shared", "rb") as f:
        assert f.read() == b"".join(parts)


def test_request_timeout_bounds_no_handle(own, d):
    own.set_option("read_timeout_ms", 500)
    f = own.open(d + "/slow", "wb")
    fd = own.open(d + "/slowfd", os.O_CREAT | os.O_RDWR)
    time.sleep(0.7)  # well past the open request's deadline
    big = os.urandom(1 << 20)
    f.write(b"small")
    f.write(big)
    f.close()
    own.write(fd, b"fd data")
    assert own.pread(fd, 100, 0) == b"fd data"
    own.close(fd)
    with own.open(d + "/slow", "rb") as f:
        assert f.read() == b"small" + big


def test_client_built_in_a_thread_keeps_its_session(env, d):
    # fsspec builds its clients lazily, so DuckDB's or pyarrow's threads
    # often build them: the session must not end with that thread.
    def build():
        c = shoal.Client.build(**env["build"])
        with c.open(d + "/gone", "wb") as f:
            f.write(b"still here")
        fd = c.open(d + "/gone", os.O_RDONLY)
        c.unlink(d + "/gone")  # an open file outlives its name
        iov = c.iovalloc(4096)
        return c, fd, iov

    c, fd, iov = in_thread(build)
    try:
        assert c.pread(fd, 100, 0) == b"still here"
        assert c.preadv([(shoal.iovec(iov, 0, 10), fd, 0)]) == [10]
        assert bytes(iov[0:10]) == b"still here"
        c.close(fd)
        c.iovfree(iov)
    finally:
        c.stop()


def test_error_text_carries_the_detail(client):
    name = "t_error_detail"
    if name in [ti.name for ti in client.list_tables()]:
        client.drop_table(name)
    client.create_table(name)
    try:
        with pytest.raises(shoal.ShoalError) as ei:
            client.table(name).set(b"h", b"s", b"v" * (2 << 20))
        e = ei.value
        assert e.errno == errno.E2BIG
        assert "exceeds the value size limit" in str(e), str(e)
        assert str(e).startswith("[Errno %d] %s" % (errno.E2BIG, os.strerror(errno.E2BIG)))
    finally:
        client.drop_table(name)
    with pytest.raises(FileNotFoundError) as ei:
        client.stat("/no/such/file")
    assert isinstance(ei.value, shoal.ShoalError) and ei.value.filename == "/no/such/file"
    assert ei.value.detail and ei.value.detail in str(ei.value)


def test_refused_address_fails_fast_naming_it(env):
    """Nothing listens on the port: building a client fails with the
    address in the message. How fast is the dialer's business (Go side);
    the agent and the Python layer add no wait of their own, so this
    bound is the dialer's retry window plus a margin, in a subprocess so a
    slow dialer cannot hang the suite."""
    if "mds_addrs" not in env["build"]:
        pytest.skip("local mode has no address to get wrong")
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        addr = "127.0.0.1:%d" % s.getsockname()[1]
    code = ("import json, shoal\n"
            "try:\n"
            "    shoal.Client.build(mds_addrs=%r)\n"
            "except shoal.ShoalError as e:\n"
            "    print(json.dumps([str(e), e.detail]))\n" % addr)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90,
                         env=dict(os.environ))
    assert out.stdout, out.stderr
    text, detail = json.loads(out.stdout)
    assert addr in text and detail and detail in text, text


def _agent_shm_maps(env):
    from conftest import agent_pid
    with open("/proc/%d/maps" % agent_pid(env)) as f:
        return sum(1 for line in f if "/dev/shm/shoal-" in line)


def test_thread_scratch_buffers_go_with_their_thread(env, own, d):
    """Large reads and writes go through a per-thread shared-memory scratch
    buffer that the agent maps; a thread that ends takes its buffer's
    mapping in the agent with it (short-lived I/O threads, as a thread pool
    per call makes, must not grow the agent without bound)."""
    data = os.urandom(1 << 20)
    own.write_file(d + "/big", data)
    own.read_file(d + "/big")  # the agent's client is warm
    base = _agent_shm_maps(env)

    def big_io():
        with own.open(d + "/big", "rb", buffering=0) as f:
            assert f.read() == data
        fd = own.open(d + "/out", os.O_CREAT | os.O_WRONLY)
        own.write(fd, data + data)  # a larger scratch replaces the first
        own.close(fd)

    for _ in range(6):
        in_thread(big_io)
    import gc
    gc.collect()
    deadline = time.monotonic() + 10
    while _agent_shm_maps(env) > base and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _agent_shm_maps(env) <= base
