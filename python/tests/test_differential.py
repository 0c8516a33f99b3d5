"""Differential test: the same random sequence of path and file
operations on Shoal (through the Python SDK) and on a local directory
(through os), comparing results and errnos after every step.

SHOAL_DIFF_OPS sets the number of operations (default 2000),
SHOAL_DIFF_SEED the seed (default: a fixed one, printed on failure).
"""

import errno
import os
import random
import stat

import pytest

NAMES = ["a", "b", "c", "d"]
DATA = [b"", b"x", b"hello world", bytes(range(256)) * 40, os.urandom(200_000)]


def _rel(rng):
    depth = rng.choice([1, 1, 2, 2, 3])
    return "/".join(rng.choice(NAMES) for _ in range(depth))


def _run(fn):
    try:
        return ("ok", fn())
    except OSError as e:
        return ("err", errno.errorcode.get(e.errno, e.errno))


def _st(st):
    """What must agree between the two stats."""
    kind = stat.S_IFMT(st.st_mode)
    out = (kind, stat.S_IMODE(st.st_mode))
    if kind == stat.S_IFREG:
        out += (st.st_size, st.st_nlink)
    return out


class Pair:
    def __init__(self, client, sroot, lroot):
        self.c, self.s, self.l = client, sroot, lroot

    def sp(self, rel):
        return self.s + "/" + rel

    def lp(self, rel):
        return os.path.join(self.l, rel)

    def ops(self, rng):
        c = self.c
        p, q = _rel(rng), _rel(rng)
        sp, lp, sq, lq = self.sp(p), self.lp(p), self.sp(q), self.lp(q)
        data = rng.choice(DATA)
        mode = rng.choice([0o755, 0o700, 0o644, 0o600])
        off = rng.choice([0, 1, 5, 4096, 150_000])
        n = rng.choice([0, 1, 10, 5000, 300_000])
        size = rng.choice([0, 3, 10_000, 250_000])

        def read_file_s():
            with c.open(sp, "rb") as f:
                return f.read()

        def read_file_l():
            with open(lp, "rb") as f:
                return f.read()

        def write_s(m):
            def run():
                with c.open(sp, m) as f:
                    return f.write(data)
            return run

        def write_l(m):
            def run():
                with open(lp, m) as f:
                    return f.write(data)
            return run

        def pread_s():
            fd = c.open(sp, os.O_RDONLY)
            try:
                return c.pread(fd, n, off)
            finally:
                c.close(fd)

        def pread_l():
            fd = os.open(lp, os.O_RDONLY)
            try:
                return os.pread(fd, n, off)
            finally:
                os.close(fd)

        def rw_s():
            with c.open(sp, "r+b") as f:
                f.seek(off)
                f.write(data[:1000])
                f.seek(0)
                return f.read()

        def rw_l():
            with open(lp, "r+b") as f:
                f.seek(off)
                f.write(data[:1000])
                f.seek(0)
                return f.read()

        return [
            ("mkdir", lambda: c.mkdir(sp, mode), lambda: os.mkdir(lp, mode)),
            ("rmdir", lambda: c.rmdir(sp), lambda: os.rmdir(lp)),
            ("unlink", lambda: c.unlink(sp), lambda: os.unlink(lp)),
            ("rename", lambda: c.rename(sp, sq), lambda: os.rename(lp, lq)),
            ("write", write_s("wb"), write_l("wb")),
            ("append", write_s("ab"), write_l("ab")),
            ("excl", write_s("xb"), write_l("xb")),
            ("readfile", read_file_s, read_file_l),
            ("pread", pread_s, pread_l),
            ("rw", rw_s, rw_l),
            ("stat", lambda: _st(c.stat(sp)), lambda: _st(os.stat(lp))),
            ("lstat", lambda: _st(c.lstat(sp)), lambda: _st(os.lstat(lp))),
            ("listdir", lambda: sorted(e.name for e in c.listdir(sp)), lambda: sorted(os.listdir(lp))),
            ("truncate", lambda: c.truncate(sp, size) and None, lambda: os.truncate(lp, size)),
            ("chmod", lambda: c.chmod(sp, mode) and None, lambda: os.chmod(lp, mode)),
            ("symlink", lambda: c.symlink(q, sp) and None, lambda: os.symlink(q, lp)),
            ("readlink", lambda: c.readlink(sp), lambda: os.readlink(lp)),
            ("link", lambda: c.link(sp, sq) and None, lambda: os.link(lp, lq, follow_symlinks=False)),
            ("exists", lambda: c.exists(sp), lambda: os.path.exists(lp)),
        ]


# Where Shoal's documented behaviour differs from Linux's local
# filesystems: (op, shoal result, os result) pairs accepted as equal.
ACCEPTED = {
    # A zero-byte read never reaches the agent, so it cannot see that the
    # fd is a directory (Linux's read(2) checks first).
    ("pread", ("ok", b""), ("err", "EISDIR")),
}


def test_differential(client, d, tmp_path):
    nops = int(os.environ.get("SHOAL_DIFF_OPS", "2000"))
    seed = int(os.environ.get("SHOAL_DIFF_SEED", "20240604"))
    rng = random.Random(seed)
    pair = Pair(client, d, str(tmp_path))
    weights = None
    counts = {}
    oks = 0
    for i in range(nops):
        ops = pair.ops(rng)
        if weights is None:
            heavy = {"mkdir": 4, "write": 4, "stat": 3, "readfile": 3, "rename": 2, "listdir": 2}
            weights = [heavy.get(name, 1) for name, _, _ in ops]
        name, fs, fl = rng.choices(ops, weights)[0]
        got, want = _run(fs), _run(fl)
        if got != want and (name, got, want) not in ACCEPTED:
            pytest.fail("op %d (%s, seed %d): shoal %r, os %r" % (i, name, seed, _short(got), _short(want)))
        counts[name] = counts.get(name, 0) + 1
        oks += want[0] == "ok"
    # The final trees agree too.
    local = sorted((os.path.relpath(dp, pair.l), sorted(dn), sorted(fn)) for dp, dn, fn in os.walk(pair.l))
    remote = sorted((os.path.relpath(dp, d), sorted(dn), sorted(fn)) for dp, dn, fn in client.walk(d))
    assert remote == local
    assert len(counts) >= 15
    print("differential: %d ops, %d succeeded, %d failed alike" % (nops, oks, nops - oks))
    assert oks > nops // 4  # the sequence does real work, not only errors


def _short(r):
    kind, v = r
    if isinstance(v, bytes) and len(v) > 40:
        return (kind, "%d bytes %r..." % (len(v), v[:16]))
    return r
