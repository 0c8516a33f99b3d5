"""fsspec filesystem for Shoal: protocol ``shoal``.

    import fsspec
    fs = fsspec.filesystem("shoal", mds_addrs="127.0.0.1:7700", fs_name="default")
    fs.pipe_file("/data/x.bin", b"...")
    pandas.read_csv("shoal://default/data/x.csv")

Paths come in two forms, and every name returned keeps the form asked:

- ``/data/x`` (leading slash): a path in the instance's filesystem
  (``fs_name``, default ``default``);
- ``default/data/x`` (what ``shoal://default/data/x`` strips to): the first
  component names the filesystem, as a bucket does in s3fs, so one
  instance reaches every filesystem of the servers at ``mds_addrs``.

The constructor takes Client.build's arguments. Clients are built lazily,
one per filesystem name, so an instance unpickled in a Ray or Dask worker
(fsspec pickles the constructor arguments) connects on its first call.
"""

import datetime
import errno
import functools
import hashlib
import io
import logging
import os
import posixpath
import secrets
import shutil
import stat as _stat
import threading
import time

import fsspec
from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from ._mounts import MountTable, split_url
from .client import Client
from .errors import error
from .iovec import iovec

_GLOB = set("*?[")

# Failures of Shoal itself (no agent, no server, a broken connection, an
# op the agent lacks), after which a target_protocol URL is read from the
# target filesystem instead. Errors about the data (ENOENT, EACCES,
# EISDIR...) are answers, never a reason to ask the store behind Shoal.
_DOWN_ERRNOS = frozenset({
    errno.EIO, errno.ENOSYS, errno.EPROTO, errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED,
    errno.ENOTCONN, errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EPIPE, errno.ESHUTDOWN,
})


def _shoal_down(e):
    return isinstance(e, (ConnectionError, TimeoutError)) or (isinstance(e, OSError) and e.errno in _DOWN_ERRNOS)


class _Uncovered(Exception):
    """A target URL no mount covers, or whose mounts cannot be listed
    (cause: why): the call goes to the target filesystem, except a write
    when the mounts are unknown (the URL may be under a read-only mount)."""

    def __init__(self, url, cause=None):
        super().__init__(url)
        self.cause = cause


def _routed(pos=0, target=None, names=False, writes=False):
    """Make a method taking a path at argument pos go to the target
    filesystem for a target_protocol URL that no mount covers, or, for a
    read, when Shoal itself fails (said once in the log). A write through
    a mount whose Shoal fails raises: going around Shoal would bypass what
    the mount enforces (read-only mounts). target(tfs, *args, **kw) is the
    target's call (default: its method of the same name); with names, the
    names in the result get the URL scheme back; writes is a bool or a
    function of (args, kwargs)."""
    def deco(method):
        name = method.__name__

        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            path = args[pos] if len(args) > pos else None
            if self._target_protocol is None or not self._is_target(path):
                return method(self, *args, **kwargs)
            write = writes(args, kwargs) if callable(writes) else writes
            try:
                return method(self, *args, **kwargs)
            except _Uncovered as u:
                if u.cause is not None and write:
                    raise u.cause from None
            except Exception as e:
                if not _shoal_down(e) or write:
                    raise
                self._say("down", "shoal: %s %s failed (%s); reading %s URLs from %s directly while Shoal fails",
                          name, path, e, self._target_protocol, self._target_protocol)
            tfs = self._target_fs()
            out = target(tfs, *args, **kwargs) if target else getattr(tfs, name)(*args, **kwargs)
            return self._target_names(out) if names else out
        return wrapper
    return deco


class ShoalFileSystem(AbstractFileSystem):
    """fsspec's AbstractFileSystem over a Shoal client (see the module doc)."""

    protocol = ("shoal",)
    root_marker = ""
    sep = "/"

    def __init__(self, mds_addrs="", fs_name="default", mount_point="", conf_file="", log_dir="",
                 log_level="", token=None, as_super=False, data_dir=None, target_protocol=None,
                 target_options=None, fs=None, mounts=None, mounts_ttl=30.0, logger=None, **storage_options):
        """Client.build's arguments, auto_mkdir (default True), and, as in
        alluxiofs: target_protocol ("s3"...) and target_options (the target
        filesystem's constructor arguments) or fs (a target filesystem
        instance), so that URLs of that protocol are read through the mount
        that covers them and from the target where none does or Shoal
        fails; mounts, a fixed mount table ([{"path", "url"}]) instead of
        asking the agent (re-asked every mounts_ttl seconds); logger, where
        fallbacks are said (default logging.getLogger("shoal.fsspec"))."""
        super().__init__(mds_addrs=mds_addrs, fs_name=fs_name, mount_point=mount_point, conf_file=conf_file,
                         log_dir=log_dir, log_level=log_level, token=token, as_super=as_super,
                         data_dir=data_dir, target_protocol=target_protocol, target_options=target_options,
                         fs=fs, mounts=mounts, mounts_ttl=mounts_ttl, logger=logger, **storage_options)
        if not mds_addrs and not data_dir:
            mds_addrs = os.environ.get("SHOAL_MDS_ADDRS", "127.0.0.1:7700")
        self.mds_addrs = mds_addrs
        self.fs_name = fs_name or "default"
        self._build = dict(mds_addrs=mds_addrs, mount_point=mount_point, conf_file=conf_file,
                           log_dir=log_dir, log_level=log_level, token=token, as_super=as_super,
                           data_dir=data_dir)
        self.auto_mkdir = storage_options.get("auto_mkdir", True)
        self._clients = {}
        if target_protocol is None and fs is not None:
            target_protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self._target_protocol = target_protocol
        self._target_options = dict(target_options or {})
        self._target = fs
        self._target_given = fs is not None
        self._schemes = frozenset()
        if self._target_protocol is not None:
            protos = (fs or fsspec.get_filesystem_class(self._target_protocol)).protocol
            self._schemes = frozenset((protos,) if isinstance(protos, str) else protos) | {self._target_protocol}
        self._fixed_mounts = None if mounts is None else MountTable(mounts, self._schemes)
        self._mounts_ttl = mounts_ttl
        self._mounts = None  # (expiry, MountTable) from the agent
        self._log = logger or logging.getLogger("shoal.fsspec")
        self._said = set()
        self._lock = threading.Lock()

    def _creating(self, c, inner, fn):
        """Run fn(); when it fails because inner's parent is missing and
        auto_mkdir is on (the default, as object stores behave), create
        the parents and run it again. As LocalFileSystem(auto_mkdir=True)
        does, a parent that is a file fails with FileExistsError."""
        try:
            return fn()
        except (FileNotFoundError, NotADirectoryError):
            parent = posixpath.dirname(inner)
            if not self.auto_mkdir or parent == "/" or self._isdir(c, parent):
                raise
            self._makedirs(c, parent)
            return fn()

    @staticmethod
    def _isdir(c, inner):
        try:
            return _stat.S_ISDIR(c.stat(inner).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    @staticmethod
    def _lexists(c, inner):
        try:
            c.lstat(inner)
            return True
        except (FileNotFoundError, NotADirectoryError):
            return False

    @staticmethod
    def _makedirs(c, inner, path=None):
        """mkdir -p, failing as os.makedirs(exist_ok=True) does: a path
        that is a file is FileExistsError, one under a file NotADirectoryError."""
        try:
            c.mkdir(inner, 0o777, recursive=True)
        except (NotADirectoryError, FileExistsError):
            if not _stat.S_ISDIR(c.stat(inner).st_mode):  # under a file, stat fails with ENOTDIR
                raise error(errno.EEXIST, path or inner) from None
            raise

    # ---- paths ----

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = os.fspath(path)
        if path.startswith("shoal://"):
            path = path[len("shoal://"):]
        elif path.startswith("shoal::"):
            path = path[len("shoal::"):]
        else:
            scheme, rest = split_url(path)
            if scheme is not None:  # a target_protocol URL: its scheme stays
                return scheme + "://" + rest.rstrip("/")
        if len(path) > 1:
            path = path.rstrip("/") or "/"
        return path

    @staticmethod
    def _get_kwargs_from_urls(path):
        return {}

    @classmethod
    def _parent(cls, path):
        path = cls._strip_protocol(path)
        scheme, rest = split_url(path)
        if scheme is not None:
            return scheme + "://" + (rest.rsplit("/", 1)[0] if "/" in rest else "")
        if path in ("", "/"):
            return path
        if "/" not in path:
            return ""  # a filesystem name's parent: the list of filesystems
        parent = path.rsplit("/", 1)[0]
        return parent or "/"

    def unstrip_protocol(self, name):
        name = self._strip_protocol(name)
        if "://" in name:
            return name
        if name.startswith("/"):
            return "shoal://%s%s" % (self.fs_name, name)
        return "shoal://" + name

    def _split(self, path):
        """(client, path within its filesystem) for a stripped path; a
        target_protocol URL maps to its mount in the instance's filesystem."""
        if "://" in path:
            if self._target_protocol is not None and self._is_target(path):
                inner = self._mounted(path)  # before the client: an uncovered URL needs none
                return self.client, inner
            raise ValueError("shoal: %s is not a Shoal path (a filesystem created with target_protocol=%r "
                             "reads such URLs through their mounts)" % (path, split_url(path)[0]))
        if path.startswith("/"):
            name, inner = self.fs_name, path
        else:
            if not path:
                raise error(errno.EISDIR, path, detail="shoal: the root lists filesystems only")
            name, _, rest = path.partition("/")
            inner = "/" + rest
        return self._client(name), inner

    def _client(self, name):
        c = self._clients.get(name)
        if c is None or c._stopped:
            c = Client.build(fs_name=name, **self._build)
            self._clients[name] = c
        return c

    @property
    def client(self):
        """The Client of the instance's own filesystem (fs_name)."""
        return self._client(self.fs_name)

    def __getstate__(self):
        st = self.__dict__.copy()
        st["_clients"] = {}
        st["_mounts"] = None
        st["_said"] = set()
        del st["_lock"]
        if not self._target_given:
            st["_target"] = None
        return st

    def __setstate__(self, st):
        self.__dict__.update(st)
        self._lock = threading.Lock()

    # ---- target_protocol: under-store URLs through their mounts ----

    def _is_target(self, path):
        if not isinstance(path, str):
            return False
        scheme, _ = split_url(path)
        return scheme is not None and scheme in self._schemes

    def _say(self, kind, msg, *args):
        """Log msg once per kind and instance (alluxiofs's fallback note)."""
        with self._lock:
            if kind in self._said:
                return
            self._said.add(kind)
        self._log.warning(msg + " (said once)", *args)

    def _target_fs(self):
        with self._lock:
            if self._target is None:
                self._target = fsspec.filesystem(self._target_protocol, **self._target_options)
            return self._target

    def _mount_table(self):
        """The mounts, asked of the agent at most every mounts_ttl seconds
        (a failure too is kept that long, so a Shoal that is down costs one
        try per interval, not one per call)."""
        if self._fixed_mounts is not None:
            return self._fixed_mounts
        now = time.monotonic()
        m = self._mounts
        if m is None or now >= m[0]:
            try:
                m = (now + self._mounts_ttl, MountTable(self.client.mounts(), self._schemes))
            except Exception as e:
                if not _shoal_down(e):
                    raise
                m = (now + self._mounts_ttl, e)
            self._mounts = m
        if isinstance(m[1], Exception):
            raise m[1]
        return m[1]

    def _mounted(self, url):
        """The Shoal path of the instance's filesystem showing url; raises
        _Uncovered when no mount covers it or the mounts cannot be listed
        (both said once in the log)."""
        try:
            inner = self._mount_table().lookup(url)
        except Exception as e:
            if not _shoal_down(e):
                raise
            self._say("mounts", "shoal: cannot list mounts (%s); reading %s URLs from %s directly",
                      e, self._target_protocol, self._target_protocol)
            raise _Uncovered(url, e) from None
        if inner is None:
            self._say("uncovered", "shoal: no mount covers %s; reading it (and other such URLs) from %s directly",
                      url, self._target_protocol)
            raise _Uncovered(url)
        return inner

    def mounted_url(self, url):
        """The shoal:// URL showing a target_protocol URL through its mount
        ("s3://bucket/prefix/ds" -> "shoal://default/datasets/x/ds"), for
        readers that strip a URL's scheme before calling fsspec (Ray Data
        does, for every filesystem whose protocol is not the URL's); a URL
        no mount covers is a ValueError."""
        if self._target_protocol is None or not self._is_target(url):
            raise ValueError("shoal: %s is not a %s URL of this filesystem" % (url, self._target_protocol))
        url = self._strip_protocol(url)
        try:
            inner = self._mounted(url)
        except _Uncovered as u:
            raise ValueError("shoal: no mount covers %s%s" % (url, " (%s)" % u.cause if u.cause else "")) from None
        return "shoal://%s%s" % (self.fs_name, inner)

    def _target_names(self, out):
        """Names from the target filesystem (s3fs's "bucket/key") in the
        URL form they were asked in ("s3://bucket/key")."""
        p = self._target_protocol + "://"

        def fix(n):
            return n if "://" in n else p + n.lstrip("/")
        if isinstance(out, dict):
            if "name" in out and "type" in out:
                return dict(out, name=fix(out["name"]))
            return {fix(k): self._target_names(v) for k, v in out.items()}
        if isinstance(out, list):
            return [fix(x) if isinstance(x, str) else self._target_names(x) for x in out]
        return out

    def _side(self, path, write=False):
        """"shoal" when path is served by Shoal (a Shoal path or a covered
        URL), "target" for a URL that goes to the target filesystem; a
        write where the mounts are unknown raises why."""
        if self._target_protocol is None or not self._is_target(path):
            return "shoal"
        try:
            self._mounted(path)
            return "shoal"
        except _Uncovered as u:
            if write and u.cause is not None:
                raise u.cause from None
            return "target"

    def _two_paths(self, name, path1, path2, shoal_call, **kwargs):
        """A call on two paths (cp_file, mv, both writes) when target URLs
        are among them: Shoal's own when both are Shoal's, the target's
        when both are the target's, else bytes streamed from one side to
        the other."""
        s1, s2 = self._side(path1, write=(name == "mv")), self._side(path2, write=True)
        if s1 == s2 == "shoal":
            return shoal_call()
        if s1 == s2 == "target":
            return getattr(self._target_fs(), name)(path1, path2, **kwargs)
        if self.isdir(path1):
            if name == "mv":
                return AbstractFileSystem.mv(self, path1, path2, recursive=True)
            self.makedirs(path2, exist_ok=True)
            return None
        with self.open(path1, "rb") as f1, self.open(path2, "wb") as f2:
            shutil.copyfileobj(f1, f2, 8 << 20)
        if name == "mv":
            self.rm_file(path1)
        return None

    # ---- metadata ----

    def _info_from(self, path, st, client=None, inner=None):
        mode = st.st_mode
        if _stat.S_ISDIR(mode):
            kind = "directory"
        elif _stat.S_ISREG(mode):
            kind = "file"
        else:
            kind = "other"
        out = {
            "name": path, "size": st.st_size if kind == "file" else 0, "type": kind,
            "created": st.st_ctime, "mtime": st.st_mtime, "mode": mode, "ino": st.st_ino,
            "nlink": st.st_nlink, "uid": st.st_uid, "gid": st.st_gid, "islink": False,
        }
        if _stat.S_ISLNK(mode) and client is not None:
            out["islink"] = True
            try:
                out["destination"] = client.readlink(inner)
                target = client.stat(inner)
            except FileNotFoundError:
                return out
            t = self._info_from(path, target)
            t["islink"] = True
            t["destination"] = out["destination"]
            return t
        return out

    @_routed(names=True)
    def info(self, path, **kwargs):
        path = self._strip_protocol(path)
        if path == "":
            return {"name": "", "size": 0, "type": "directory"}
        c, inner = self._split(path)
        return self._info_from(path, c.lstat(inner), c, inner)

    @_routed(names=True)
    def ls(self, path, detail=False, **kwargs):
        """Names of a directory's entries (or, with detail, their info
        dicts), sorted; detail is off by default as in alluxiofs and
        LocalFileSystem. A file lists as itself."""
        path = self._strip_protocol(path)
        if path == "":
            names = sorted(set(self._clients) | {self.fs_name})
            out = [{"name": n, "size": 0, "type": "directory"} for n in names]
            return out if detail else names
        c, inner = self._split(path)
        try:
            ents = c.listdir(inner)
        except NotADirectoryError:
            info = self.info(path)
            return [info] if detail else [info["name"]]
        prefix = path if path.endswith("/") else path + "/"
        out = []
        for e in ents:
            name = prefix + e.name
            if detail:
                out.append(self._info_from(name, e._st, c, posixpath.join(inner, e.name)))
            else:
                out.append(name)
        out.sort(key=(lambda x: x["name"]) if detail else None)
        return out

    def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
        """fsspec's find; names keep a ``shoal://`` scheme when path has one,
        so that pyarrow (which checks that a listing stays under the base
        it asked for) reads a directory given as ``shoal://fs/dir``."""
        out = super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kwargs)
        path = os.fspath(path) if not isinstance(path, str) else path
        if not path.startswith("shoal://"):
            return out
        if detail:
            return {"shoal://" + k: dict(v, name="shoal://" + v["name"]) for k, v in out.items()}
        return ["shoal://" + n for n in out]

    def exists(self, path, **kwargs):
        try:
            self.info(path)
            return True
        except FileNotFoundError:
            return False
        except NotADirectoryError:
            return False

    def created(self, path):
        return datetime.datetime.fromtimestamp(self.info(path)["created"], tz=datetime.timezone.utc)

    def modified(self, path):
        return datetime.datetime.fromtimestamp(self.info(path)["mtime"], tz=datetime.timezone.utc)

    @_routed()
    def ukey(self, path):
        """Changes when the file's content may have: inode, size, mtime."""
        c, inner = self._split(self._strip_protocol(path))
        st = c.stat(inner)
        return hashlib.sha256(("%d:%d:%d" % (st.st_ino, st.st_size, st.st_mtime_ns)).encode()).hexdigest()

    def checksum(self, path):
        return int(self.ukey(path)[:16], 16)

    # ---- namespace ----

    @_routed(writes=True)
    def mkdir(self, path, create_parents=True, **kwargs):
        path = self._strip_protocol(path)
        c, inner = self._split(path)
        if create_parents:
            if c.exists(inner):
                raise error(errno.EEXIST, path)
            self._makedirs(c, inner, path)
        else:
            c.mkdir(inner, 0o777)

    @_routed(writes=True)
    def makedirs(self, path, exist_ok=False):
        path = self._strip_protocol(path)
        c, inner = self._split(path)
        if not exist_ok and c.exists(inner):
            raise error(errno.EEXIST, path)
        if inner != "/":
            self._makedirs(c, inner, path)

    @_routed(writes=True)
    def rmdir(self, path):
        c, inner = self._split(self._strip_protocol(path))
        c.rmdir(inner)

    @_routed(writes=True)
    def rm_file(self, path):
        c, inner = self._split(self._strip_protocol(path))
        c.unlink(inner)

    def _rm(self, path):
        c, inner = self._split(self._strip_protocol(path))
        c.remove(inner)

    def rm(self, path, recursive=False, maxdepth=None, recursiveAlias=False, removeAlluxioOnly=False,
           deleteMountPoint=False, syncParentNextTime=False, removeUncheckedOptionChar=False, **kwargs):
        """Remove files; directories (with what they hold) only with
        recursive=True, else ValueError as LocalFileSystem has it. A single
        path is one REMOVE round trip. alluxiofs's flags: recursiveAlias is
        recursive; removeAlluxioOnly (drop the cached copy, keep the store's)
        is refused, since Shoal's remove would delete the data itself; the
        others change nothing here."""
        if removeAlluxioOnly:
            raise ValueError("shoal: rm(removeAlluxioOnly=True) is not supported: "
                             "remove deletes the data, not only a cached copy")
        recursive = bool(recursive or recursiveAlias)
        if isinstance(path, (str, os.PathLike)) and maxdepth is None and not (_GLOB & set(os.fspath(path))):
            p = self._strip_protocol(path)
            self._rm_one(p, recursive)
            self.invalidate_cache(p)
            return
        paths = self.expand_path(path, recursive=recursive, maxdepth=maxdepth)
        for p in reversed(paths):
            try:
                self._rm_one(p, recursive)
            except FileNotFoundError:
                pass  # inside a tree removed already
        self.invalidate_cache()

    @_routed(target=lambda t, p, recursive: t.rm(p, recursive=recursive), writes=True)
    def _rm_one(self, p, recursive):
        c, inner = self._split(p)
        if recursive:
            c.remove(inner, recursive=True)
            return
        try:
            c.unlink(inner)  # a file or a symlink, never a directory
        except IsADirectoryError:
            raise ValueError("Cannot delete directory %s, set recursive=True" % p) from None
        except PermissionError:
            # POSIX lets unlink of a directory fail with EPERM too.
            if self._isdir(c, inner):
                raise ValueError("Cannot delete directory %s, set recursive=True" % p) from None
            raise

    def mv(self, path1, path2, recursive=True, maxdepth=None, **kwargs):
        """Move a file or a directory (a directory moves whole, recursive or
        not, as in LocalFileSystem and alluxiofs): a rename when both sides
        are single paths in one filesystem, into path2 when that is a
        directory; otherwise fsspec's copy and remove."""
        if path1 == path2:
            # Nothing moves (fsspec's AbstractFileSystem.mv), but a missing
            # path is still an error.
            if isinstance(path1, str) and not _GLOB & set(path1):
                self.info(path1)
            return
        if (self._target_protocol is not None and isinstance(path1, str) and isinstance(path2, str)
                and (self._is_target(path1) or self._is_target(path2))):
            return self._two_paths("mv", self._strip_protocol(path1), self._strip_protocol(path2),
                                   lambda: self._mv(path1, path2, recursive, maxdepth, **kwargs))
        return self._mv(path1, path2, recursive, maxdepth, **kwargs)

    def _mv(self, path1, path2, recursive, maxdepth, **kwargs):
        if (isinstance(path1, str) and isinstance(path2, str) and maxdepth is None
                and not (_GLOB & set(path1))):
            src, dst = self._strip_protocol(path1), self._strip_protocol(path2)
            c1, i1 = self._split(src)
            c2, i2 = self._split(dst)
            if c1 is c2:
                try:
                    is_dir = _stat.S_ISDIR(c1.lstat(i1).st_mode)
                    if is_dir and (posixpath.normpath(i2) + "/").startswith(posixpath.normpath(i1) + "/"):
                        # Refused before auto_mkdir makes any parent of the target.
                        raise error(errno.EINVAL, path1, path2, detail="shoal: mv: cannot move a directory into itself")
                    if path2.endswith("/") or self._isdir(c2, i2):
                        self._makedirs(c2, i2, dst)
                        i2 = posixpath.join(i2, posixpath.basename(i1))
                        # Into a directory, a name there already is refused,
                        # file or directory (shutil.move, so LocalFileSystem).
                        if self._lexists(c2, i2):
                            raise error(errno.EEXIST, posixpath.join(dst, posixpath.basename(i1)),
                                        detail="shoal: mv: %s already exists in %s" % (posixpath.basename(i1), dst))
                    try:
                        self._creating(c2, i2, lambda: c1.rename(i1, i2))
                    except NotADirectoryError:
                        if is_dir and self._lexists(c2, i2) and not self._isdir(c2, i2):
                            raise error(errno.EEXIST, path2, detail="shoal: mv: %s is a file, %s a directory"
                                        % (path2, path1)) from None
                        raise
                    self.invalidate_cache()
                    return
                except OSError as e:
                    if e.errno != errno.EXDEV:
                        raise
                recursive = recursive or is_dir
        return super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)

    def cp_file(self, path1, path2, recursive=False, **kwargs):
        """Copy inside the agent, sharing blocks within one filesystem (no byte
        is read or written); across filesystems the bytes stream through here.
        A directory is made at path2 (fsspec's copy calls this per entry);
        alluxiofs's cp_file(recursive=True) of a directory copies the tree."""
        if recursive:
            return self.copy(path1, path2, recursive=True, **kwargs)
        if self._target_protocol is not None and (self._is_target(path1) or self._is_target(path2)):
            return self._two_paths("cp_file", self._strip_protocol(path1), self._strip_protocol(path2),
                                   lambda: self._cp_file(path1, path2))
        return self._cp_file(path1, path2)

    def _cp_file(self, path1, path2):
        src, dst = self._strip_protocol(path1), self._strip_protocol(path2)
        c1, i1 = self._split(src)
        c2, i2 = self._split(dst)
        try:
            st = c1.stat(i1)
        except NotADirectoryError:  # under a file: there is no such source
            raise error(errno.ENOENT, path1) from None
        if _stat.S_ISDIR(st.st_mode):
            parent = posixpath.dirname(i2)
            if self.auto_mkdir and parent != "/":
                # The parent first, as LocalFileSystem: a parent that is a
                # file is FileExistsError.
                self._makedirs(c2, parent)
            self._makedirs(c2, i2, dst)
            return
        if c1 is c2 and posixpath.normpath(i1) == posixpath.normpath(i2):
            # Refused here too (the agent refuses a hard link of src as
            # well): an agent from before that fix emptied the file.
            raise error(errno.EINVAL, path1, path2, detail="shoal: cp_file: %s and %s are the same file"
                        % (path1, path2))
        if c1 is c2:
            self._creating(c2, i2, lambda: c1.copy_file(i1, i2))
        else:
            with self.open(src, "rb") as f1, self.open(dst, "wb") as f2:
                while True:
                    b = f1.read(8 << 20)
                    if not b:
                        break
                    f2.write(b)
        self.invalidate_cache(dst)

    @_routed(writes=True)
    def touch(self, path, truncate=True, **kwargs):
        path = self._strip_protocol(path)
        c, inner = self._split(path)
        if truncate or not c.exists(inner):
            self._creating(c, inner, lambda: c.write_file(inner, b""))
        else:
            c.utime(inner)
        self.invalidate_cache(self._parent(path))

    # ---- data ----

    def head(self, path, size=1024, num_of_bytes=None):
        """The first size bytes (alluxiofs spells it num_of_bytes)."""
        n = size if num_of_bytes is None else num_of_bytes
        return self.cat_file(path, 0, n)

    def tail(self, path, size=1024, num_of_bytes=None):
        """The last size bytes (alluxiofs spells it num_of_bytes)."""
        n = size if num_of_bytes is None else num_of_bytes
        if n <= 0:
            return b""
        return self.cat_file(path, -n)

    def read(self, path):
        """alluxiofs's read: the whole file (cat_file)."""
        return self.cat_file(path)

    def write(self, path, value):
        """alluxiofs's write: the file becomes value (pipe_file); True."""
        self.pipe_file(path, value)
        return True

    def upload_data(self, lpath, data):
        """alluxiofs's upload_data: lpath, a path in Shoal despite its name,
        becomes data (pipe_file); True."""
        self.pipe_file(lpath, data)
        return True

    def download_data(self, lpath):
        """alluxiofs's download_data: the file at lpath, a path in Shoal
        despite its name, as an io.BytesIO."""
        return io.BytesIO(self.cat_file(lpath))

    @_routed()
    def cat_file(self, path, start=None, end=None, **kwargs):
        """The bytes [start:end] of the file (slice semantics, negative from
        the end), in one READFILE round trip."""
        c, inner = self._split(self._strip_protocol(path))
        out = c.read_file(inner, start or 0, end)
        if not out and (start or end is not None) and _stat.S_ISDIR(c.stat(inner).st_mode):
            # An empty range of a directory is still a directory's error.
            raise error(errno.EISDIR, path)
        return out

    def cat_ranges(self, paths, starts, ends, max_gap=None, on_error="return", **kwargs):
        """Every range read in one PREADV batch (run concurrently in the
        agent) into one shared-memory buffer."""
        if not isinstance(paths, list):
            raise TypeError
        if self._target_protocol is not None and any(self._is_target(p) for p in paths):
            # Each range by cat_file, which routes every URL on its own.
            return AbstractFileSystem.cat_ranges(self, paths, starts, ends, max_gap=max_gap,
                                                 on_error=on_error, **kwargs)
        if not isinstance(starts, list):
            starts = [starts] * len(paths)
        if not isinstance(ends, list):
            ends = [ends] * len(paths)
        if len(starts) != len(paths) or len(ends) != len(paths):
            raise ValueError
        out = [None] * len(paths)
        opened = {}  # stripped path -> (client, fd, size) or the exception
        groups = {}  # client -> [(i, fd, offset, length)]
        try:
            for i, p in enumerate(paths):
                p = self._strip_protocol(p)
                if p not in opened:
                    try:
                        c, inner = self._split(p)
                        fd = c.open(inner, os.O_RDONLY)
                        try:
                            size = c.fstat(fd).st_size
                        except BaseException:
                            c.close(fd)
                            raise
                        opened[p] = (c, fd, size)
                    except Exception as e:
                        opened[p] = e
                o = opened[p]
                if isinstance(o, Exception):
                    if on_error != "return":
                        raise o
                    out[i] = o
                    continue
                c, fd, size = o
                s, e = starts[i], ends[i]
                s = 0 if s is None else (max(s + size, 0) if s < 0 else min(s, size))
                e = size if e is None else (max(e + size, 0) if e < 0 else min(e, size))
                if e <= s:
                    out[i] = b""
                    continue
                groups.setdefault(c, []).append((i, fd, s, e - s))
            for c, items in groups.items():
                total = sum(n for _, _, _, n in items)
                iov = c.iovalloc(total)
                try:
                    entries, at = [], 0
                    for _, fd, off, n in items:
                        entries.append((iovec(iov, at, n), fd, off))
                        at += n
                    res = c.preadv(entries)
                    mv = memoryview(iov).cast("B")
                    at = 0
                    for (i, _, _, n), r in zip(items, res):
                        if r < 0:
                            err = error(-r, paths[i])
                            if on_error != "return":
                                raise err
                            out[i] = err
                        else:
                            out[i] = mv[at:at + r].tobytes()
                        at += n
                    del mv
                finally:
                    c.iovfree(iov)
        finally:
            for o in opened.values():
                if not isinstance(o, Exception):
                    try:
                        o[0].close(o[1])
                    except OSError:
                        pass
        return out

    @_routed(writes=True)
    def pipe_file(self, path, value, mode="overwrite", **kwargs):
        path = self._strip_protocol(path)
        c, inner = self._split(path)
        self._creating(c, inner, lambda: c.write_file(inner, value, exclusive=(mode == "create")))
        self.invalidate_cache(self._parent(path))

    @_routed(pos=1, writes=True)
    def put_file(self, lpath, rpath, callback=None, mode="overwrite", **kwargs):
        rpath = self._strip_protocol(rpath)
        c, inner = self._split(rpath)
        if os.path.isdir(lpath):
            self._makedirs(c, inner, rpath)
            return
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_EXCL if mode == "create" else 0)
        with open(lpath, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if callback is not None:
                callback.set_size(size)
            if size <= c._opt["inline_max"]:
                data = f.read()
                self._creating(c, inner, lambda: c.write_file(inner, data, exclusive=(mode == "create")))
                if callback is not None:
                    callback.relative_update(size)
                self.invalidate_cache(self._parent(rpath))
                return
            fd = self._creating(c, inner, lambda: c.open(inner, flags, 0o666))
            iov = c.iovalloc(min(size, 16 << 20))
            try:
                mv = memoryview(iov).cast("B")
                while True:
                    n = f.readinto(mv)
                    if not n:
                        break
                    c.write(fd, iovec(iov, 0, n))
                    if callback is not None:
                        callback.relative_update(n)
                del mv
            finally:
                c.iovfree(iov)
                c.close(fd)
        self.invalidate_cache(self._parent(rpath))

    @_routed()
    def get_file(self, rpath, lpath, callback=None, outfile=None, **kwargs):
        rpath = self._strip_protocol(rpath)
        c, inner = self._split(rpath)
        if hasattr(lpath, "write"):
            outfile, lpath = lpath, None
        try:
            st = c.stat(inner)
        except NotADirectoryError:  # under a file: there is no such source
            raise error(errno.ENOENT, rpath) from None
        if _stat.S_ISDIR(st.st_mode):
            if lpath is not None:
                os.makedirs(lpath, exist_ok=True)
            return
        if lpath is not None and self.auto_mkdir:
            # As LocalFileSystem(auto_mkdir=...) does for its side.
            parent = os.path.dirname(os.path.abspath(lpath))
            os.makedirs(parent, exist_ok=True)
        if callback is not None:
            callback.set_size(st.st_size)
        fd = c.open(inner, os.O_RDONLY)
        iov = c.iovalloc(max(min(st.st_size, 16 << 20), 1))
        f = open(lpath, "wb") if outfile is None else outfile
        try:
            mv = memoryview(iov).cast("B")
            while True:
                n = c.read(fd, iov)
                if not n:
                    break
                f.write(mv[:n])
                if callback is not None:
                    callback.relative_update(n)
            del mv
        finally:
            if outfile is None:
                f.close()
            c.iovfree(iov)
            c.close(fd)

    @_routed(writes=lambda args, kwargs: (args[1] if len(args) > 1 else kwargs.get("mode", "rb")) != "rb")
    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        return ShoalFile(self, self._strip_protocol(path), mode, block_size=block_size,
                         autocommit=autocommit, cache_options=cache_options, **kwargs)

    def sign(self, path, expiration=100, **kwargs):
        raise NotImplementedError("shoal has no signed URLs")


class ShoalFile(AbstractBufferedFile):
    """A file of a ShoalFileSystem: reads go through a Shoal fd with fsspec's
    block cache in front; writes are buffered and written through one fd
    opened (and so checked: EEXIST for "xb", a missing parent...) when the
    file is opened. With autocommit=False (fsspec transactions) data goes
    to a temporary name renamed on commit."""

    def __init__(self, fs, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        self._c, self._inner = fs._split(path)
        self._fd = None
        self._target = self._inner
        size = kwargs.pop("size", None)
        if mode not in ("rb", "wb", "xb", "ab"):
            raise ValueError("shoal: invalid mode %r: binary modes are rb, wb, ab and xb" % mode)
        if mode == "rb":
            self._fd = self._c.open(self._inner, os.O_RDONLY)
            if size is None:
                try:
                    st = self._c.fstat(self._fd)
                except BaseException:
                    self._c.close(self._fd)
                    raise
                if _stat.S_ISDIR(st.st_mode):
                    self._c.close(self._fd)
                    raise error(errno.EISDIR, path)
                size = st.st_size
        elif mode in ("wb", "xb", "ab"):
            flags = os.O_WRONLY | os.O_CREAT
            flags |= {"wb": os.O_TRUNC, "xb": os.O_EXCL, "ab": os.O_APPEND}[mode]
            if not autocommit:
                if mode == "xb" and self._c.exists(self._inner):
                    raise error(errno.EEXIST, path)
                self._inner = "%s.shoal-tmp-%s" % (self._inner, secrets.token_hex(6))
                if mode == "ab" and self._c.exists(self._target):
                    self._c.copy_file(self._target, self._inner)
            c, inner = self._c, self._inner
            self._fd = fs._creating(c, inner, lambda: c.open(inner, flags, 0o666))
        super().__init__(fs, path, mode=mode, block_size=block_size, autocommit=autocommit,
                         cache_options=cache_options, size=size, **kwargs)

    def _fetch_range(self, start, end):
        return self._c.pread(self._fd, end - start, start)

    def _initiate_upload(self):
        pass

    def _upload_chunk(self, final=False):
        data = self.buffer.getbuffer()
        if len(data):
            if self.mode == "ab":
                self._c.write(self._fd, data)
            else:
                self._c._fds[self._fd].pos = self.offset
                self._c.write(self._fd, data)
        del data
        if final:
            fd, self._fd = self._fd, None
            self._c.close(fd)
        return True

    def commit(self):
        self._c.rename(self._inner, self._target)

    def discard(self):
        try:
            self._c.unlink(self._inner)
        except FileNotFoundError:
            pass

    def close(self):
        try:
            super().close()
        finally:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                try:
                    self._c.close(fd)
                except OSError:
                    if self.mode != "rb":
                        raise
