"""numpy dtypes from ``.npy`` header text."""

from __future__ import annotations

import ast

import numpy as np


def from_header_descr(text: str) -> np.dtype:
    """The dtype of a structured ``descr`` as a ``.npy`` header writes it.

    onedata's header parser has already checked ``text`` as a Python
    literal; :func:`ast.literal_eval` evaluates literals only, and numpy's
    own reader turns the result into a dtype.
    """
    return np.lib.format.descr_to_dtype(ast.literal_eval(text))
