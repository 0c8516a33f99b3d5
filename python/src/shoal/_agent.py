"""Finding, starting and talking to the local `shoal agent`."""

import collections
import errno
import fcntl
import os
import shutil
import socket
import subprocess
import time

from . import _wire
from .errors import ShoalConnectionError, error

_RECV = 256 << 10


class Disconnected(Exception):
    """The connection broke. ``sent`` says whether the request may have
    reached the agent (then only idempotent requests are retried)."""

    def __init__(self, sent, cause=None):
        super().__init__(cause)
        self.sent = sent


class AgentError(Exception):
    """The agent answered with an errno."""

    def __init__(self, code, msg, path):
        super().__init__(code, msg, path)
        self.code = code
        self.msg = msg
        self.path = path


def socket_path():
    """The per-user socket: $SHOAL_AGENT_SOCKET, else
    $XDG_RUNTIME_DIR/shoal/agent.sock, else $TMPDIR (or /tmp)/shoal-<uid>/agent.sock."""
    p = os.environ.get("SHOAL_AGENT_SOCKET")
    if p:
        return p
    d = os.environ.get("XDG_RUNTIME_DIR")
    if d:
        return os.path.join(d, "shoal", "agent.sock")
    tmp = os.environ.get("TMPDIR") or "/tmp"
    return os.path.join(tmp, "shoal-%d" % os.geteuid(), "agent.sock")


def find_binary():
    """The shoal binary: $SHOAL_BIN, the one installed in the package
    (shoal/bin/shoal), or `shoal` on PATH."""
    p = os.environ.get("SHOAL_BIN")
    if p:
        return p
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "shoal")
    if os.access(here, os.X_OK):
        return here
    p = shutil.which("shoal")
    if p:
        return p
    raise ShoalConnectionError(
        errno.ENOENT,
        "the shoal binary was not found: set SHOAL_BIN, reinstall the package "
        "with Go available, or put shoal on PATH")


def _private_dir(d):
    os.makedirs(d, mode=0o700, exist_ok=True)
    st = os.lstat(d)
    if st.st_uid != os.geteuid():
        raise ShoalConnectionError(errno.EPERM, "agent socket directory %s belongs to uid %d" % (d, st.st_uid))
    if st.st_mode & 0o077:
        os.chmod(d, 0o700)


_children = []  # agents this process started, reaped opportunistically


def _reap():
    for p in list(_children):
        if p.poll() is not None:
            _children.remove(p)


def start_agent(path, timeout=15.0):
    """Start an agent serving path unless one answers; a lock file keeps
    two starters from racing."""
    d = os.path.dirname(path)
    _private_dir(d)
    with open(os.path.join(d, "start.lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            s = _connect_once(path)
            s.close()
            return
        except OSError:
            pass
        _reap()
        binary = find_binary()
        args = [binary, "agent", "--socket", path]
        idle = os.environ.get("SHOAL_AGENT_IDLE_TIMEOUT")
        if idle:
            args += ["--idle-timeout", idle]
        logpath = os.path.join(d, "agent.log")
        with open(logpath, "ab") as log:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, close_fds=True)
        _children.append(proc)
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            try:
                s = _connect_once(path)
                s.close()
                return
            except OSError:
                pass
            rc = proc.poll()
            if rc is not None and rc != 0:
                raise ShoalConnectionError(errno.ECONNREFUSED,
                                           "shoal agent exited with status %d (see %s)" % (rc, logpath))
            if time.monotonic() > deadline:
                raise ShoalConnectionError(errno.ETIMEDOUT, "shoal agent did not start (see %s)" % logpath)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def _connect_once(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except BaseException:
        s.close()
        raise
    return s


def connect(path, autostart=True):
    try:
        return _connect_once(path)
    except (FileNotFoundError, ConnectionRefusedError):
        if not autostart:
            raise
    start_agent(path)
    return _connect_once(path)


class Conn:
    """One connection: requests are answered in order, one at a time (the
    client keeps one connection per thread). ``post`` sends a request
    whose answer nobody waits for (closing a read-only file): the answer
    is read and dropped before the next call's own."""

    __slots__ = ("sock", "id", "gen", "scratch", "pid", "pending", "rest", "__weakref__")

    def __init__(self, sock, gen):
        self.sock = sock
        self.id = 0
        self.gen = gen
        self.scratch = None
        self.pid = os.getpid()
        self.pending = collections.deque()  # on_error callbacks of posted requests
        self.rest = b""  # bytes received past the frame being read

    def close(self):
        # close(), never shutdown(): after fork the parent still uses this
        # socket, and shutdown would cut it for both processes.
        try:
            self.sock.close()
        except OSError:
            pass

    # Posted requests whose answers are not read yet: past this many, post
    # reads them first, so the agent never blocks writing answers to us
    # while we block writing requests to it.
    MAX_PENDING = 64

    def post(self, op, payload, on_error=None):
        """Send a request without waiting for its answer. An error answer
        calls on_error(code, message, path) when it is read (with the next
        call) or, when the connection breaks first, ECONNRESET (fail)."""
        if len(self.pending) >= self.MAX_PENDING:
            try:
                self.drain()
            except OSError as e:
                raise Disconnected(True, e)
        self.id = i = (self.id + 1) & 0xFFFFFFFF
        try:
            self.sock.sendall(_wire.REQ.pack(8 + len(payload), i, op, 0) + payload)
        except OSError as e:
            raise Disconnected(True, e)
        self.pending.append(on_error)

    def drain(self):
        """Read the answers to posted requests."""
        while self.pending:
            buf = self._frame()
            cb = self.pending.popleft()
            if cb is not None:
                code = _wire.RESP.unpack_from(buf, 4)[1]
                if code:
                    d = _wire.Dec(memoryview(buf), 12)
                    cb(code, d.str(), d.str())

    def fail(self):
        """The connection broke: posted requests get ECONNRESET."""
        pending, self.pending = self.pending, collections.deque()
        for cb in pending:
            if cb is not None:
                cb(errno.ECONNRESET, "shoal: agent connection lost before the answer", "")

    def call(self, op, payload, fds=None):
        """Send a request and return (decoder over the results). Raises
        AgentError for an errno answer, Disconnected when the connection
        broke."""
        self.id = i = (self.id + 1) & 0xFFFFFFFF
        frame = _wire.REQ.pack(8 + len(payload), i, op, 0) + payload
        sock = self.sock
        try:
            if fds:
                socket.send_fds(sock, [frame], fds)
            else:
                sock.sendall(frame)
        except OSError as e:
            raise Disconnected(False, e)
        try:
            if self.pending:
                self.drain()
            buf = self._frame()
        except OSError as e:
            raise Disconnected(True, e)
        rid, code = _wire.RESP.unpack_from(buf, 4)
        if rid != i:
            raise Disconnected(True, "response id %d for request %d" % (rid, i))
        d = _wire.Dec(memoryview(buf), 12)
        if code:
            msg = d.str()
            path = d.str()
            raise AgentError(code, msg, path)
        return d

    def _frame(self):
        """The next response frame (length prefix included)."""
        buf = self.rest
        if buf:
            self.rest = b""
        else:
            buf = self.sock.recv(_RECV)
        if len(buf) < 4:
            buf = self._more(buf, 4)
        n = _wire.I.unpack_from(buf)[0] + 4
        if len(buf) < n:
            buf = self._more(buf, n)
        if len(buf) > n:  # only when answers to posted requests came along
            self.rest = bytes(buf[n:])
            buf = buf[:n]
        return buf

    def _more(self, buf, n):
        if n > 4 and len(buf) >= 4:
            out = bytearray(n)
            out[:len(buf)] = buf
            mv = memoryview(out)
            got = len(buf)
            while got < n:
                k = self.sock.recv_into(mv[got:])
                if k == 0:
                    raise ConnectionResetError(errno.ECONNRESET, "agent closed the connection")
                got += k
            return out
        while len(buf) < n:
            more = self.sock.recv(_RECV)
            if not more:
                raise ConnectionResetError(errno.ECONNRESET, "agent closed the connection")
            buf += more
        if n == 4:
            total = _wire.I.unpack_from(buf)[0] + 4
            if len(buf) < total:
                return self._more(buf, total)
        return buf


def raise_agent_error(e, filename=None, filename2=None):
    raise error(e.code, filename if filename is not None else (e.path or None), filename2, detail=e.msg) from None
