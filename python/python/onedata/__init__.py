"""onedata: vrAnalysis session data, loaded as fast as the hardware allows, safely.

``.npy`` files come back as numpy arrays over memory maps (zero copy, opened
in constant time), sparse archives as scipy arrays over onedata's buffers,
object arrays and loading recipes through a pickle reader that executes
nothing. :class:`SessionData` is a drop-in for vrAnalysis's base class.
"""

from __future__ import annotations

from ._errors import (
    DimensionMismatch,
    Error,
    FileChanged,
    FileNotFound,
    InvalidArgument,
    InvalidFile,
    InvalidName,
    IOError,
    MissingValue,
    NotAvailable,
    OutOfMemory,
    RemoteError,
    PermissionDenied,
    RecipeCycle,
    TypeMismatch,
    UnknownRecipe,
    Unwritable,
    ValuesError,
)
from ._io import load, read_recipe, save
from ._onedata import __version__, remove_stale_temporaries, retained_bytes, retained_limit, set_retained_limit
from ._session import LoadingRecipe, OneCache, SessionData
from ._b2 import B2Session
from ._info import info
from ._rows import RowSource
from ._sparse import load_npz, save_npz

__all__ = [
    "__version__",
    "load",
    "save",
    "read_recipe",
    "SessionData",
    "LoadingRecipe",
    "OneCache",
    "load_npz",
    "save_npz",
    "info",
    "RowSource",
    "B2Session",
    "set_retained_limit",
    "retained_limit",
    "remove_stale_temporaries",
    "retained_bytes",
    "Error",
    "FileNotFound",
    "PermissionDenied",
    "IOError",
    "InvalidFile",
    "FileChanged",
    "Unwritable",
    "TypeMismatch",
    "DimensionMismatch",
    "InvalidName",
    "NotAvailable",
    "UnknownRecipe",
    "RecipeCycle",
    "MissingValue",
    "ValuesError",
    "OutOfMemory",
    "RemoteError",
    "InvalidArgument",
]
