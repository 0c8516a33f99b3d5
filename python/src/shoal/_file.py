"""File objects over the agent: a raw file and io's buffered/text wrappers."""

import io
import os




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

    def __init__(self, client, fd, name, mode, readable, writable):
        super().__init__()
        self._client = client
        self._fd = fd
        self.name = name
        self.mode = mode
        self._readable = readable
        self._writable = writable

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
        return self._client._readinto(self._fd, b)

    def readall(self):
        self._checkClosed()
        if not self._readable:
            raise io.UnsupportedOperation("File not open for reading")
        return self._client._readall(self._fd)

    def write(self, b):
        self._checkClosed()
        if not self._writable:
            raise io.UnsupportedOperation("File not open for writing")
        return self._client.write(self._fd, b)

    def seek(self, pos, whence=io.SEEK_SET):
        self._checkClosed()
        return self._client.lseek(self._fd, pos, whence)

    def tell(self):
        self._checkClosed()
        return self._client.lseek(self._fd, 0, io.SEEK_CUR)

    def truncate(self, size=None):
        self._checkClosed()
        if not self._writable:
            raise io.UnsupportedOperation("File not open for writing")
        if size is None:
            size = self.tell()
        self._client.ftruncate(self._fd, size)
        return size

    def fsync(self):
        self._checkClosed()
        self._client.fsync(self._fd)

    def stat(self):
        return self._client.fstat(self._fd)

    def close(self):
        if self.closed:
            return
        try:
            super().close()
        finally:
            self._client.close(self._fd)

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


