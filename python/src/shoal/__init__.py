"""Shoal's Python SDK: a POSIX filesystem without FUSE.

The package is pure Python. It talks to ``shoal agent``, a per-user local
daemon running the Go client, over a Unix socket, with payloads in POSIX
shared memory; it starts the agent when none answers. See docs/python.md.

    import shoal
    with shoal.Client.build(mds_addrs="127.0.0.1:7700", fs_name="default") as c:
        with c.open("/hello.txt", "w") as f:
            f.write("hello")
"""

from .client import (  # noqa: F401
    FS_APPEND_FL, FS_IMMUTABLE_FL, FS_IOC32_GETFLAGS, FS_IOC32_SETFLAGS, FS_IOC_GETFLAGS,
    FS_IOC_SETFLAGS, RENAME_EXCHANGE, RENAME_NOREPLACE, SET_ATTR_ATIME, SET_ATTR_ATIME_NOW,
    SET_ATTR_CTIME, SET_ATTR_FLAGS, SET_ATTR_GID, SET_ATTR_MODE, SET_ATTR_MTIME, SET_ATTR_MTIME_NOW,
    SET_ATTR_SIZE, SET_ATTR_UID, Client, DirEntry, FsStat, OptionInfo, ScandirIterator,
)
from .errors import (  # noqa: F401
    ShoalConnectionError, ShoalError, ShoalFileExistsError, ShoalFileNotFoundError,
    ShoalInterruptedError, ShoalIsADirectoryError, ShoalNotADirectoryError, ShoalPermissionError,
    ShoalTimeoutError, error,
)
from .iovec import iovec  # noqa: F401
from . import kv  # noqa: F401
from .kv import CheckType, FilterType, MultiGetOptions, Mutations, ScanOptions  # noqa: F401
from ._file import RawFile  # noqa: F401
from ._agent import socket_path as agent_socket_path  # noqa: F401

__version__ = "0.1.0"
