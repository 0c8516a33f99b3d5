#!/usr/bin/env python3
"""Python SDK benchmarks (issue 4), single Python thread, against a
`shoal server` on loopback.

    SHOAL_BIN=bin/shoal python bench/python_bench.py            # starts its own server
    python bench/python_bench.py --mds-addrs 127.0.0.1:7700     # an existing one

Each figure is printed with the limit it runs against: the agent's empty
round trip (PING) for per-file operations, memory bandwidth for large reads.
Targets (issue 4): create 4 KiB >= 2,800 files/s, open+read >= 7,800 files/s,
1 GiB read into an iovec >= 1,000 MiB/s, preadv 4 KiB x 10,000 >= 50,000/s.
"""

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python", "src"))

import shoal  # noqa: E402
import shoal._wire  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp, binary):
    port, wport = free_port(), free_port()
    log = open(os.path.join(tmp, "server.log"), "wb")
    p = subprocess.Popen([binary, "server", "--data", os.path.join(tmp, "data"),
                          "--listen", "127.0.0.1:%d" % port, "--worker-listen", "127.0.0.1:%d" % wport],
                         stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return p, "127.0.0.1:%d" % port
        except OSError:
            if p.poll() is not None:
                raise SystemExit("shoal server exited (see %s/server.log)" % tmp)
            time.sleep(0.05)
    raise SystemExit("shoal server did not start")


def rate(n, dt):
    return n / dt if dt > 0 else float("inf")


def bench_ping(c, n=5000):
    t = time.perf_counter()
    for _ in range(n):
        c.ping()
    dt = time.perf_counter() - t
    return dt / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mds-addrs", default="")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--data-dir", default="", help="local mode: the agent opens this data directory")
    ap.add_argument("--parallel", type=int, default=0, help="preadv_parallel option (default: the client's)")
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--only", default="", help="comma list: create,read,big,preadv")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))

    tmp = tempfile.mkdtemp(prefix="shoal-pybench-")
    server = None
    agent_sock = os.environ.get("SHOAL_AGENT_SOCKET")
    if not agent_sock:
        os.environ["SHOAL_AGENT_SOCKET"] = os.path.join(tmp, "agent", "agent.sock")
    addrs = args.mds_addrs
    if not addrs and not args.data_dir:
        binary = os.environ.get("SHOAL_BIN") or shutil.which("shoal") or os.path.join(
            os.path.dirname(HERE), "bin", "shoal")
        os.environ["SHOAL_BIN"] = binary
        server, addrs = start_server(tmp, binary)
    try:
        if args.data_dir:
            c = shoal.Client.build(data_dir=args.data_dir)
        else:
            c = shoal.Client.build(mds_addrs=addrs, fs_name="default")
        if args.parallel:
            c.set_option("preadv_parallel", args.parallel)
        run(c, args, only)
        c.stop()
    finally:
        if not agent_sock:
            try:
                with open(os.environ["SHOAL_AGENT_SOCKET"] + ".lock") as f:
                    os.kill(int(f.read().split()[0]), signal.SIGTERM)
            except (OSError, ValueError, IndexError):
                pass
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def run(c, args, only):
    rtt = bench_ping(c)
    print("limit: agent round trip (PING) %.1f us = %d round trips/s" % (rtt * 1e6, 1 / rtt))
    root = "/bench-%d" % os.getpid()
    c.mkdir(root)
    data = os.urandom(4096)
    n = args.files

    def sdk(kind, d):
        ns = c._call(shoal._wire.OP_SDKBENCH, kind, c._p(d), n, 4096).int()
        return rate(n, ns / 1e9)

    if not only or "create" in only:
        c.mkdir(root + "/sdk")
        print("limit: Go SDK in the agent, create+write+close 4 KiB: %8.0f files/s" % sdk("create", root + "/sdk"))
        c.mkdir(root + "/w")
        t = time.perf_counter()
        for i in range(n):
            with c.open("%s/w/%06d" % (root, i), "wb") as f:
                f.write(data)
        dt = time.perf_counter() - t
        print("create+write+close 4 KiB (open 'wb'):   %8.0f files/s  (target 2,800)" % rate(n, dt))
        c.mkdir(root + "/wf")
        t = time.perf_counter()
        for i in range(n):
            c.write_file("%s/wf/%06d" % (root, i), data)
        dt = time.perf_counter() - t
        print("create+write+close 4 KiB (write_file):  %8.0f files/s" % rate(n, dt))

    if not only or "read" in only:
        if not c.exists(root + "/w"):
            c.mkdir(root + "/w")
            for i in range(n):
                c.write_file("%s/w/%06d" % (root, i), data)
        if c.exists(root + "/sdk"):
            print("limit: Go SDK in the agent, open+read+close 4 KiB:  %8.0f files/s" % sdk("read", root + "/sdk"))
        t = time.perf_counter()
        for i in range(n):
            with c.open("%s/w/%06d" % (root, i), "rb") as f:
                assert len(f.read()) == 4096
        dt = time.perf_counter() - t
        print("open+read+close 4 KiB (open 'rb'):      %8.0f files/s  (target 7,800)" % rate(n, dt))
        t = time.perf_counter()
        for i in range(n):
            assert len(c.read_file("%s/w/%06d" % (root, i))) == 4096
        dt = time.perf_counter() - t
        print("open+read+close 4 KiB (read_file):      %8.0f files/s" % rate(n, dt))

    if not only or "big" in only:
        size = args.big_mib << 20
        chunk = 64 << 20
        iov = c.iovalloc(size)
        mv = memoryview(iov).cast("B")
        block = os.urandom(1 << 20)
        for o in range(0, size, len(block)):
            mv[o:o + len(block)] = block
        fd = c.open(root + "/big", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        t = time.perf_counter()
        res = c.pwritev([(shoal.iovec(iov, o, chunk), fd, o) for o in range(0, size, chunk)])
        c.close(fd)
        dt = time.perf_counter() - t
        assert all(r == chunk for r in res), res
        print("write %d MiB from an iovec (pwritev):  %8.0f MiB/s" % (args.big_mib, rate(size >> 20, dt)))
        for label in ("cold", "warm"):
            fd = c.open(root + "/big", os.O_RDONLY)
            t = time.perf_counter()
            got = c.read(fd, iov)
            dt = time.perf_counter() - t
            c.close(fd)
            assert got == size
            print("read %d MiB into an iovec (read, %s): %8.0f MiB/s  (target 1,000)"
                  % (args.big_mib, label, rate(size >> 20, dt)))
        assert mv[:len(block)] == block
        try:
            import numpy as np
            a = np.frombuffer(iov, dtype=np.uint8)
            b = np.empty_like(a)
            np.copyto(b, a)  # fault the pages in first
            t = time.perf_counter()
            np.copyto(b, a)
            dt = time.perf_counter() - t
            print("limit: memcpy of %d MiB in this process: %8.0f MiB/s" % (args.big_mib, rate(size >> 20, dt)))
            del a, b
        except ImportError:
            pass
        del mv
        c.iovfree(iov)

    if not only or "preadv" in only:
        c.mkdir(root + "/r")
        fsize = 1 << 20  # 100 MiB in all: fits the agent's block cache (256 MiB)
        blob = os.urandom(fsize)
        fds = []
        for i in range(100):
            p = "%s/r/%03d" % (root, i)
            c.write_file(p, blob)
            fds.append(c.open(p, os.O_RDONLY))
        iov = c.iovalloc(10000 * 4096)
        rng = random.Random(1)
        best, first = 0, None
        for _ in range(3):
            ents = [(shoal.iovec(iov, k * 4096, 4096), rng.choice(fds), rng.randrange(fsize // 4096) * 4096)
                    for k in range(10000)]
            t = time.perf_counter()
            res = c.preadv(ents)
            dt = time.perf_counter() - t
            assert all(r == 4096 for r in res)
            best = max(best, rate(len(ents), dt))
            first = first or rate(len(ents), dt)
        print("preadv 10,000 x 4 KiB over 100 files:   %8.0f reads/s  (target 50,000; best of 3; first %.0f)"
              % (best, first))
        for fd in fds:
            c.close(fd)
        c.iovfree(iov)
    c.remove(root, recursive=True)


if __name__ == "__main__":
    main()
