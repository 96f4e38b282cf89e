"""Single files: ``load``/``save`` of ``.npy`` files, recipes, sparse archives."""

from __future__ import annotations

import io
import os
from typing import Any, Union

import numpy as np

from . import _onedata

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["load", "save", "read_recipe"]


def load(path: PathLike, mmap: bool = True, *, policy: str = "auto") -> np.ndarray:
    """Load a ``.npy`` file as a numpy array.

    With ``mmap=True`` (the default) the array is a read-only view of the
    file's memory map: opened in constant time whatever the file's size,
    zero copy, in the file's own dtype (big-endian numbers, strings, bytes,
    datetimes, structured records and long doubles included). Its ``base``
    keeps the map alive after every other handle is gone, so the array stays
    valid when the session that loaded it is dropped or the file deleted.

    Object arrays (dicts, lists, suite2p's ``stat.npy``/``ops.npy``) are
    decoded by onedata's restricted pickle reader, which executes nothing,
    and come back as ``np.load(allow_pickle=True)`` returns them: an object
    ndarray (0-d for a single value; use ``.item()``).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npy`` file.
    mmap : bool, optional
        If False, return a writeable copy that owns its memory.
    policy : {"auto", "always", "never"}, optional
        With ``mmap=True``, when to map. On Linux every map holds a read
        lease on its file, so no other program can change or truncate the
        file under the array (a writer waits while the map moves into
        private memory). ``"auto"`` maps only files a lease can be had on and
        reads the rest (network and FUSE filesystems, other users' files,
        files open for writing) into read-only memory of onedata's own;
        ``"always"`` maps them anyway, unprotected, as
        ``np.load(mmap_mode="r")`` does; ``"never"`` always reads into
        memory. ``array.base.protected`` and ``array.base.mapped`` say which
        the array got.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    onedata.FileNotFound
        If the file does not exist.
    onedata.InvalidFile
        If the file is malformed, truncated or hostile (the message names
        the fault).

    Examples
    --------
    >>> import numpy as np, onedata, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "mpci.roiActivityF.npy")
    >>> np.save(path, np.arange(6.0).reshape(2, 3))
    >>> a = onedata.load(path)
    >>> a.flags.writeable, a.sum()
    (False, np.float64(15.0))
    """
    return _onedata.load(path, mmap, policy)


def _header_bytes(array: np.ndarray) -> bytes:
    """The header ``np.save`` writes for ``array``, from numpy's own format module."""
    fmt = np.lib.format
    header = fmt.header_data_from_array_1_0(array)
    buf = io.BytesIO()
    write = getattr(fmt, "_write_array_header", None)
    if write is not None:
        write(buf, header, None)
    else:  # pragma: no cover - numpy versions without the private helper
        try:
            fmt.write_array_header_1_0(buf, header)
        except ValueError:
            buf = io.BytesIO()
            fmt.write_array_header_2_0(buf, header)
    return buf.getvalue()


def save(path: PathLike, array: Any, *, durable: bool = True) -> None:
    """Save an array to a ``.npy`` file: the bytes ``np.save`` writes, atomically.

    The file is written under a temporary name in the same folder and renamed
    into place, so a reader (or a killed program) never sees half a file, and
    arrays already loaded from the old file keep their values. As ``np.save``
    does, ``.npy`` is appended to a path that does not end in it. Object
    arrays are pickled by numpy itself (as ``np.save`` pickles them), then
    written the same atomic way.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write.
    array : array_like
        What to write.
    durable : bool, optional
        If True (the default), the temporary file is ``fsync``ed before the
        rename and the folder after it: when ``save`` returns, the new file
        is on the device, and a power cut leaves the old file or the new one,
        never an empty or torn one. False skips both syncs (as ``np.save``
        does), for scratch data that can be recomputed.

    Examples
    --------
    >>> import numpy as np, onedata, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> onedata.save(path, np.arange(3, dtype=">i4"))
    >>> np.load(path).tolist()
    [0, 1, 2]
    >>> onedata.save(path, np.ones(2), durable=False)  # scratch: no fsync
    >>> np.load(path).tolist()
    [1.0, 1.0]
    """
    durable = bool(durable)
    path = os.fspath(path)
    if not path.endswith(".npy"):
        path = path + ".npy"
    array = np.asanyarray(array)
    if array.dtype.hasobject:
        buf = io.BytesIO()
        np.save(buf, array, allow_pickle=True)
        data = buf.getvalue()
        header_len = _npy_header_len(data)
        _onedata.write_npy(path, data[:header_len], np.frombuffer(data, np.uint8, offset=header_len), durable)
        return
    if not (array.flags.c_contiguous or array.flags.f_contiguous):
        array = np.ascontiguousarray(array)
    header = _header_bytes(array)
    if array.nbytes == 0:
        data = np.empty(0, np.uint8)
    else:
        order = "C" if array.flags.c_contiguous else "F"
        data = array.reshape(-1, order=order).view(np.uint8)
    _onedata.write_npy(path, header, data, durable)


def _npy_header_len(data: bytes) -> int:
    major = data[6]
    if major == 1:
        return 10 + int.from_bytes(data[8:10], "little")
    return 12 + int.from_bytes(data[8:12], "little")


def read_recipe(path: PathLike) -> dict:
    """The loading recipe a ``.npy`` file holds, as ``LoadingRecipe.to_dict()`` gives it.

    Read by onedata's restricted pickle reader: a file that is not a recipe,
    or a pickle that would run code, raises :class:`onedata.InvalidFile`.
    """
    return _onedata.read_recipe(path)
