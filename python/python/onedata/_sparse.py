"""scipy sparse archives: ``load_npz``/``save_npz`` as scipy's, over onedata's memory."""

from __future__ import annotations

import os
import pathlib
from typing import Any, Union

import numpy as np

from . import _onedata
from ._errors import InvalidArgument, InvalidFile
from ._io import _header_bytes

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["load_npz", "save_npz"]


def load_npz(path: PathLike) -> Any:
    """Load a scipy sparse ``.npz`` file, as ``scipy.sparse.load_npz`` does.

    The result is of the class ``scipy.sparse.load_npz`` gives for the same
    file (``csc``, ``csr``, ``coo``, ``bsr`` or ``dia``; ``*_array`` or
    ``*_matrix`` as the file says), with equal members of equal dtypes:
    ``data`` as stored, the index members in the one index dtype scipy's
    constructor picks (``int32`` whenever shape and contents fit).

    Its arrays are read-only and share memory with onedata's buffers (their
    ``base`` is a :class:`onedata._onedata.MapOwner`): for a stored file
    whose members are aligned (``save_npz(..., compressed=False,
    aligned=True)``) they are views of the file's memory map, so nothing is
    copied; deflated members are inflated once, in Rust, with the GIL
    released. COO coordinates keep the file's order.

    Unlike ``scipy.sparse.load_npz``, the structure is checked in full before
    scipy sees it (index pointers, every index within the shape, lengths,
    BSR blocks, DIA offsets), and the file is read without pickle.
    ``has_canonical_format`` is set True when onedata found the indices
    sorted and free of duplicates.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.

    Returns
    -------
    scipy.sparse.sparray or scipy.sparse.spmatrix

    Raises
    ------
    onedata.FileNotFound
        If the file does not exist.
    onedata.InvalidFile
        If the file is malformed, truncated or hostile (the message names
        the fault), or scipy refuses its contents.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, onedata, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> sp.save_npz(path, sp.csr_array(np.array([[0, 1.5], [2.0, 0]])))
    >>> m = onedata.load_npz(path)
    >>> type(m).__name__, m.indices.dtype, m.toarray().tolist()
    ('csr_array', dtype('int32'), [[0.0, 1.5], [2.0, 0.0]])
    """
    import scipy.sparse as sp

    parts = _onedata.npz_parts(os.fspath(path))
    fmt = parts["format"]
    arrays = parts["arrays"]
    shape = parts["shape"]
    cls = getattr(sp, fmt + ("_array" if parts["is_array"] else "_matrix"))
    data = arrays["data"]
    try:
        if fmt in ("csc", "csr", "bsr"):
            out = cls((data, arrays["indices"], arrays["indptr"]), shape=shape, copy=False)
        elif fmt == "dia":
            out = cls((data, arrays["offsets"]), shape=shape, copy=False)
        else:
            out = cls((data, (arrays["row"], arrays["col"])), shape=shape, copy=False)
    except (ValueError, TypeError) as e:
        err = InvalidFile(f"{os.fspath(path)}: scipy refuses the matrix: {e}")
        err.path = pathlib.Path(os.fspath(path))
        raise err from e
    if parts["canonical"] and fmt != "dia":
        out.has_canonical_format = True
    return out


def _member(array: Any) -> "tuple[bytes, np.ndarray]":
    """The header ``np.save`` writes for ``array`` and its bytes in that order."""
    array = np.asanyarray(array)
    if array.dtype.hasobject:
        raise InvalidArgument("save_npz cannot write object arrays")
    if not (array.flags.c_contiguous or array.flags.f_contiguous):
        array = np.ascontiguousarray(array)
    header = _header_bytes(array)
    if array.nbytes == 0:
        return header, np.empty(0, np.uint8)
    order = "C" if array.flags.c_contiguous else "F"
    return header, array.reshape(-1, order=order).view(np.uint8)


def save_npz(
    path: PathLike, matrix: Any, compressed: bool = True, *, aligned: bool = False, durable: bool = True
) -> None:
    """Save a scipy sparse array or matrix to ``.npz``, as ``scipy.sparse.save_npz`` does.

    The members are those ``save_npz`` writes (``indices``/``indptr``,
    ``row``/``col`` or ``offsets``, then ``format``, ``shape``, ``data`` and,
    for sparse arrays, ``_is_array``), each with the ``.npy`` header numpy
    writes, deflated (``compressed=True``, the default, as
    ``np.savez_compressed``) or stored (as ``np.savez``). The file is
    written atomically (under a temporary name, then renamed), with the
    deflating done in Rust with the GIL released. As ``save_npz`` does,
    ``.npz`` is appended to a path that does not end in it.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write.
    matrix : scipy.sparse.sparray or scipy.sparse.spmatrix
        A ``csc``, ``csr``, ``coo``, ``bsr`` or ``dia`` array or matrix.
    compressed : bool, optional
        Deflate the members (default True).
    aligned : bool, optional
        For stored files: start every member's data on a 64-byte boundary
        (the local zip headers are padded with an extra field every zip
        reader skips), so that :func:`load_npz` views it in the file's map
        without copying. Ignored when ``compressed``.
    durable : bool, optional
        If True (the default), ``fsync`` the file before its rename and the
        folder after it, so that a power cut leaves the old file or the new
        one; False skips both (as ``scipy.sparse.save_npz`` does), for
        scratch data (see :func:`onedata.save`).

    Raises
    ------
    NotImplementedError
        For formats ``save_npz`` cannot write either (``lil``, ``dok``).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, onedata, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> onedata.save_npz(path, sp.coo_array(np.eye(2)), compressed=False, aligned=True)
    >>> sp.load_npz(path).toarray().tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    >>> onedata.load_npz(path).data.base.mapped
    True
    """
    import scipy.sparse as sp

    path = os.fspath(path)
    if not path.endswith(".npz"):
        path = path + ".npz"
    fmt = getattr(matrix, "format", None)
    arrays: dict = {}
    if fmt in ("csc", "csr", "bsr"):
        arrays.update(indices=matrix.indices, indptr=matrix.indptr)
    elif fmt == "dia":
        arrays.update(offsets=matrix.offsets)
    elif fmt == "coo":
        arrays.update(row=matrix.row, col=matrix.col)
    else:
        raise NotImplementedError(f"Save is not implemented for sparse matrix of format {fmt}.")
    arrays.update(format=fmt.encode("ascii"), shape=matrix.shape, data=matrix.data)
    if isinstance(matrix, sp.sparray):
        arrays.update(_is_array=True)
    members = []
    for key, value in arrays.items():
        header, data = _member(value)
        members.append((key, header, data))
    _onedata.write_npz(path, members, bool(compressed), bool(aligned), bool(durable))
