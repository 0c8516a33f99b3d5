"""shoal.Client: the DingoFS/hf3fs-style client over the local agent."""

import atexit
import collections
import errno

import os
import posixpath
import stat as _stat
import struct
import threading

import weakref

from . import _agent, _file, _wire
from . import kv as _kv
from ._agent import AgentError, Disconnected
from .errors import ShoalConnectionError, ShoalError, error
from .iovec import _Shm, _make, iovec

# set_attr mask bits (FUSE FATTR_* values, as meta.Set*).
SET_ATTR_MODE = 1 << 0
SET_ATTR_UID = 1 << 1
SET_ATTR_GID = 1 << 2
SET_ATTR_SIZE = 1 << 3
SET_ATTR_ATIME = 1 << 4
SET_ATTR_MTIME = 1 << 5
SET_ATTR_ATIME_NOW = 1 << 7
SET_ATTR_MTIME_NOW = 1 << 8
SET_ATTR_CTIME = 1 << 10
SET_ATTR_FLAGS = 1 << 11

# ioctl commands (Linux) and inode flags.
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_IOC32_GETFLAGS = 0x80046601
FS_IOC32_SETFLAGS = 0x40046602
FS_IMMUTABLE_FL = 0x00000010
FS_APPEND_FL = 0x00000020

# rename flags (renameat2).
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2

FsStat = collections.namedtuple(
    "FsStat", "total_bytes used_bytes avail_bytes total_inodes used_inodes block_size")
OptionInfo = collections.namedtuple("OptionInfo", "name type default value description")

# name: (type, default, description, agent option name or None)
_OPTIONS = {
    "read_timeout_ms": (int, 0, "per-request timeout in the agent, ms (0: none)", "timeout_ms"),
    "preadv_parallel": (int, 16, "how many preadv/pwritev entries the agent runs at once", "parallel"),
    "scandir_batch": (int, 64, "directory entries fetched per scandir round trip", None),
    "inline_max": (int, 128 << 10, "reads and writes up to this size travel in the message; "
                   "larger ones through shared memory", None),
    "file_buffer_size": (int, 1 << 20, "buffer size of file objects from open()", None),
    "scratch_max": (int, 64 << 20, "largest per-thread shared-memory scratch buffer", None),
    "open_prefetch": (int, 64 << 10, "open(path, 'rb') also reads this much of the file's start "
                      "in the same round trip (0: off)", None),
}

_UNSET = object()
_O_REOPEN_MASK = ~(os.O_CREAT | os.O_EXCL | os.O_TRUNC)
_live = weakref.WeakSet()


def _after_fork_in_child():
    for c in list(_live):
        c._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)

# Set at interpreter exit: files and iterators closed by the final
# garbage collection must not start an agent just to close handles that
# die with the session anyway.
_exiting = False


@atexit.register
def _at_exit():
    global _exiting
    _exiting = True


def _umask():
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def _stat_result(a):
    ino, mode, nlink, uid, gid, size, at, mt, ct, rdev, _flags, blocks = a
    return os.stat_result((mode, ino, 0, nlink, uid, gid, size,
                           at // 1_000_000_000, mt // 1_000_000_000, ct // 1_000_000_000,
                           at / 1e9, mt / 1e9, ct / 1e9, at, mt, ct, 4096, blocks, rdev))


class _Fd:
    """A Shoal fd: its agent handle (valid for one session generation) and
    what reopening it needs after a fork or an agent restart."""

    __slots__ = ("path", "flags", "pos", "handle", "gen", "append", "prefetch")

    def __init__(self, path, flags, handle, gen):
        self.path = path
        self.flags = flags
        self.pos = 0
        self.handle = handle
        self.gen = gen
        self.append = bool(flags & os.O_APPEND)
        self.prefetch = None  # the file's first bytes, read by OPEN

    def pop_prefetch(self):
        p, self.prefetch = self.prefetch, None
        return p


class DirEntry:
    """A directory entry, like os.DirEntry, carrying the entry's stat."""

    __slots__ = ("name", "path", "_st", "_client")

    def __init__(self, client, parent, name, attr):
        self.name = name
        self.path = posixpath.join(parent, name)
        self._st = _stat_result(attr)
        self._client = client

    @property
    def ino(self):
        return self._st.st_ino

    @property
    def type(self):
        return _stat.S_IFMT(self._st.st_mode)

    def inode(self):
        return self._st.st_ino

    def is_dir(self, *, follow_symlinks=True):
        if follow_symlinks and self.is_symlink():
            return self._follow(_stat.S_ISDIR)
        return _stat.S_ISDIR(self._st.st_mode)

    def is_file(self, *, follow_symlinks=True):
        if follow_symlinks and self.is_symlink():
            return self._follow(_stat.S_ISREG)
        return _stat.S_ISREG(self._st.st_mode)

    def is_symlink(self):
        return _stat.S_ISLNK(self._st.st_mode)

    def _follow(self, test):
        try:
            return test(self._client.stat(self.path).st_mode)
        except FileNotFoundError:
            return False

    def stat(self, *, follow_symlinks=True):
        if follow_symlinks and self.is_symlink():
            return self._client.stat(self.path)
        return self._st

    def __fspath__(self):
        return self.path

    def __repr__(self):
        return "<shoal.DirEntry %r>" % self.name


class ScandirIterator:
    """Lazy directory iterator: fetches ``scandir_batch`` entries per round
    trip; the agent's directory handle is released at the end, on close(),
    on leaving a with block, or when the iterator is collected."""

    def __init__(self, client, path):
        self._client = client
        self._path = path
        self._clean = client._p(path)
        self._buf = collections.deque()
        self._seen = 0
        self._done = False
        self._h = None
        self._gen = None
        self._open()

    def _open(self):
        c = self._client
        d = c._call(_wire.OP_OPENDIR, self._clean, path=self._path)
        self._h = d.int()
        self._gen = c._gen

    def __iter__(self):
        return self

    def __next__(self):
        while not self._buf:
            if self._done:
                raise StopIteration
            self._fetch()
        self._seen += 1
        return self._buf.popleft()

    def _fetch(self):
        c = self._client
        if self._gen != c._gen:
            # A fork or an agent restart dropped the handle: reopen and
            # skip what was already returned.
            self._open()
            skip = self._seen
        else:
            skip = 0
        while True:
            try:
                d = c._call(_wire.OP_READDIR, self._h, c._opt["scandir_batch"], path=self._path)
            except ShoalError as e:
                if e.errno == errno.EBADF and self._gen != c._gen:
                    self._open()
                    skip = self._seen
                    continue
                raise
            n = d.int()
            if n == 0:
                self.close()
                return
            for _ in range(n):
                name = d.str()
                a = d.attr()
                if skip:
                    skip -= 1
                    continue
                self._buf.append(DirEntry(c, self._path, name, a))
            if self._buf:
                return

    def close(self):
        if self._done:
            return
        self._done = True
        h, self._h = self._h, None
        c = self._client
        if h is not None and self._gen == c._gen and not c._stopped and c._pid == os.getpid():
            try:
                c._call(_wire.OP_CLOSEDIR, h)
            except (ShoalError, OSError):
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Client:
    """A Shoal filesystem client. See ``Client.build`` for the arguments.

    Every call is one request to the local agent (which runs the Go SDK);
    blocking happens in socket calls, which release the GIL, and each
    thread has its own connection so threads run in parallel."""

    @classmethod
    def build(cls, mds_addrs="", fs_name="default", mount_point="", conf_file="", log_dir="",
              log_level="", token=None, as_super=False, data_dir=None):
        """Connect to the filesystem ``fs_name`` served at ``mds_addrs``
        ("host:port,host:port"; default $SHOAL_MDS_ADDRS), or open the local
        data directory ``data_dir`` in the agent (single-machine mode). The
        identity is this process's uid/gid (the agent reads it from the
        socket); ``as_super`` acts as root when the token allows it.
        ``mount_point``, ``conf_file``, ``log_dir`` and ``log_level`` are
        accepted for DingoFS compatibility; ``mount_point`` is reported back,
        the others are unused (the agent logs to its socket directory)."""
        return cls(mds_addrs=mds_addrs, fs_name=fs_name, mount_point=mount_point, conf_file=conf_file,
                   log_dir=log_dir, log_level=log_level, token=token, as_super=as_super, data_dir=data_dir)

    def __init__(self, mds_addrs="", fs_name="default", mount_point="", conf_file="", log_dir="",
                 log_level="", token=None, as_super=False, data_dir=None):
        if not mds_addrs and not data_dir:
            mds_addrs = os.environ.get("SHOAL_MDS_ADDRS", "127.0.0.1:7700")
        self.mds_addrs = mds_addrs if not data_dir else ""
        self.fs_name = fs_name or "default"
        self.mount_point = mount_point
        self.data_dir = os.path.abspath(data_dir) if data_dir else None
        self._token = token if token is not None else os.environ.get("SHOAL_TOKEN", "")
        self._as_super = bool(as_super)
        self._socket = _agent.socket_path()
        self._opt = {k: v[1] for k, v in _OPTIONS.items()}
        self._agent_opts = {}
        self._umask = _umask()
        self._cwd = "/"
        self._lock = threading.RLock()
        self._local = threading.local()
        self._conns = weakref.WeakSet()
        self._sid = None
        self._secret = None
        # The connection that built the session, held by the client rather
        # than by the building thread: the agent ends a session with its
        # last connection, and the session (its open files and iovecs)
        # must live as long as the client, not as long as that thread.
        self._anchor = None
        self._gen = 0
        self._pid = os.getpid()
        self._stopped = False
        self._fds = {}
        self._next_fd = 3
        self._shms = weakref.WeakSet()
        _live.add(self)
        self._conn()  # fail now if the filesystem cannot be reached

    # ---- sessions and connections ----

    def _after_fork(self):
        """In a forked child: forget the parent's connections and session.
        The child builds its own session on its next call; fds reopen by
        path and iovecs register again, lazily (see docs/python.md)."""
        self._pid = os.getpid()
        self._lock = threading.RLock()
        for c in list(self._conns):
            c.close()
        self._conns = weakref.WeakSet()
        self._local = threading.local()
        self._anchor = None
        self._sid = None
        self._gen += 1

    def _conn(self):
        if self._pid != os.getpid():
            self._after_fork()
        c = getattr(self._local, "c", None)
        if c is not None and c.gen == self._gen:
            return c
        if self._stopped:
            raise error(errno.ESHUTDOWN, detail="shoal: client is stopped")
        with self._lock:
            if c is not None:
                c.close()
                self._local.c = None
            gen = self._gen
            conn = _agent.Conn(_agent.connect(self._socket, autostart=not _exiting), gen)
            try:
                if self._sid is not None:
                    try:
                        conn.call(_wire.OP_ATTACH, _wire.encode((self._sid, self._secret)))
                    except AgentError as e:
                        if e.code != errno.ENOENT:
                            raise
                        self._sid = None
                if self._sid is None:
                    d = conn.call(_wire.OP_BUILD, _wire.encode((
                        _wire.PROTOCOL_VERSION, self.mds_addrs, self.fs_name, self._token,
                        int(self._as_super), self.data_dir or "", os.getpid())))
                    self._sid, self._secret = d.int(), d.int()
                    self._anchor = conn
                    self._gen += 1
                    conn.gen = self._gen
                    for name, value in self._agent_opts.items():
                        conn.call(_wire.OP_SETOPT, _wire.encode((name, str(value))))
                elif gen != self._gen:
                    conn.gen = self._gen
            except AgentError as e:
                conn.close()
                _agent.raise_agent_error(e)
            except Disconnected as e:
                conn.close()
                raise error(errno.ECONNRESET, detail="shoal: agent connection lost: %s" % e) from None
            self._local.c = conn
            self._conns.add(conn)
            return conn

    def _drop(self, c):
        if c.pid == os.getpid():
            c.fail()
        c.close()
        if getattr(self._local, "c", None) is c:
            self._local.c = None

    def _encode(self, args):
        out = []
        for a in args:
            t = type(a)
            if t is _Fd:
                out.append(self._handle(a))
            elif t is _Shm:
                out.append(self._shm_id(a))
            else:
                out.append(a)
        return _wire.encode(out)

    def _call(self, op, *args, path=None, path2=None, fds=None):
        """One request; args may hold _Fd and _Shm objects, resolved to the
        current session's ids (reopening/re-registering as needed)."""
        tries = 0
        while True:
            c = self._conn()
            payload = self._encode(args)
            try:
                return c.call(op, payload, fds)
            except Disconnected as e:
                self._drop(c)
                tries += 1
                if tries > 2 or (e.sent and op not in _wire.IDEMPOTENT):
                    raise error(errno.ECONNRESET, path, path2,
                                detail="shoal: agent connection lost during the call: %s" % e) from None
            except AgentError as e:
                if e.code == errno.EBADF and tries < 2 and self._stale(args):
                    tries += 1
                    continue
                _agent.raise_agent_error(e, path if path is not None else None, path2)

    def _stale(self, args):
        for a in args:
            if type(a) in (_Fd, _Shm) and a.gen != self._gen:
                return True
        return False

    def _handle(self, st):
        if st.gen != self._gen:
            flags = st.flags & _O_REOPEN_MASK
            d = self._call(_wire.OP_OPEN, st.path, flags, 0, path=st.path)
            st.handle, st.gen = d.int(), self._gen
        return st.handle

    def _shm_id(self, shm):
        if shm.freed:
            raise ValueError("iovec was freed")
        if shm.gen != self._gen:
            d = self._call(_wire.OP_IOVREG, shm.size, int(shm.scoped), fds=[shm.fd])
            shm.id, shm.gen = d.int(), self._gen
        return shm.id

    def _fd(self, fd):
        st = self._fds.get(fd)
        if st is None:
            raise error(errno.EBADF, detail="shoal: bad fd %r" % (fd,))
        return st

    def _p(self, path):
        """A caller's path as the agent's clean name ("." for the root)."""
        p = os.fspath(path)
        if isinstance(p, bytes):
            p = os.fsdecode(p)
        if not p:
            raise error(errno.ENOENT, p)
        if not p.startswith("/"):
            p = posixpath.join(self._cwd, p)
        p = posixpath.normpath(p).lstrip("/")
        return p or "."

    # ---- lifecycle ----

    def stop(self):
        """End the session: files still open in the agent are flushed and
        closed, iovecs are unregistered. Idempotent."""
        if self._stopped:
            return
        if self._pid == os.getpid() and self._sid is not None:
            c = getattr(self._local, "c", None)
            if c is not None and c.gen == self._gen:
                try:
                    c.call(_wire.OP_STOP, b"")
                except (AgentError, Disconnected):
                    pass
        self._stopped = True
        self._anchor = None
        for c in list(self._conns):
            c.close()
        self._fds.clear()
        _live.discard(self)

    close_client = stop

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __del__(self):
        try:
            if not self._stopped and self._pid == os.getpid():
                for c in list(self._conns):
                    c.close()
        except Exception:
            pass

    def __reduce__(self):
        raise TypeError("a shoal.Client cannot be pickled; build one in the other process "
                        "(fsspec's ShoalFileSystem pickles its arguments instead)")

    # ---- options ----

    def set_option(self, name, value):
        """Set a per-client option (list_options() names them)."""
        if name not in _OPTIONS:
            raise error(errno.EINVAL, detail="shoal: unknown option %r" % name)
        typ, _, _, agent_name = _OPTIONS[name]
        try:
            v = typ(value)
        except (TypeError, ValueError):
            raise ValueError("option %s: bad value %r" % (name, value)) from None
        if v < 0:
            raise ValueError("option %s: negative value" % name)
        if agent_name:
            self._call(_wire.OP_SETOPT, agent_name, str(v))
            self._agent_opts[agent_name] = v
        self._opt[name] = v

    def get_option(self, name):
        """The option's current value, as a string (as DingoFS)."""
        if name not in _OPTIONS:
            raise error(errno.EINVAL, detail="shoal: unknown option %r" % name)
        return str(self._opt[name])

    def list_options(self):
        return [OptionInfo(k, v[0].__name__, v[1], self._opt[k], v[2]) for k, v in _OPTIONS.items()]

    def print_options(self, file=None):
        for o in self.list_options():
            print("%-18s %-10s (default %s)  %s" % (o.name, o.value, o.default, o.description), file=file)

    # ---- load jobs (alluxiofs's submit_load, load_progress, stop_load) ----

    def _job(self, op, *args, path=None):
        import json
        return json.loads(self._call(op, *args, path=path).bytes())

    def submit_load(self, path, *, bandwidth=0, verify=False, skip_cached=False):
        """Start a load job that prefetches every file under path into the
        workers' caches (or find the one running for it). Returns True, as
        alluxiofs does; load_progress(path) follows it. Raises OSError when
        the path is missing or the token may not submit (EPERM/EACCES)."""
        self._job(_wire.OP_LOAD_SUBMIT, self._p(path), int(bandwidth), 1 if verify else 0,
                  1 if skip_cached else 0, path=path)
        return True

    def load_job(self, ref):
        """The job ref (a job id "load-N" or a path) as a dict: id, path,
        state, files, bytes, done_files, done_bytes, failed_files,
        failures, workers..."""
        return self._job(_wire.OP_LOAD_PROGRESS, ref if str(ref).startswith("load-") else self._p(ref), path=ref)

    def load_progress(self, path):
        """(status, details) as alluxiofs returns them: status is one of
        "RUNNING", "SUCCEEDED", "FAILED", "STOPPED", or "NOT_STARTED" when
        path never had a job; details is the job's dict ({} then)."""
        try:
            j = self.load_job(path)
        except OSError as e:
            if e.errno == errno.ENOENT:
                return "NOT_STARTED", {}
            raise
        return j["state"].upper(), j

    def stop_load(self, path):
        """Stop path's job on every worker. Returns True when a running job
        was stopped, False when it had already ended."""
        before = self.load_job(path)
        self._job(_wire.OP_LOAD_STOP, before["id"], path=path)
        return before["state"] == "running"

    # ---- filesystem and attributes ----

    def statfs(self):
        d = self._call(_wire.OP_STATFS)
        return FsStat(*(d.int() for _ in range(6)))

    def stat(self, path, *, follow_symlinks=True):
        return _stat_result(self._call(_wire.OP_STAT, self._p(path), 1 if follow_symlinks else 0, path=path).attr())

    def lstat(self, path):
        return self.stat(path, follow_symlinks=False)

    def exists(self, path):
        """As os.path.exists: False for any error naming the path (ENOENT,
        ENOTDIR, ELOOP, EACCES...); losing the agent still raises."""
        try:
            self.stat(path)
            return True
        except ShoalConnectionError:
            raise
        except ShoalError:
            return False

    def set_attr(self, path, mask, attr):
        """Change the attributes selected by mask (SET_ATTR_*) from attr: an
        object or dict with mode, uid, gid, size, atime/mtime (seconds, float)
        or atime_ns/mtime_ns, flags (st_* names are accepted too). Returns the
        new stat."""
        def get(name, default=0):
            for n in (name, "st_" + name):
                if isinstance(attr, dict):
                    if n in attr:
                        return attr[n]
                elif hasattr(attr, n):
                    return getattr(attr, n)
            return default

        def ns(name):
            v = get(name + "_ns", None)
            if v is not None:
                return int(v)
            return int(round(float(get(name, 0)) * 1e9))

        args = (self._p(path), int(mask), int(get("mode")), int(get("uid")), int(get("gid")),
                int(get("size")), ns("atime"), ns("mtime"), int(get("flags")))
        return _stat_result(self._call(_wire.OP_SETATTR, *args, path=path).attr())

    def chmod(self, path, mode):
        return self.set_attr(path, SET_ATTR_MODE, {"mode": mode})

    def chown(self, path, uid, gid):
        mask = (SET_ATTR_UID if uid != -1 else 0) | (SET_ATTR_GID if gid != -1 else 0)
        if not mask:
            return self.stat(path)
        return self.set_attr(path, mask, {"uid": max(uid, 0), "gid": max(gid, 0)})

    def utime(self, path, times=None, *, ns=None):
        """As os.utime: times=(atime, mtime) in seconds, or ns=(atime_ns,
        mtime_ns), or neither for now."""
        if times is not None and ns is not None:
            raise ValueError("utime: you may specify either 'times' or 'ns' but not both")
        if times is None and ns is None:
            return self.set_attr(path, SET_ATTR_ATIME_NOW | SET_ATTR_MTIME_NOW, {})
        if times is not None:
            ns = (int(round(times[0] * 1e9)), int(round(times[1] * 1e9)))
        return self.set_attr(path, SET_ATTR_ATIME | SET_ATTR_MTIME, {"atime_ns": ns[0], "mtime_ns": ns[1]})

    def truncate(self, path, length):
        if length < 0:
            raise error(errno.EINVAL, path)
        return self.set_attr(path, SET_ATTR_SIZE, {"size": length})

    def ioctl(self, path, cmd, in_buf=b"", out_size=8, flags=0):
        """FS_IOC_GETFLAGS / FS_IOC_SETFLAGS (and the 32-bit variants) on
        path's inode flags (FS_IMMUTABLE_FL, FS_APPEND_FL). Returns out_size
        bytes (the flags, little-endian) for GETFLAGS, b"" for SETFLAGS."""
        if cmd in (FS_IOC_GETFLAGS, FS_IOC32_GETFLAGS):
            v = self._call(_wire.OP_STAT, self._p(path), 1, path=path).attr()[10]
            return struct.pack("<Q", v)[:out_size].ljust(out_size, b"\0")
        if cmd in (FS_IOC_SETFLAGS, FS_IOC32_SETFLAGS):
            v = int.from_bytes(bytes(in_buf)[:8].ljust(8, b"\0"), "little")
            self.set_attr(path, SET_ATTR_FLAGS, {"flags": v & 0xFFFFFFFF})
            return b""
        raise error(errno.ENOTTY, path)

    # ---- namespace ----

    def mkdir(self, path, mode=0o777, recursive=False):
        self._call(_wire.OP_MKDIR, self._p(path), mode & ~self._umask & 0o7777, 1 if recursive else 0, path=path)

    def makedirs(self, path, mode=0o777, exist_ok=False):
        if not exist_ok and self.exists(path):
            raise error(errno.EEXIST, path)
        self.mkdir(path, mode, recursive=True)

    def rmdir(self, path):
        self._call(_wire.OP_RMDIR, self._p(path), path=path)

    def unlink(self, path):
        self._call(_wire.OP_UNLINK, self._p(path), path=path)

    def remove(self, path, recursive=False):
        """Remove a file or an empty directory; with recursive, a whole tree."""
        self._call(_wire.OP_REMOVE, self._p(path), 1 if recursive else 0, path=path)

    def rename(self, src, dst, flags=0):
        self._call(_wire.OP_RENAME, self._p(src), self._p(dst), flags, path=src, path2=dst)

    def replace(self, src, dst):
        self.rename(src, dst)

    def link(self, src, dst):
        return _stat_result(self._call(_wire.OP_LINK, self._p(src), self._p(dst), path=src, path2=dst).attr())

    def symlink(self, target, link):
        target = os.fsdecode(os.fspath(target))
        return _stat_result(self._call(_wire.OP_SYMLINK, target, self._p(link), path=link).attr())

    def readlink(self, path):
        return self._call(_wire.OP_READLINK, self._p(path), path=path).str()

    def realpath(self, path, *, absolute=True):
        return self._call(_wire.OP_REALPATH, self._p(path), path=path).str()

    def mknod(self, path, mode=0o600, device=0):
        if _stat.S_IFMT(mode) == 0:
            mode |= _stat.S_IFREG
        mode = (mode & ~0o7777) | (mode & 0o7777 & ~self._umask)
        return _stat_result(self._call(_wire.OP_MKNOD, self._p(path), mode, device, path=path).attr())

    def setxattr(self, path, name, value, flags=0):
        if isinstance(value, str):
            value = value.encode()
        self._call(_wire.OP_SETXATTR, self._p(path), name, bytes(value), flags, path=path)

    def getxattr(self, path, name):
        return self._call(_wire.OP_GETXATTR, self._p(path), name, path=path).bytes()

    def listxattr(self, path):
        d = self._call(_wire.OP_LISTXATTR, self._p(path), path=path)
        return [d.str() for _ in range(d.int())]

    def removexattr(self, path, name):
        self._call(_wire.OP_REMOVEXATTR, self._p(path), name, path=path)

    # ---- directories ----

    def listdir(self, path="/"):
        """All entries of a directory (DirEntry: name, ino, type, stat())."""
        d = self._call(_wire.OP_LISTDIR, self._p(path), path=path)
        parent = os.fsdecode(os.fspath(path))
        out = []
        for _ in range(d.int()):
            name = d.str()
            out.append(DirEntry(self, parent, name, d.attr()))
        return out

    def scandir(self, path="/"):
        return ScandirIterator(self, os.fsdecode(os.fspath(path)))

    def walk(self, top, topdown=True, onerror=None, followlinks=False):
        """As os.walk: yields (dirpath, dirnames, filenames)."""
        top = os.fsdecode(os.fspath(top))
        stack = [top]
        while stack:
            item = stack.pop()
            if isinstance(item, tuple):
                yield item
                continue
            dirs, files, walk_into = [], [], []
            try:
                with self.scandir(item) as it:
                    for e in it:
                        try:
                            is_dir = e.is_dir()
                        except OSError:
                            is_dir = False
                        (dirs if is_dir else files).append(e.name)
                        if is_dir and not topdown:
                            if followlinks or not e.is_symlink():
                                walk_into.append(e.path)
            except OSError as err:
                if onerror is not None:
                    onerror(err)
                continue
            if topdown:
                yield item, dirs, files
                for name in reversed(dirs):
                    p = posixpath.join(item, name)
                    if followlinks or not _stat.S_ISLNK(self.lstat(p).st_mode):
                        stack.append(p)
            else:
                stack.append((item, dirs, files))
                for p in reversed(walk_into):
                    stack.append(p)

    # ---- files ----

    def open(self, path, mode="r", buffering=-1, encoding=None, errors=None, newline=None, *, perm=0o666):
        """With a mode string ("r", "rb", "w", "wb", "a", "ab", "r+", "r+b",
        "w+", "w+b", "a+", "a+b", "x", "xb", text modes with encoding),
        return a file object as Python's open() does. With int flags
        (os.O_*) return a Shoal fd, as hf3fs: ``open(path, os.O_CREAT |
        os.O_WRONLY, 0o644)`` (the third argument is then the mode)."""
        if isinstance(mode, int):
            if buffering != -1:
                perm = buffering
            return self._open_fd(path, mode, perm)
        flags, raw_mode, readable, writable, append, binary = _file.parse_mode(mode)
        if binary and encoding is not None:
            raise ValueError("binary mode doesn't take an encoding argument")
        prefetch = self._opt["open_prefetch"] if flags == os.O_RDONLY else 0
        fd = self._open_fd(path, flags, perm, prefetch)
        try:
            if append:
                self._fds[fd].pos = self.fstat(fd).st_size
            raw = _file.RawFile(self, fd, os.fsdecode(os.fspath(path)), raw_mode, readable, writable,
                                self._fds[fd].pop_prefetch())
        except BaseException:
            self.close(fd)
            raise
        return _file.wrap(raw, mode, buffering, encoding, errors, newline, binary, self._opt["file_buffer_size"])

    def _open_fd(self, path, flags, perm, prefetch=0):
        clean = self._p(path)
        if flags & os.O_CREAT:
            perm = perm & ~self._umask & 0o7777
        if prefetch:
            d = self._call(_wire.OP_OPEN, clean, flags, perm, prefetch, path=path)
        else:
            d = self._call(_wire.OP_OPEN, clean, flags, perm, path=path)
        st = _Fd(clean, flags, d.int(), self._gen)
        if prefetch and d.int() == 0:
            st.prefetch = d.bytes()
        with self._lock:
            fd = self._next_fd
            self._next_fd += 1
            self._fds[fd] = st
        return fd

    def creat(self, path, mode=0o666, *, excl=False):
        flags = os.O_CREAT | os.O_WRONLY | os.O_TRUNC | (os.O_EXCL if excl else 0)
        return self._open_fd(path, flags, mode)

    def close(self, fd):
        st = self._fds.pop(fd, None)
        if st is None:
            raise error(errno.EBADF, detail="shoal: bad fd %r" % (fd,))
        if st.gen == self._gen and not self._stopped:
            self._call(_wire.OP_CLOSE, st.handle, path=st.path)

    def _write_nowait(self, fd, mv, on_error):
        """Write mv (at most inline_max bytes) at the fd's position without
        waiting for the answer (write-behind): a failure calls on_error,
        which the file object raises from its next write, fsync or close."""
        st = self._fd(fd)
        if st.gen != self._gen or self._pid != os.getpid():
            return self.write(fd, mv)
        c = self._conn()
        payload = _wire.encode((st.handle, st.pos, mv))
        try:
            c.post(_wire.OP_PWRITE, payload, on_error)
        except Disconnected:
            self._drop(c)
            raise error(errno.ECONNRESET, st.path, detail="shoal: agent connection lost") from None
        st.pos += len(mv)
        return len(mv)

    def _sync_pending(self):
        """Read the answers to this thread's posted requests."""
        c = getattr(self._local, "c", None)
        if c is not None and c.pending:
            try:
                c.drain()
            except OSError:
                self._drop(c)

    def _close_nowait(self, fd):
        """Close a read-only fd without waiting for the answer (closing
        it cannot fail in a way a reader cares about): the answer is read
        with the thread's next call."""
        st = self._fds.pop(fd, None)
        if st is None or st.gen != self._gen or self._stopped or self._pid != os.getpid():
            return
        c = getattr(self._local, "c", None)
        if c is None or c.gen != self._gen:
            if not _exiting:  # opened in another thread: close it the usual way
                try:
                    self._call(_wire.OP_CLOSE, st.handle, path=st.path)
                except OSError:
                    pass
            return
        try:
            c.post(_wire.OP_CLOSE, _wire.encode((st.handle,)))
        except Disconnected:
            self._drop(c)

    def _scratch(self, n):
        c = self._conn()
        s = c.scratch
        if s is None or s.size < n or s.freed:
            if s is not None and s.gen == self._gen and not s.freed:
                # Outgrown: let the agent unmap it now rather than when the
                # thread ends.
                try:
                    c.post(_wire.OP_IOVUNREG, _wire.encode((s.id,)))
                except Disconnected:
                    pass
            size = max(1 << 20, 1 << (n - 1).bit_length())
            s = _Shm(min(size, max(n, self._opt["scratch_max"])))
            s.scoped = True
            c.scratch = s
        return s

    def read(self, fd, buf, *, readahead=None):
        """Read into buf at the fd's position; returns the byte count. An
        iovec buf is filled by the agent directly (zero copy)."""
        st = self._fd(fd)
        if isinstance(buf, iovec):
            n = self._call(_wire.OP_PREAD_IOV, st, st.pos, len(buf), buf._shm, buf._base, path=st.path).int()
            st.pos += n
            return n
        return self._readinto(fd, buf)

    def _readinto(self, fd, b):
        st = self._fd(fd)
        mv = memoryview(b).cast("B")
        n = len(mv)
        if n == 0:
            return 0
        if n <= self._opt["inline_max"]:
            data = self._call(_wire.OP_PREAD, st, st.pos, n, path=st.path).view()
            k = len(data)
            mv[:k] = data
            st.pos += k
            return k
        total = 0
        while total < n:
            want = min(n - total, self._opt["scratch_max"])
            s = self._scratch(want)
            k = self._call(_wire.OP_PREAD_IOV, st, st.pos, want, s, 0, path=st.path).int()
            mv[total:total + k] = s.mm[:k]
            total += k
            st.pos += k
            if k < want:
                break
        return total

    def _readall(self, fd):
        st = self._fd(fd)
        first = self._opt["inline_max"]
        data = self._call(_wire.OP_PREAD, st, st.pos, first, path=st.path).bytes()
        st.pos += len(data)
        if len(data) < first:
            return data
        size = self.fstat(fd).st_size
        rest = bytearray(max(size - st.pos, 0) + 1)
        parts = [data]
        while True:
            k = self._readinto(fd, rest)
            if k == 0:
                break
            parts.append(bytes(rest[:k]) if k < len(rest) else bytes(rest))
            if k < len(rest):
                break
        return b"".join(parts)

    def pread(self, fd, n, offset):
        """Read up to n bytes at offset (not moving the fd's position)."""
        st = self._fd(fd)
        saved = st.pos
        try:
            st.pos = offset
            buf = bytearray(n)
            k = self._readinto(fd, buf)
            return bytes(buf[:k])
        finally:
            st.pos = saved

    def write(self, fd, buf, *, flush=False):
        """Write buf at the fd's position (the end with O_APPEND); returns
        the byte count. An iovec buf goes through shared memory directly."""
        st = self._fd(fd)
        if isinstance(buf, iovec):
            d = self._call(_wire.OP_PWRITE_IOV, st, -1 if st.append else st.pos, len(buf), buf._shm, buf._base,
                           path=st.path)
            n, st.pos = d.int(), d.int()
        else:
            mv = memoryview(buf).cast("B")
            n = len(mv)
            if n <= self._opt["inline_max"]:
                d = self._call(_wire.OP_PWRITE, st, -1 if st.append else st.pos, mv, path=st.path)
                n, st.pos = d.int(), d.int()
            else:
                done = 0
                while done < n:
                    k = min(n - done, self._opt["scratch_max"])
                    s = self._scratch(k)
                    s.mm[:k] = mv[done:done + k]
                    d = self._call(_wire.OP_PWRITE_IOV, st, -1 if st.append else st.pos, k, s, 0, path=st.path)
                    w, st.pos = d.int(), d.int()
                    done += w
                n = done
        if flush:
            self.fsync(fd)
        return n

    def lseek(self, fd, pos, how=os.SEEK_SET, *, readahead=None):
        st = self._fd(fd)
        if how == os.SEEK_SET:
            base = 0
        elif how == os.SEEK_CUR:
            base = st.pos
        elif how == os.SEEK_END:
            base = self.fstat(fd).st_size
        else:
            raise error(errno.EINVAL, st.path)
        if base + pos < 0:
            raise error(errno.EINVAL, st.path)
        st.pos = base + pos
        return st.pos

    def fstat(self, fd):
        st = self._fd(fd)
        return _stat_result(self._call(_wire.OP_FSTAT, st, path=st.path).attr())

    def ftruncate(self, fd, length):
        st = self._fd(fd)
        self._call(_wire.OP_FTRUNCATE, st, length, path=st.path)

    def fsync(self, fd):
        st = self._fd(fd)
        self._call(_wire.OP_FSYNC, st, path=st.path)

    # ---- shared memory and batch I/O ----

    def iovalloc(self, nbytes, numa=-1, global_=False, block_size=0, **kwargs):
        """Allocate an iovec of nbytes in shared memory, registered with the
        agent. global_ (or global=...) keeps a /dev/shm name so
        sharedIovecHandle can hand it to another process. numa and
        block_size are accepted for hf3fs compatibility."""
        global_ = kwargs.pop("global", global_)
        if kwargs:
            raise TypeError("iovalloc: unexpected arguments %s" % ", ".join(kwargs))
        if nbytes <= 0:
            raise ValueError("iovalloc: nbytes must be positive")
        shm = _Shm(nbytes, global_=global_)
        shm.client = self
        self._shm_id(shm)
        self._shms.add(shm)
        return _make(shm, 0, nbytes)

    def iovfree(self, iov):
        shm = iov._shm
        if shm.freed:
            return
        if shm.gen == self._gen and not self._stopped and self._pid == os.getpid():
            try:
                self._call(_wire.OP_IOVUNREG, shm.id)
            except ShoalError:
                pass
        shm.free()

    def _batch(self, op, entries):
        args = [len(entries)]
        for e in entries:
            iov, fd, off = e
            if not isinstance(iov, iovec):
                raise TypeError("preadv/pwritev entries are (iovec, fd, offset)")
            # An unknown fd fails its own entry (-EBADF), not the batch.
            st = self._fds.get(fd, 0)
            args += (iov._shm, iov._base, len(iov), st, off)
        d = self._call(op, *args)
        return [d.int() for _ in range(d.int())]

    def preadv(self, entries):
        """Read a batch [(iov, fd, offset), ...] concurrently in the agent;
        returns each entry's byte count or -errno. Fd positions do not move."""
        return self._batch(_wire.OP_PREADV, entries)

    def pwritev(self, entries):
        """Write a batch [(iov, fd, offset), ...]; as preadv."""
        return self._batch(_wire.OP_PWRITEV, entries)

    def sharedIovecHandle(self, iov):
        """A string naming iov for openIovecHandle in another process of
        this user. The iovec must come from iovalloc(..., global_=True)."""
        shm = iov._shm
        if not shm.name:
            raise ValueError("sharedIovecHandle: allocate the iovec with iovalloc(..., global_=True)")
        return "shoal-iov:%s:%d:%d:%d" % (shm.name, shm.size, iov._base, len(iov))

    def openIovecHandle(self, iovh):
        try:
            tag, name, size, base, n = iovh.split(":")
            size, base, n = int(size), int(base), int(n)
        except ValueError:
            raise ValueError("not an iovec handle: %r" % (iovh,)) from None
        if tag != "shoal-iov" or "/" in name:
            raise ValueError("not an iovec handle: %r" % (iovh,))
        fd = os.open(os.path.join("/dev/shm", name), os.O_RDWR)
        shm = _Shm(size, name=name, fd=fd)
        shm.client = self
        self._shm_id(shm)
        self._shms.add(shm)
        return _make(shm, base, n)

    def sharedFileHandles(self, fds):
        """Tokens another process of this user can open with
        openWithFileHandles (same filesystem), as hf3fs."""
        sts = [self._fd(fd) for fd in fds]
        d = self._call(_wire.OP_SHAREFH, len(sts), *sts)
        return [d.int() for _ in range(d.int())]

    def openWithFileHandles(self, fhs):
        d = self._call(_wire.OP_OPENFH, len(fhs), *fhs)
        out = []
        for _ in range(d.int()):
            h, flags, path = d.int(), d.int(), d.str()
            st = _Fd(path, flags, h, self._gen)
            with self._lock:
                fd = self._next_fd
                self._next_fd += 1
                self._fds[fd] = st
            out.append(fd)
        return out

    # ---- whole files (one round trip each) ----

    def read_file(self, path, start=0, end=None):
        """The bytes [start, end) of path, with slice semantics (negative
        positions count from the end, end=None is the end of the file): one
        round trip for what fits in a message, shared memory beyond."""
        try:
            return self._call(_wire.OP_READFILE, self._p(path), int(start), 0 if end is None else int(end),
                              0 if end is None else 1, path=path).bytes()
        except ShoalError as e:
            if e.errno != errno.EFBIG:
                raise
        fd = self._open_fd(path, os.O_RDONLY, 0)
        try:
            size = self.fstat(fd).st_size
            lo = start if start >= 0 else max(size + start, 0)
            hi = size if end is None else (end if end >= 0 else max(size + end, 0))
            hi = min(hi, size)
            buf = bytearray(max(hi - lo, 0))
            self._fds[fd].pos = lo
            k = self._readinto(fd, buf)
            del buf[k:]
            return bytes(buf)
        finally:
            self.close(fd)

    def write_file(self, path, data, *, append=False, exclusive=False, perm=0o666):
        """Create or truncate path (append: add at its end; exclusive: it
        must not exist) and write data, in one round trip when data fits in
        a message. Returns the byte count."""
        mv = memoryview(data).cast("B")
        flags = os.O_WRONLY | os.O_CREAT
        flags |= os.O_APPEND if append else os.O_TRUNC
        if exclusive:
            flags |= os.O_EXCL
        if len(mv) <= self._opt["inline_max"]:
            return self._call(_wire.OP_WRITEFILE, self._p(path), flags, perm & ~self._umask & 0o7777, mv,
                              path=path).int()
        fd = self._open_fd(path, flags, perm)
        try:
            n = self.write(fd, mv)
        except BaseException:
            try:
                self.close(fd)
            except OSError:
                pass
            raise
        self.close(fd)
        return n

    def copy_file(self, src, dst, *, exclusive=False):
        """Copy src to dst inside the agent (no byte crosses into Python);
        dst gets src's permissions. Returns the byte count."""
        return self._call(_wire.OP_COPY, self._p(src), self._p(dst), 1 if exclusive else 0,
                          path=src, path2=dst).int()

    def agent_stats(self):
        """Agent-wide counters: {"requests", "inflight", "max_inflight"}
        (the most requests running at once since the previous call)."""
        d = self._call(_wire.OP_STATS)
        return {"requests": d.int(), "inflight": d.int(), "max_inflight": d.int()}

    def ping(self):
        """One empty round trip (latency checks)."""
        self._call(_wire.OP_PING)

    def mounts(self):
        """The filesystem's mounts of under-stores, as the Go SDK's
        Client.Mounts lists them: [{"path": "/datasets/x", "url":
        "s3://bucket/prefix"}]. The agent's MOUNTS op answers
        ``n, n x (str path, str url)``; an agent without that op (before
        the mounts of issue 11 reach it) fails with ENOSYS."""
        op = getattr(_wire, "OP_MOUNTS", None)
        if op is None:
            raise error(errno.ENOSYS, None, detail="mounts: the agent protocol has no MOUNTS op yet")
        d = self._call(op)
        return [{"path": d.str(), "url": d.str()} for _ in range(d.int())]

    # ---- KV tables (shoal.kv, docs/kvtables.md) ----

    def create_table(self, name, default_ttl=0):
        """Create a KV table; default_ttl (seconds, 0: none) applies to
        writes without a TTL. Returns a shoal.kv.TableInfo."""
        return _kv._table_info(self._call(_wire.OP_KV_CREATE_TABLE, name, int(default_ttl), path=name))

    def drop_table(self, name):
        self._call(_wire.OP_KV_DROP_TABLE, name, path=name)

    def list_tables(self):
        """The tables, as shoal.kv.TableInfo tuples."""
        d = self._call(_wire.OP_KV_LIST_TABLES)
        return [_kv._table_info(d) for _ in range(d.int())]

    def describe_table(self, name):
        return _kv._table_info(self._call(_wire.OP_KV_DESCRIBE_TABLE, name, path=name))

    def table(self, name):
        """A shoal.kv.Table handle (no request: an unknown table fails at
        its first call)."""
        return _kv.Table(self, name)


