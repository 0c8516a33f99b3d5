"""Errors: every failure is a ShoalError (an OSError).

The class raised for an errno is also the matching built-in OSError
subclass, so ``except FileNotFoundError`` and ``except ShoalError`` both
work.
"""

import errno as _errno
import os


class ShoalError(OSError):
    """A failed Shoal operation: errno, strerror, filename (and filename2
    for two-path operations), shoal_errno (= errno) and detail (the
    agent's message naming the operation and saying why).

    ``str(e)`` is OSError's ``[Errno N] strerror: 'filename'`` followed by
    the detail, because the errno alone often hides the reason (E2BIG for
    a KV value over the size limit, EIO for a server that does not
    answer)."""

    def __init__(self, *args, detail=""):
        super().__init__(*args)
        self.detail = detail

    def __str__(self):
        s = super().__str__()
        if self.detail:
            return "%s: %s" % (s, self.detail)
        return s

    @property
    def shoal_errno(self):
        return self.errno


class ShoalFileNotFoundError(ShoalError, FileNotFoundError):
    pass


class ShoalFileExistsError(ShoalError, FileExistsError):
    pass


class ShoalPermissionError(ShoalError, PermissionError):
    pass


class ShoalNotADirectoryError(ShoalError, NotADirectoryError):
    pass


class ShoalIsADirectoryError(ShoalError, IsADirectoryError):
    pass


class ShoalTimeoutError(ShoalError, TimeoutError):
    pass


class ShoalInterruptedError(ShoalError, InterruptedError):
    pass


class ShoalConnectionError(ShoalError, ConnectionError):
    """The agent could not be reached or the connection broke mid-call."""


_BY_ERRNO = {
    _errno.ENOENT: ShoalFileNotFoundError,
    _errno.EEXIST: ShoalFileExistsError,
    _errno.EACCES: ShoalPermissionError,
    _errno.EPERM: ShoalPermissionError,
    _errno.ENOTDIR: ShoalNotADirectoryError,
    _errno.EISDIR: ShoalIsADirectoryError,
    _errno.ETIMEDOUT: ShoalTimeoutError,
    _errno.EINTR: ShoalInterruptedError,
    _errno.ECONNRESET: ShoalConnectionError,
    _errno.ECONNREFUSED: ShoalConnectionError,
    _errno.ENOTCONN: ShoalConnectionError,
}


def error(code, filename=None, filename2=None, detail=""):
    """Build the ShoalError subclass for errno ``code``."""
    cls = _BY_ERRNO.get(code, ShoalError)
    msg = os.strerror(code)
    if filename2 is not None:
        return cls(code, msg, filename, None, filename2, detail=detail)
    if filename is not None:
        return cls(code, msg, filename, detail=detail)
    return cls(code, msg, detail=detail)
