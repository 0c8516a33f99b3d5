"""File objects over the agent: a raw file and io's buffered/text wrappers."""

import io
import os

from .errors import error




def parse_mode(mode):
    """Map a Python mode string to (open flags, raw mode, readable,
    writable, append, binary). A bad mode raises ValueError, as open()."""
    if not isinstance(mode, str):
        raise TypeError("mode must be a str, not %s" % type(mode).__name__)
    modes = set(mode)
    if modes - set("rwaxbt+") or len(mode) > len(modes):
        raise ValueError("invalid mode: %r" % mode)
    kinds = [c for c in "rwax" if c in modes]
    if len(kinds) != 1:
        raise ValueError("must have exactly one of create/read/write/append mode: %r" % mode)
    if "b" in modes and "t" in modes:
        raise ValueError("can't have text and binary mode at once: %r" % mode)
    plus = "+" in modes
    k = kinds[0]
    if k == "r":
        flags = os.O_RDWR if plus else os.O_RDONLY
    elif k == "w":
        flags = (os.O_RDWR if plus else os.O_WRONLY) | os.O_CREAT | os.O_TRUNC
    elif k == "a":
        flags = (os.O_RDWR if plus else os.O_WRONLY) | os.O_CREAT | os.O_APPEND
    else:
        flags = (os.O_RDWR if plus else os.O_WRONLY) | os.O_CREAT | os.O_EXCL
    raw_mode = {"r": "rb", "w": "wb", "a": "ab", "x": "xb"}[k] + ("+" if plus else "")
    readable = k == "r" or plus
    writable = k != "r" or plus
    return flags, raw_mode, readable, writable, k == "a", "b" in modes


class RawFile(io.RawIOBase):
    """An unbuffered Shoal file (what ``open(..., buffering=0)`` returns).
    Its position lives in this process, so a forked child keeps its own."""

    def __init__(self, client, fd, name, mode, readable, writable, prefetch=None):
        super().__init__()
        self._client = client
        self._fd = fd
        self.name = name
        self.mode = mode
        self._readable = readable
        self._writable = writable
        # The file's first bytes as of open (read-only files): reads
        # inside them need no round trip, and when they are shorter than
        # asked for, the first readall() knows where the file ended.
        # Write-only files without O_APPEND write behind: small writes are
        # sent without waiting for the answer, and a failure is raised by
        # the next write, fsync or close (as NFS reports write errors).
        self._behind = writable and not readable and "a" not in mode
        self._error = None
        self._pre = prefetch
        self._pre_eof = prefetch is not None and len(prefetch) < client._opt["open_prefetch"]

    def readable(self):
        self._checkClosed()
        return self._readable

    def writable(self):
        self._checkClosed()
        return self._writable

    def seekable(self):
        self._checkClosed()
        return True

    def fileno(self):
        raise io.UnsupportedOperation("a Shoal file has no OS file descriptor (use .fd for the Shoal one)")

    @property
    def fd(self):
        """The Shoal fd (for Client.read/write/preadv...)."""
        return self._fd

    def readinto(self, b):
        self._checkClosed()
        if not self._readable:
            raise io.UnsupportedOperation("File not open for reading")
        pre = self._pre
        if pre is not None:
            st = self._client._fds.get(self._fd)
            if st is not None and st.pos < len(pre):
                mv = memoryview(b).cast("B")
                k = min(len(mv), len(pre) - st.pos)
                mv[:k] = pre[st.pos:st.pos + k]
                st.pos += k
                return k
            self._pre = None
        return self._client._readinto(self._fd, b)

    def readall(self):
        self._checkClosed()
        if not self._readable:
            raise io.UnsupportedOperation("File not open for reading")
        pre, self._pre = self._pre, None
        if pre is not None and self._pre_eof:
            st = self._client._fds.get(self._fd)
            if st is not None and st.pos <= len(pre):
                data = pre[st.pos:]
                st.pos = len(pre)
                return data
        return self._client._readall(self._fd)

    def write(self, b):
        self._checkClosed()
        if not self._writable:
            raise io.UnsupportedOperation("File not open for writing")
        self._check_deferred()
        c = self._client
        if self._behind:
            mv = memoryview(b).cast("B")
            if 0 < len(mv) <= c._opt["inline_max"]:
                return c._write_nowait(self._fd, mv, self._deferred)
        return c.write(self._fd, b)

    def _deferred(self, code, msg, path):
        if self._error is None:
            self._error = (code, msg)

    def _check_deferred(self):
        if self._error is not None:
            code, msg = self._error
            self._error = None
            raise error(code, self.name, detail=msg)

    def seek(self, pos, whence=io.SEEK_SET):
        self._checkClosed()
        return self._client.lseek(self._fd, pos, whence)

    def tell(self):
        self._checkClosed()
        return self._client.lseek(self._fd, 0, io.SEEK_CUR)

    def truncate(self, size=None):
        self._checkClosed()
        self._check_deferred()
        if not self._writable:
            raise io.UnsupportedOperation("File not open for writing")
        if size is None:
            size = self.tell()
        self._client.ftruncate(self._fd, size)
        return size

    def fsync(self):
        self._checkClosed()
        self._client.fsync(self._fd)
        self._check_deferred()

    def stat(self):
        st = self._client.fstat(self._fd)
        self._check_deferred()
        return st

    def close(self):
        if self.closed:
            return
        self._pre = None
        try:
            super().close()
        finally:
            if self._writable:
                try:
                    self._client.close(self._fd)
                finally:
                    self._client._sync_pending()
                    self._check_deferred()
            else:
                self._client._close_nowait(self._fd)

    def __repr__(self):
        return "<shoal.RawFile name=%r mode=%r closed=%s>" % (self.name, self.mode, self.closed)


class _Sync:
    def fsync(self):
        """Flush, then make the data durable (File.Sync in the agent)."""
        self.flush()
        self.raw.fsync()

    def stat(self):
        self.flush()
        return self.raw.stat()


class BufferedReader(_Sync, io.BufferedReader):
    pass


class BufferedWriter(_Sync, io.BufferedWriter):
    pass


class BufferedRandom(_Sync, io.BufferedRandom):
    pass


class TextIOWrapper(io.TextIOWrapper):
    def fsync(self):
        self.flush()
        self.buffer.fsync()


def wrap(raw, mode, buffering, encoding, errors, newline, binary, buffer_size):
    """Build the object open() returns, as io.open does over a FileIO."""
    if buffering == 0:
        if not binary:
            raise ValueError("can't have unbuffered text I/O")
        return raw
    line_buffering = False
    if buffering == 1:
        if binary:
            buffering = -1  # as open(): line buffering is a text-mode notion
        else:
            line_buffering = True
    size = buffer_size if buffering in (-1, 1) else buffering
    if raw._readable and raw._writable:
        buf = BufferedRandom(raw, size)
    elif raw._writable:
        buf = BufferedWriter(raw, size)
    else:
        buf = BufferedReader(raw, size)
    if binary:
        return buf
    text = TextIOWrapper(buf, encoding=encoding or "utf-8", errors=errors, newline=newline,
                         line_buffering=line_buffering)
    text.mode = mode
    return text


