"""Sparse files for SessionData: onedata's reader where it exists, scipy's otherwise."""

from __future__ import annotations

from typing import Any


def load_npz(path: Any) -> Any:
    try:
        from . import _sparse  # onedata's own reader
    except ImportError:  # pragma: no cover - until the native reader lands
        import scipy.sparse

        return scipy.sparse.load_npz(path)
    return _sparse.load_npz(path)


def save_npz(path: Any, matrix: Any) -> None:
    try:
        from . import _sparse
    except ImportError:  # pragma: no cover
        import scipy.sparse

        scipy.sparse.save_npz(path, matrix)
        return
    _sparse.save_npz(path, matrix)
