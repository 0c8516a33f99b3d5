"""Which Shoal path serves a URL of an under-store.

A mount shows an under-store prefix (``s3://bucket/prefix``) as a Shoal
directory (``/datasets/x``); the agent's ``mounts`` op lists them as
``[{"path": ..., "url": ...}]``. MountTable answers, for a URL such as
``s3://bucket/prefix/a/b.parquet``, the Shoal path that shows it
(``/datasets/x/a/b.parquet``), or None when no mount covers it.

Invariants: the longest covering mount wins, a mount covers its URL and
what is under it on whole path components (``s3://b/data`` does not cover
``s3://b/database``), a mount URL's query (``?endpoint=...``) and trailing
slashes do not take part, and the schemes of one filesystem class are one
scheme (``s3`` and ``s3a`` for s3fs).
"""

import posixpath


def split_url(url):
    """(scheme, rest) of "scheme://rest", or (None, url) for a plain path."""
    scheme, sep, rest = url.partition("://")
    if not sep or "/" in scheme:
        return None, url
    return scheme, rest


class MountTable:
    """The mounts of one filesystem, for lookups by under-store URL."""

    def __init__(self, mounts, schemes):
        self.schemes = frozenset(schemes)
        entries = []
        for m in mounts:
            scheme, rest = split_url(m["url"])
            if scheme not in self.schemes:
                continue  # a mount of another kind of store
            rest = rest.split("?", 1)[0].split("#", 1)[0].rstrip("/")
            if not rest:
                continue
            path = posixpath.normpath("/" + m["path"].lstrip("/"))
            entries.append((rest, path))
        # Longest first, so a nested mount wins over the one around it.
        entries.sort(key=lambda e: len(e[0]), reverse=True)
        self._entries = entries

    def __len__(self):
        return len(self._entries)

    def lookup(self, url):
        """The Shoal path showing url, or None when no mount covers it."""
        scheme, rest = split_url(url)
        if scheme not in self.schemes:
            return None
        rest = rest.rstrip("/")
        for key, path in self._entries:
            if rest == key:
                return path
            if rest.startswith(key + "/"):
                return posixpath.join(path, rest[len(key) + 1:])
        return None
