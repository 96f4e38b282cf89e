"""onedata's exceptions.

Every error onedata raises is an :class:`Error`, and also the builtin
exception a Python caller would catch for the same fault: a missing file is
a :class:`FileNotFoundError`, a malformed or hostile file a
:class:`ValueError`, a wrong dtype a :class:`TypeError`, and so on. Each
message names the file and the fault; ``path`` holds the file (or None).
"""

from __future__ import annotations

__all__ = [
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


class Error(Exception):
    """Base class of every exception onedata raises.

    Attributes
    ----------
    path : str or None
        The file the error concerns, where there is one.
    """

    path = None


class FileNotFound(Error, FileNotFoundError):
    """A file or folder does not exist."""


class PermissionDenied(Error, PermissionError):
    """The operating system refused access to a file."""


class IOError(Error, OSError):  # noqa: A001 - onedata.IOError is an OSError
    """Reading or writing a file failed."""


class InvalidFile(Error, ValueError):
    """A file is malformed, truncated or hostile (the message names the fault)."""


class FileChanged(InvalidFile):
    """A file changed since it was opened for reading by parts.

    Raised by :class:`onedata.RowSource` (and so by the chunks of
    :func:`onedata.dask.from_onedata`) when the file is no longer the version
    it recorded when it was made: another size, modification time or inode
    for a local file, another ETag for an object in a store. Nothing of the
    new version is returned mixed with the old one: rebuild the array to
    read the file as it is now.

    Attributes
    ----------
    path : str or None
        The local file, for a file on disk.
    url : str or None
        The object's URL, for a file in object storage.
    """

    url = None


class Unwritable(Error, ValueError):
    """A value cannot be written in the format asked for."""


class TypeMismatch(Error, TypeError):
    """A file holds another dtype or kind of data than the one asked for."""


class DimensionMismatch(Error, ValueError):
    """An array has another number of dimensions than the one asked for."""


class InvalidName(Error, ValueError):
    """A onedata name would leave the session's oneData folder or is not a file name."""


class NotAvailable(Error, ValueError, FileNotFoundError):
    """The onedata file asked for is not in the session.

    A :class:`ValueError`, as vrAnalysis raises for a missing onedata file,
    and a :class:`FileNotFoundError`.
    """


class UnknownRecipe(Error, KeyError):
    """A recipe names a loader or transform the session type does not have."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class RecipeCycle(Error, RecursionError):
    """A recipe asks, directly or through other recipes, for a file being loaded.

    vrAnalysis would recurse until Python's recursion limit; this is raised
    instead, before the name is loaded again, and is a :class:`RecursionError`
    so that code catching that still does.

    Attributes
    ----------
    files : list of str
        The file names along the cycle, the first repeated at the end
        (``["a.npy", "b.npy", "a.npy"]``).
    """

    files: list = []


class MissingValue(Error, AttributeError):
    """A session value that is not set (``get_value`` of an unknown key)."""


class ValuesError(Error, ValueError):
    """A session's values file cannot be read or written."""


class OutOfMemory(Error, MemoryError):
    """A file asks for more memory than can be had."""


class RemoteError(Error, OSError):
    """A session URL cannot be used, or object storage refused or failed a request.

    Attributes
    ----------
    url : str
        The URL concerned.
    fault : str
        What went wrong: ``"NotFound"``, ``"NoBucket"``, ``"Auth"``,
        ``"Truncated"``, ``"Changed"``, ``"Precondition"``, ``"Request"``,
        ``"Runtime"``, ``"Config"``, ``"Cache"``, ``"InvalidUrl"`` or
        ``"Unsupported"``.
    """

    url = None
    fault = None


class InvalidArgument(Error, ValueError):
    """An argument onedata cannot use (the message says what to pass instead)."""
