"""Type stubs for onedata's compiled core (``onedata._onedata``)."""

import os
from typing import Any, Union

import numpy as np

_Path = Union[str, "os.PathLike[str]"]

__version__: str

class MapOwner:
    """The owner of the memory under arrays onedata returns (their ``base``)."""

    @property
    def mapped(self) -> bool: ...
    @property
    def nbytes(self) -> int: ...

def load(path: _Path, mmap: bool = True) -> np.ndarray: ...
def write_npy(path: _Path, header: bytes, data: Any) -> None: ...
def read_recipe(path: _Path) -> dict: ...
def write_recipe(path: _Path, recipe: dict) -> None: ...
def decode_object(data: bytes) -> Any: ...
