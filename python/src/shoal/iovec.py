"""Shared-memory buffers (hf3fs iovec) for zero-copy batch I/O.

An iovec is a window on a POSIX shared-memory object that both this
process and the agent map: the agent reads file data straight into it.
It supports the buffer protocol (``numpy.frombuffer(iov, dtype=...)``
and ``memoryview(iov)`` share its memory), slicing (``iov[a:b]`` is
bytes, ``iov[a:b] = data`` copies in) and ``len``. Python 3.11's
memoryview cannot assign to ctypes' ``<B`` format directly: use
``memoryview(iov).cast("B")`` or ``iov[a:b] = data`` to write through a
view.
"""

import ctypes
import mmap
import os
import secrets

SHM_DIR = "/dev/shm"


class _Shm:
    """One shared-memory object: its descriptor (kept open so the agent
    can be handed it again after a fork or an agent restart), its mapping,
    and its registration with the agent (gen, id)."""

    __slots__ = ("fd", "size", "mm", "name", "owner", "gen", "id", "client", "freed", "scoped", "__weakref__")

    def __init__(self, size, global_=False, name=None, fd=None):
        self.owner = fd is None
        if fd is None:
            name = "shoal-%d-%s" % (os.geteuid(), secrets.token_hex(8))
            path = os.path.join(SHM_DIR, name)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.ftruncate(fd, size)
            except BaseException:
                os.close(fd)
                os.unlink(path)
                raise
            if not global_:
                # Only the descriptor is needed from now on: nothing can
                # leak in /dev/shm, whatever happens to this process.
                os.unlink(path)
                name = None
        self.fd = fd
        self.size = size
        self.name = name
        self.mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.gen = -1
        self.id = 0
        self.client = None
        self.freed = False
        # A thread's scratch buffer: registered for its connection only, so
        # the agent drops it when that connection (the thread) goes.
        self.scoped = False

    def free(self):
        if self.freed:
            return
        self.freed = True
        try:
            os.close(self.fd)
        except OSError:
            pass
        if self.name and self.owner:
            try:
                os.unlink(os.path.join(SHM_DIR, self.name))
            except OSError:
                pass
        try:
            self.mm.close()
        except (BufferError, ValueError):
            pass  # views still exported; the mapping goes with them

    def __del__(self):
        try:
            self.free()
        except Exception:
            pass


class iovec:
    """A buffer in shared memory, allocated with ``Client.iovalloc``.

    ``iovec(parent, offset, length)`` makes a sub-iovec over
    ``parent[offset:offset+length]`` sharing its memory (as in hf3fs)."""

    __slots__ = ()

    def __new__(cls, parent, offset=None, length=None):
        if not isinstance(parent, iovec):
            raise TypeError("iovec(parent, offset, length): parent must be an iovec")
        off = 0 if offset is None else offset
        n = len(parent) - off if length is None else length
        if off < 0 or n < 0 or off + n > len(parent):
            raise ValueError("sub-iovec [%d, %d) outside its parent of %d bytes" % (off, off + n, len(parent)))
        return _make(parent._shm, parent._base + off, n)

    def __init__(self, *args, **kwargs):
        pass  # built by __new__; ctypes' own __init__ would treat args as items

    @property
    def base(self):
        """Offset of this iovec in its shared-memory object."""
        return self._base

    def __getitem__(self, key):
        if isinstance(key, slice):
            return memoryview(self).cast("B")[key].tobytes()
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        if isinstance(key, slice):
            memoryview(self).cast("B")[key] = value
            return
        super().__setitem__(key, value)

    def __repr__(self):
        return "<shoal.iovec %d bytes at %d>" % (len(self), self._base)

    def __reduce__(self):
        raise TypeError("an iovec cannot be pickled: pass Client.sharedIovecHandle(iov) to the other process")


_types = {}


def _make(shm, base, n):
    t = _types.get(n)
    if t is None:
        t = type("iovec", (iovec, ctypes.c_ubyte * n), {})
        if len(_types) < 4096:
            _types[n] = t
    v = t.from_buffer(shm.mm, base)
    v._shm = shm
    v._base = base
    return v
