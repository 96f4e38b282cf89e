"""``onedata.dask``: onedata files as ``dask.array`` arrays, chunked by frames.

:func:`from_onedata` gives a ``dask.array.Array`` over one file of a
session, whose chunks are ranges of frames (axis 0; the other axes stay
whole). Each chunk is read where it is computed: locally a slice of the
file's memory map (zero copy), for a session in object storage a ranged read
of just those rows' bytes. The graph holds where the file is (its path or
URL) and its header, not its data, so it pickles to workers in a few hundred
bytes.

dask is an optional dependency: ``pip install 'dask[array]'`` (and
``distributed`` for a cluster).

Examples
--------
>>> import onedata.dask  # doctest: +SKIP
>>> spks = onedata.dask.from_onedata(session, "mpci.roiActivityDeconvolved", chunks=1000)  # doctest: +SKIP
>>> spks.mean(axis=0).compute()  # doctest: +SKIP
"""

from __future__ import annotations

try:
    import dask
    import dask.array as da
except ImportError as e:  # pragma: no cover - exercised in a process without dask
    raise ImportError(
        f"onedata.dask needs dask ({e}); install it with `pip install 'dask[array]'` "
        "(and `pip install distributed` for a cluster)"
    ) from e

import os
from typing import Any, Sequence, Tuple, Union

import numpy as np

from ._errors import InvalidArgument
from ._rows import RowSource, is_url

__all__ = ["from_onedata", "RowSource", "SessionRows"]


class SessionRows:
    """Rows of what a session's ``loadone`` gives for a name that is no plain
    ``.npy`` file (a loading recipe): each worker loads it through its own
    copy of the session and slices it. Used by :func:`from_onedata` only
    when the file cannot be read by rows.

    It pickles the session by reference, as :class:`onedata.RowSource`
    pickles a file: a :class:`onedata.SessionData` as its class, the fields
    it was made with (mouse, date, session id, ...) and its folder or URL,
    never its values, cache or other attributes. The worker reopens it
    there (``_additional_loading`` runs, as for any new session); values
    set on the session but not saved are not sent. Other session types
    (:class:`onedata.B2Session`) pickle as they do themselves (by folder or
    URL)."""

    __slots__ = ("session", "names", "shape", "dtype")

    def __init__(self, session: Any, names: Tuple[str, ...], shape: Sequence[int], dtype: Any) -> None:
        self.session = session
        self.names = tuple(names)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __reduce__(self):
        return (_session_rows, (_session_reference(self.session), self.names, self.shape, self.dtype))

    def __dask_tokenize__(self):
        return ("onedata.SessionRows", _identity(self.session), self.names, self.shape, str(self.dtype.descr))

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(_load(self.session, self.names))[key]


def _session_reference(session: Any) -> Any:
    """What a :class:`SessionRows` pickles in place of ``session``."""
    from ._session import SessionData, session_reference

    if isinstance(session, SessionData):
        return session_reference(session)
    return session


def _session_rows(reference: Any, names: Tuple[str, ...], shape: Tuple[int, ...], dtype: Any) -> SessionRows:
    from ._session import SessionReference

    session = reference.reopen() if isinstance(reference, SessionReference) else reference
    return SessionRows(session, names, shape, dtype)


def _load(session: Any, names: Tuple[str, ...]) -> Any:
    from ._session import SessionData

    if isinstance(session, SessionData):
        return session.loadone(*names)
    return session.loadone(".".join(names))


def _identity(session: Any) -> Tuple[Any, ...]:
    return (type(session).__qualname__, os.fspath(session.data_path) if not is_url(session.data_path) else session.data_path)


def _names(name: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    if isinstance(name, str):
        names = (name[: -len(".npy")] if name.endswith(".npy") else name,)
    else:
        names = tuple(name)
    if not names or not all(isinstance(n, str) for n in names):
        raise InvalidArgument(f"name must be a onedata name (a str, or a tuple of str), not {name!r}")
    return names


def _file_name(session: Any, names: Tuple[str, ...]) -> str:
    get = getattr(session, "get_one_filename", None)
    if get is not None:
        return get(*names)
    return ".".join(names) + ".npy"


def _one_location(session: Any, file_name: str) -> Any:
    """Where ``file_name`` is kept: a URL for a session in object storage, else a path."""
    one = getattr(session, "_one_dir", None)
    one = one() if callable(one) else session.one_path
    if is_url(one):
        from ._rows import join_url

        return join_url(one, file_name)
    return os.path.join(os.fspath(one), file_name)


def _frame_chunks(chunks: Any, shape: Tuple[int, ...], dtype: np.dtype) -> Tuple[Tuple[int, ...], ...]:
    """dask chunks for ``shape`` whose only split is along axis 0."""
    if not shape:
        return ()
    rest = tuple((s,) for s in shape[1:])
    whole = tuple(shape[1:])
    if chunks is None or chunks == -1:
        return ((shape[0],),) + rest
    if isinstance(chunks, (str, int, np.integer)) and not isinstance(chunks, bool):
        if isinstance(chunks, (int, np.integer)) and chunks <= 0 and shape[0] > 0:
            raise InvalidArgument(f"chunks must be a positive number of frames, not {chunks}")
        return da.core.normalize_chunks((chunks,) + whole, shape, dtype=dtype)
    chunks = tuple(chunks)
    if chunks and all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in chunks):
        # The sizes of the frame ranges, in order.
        if sum(chunks) != shape[0] or any(c < 0 for c in chunks):
            raise InvalidArgument(
                f"chunks {chunks} must be frame counts adding up to the {shape[0]} frames of the array"
            )
        return (tuple(int(c) for c in chunks),) + rest
    # A full dask chunks spec: every axis but the first must stay whole.
    normal = da.core.normalize_chunks(chunks, shape, dtype=dtype)
    if normal[1:] != rest:
        raise InvalidArgument(
            f"chunks are ranges of frames (axis 0) only; the other axes stay whole ({whole}), got {chunks!r}"
        )
    return normal


def from_onedata(session: Any, name: Union[str, Sequence[str]], chunks: Any = "auto") -> "da.Array":
    """A ``dask.array`` over one onedata file of ``session``, chunked by frames.

    Parameters
    ----------
    session : onedata.SessionData or onedata.B2Session
        The session (local, or with a URL root: ``s3://bucket/root``).
    name : str or tuple of str
        The onedata name (``"mpci.roiActivityF"``; ``".npy"`` may be given),
        or the parts ``loadone`` joins (``("mpci", "roiActivityF")``).
    chunks : int, str, tuple, optional
        Frames per chunk (an int, or ``"auto"``, the default, or a size such as
        ``"64 MiB"``), the sizes of the frame ranges (a tuple of ints adding up
        to the number of frames), or a full dask chunks spec that splits
        axis 0 only. ``-1`` or None: one chunk.

    Returns
    -------
    dask.array.Array
        Of the file's shape and dtype. Each chunk is read when computed:
        locally a read-only slice of the file's map, remotely a ranged read
        of those rows (``loadone_rows``), never the whole file. The graph
        holds the file's location and header, not its data.

    Raises
    ------
    onedata.NotAvailable
        If the session has no such file.
    onedata.InvalidArgument
        If ``chunks`` split another axis than the first.

    Examples
    --------
    >>> x = from_onedata(session, "mpci.roiActivityF", chunks=500)  # doctest: +SKIP
    >>> x.chunks[0][:2]  # doctest: +SKIP
    (500, 500)
    """
    from ._errors import FileNotFound, NotAvailable, RemoteError, TypeMismatch
    from ._session import SessionData

    names = _names(name)
    file_name = _file_name(session, names)
    source: Any
    try:
        if isinstance(session, SessionData):
            source = session.one_rows(*names)
        else:
            source = RowSource(_one_location(session, file_name))
    except Exception as e:
        missing = isinstance(e, FileNotFound) or (isinstance(e, RemoteError) and getattr(e, "fault", None) == "NotFound")
        if isinstance(e, NotAvailable) or not (missing or isinstance(e, TypeMismatch)):
            raise
        # A loading recipe (or what a session type computes without a file):
        # rows of what loadone gives, loaded by each worker's copy of the session.
        data = _load(session, names)
        if not isinstance(data, np.ndarray) or data.dtype.hasobject:
            raise InvalidArgument(
                f"{file_name} of {session.session_print()} is not a dense array, which from_onedata needs"
            ) from e
        source = SessionRows(session, names, data.shape, data.dtype)
    normal = _frame_chunks(chunks, source.shape, source.dtype)
    token = dask.base.tokenize(source, normal)
    label = "onedata-" + file_name[: -len(".npy")] if file_name.endswith(".npy") else "onedata-" + file_name
    meta = np.empty((0,) * len(source.shape), dtype=source.dtype)
    return da.from_array(
        source,
        chunks=normal,
        name=f"{label}-{token}",
        lock=False,
        asarray=False,
        fancy=False,
        meta=meta,
    )
