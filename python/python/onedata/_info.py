"""``onedata.info``: what a file holds, from its headers."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Union

from . import _onedata

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["info"]


def info(path: PathLike) -> Dict[str, Any]:
    """Describe a onedata file: what ``onedata info --json`` prints, as a dict.

    The file is opened once and read no further than needed: the ``.npy``
    header of a dense array, the small members of a sparse ``.npz`` archive,
    the pickle of a loading recipe or another object array (decoded by
    onedata's restricted reader, which executes nothing).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy`` or ``.npz`` file.

    Returns
    -------
    dict
        ``kind`` is ``"dense"``, ``"sparse"``, ``"recipe"`` or ``"object"``;
        the other keys are those of ``onedata info --json`` for that kind
        (``descr``, ``shape``, ``fortran_order``, ``file_bytes``, ... for a
        dense array; ``format``, ``nnz``, ``index_descr``, ``is_array`` for
        a sparse one; ``loader_type``, ``source_arg``, ``transforms``,
        ``kwargs`` for a recipe; ``summary`` and ``value`` for an object).

    Raises
    ------
    onedata.FileNotFound
        If the file does not exist.
    onedata.InvalidFile
        If the file is malformed (the message names the fault).

    Examples
    --------
    >>> import numpy as np, onedata, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "mpci.times.npy")
    >>> np.save(path, np.zeros((2, 3), np.float32))
    >>> d = onedata.info(path)
    >>> d["kind"], d["descr"], d["shape"], d["file_bytes"]
    ('dense', '<f4', [2, 3], 152)
    """
    return json.loads(_onedata.info_json(os.fspath(path)))
