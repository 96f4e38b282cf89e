"""``onedata.RowSource``: rows of one ``.npy`` file, read when asked for.

A :class:`RowSource` names a dense ``.npy`` file (a local path, or the URL
of an object in a store) and holds its header: shape, dtype, memory order.
Indexing it reads only the rows asked for: locally a slice of the file's
map, remotely ranged GETs of those rows' bytes (no download). It pickles as
its location and header, never as data, which is how
:func:`onedata.dask.from_onedata` sends it to workers.
"""

from __future__ import annotations

import operator
import os
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _onedata
from ._errors import FileChanged, InvalidArgument, TypeMismatch

__all__ = ["RowSource", "is_url"]


def is_url(location: Any) -> bool:
    """Whether ``location`` is a URL (``scheme://...``) rather than a local path.

    A Windows drive path (``C:\\x``, ``C:/x``) is a path: a URL needs a
    scheme of two or more letters followed by ``://``.
    """
    if not isinstance(location, str):
        return False
    scheme, sep, _ = location.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.replace("+", "").replace("-", "").replace(".", "").isalnum()


def join_url(base: str, *parts: str) -> str:
    """``base/part/...``, with exactly one ``/`` between segments."""
    out = base.rstrip("/")
    for part in parts:
        out = out + "/" + part.strip("/")
    return out


#: The headers this process has read, by URL: a row read of an object whose
#: header is here makes one GET (``If-Match`` the header's ETag), not two.
_HEADERS: "dict[str, Any]" = {}
_HEADERS_KEPT = 1024


def remote_header(url: str, remote: Any) -> dict:
    """What ``remote.npy_header()`` gives for ``url``: read once per process
    (one small ranged GET), then kept."""
    header = _HEADERS.get(url)
    if header is None:
        header = remote.npy_header()
        if len(_HEADERS) >= _HEADERS_KEPT:
            _HEADERS.clear()
        _HEADERS[url] = header
    return header


def remote_rows(url: str, remote: Any, ranges: List[Tuple[int, int]]) -> Tuple[List[np.ndarray], dict]:
    """Row ranges of the object at ``url`` read by ranged GETs, with the
    header this process read (one GET per coalesced range), and that header.
    An object rewritten since its header was read fails the GETs'
    ``If-Match``: its header is read again, once."""
    from ._errors import RemoteError

    for attempt in (0, 1):
        header = remote_header(url, remote)
        try:
            return remote.read_row_ranges(ranges, header["header"]), header
        except RemoteError as e:
            _HEADERS.pop(url, None)
            if attempt or getattr(e, "fault", None) not in ("Changed", "Precondition"):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _remote(url: str) -> Any:
    remote = getattr(_onedata, "Remote", None)
    if remote is None:  # pragma: no cover - a build without the remote feature
        raise InvalidArgument(f"this build of onedata cannot read URLs ({url}): it was built without remote support")
    return remote(url)


def _header(location: Any) -> Tuple[Tuple[int, ...], np.dtype, bool, Any]:
    """``(shape, dtype, fortran_order, version)`` of the dense ``.npy`` file
    at ``location``, from its header only (one small ranged GET for a URL)."""
    if is_url(location):
        # Read afresh (a source opened now describes the object as it is now),
        # and kept for the row reads that follow.
        h = _remote(location).npy_header()
        if len(_HEADERS) >= _HEADERS_KEPT:
            _HEADERS.clear()
        _HEADERS[location] = h
        return tuple(h["shape"]), h["dtype"], bool(h["fortran_order"]), h.get("etag")
    from ._info import info

    path = os.fspath(location)
    # The version is the file's identity around the header read: a file
    # replaced meanwhile is read again, so that header and version agree.
    for _ in range(3):
        before = file_version(path)
        d = info(path)
        version = file_version(path)
        if version == before:
            break
    if d.get("kind") != "dense":
        error = TypeMismatch(
            f"{path} holds a {d.get('kind')} array, not a dense one: only dense .npy files can be read by rows"
        )
        error.path = path
        raise error
    descr = d["descr"]
    if descr.startswith(("[", "{")):
        from ._dtypes import from_header_descr

        dtype = from_header_descr(descr)
    else:
        dtype = np.dtype(descr)
    return tuple(d["shape"]), dtype, bool(d["fortran_order"]), version


def file_version(path: Any) -> Optional[Tuple[int, int, int]]:
    """``(size, mtime_ns, inode)`` of the file at ``path``: what a local
    :class:`RowSource` records as its version (None for a file that is not there)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _describe(version: Sequence[int]) -> str:
    """A local file's version, as an error message gives it."""
    names = ("size", "mtime_ns", "inode")
    return ", ".join(f"{n} {v}" for n, v in zip(names, version))


def _row_bounds(key: Any, n: int) -> Tuple[int, int, int, bool]:
    """``(start, stop, step, keep_axis)`` of an axis-0 index (a slice or an integer)."""
    if isinstance(key, slice):
        start, stop, step = key.indices(n)
        return start, stop, step, True
    try:
        i = operator.index(key)
    except TypeError:
        raise InvalidArgument(
            f"rows are read by a slice or an integer, not {type(key).__name__}; "
            "load the array (or a slice of it) to index it otherwise"
        ) from None
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise IndexError(f"index {key} is out of bounds for axis 0 with size {n}")
    return i, i + 1, 1, False


class RowSource:
    """The rows of a dense ``.npy`` file, read on demand.

    ``source[a:b]`` (and ``source[a:b, ...]``, ``source[i]``) reads rows
    ``a..b`` only: for a local file a slice of its memory map (zero copy,
    read-only, opened in constant time), for a URL the byte ranges of those
    rows (ranged GETs, nothing downloaded). Every other index is applied to
    the rows read. ``shape``, ``dtype``, ``ndim``, ``size``, ``nbytes`` and
    ``len()`` are those of the file, from its header.

    A source pickles as its location and header (a few hundred bytes). It
    records the version of the file it was made at (``version``: the
    ETag of an object, the size, modification time and inode of a local
    file), and every read checks it: rows of a file rewritten since, even
    with the same shape, raise :class:`onedata.FileChanged` rather than mix
    two versions (remotely each ranged GET is ``If-Match`` that ETag).

    Parameters
    ----------
    location : str or os.PathLike
        A local path, or the URL of an object (``s3://bucket/.../x.npy``).
    shape, dtype, fortran_order, version : optional
        The header, when already known (otherwise it is read).

    Examples
    --------
    >>> import numpy as np, onedata, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "mpci.roiActivityF.npy")
    >>> np.save(path, np.arange(12.0).reshape(4, 3))
    >>> rows = onedata.RowSource(path)
    >>> rows.shape, rows[1:3].tolist()
    ((4, 3), [[3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    """

    __slots__ = ("location", "shape", "dtype", "fortran_order", "version")

    def __init__(
        self,
        location: Union[str, "os.PathLike[str]"],
        shape: Optional[Sequence[int]] = None,
        dtype: Any = None,
        fortran_order: bool = False,
        version: Any = None,
    ) -> None:
        location = location if is_url(location) else os.fspath(location)
        if shape is None or dtype is None:
            shape, dtype, fortran_order, version = _header(location)
        self.location = location
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        if self.dtype.hasobject:
            raise TypeMismatch(f"{location} holds an object array: only dense .npy files can be read by rows")
        self.fortran_order = bool(fortran_order)
        self.version = version

    # -- what it is -------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def is_remote(self) -> bool:
        """Whether the file is an object in a store (its location a URL)."""
        return is_url(self.location)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"RowSource({self.location!r}, shape={self.shape}, dtype={self.dtype.str!r})"

    def __reduce__(self):
        return (RowSource, (self.location, self.shape, self.dtype, self.fortran_order, self.version))

    def __dask_tokenize__(self):
        return ("onedata.RowSource", self.location, self.shape, str(self.dtype.descr), self.fortran_order, self.version)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RowSource):
            return NotImplemented
        return self.__dask_tokenize__() == other.__dask_tokenize__()

    def __hash__(self) -> int:
        return hash(self.__dask_tokenize__())

    # -- reading ------------------------------------------------------------------
    def _changed(self, now: str) -> FileChanged:
        """The error for a file that is no longer the version this source was made at."""
        error = FileChanged(
            f"{self.location} changed since it was opened for reading by rows ({now}): its rows "
            "would mix two versions of the file; rebuild the array (onedata.dask.from_onedata, "
            "or one_rows) to read the file as it is now"
        )
        if self.is_remote:
            error.url = self.location
        else:
            error.path = self.location
        return error

    def _check(self, shape: Sequence[int], dtype: Any) -> None:
        if tuple(shape) != self.shape or np.dtype(dtype) != self.dtype:
            raise self._changed(
                f"it held {self.dtype.str} {self.shape} and now holds {np.dtype(dtype).str} {tuple(shape)}"
            )

    def _local(self) -> np.ndarray:
        """The local file's map, checked to be of the version recorded: the
        file's identity before and after the map is made must be it."""
        from ._io import load

        before = file_version(self.location)
        data = load(self.location)
        after = file_version(self.location)
        if self.version is not None and not (before == after == tuple(self.version)):
            now = after if after != tuple(self.version) else before
            raise self._changed(
                f"it had {_describe(self.version)} and now has {_describe(now)}"
                if now
                else f"it had {_describe(self.version)} and is gone"
            )
        self._check(data.shape, data.dtype)
        return data

    def _cached(self, remote: Any) -> Optional[np.ndarray]:
        """The map of the cached copy of the object, if the download cache
        holds the version this source was made at (no request); else None."""
        from ._io import load

        if self.version is None:
            if not remote.is_cached():
                return None
            data = load(remote.fetch(False))
            self._check(data.shape, data.dtype)
            return data
        if remote.cached_etag() != self.version:
            # Not downloaded, or another version: the rows come from the store.
            return None
        path = remote.cache_path()
        before = file_version(path)
        data = load(path)
        if file_version(path) != before or remote.cached_etag() != self.version:
            # Replaced by another download meanwhile.
            return None
        self._check(data.shape, data.dtype)
        return data

    def _fetched(self, remote: Any) -> np.ndarray:
        """The map of a complete copy of the object's recorded version,
        downloaded into the cache unless it is there."""
        from ._io import load

        data = self._cached(remote)
        if data is not None:
            return data
        path = remote.fetch(False)
        if self.version is not None and remote.cached_etag() != self.version:
            # The cache held another version: ask the store (one HEAD).
            path = remote.fetch(True)
            etag = remote.cached_etag()
            if etag != self.version:
                raise self._changed(f"its ETag was {self.version} and is now {etag}")
        data = load(path)
        if self.version is not None and remote.cached_etag() != self.version:
            raise self._changed(f"its ETag was {self.version} and is now {remote.cached_etag()}")
        self._check(data.shape, data.dtype)
        return data

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start..stop`` of axis 0 (clipped to the array), as an array."""
        return self.read_row_ranges([(start, stop)])[0]

    def read_row_ranges(self, ranges: Sequence[Tuple[int, int]]) -> List[np.ndarray]:
        """Rows ``a..b`` for each ``(a, b)`` of ``ranges`` (each clipped to
        the array); remotely in as few GETs as the ranges coalesce into.

        Every read is of the version of the file this source was made at
        (``version``): a file rewritten since raises
        :class:`onedata.FileChanged`, whatever its new shape."""
        if not self.shape:
            raise InvalidArgument(f"{self.location} holds a 0-d array, which has no rows")
        n = self.shape[0]
        clipped = []
        for a, b in ranges:
            a, b, _ = slice(a, b).indices(n)
            clipped.append((a, max(a, b)))
        if not self.is_remote:
            data = self._local()
            return [data[a:b] for a, b in clipped]
        remote = _remote(self.location)
        if self.fortran_order:
            # Rows of a Fortran-order array are not contiguous: fetch the
            # whole file into the cache once, then slice its map.
            data = self._fetched(remote)
            return [data[a:b] for a, b in clipped]
        data = self._cached(remote)
        if data is not None:
            # Downloaded already: rows of the cached copy's map, no request.
            return [data[a:b] for a, b in clipped]
        return self._remote_rows(remote, clipped)

    def _remote_rows(self, remote: Any, ranges: List[Tuple[int, int]]) -> List[np.ndarray]:
        """Row ranges read by ranged GETs, each ``If-Match`` the ETag this
        source recorded (one GET per coalesced range, with the header this
        process read; see :func:`remote_rows`)."""
        from ._errors import RemoteError

        if self.version is None:
            # A store without ETags: the shape and dtype are what is checked.
            out, header = remote_rows(self.location, remote, ranges)
            self._check(header["shape"], header["dtype"])
            return out
        for attempt in (0, 1):
            header = remote_header(self.location, remote)
            if header.get("etag") != self.version:
                # This process kept the header of another version: read it again, once.
                _HEADERS.pop(self.location, None)
                if attempt:
                    raise self._changed(f"its ETag was {self.version} and is now {header.get('etag')}")
                continue
            self._check(header["shape"], header["dtype"])
            try:
                return remote.read_row_ranges(ranges, header["header"], self.version)
            except RemoteError as e:
                if getattr(e, "fault", None) not in ("Changed", "Precondition"):
                    raise
                _HEADERS.pop(self.location, None)
                raise self._changed(f"its ETag is no longer {self.version}") from e
        raise AssertionError("unreachable")  # pragma: no cover

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        ellipses = [i for i, k in enumerate(key) if k is Ellipsis]
        if len(ellipses) > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        if ellipses:
            i = ellipses[0]
            axes = sum(1 for k in key if k is not Ellipsis and k is not None)
            key = key[:i] + (slice(None),) * max(0, self.ndim - axes) + key[i + 1 :]
        if not self.shape:
            if key:
                raise IndexError("a 0-d array is indexed by () or ...")
            return np.asarray(self.read_all()[()])
        if not key:
            key = (slice(None),)
        first, rest = key[0], key[1:]
        start, stop, step, keep = _row_bounds(first, self.shape[0])
        if step < 0:
            # The rows step..start, read in order, then reversed.
            rows = self.read_rows(stop + 1, start + 1)[::step] if start > stop else self.read_rows(0, 0)
        else:
            rows = self.read_rows(start, stop)
            if step != 1:
                rows = rows[::step]
        if not keep:
            rows = rows[0]
        if rest:
            rows = rows[(slice(None),) + tuple(rest)] if keep else rows[tuple(rest)]
        return rows

    def read_all(self) -> np.ndarray:
        """The whole array (a map locally; for a URL, fetched into the cache and mapped)."""
        if not self.is_remote:
            return self._local()
        return self._fetched(_remote(self.location))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self.read_all()
        if dtype is not None:
            data = data.astype(dtype, copy=False)
        return np.array(data, copy=True) if copy else data
