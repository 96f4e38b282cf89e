"""``SessionData`` and ``LoadingRecipe``: drop-ins for vrAnalysis's, over onedata."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, List, Optional, Union

import numpy as np

from . import _io, _onedata, _rows
from ._errors import Error, InvalidArgument, NotAvailable, RecipeCycle, RemoteError, TypeMismatch
from ._rows import RowSource, is_url, join_url

__all__ = ["LoadingRecipe", "OneCache", "SessionData"]

#: The folder inside a session that holds onedata files, and the lower-case
#: spelling other vrAnalysis versions use.
ONE_DIR = "oneData"
ONE_DIR_LOWER = "onedata"

#: The recipes each thread is resolving, as ``(id(session), file_name)``, outermost first.
_resolving = threading.local()


class LoadingRecipe:
    """Instructions for loading data kept elsewhere, saved in place of the data.

    The same class as vrAnalysis's ``LoadingRecipe``: same constructor,
    attributes, ``to_dict``/``from_dict``/``is_recipe``, and the same file
    (``saveone`` of a recipe writes ``np.array(recipe.to_dict(), dtype=object)``
    as ``np.save`` does). onedata reads recipe files with its own pickle
    reader, which executes nothing.

    Parameters
    ----------
    loader_type : str
        The loader that resolves the recipe (a key of the session's
        ``recipe_loaders``), e.g. ``"S2P"``.
    source_arg : str or None
        What the loader reads, e.g. ``"F"``; None calls the loader with the
        keyword arguments only.
    transforms : list of str, optional
        Names of transforms (keys of ``recipe_transforms``) applied in order.
    **kwargs
        Keyword arguments for the loader.

    Examples
    --------
    >>> r = LoadingRecipe("S2P", "F", ["transpose"], planes=[0, 1])
    >>> LoadingRecipe.from_dict(r.to_dict()).kwargs
    {'planes': [0, 1]}
    """

    RECIPE_MARKER = "__LOADING_RECIPE__"

    def __init__(self, loader_type: str, source_arg: Optional[str], transforms: Optional[list] = None, **kwargs: Any):
        self.loader_type = loader_type
        self.source_arg = source_arg
        self.transforms = transforms or []
        self.kwargs = kwargs

    def to_dict(self) -> dict:
        """The recipe as the dict its file holds: marker, loader_type, source_arg, transforms, kwargs."""
        return {
            "marker": self.RECIPE_MARKER,
            "loader_type": self.loader_type,
            "source_arg": self.source_arg,
            "transforms": self.transforms,
            "kwargs": self.kwargs,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "LoadingRecipe":
        """The recipe a ``to_dict()`` dict describes."""
        return cls(data["loader_type"], data["source_arg"], data["transforms"], **data["kwargs"])

    @classmethod
    def is_recipe(cls, data: Any) -> bool:
        """Whether ``data`` (what loading a ``.npy`` file gave) holds a recipe.

        True for an array of one element that is a dict marked as a recipe,
        as vrAnalysis decides it.
        """
        try:
            item = data.item()
        except (AttributeError, ValueError):
            return False
        return isinstance(item, dict) and item.get("marker", None) == cls.RECIPE_MARKER

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LoadingRecipe):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        kwargs = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"LoadingRecipe({self.loader_type!r}, {self.source_arg!r}, {self.transforms!r}{kwargs})"




class OneCache(OrderedDict):
    """The cache of loaded onedata files: a bounded, thread-safe dict.

    It is a dict (an ``OrderedDict``) of file name -> what ``loadone``
    returned, as vrAnalysis's ``one_cache`` is, and differs by design in one
    way: it holds at most ``max_items`` entries, dropping first the entry
    loaded (or saved) longest ago. A hit is one dict lookup, as fast as
    vrAnalysis's dict, so it does not reorder entries. Each operation is
    atomic, so sessions can be used from several threads at once. An array dropped
    from the cache stays valid for as long as the caller holds it (its
    memory map goes when the last array over it does).

    Parameters
    ----------
    max_items : int, optional
        Entries kept before the oldest is dropped (default 256;
        None for no bound, as vrAnalysis's dict).

    Examples
    --------
    >>> cache = OneCache(max_items=2)
    >>> cache["a.npy"], cache["b.npy"], cache["c.npy"] = 1, 2, 3
    >>> list(cache)
    ['b.npy', 'c.npy']
    """

    def __init__(self, max_items: Optional[int] = 256):
        super().__init__()
        self.max_items = max_items

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        if self.max_items is not None:
            while len(self) > self.max_items:
                try:
                    self.popitem(last=False)
                except KeyError:  # emptied by another thread meanwhile
                    break

    def __reduce__(self):
        """A cache pickles empty: it refills from the files where it lands."""
        return (OneCache, (self.max_items,))

    def __repr__(self) -> str:
        return f"OneCache({list(self)!r}, max_items={self.max_items})"


def _url_root(data_path: Any) -> Any:
    """``data_path``, or the URL it was made from when a ``pathlib.Path`` has
    mangled one (``Path("s3://b/root") / "m"`` is ``s3:/b/root/m``)."""
    if isinstance(data_path, Path):
        text = data_path.as_posix()
        scheme, sep, rest = text.partition(":/")
        if sep and len(scheme) > 1 and scheme.isalnum() and not rest.startswith("/"):
            return scheme + "://" + rest
    return data_path


def _remote(url: str) -> Any:
    remote = getattr(_onedata, "Remote", None)
    if remote is None:  # pragma: no cover - a build without the remote feature
        raise InvalidArgument(f"this build of onedata cannot use URLs ({url}): it was built without remote support")
    return remote(url)


def _session_date(date: Any) -> str:
    """The session date as ``YYYY-MM-DD``, as vrAnalysis formats it."""
    if isinstance(date, datetime):
        return datetime.fromtimestamp(date.timestamp()).strftime("%Y-%m-%d")
    if isinstance(date, str):
        return datetime.strptime(date, "%Y-%m-%d").strftime("%Y-%m-%d")
    if isinstance(date, float):
        return datetime.fromtimestamp(date).strftime("%Y-%m-%d")
    raise ValueError(f"Invalid input type for a session date: {type(date)} (pass 'YYYY-MM-DD', a datetime or a timestamp)")


def _check_file_name(file_name: str) -> None:
    """Refuses a onedata file name that would leave the oneData folder or
    that Windows refuses (``:``, ``< > " | ? *``, control characters, device
    names such as ``CON.npy``): raises :class:`onedata.InvalidName`, whose
    message says why, as onedata's Rust layer checks names."""
    _onedata.check_file_name(file_name)


def _is_file_name(file_name: str) -> bool:
    """Whether ``file_name`` is one a session may hold (see ``_check_file_name``)."""
    try:
        _onedata.check_file_name(file_name)
    except Error:
        return False
    return True


def _sparse_name(file_name: str) -> str:
    """``Path(file_name).with_suffix('.npz').name``, without building a Path."""
    stem, ext = os.path.splitext(file_name)
    return (stem if ext else file_name) + ".npz"


@dataclass
class SessionData(ABC):
    """Base class for a recording session: vrAnalysis's ``SessionData``, backed by onedata.

    A session type written against vrAnalysis's base class runs unchanged on
    this one: a ``@dataclass`` subclass with ``mouse_name``, ``date`` and
    ``session_id``, ``_init_data_path()``, ``_additional_loading()`` calling
    ``super()``, ``recipe_loaders``, ``recipe_transforms`` and ``spks``. The
    names, signatures, defaults and return types are vrAnalysis's.

    What onedata does better, by design:

    - ``loadone`` returns numpy arrays over the file's memory map (zero copy,
      read-only, opened in constant time); ``saveone`` writes atomically.
    - No file can run code: object arrays and recipes are read by onedata's
      restricted pickle reader, not by ``np.load(allow_pickle=True)``.
    - ``one_cache`` is an :class:`OneCache`: bounded and thread-safe, and
      still read like a dict of what was loaded.
    - Names are checked: a name that would leave the ``oneData`` folder,
      or that Windows refuses (``CON``, ``a?b``, ``C:x``...), raises
      :class:`onedata.InvalidName`, on every platform.
    - A recipe whose loader asks, directly or through other recipes, for a
      file being loaded raises :class:`onedata.RecipeCycle` (vrAnalysis
      recurses until the recursion limit).
    - ``clear_one_data`` with an empty list deletes nothing (vrAnalysis deletes
      every file), deletes regular files only, and drops the deleted files
      from the cache.
    - Arrays over maps are protected from other programs: on Linux each
      mapped file holds a read lease, so a program that rewrites it in place
      (``np.save`` to the same path) waits while onedata moves the map into
      private memory, and no array changes or faults. Where no lease can be
      had (network and FUSE filesystems, another user's files, files open
      for writing, other platforms) the class attribute ``map_policy``
      decides: ``"auto"`` (the default) reads such files into memory,
      ``"always"`` maps them unprotected, ``"never"`` reads every file into
      memory. ``array.base.protected`` says what each array got.
    - Saves are durable: ``saveone`` syncs (``fsync``) each file before
      renaming it into place and the folder after, so a power cut leaves
      the old file or the new one. The class attribute ``durable_saves``
      set to False skips the syncs, for scratch data that can be recomputed.

    Attributes
    ----------
    mouse_name : str
    date : str
        ``YYYY-MM-DD`` (a datetime, or a timestamp, is converted).
    session_id : str or None
    data_path : pathlib.Path or str
        Set by ``_init_data_path()``: a folder, or for a session in object
        storage its URL, a ``str`` (``s3://bucket/root/mouse/date/id``).
    values : types.SimpleNamespace
        Small values of the session.
    one_cache : OneCache
        What ``loadone`` loaded, by file name.
    """

    mouse_name: str
    date: Union[str, datetime]
    session_id: Optional[str] = None
    data_path: Union[Path, str] = field(init=False, repr=False)
    values: SimpleNamespace = field(default_factory=SimpleNamespace, repr=False, init=False)
    one_cache: OneCache = field(default_factory=OneCache, repr=False, init=False)

    #: Whether ``get_one_filename`` is this class's own (so ``loadone`` may
    #: inline it); set for each subclass.
    _plain_names = True

    #: When loads map their files: ``"auto"``, ``"always"`` or ``"never"``
    #: (see above; a class attribute, so subclasses and instances may set it).
    map_policy = "auto"

    #: Whether ``saveone`` ``fsync``s each file before its rename and the
    #: folder after it (see :func:`onedata.save`; a class attribute, so
    #: subclasses and instances may set it).
    durable_saves = True

    #: For a session in object storage: whether ``loadone`` of a file already
    #: in the local cache asks the store (one HEAD) that it has not changed.
    #: False (the default) loads a warm cache with no request at all.
    revalidate = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._plain_names = cls.get_one_filename is SessionData.get_one_filename

    def __post_init__(self) -> None:
        self.date = _session_date(self.date)
        self.data_path = _url_root(self._init_data_path())
        self._additional_loading()

    def _additional_loading(self) -> None:
        """Additional loading for subclasses, called at the end of ``__post_init__``."""

    @abstractmethod
    def _init_data_path(self) -> Union[Path, str]:
        """The folder holding the session's data (subclasses define it).

        For a session in object storage, its URL as a ``str``
        (``f"s3://bucket/root/{self.mouse_name}/{self.date}/{self.session_id}"``);
        a URL that ``pathlib.Path`` has mangled (``s3:/bucket/...``) is
        taken back."""

    @property
    @abstractmethod
    def spks(self) -> np.ndarray:
        """The session's neural activity (subclasses define it)."""

    # -- identity ---------------------------------------------------------
    @property
    def session_name(self) -> tuple:
        """``(mouse_name, date)`` or ``(mouse_name, date, session_id)``."""
        if self.session_id:
            return self.mouse_name, self.date, self.session_id
        return self.mouse_name, self.date

    def session_print(self, joinby: str = "/") -> str:
        """The session name joined by ``joinby``."""
        return joinby.join(self.session_name)

    @property
    def session_uid(self) -> str:
        """The session name joined by ``"."``."""
        return ".".join(self.session_name)

    # -- values -----------------------------------------------------------
    def get_value(self, key: str) -> Any:
        """The value stored under ``key`` (an AttributeError if there is none)."""
        return getattr(self.values, key)

    def set_value(self, key: str, value: Any) -> None:
        """Stores ``value`` under ``key``."""
        setattr(self.values, key, value)

    # -- recipes ----------------------------------------------------------
    @property
    def recipe_loaders(self) -> dict:
        """Loaders for recipes, by ``loader_type`` (subclasses that use recipes define them)."""
        raise NotImplementedError(
            f"Attempting to load a recipe from {self.session_print()} but no recipe_loaders are specified."
        )

    @property
    def recipe_transforms(self) -> dict:
        """Transforms for recipes, by name (subclasses that use them define them)."""
        raise NotImplementedError(
            f"Attempting to transform a loaded recipe from {self.session_print()} but no recipe_transforms are specified."
        )

    # -- files --------------------------------------------------------------
    @property
    def is_remote(self) -> bool:
        """Whether the session is in object storage (its ``data_path`` a URL)."""
        return is_url(self.data_path)

    @property
    def one_path(self) -> Union[Path, str]:
        """The session's onedata folder: ``data_path / "oneData"``, or ``"onedata"``
        when only that spelling exists (vrAnalysis versions have used both).
        For a session in object storage, the URL ``data_path + "/oneData"``
        (a ``str``)."""
        one = self._one_dir()
        return one if is_url(one) else Path(one)

    def _one_dir(self) -> str:
        """``one_path`` as a string, remembered once the folder exists."""
        if is_url(self.data_path):
            # "oneData" unless a load found only "onedata" there (see
            # _url_lower_case): no request is made to tell them apart.
            known = self.__dict__.get("_one_dir_known")
            if known is not None and known[0] == self.data_path:
                return known[1]
            return join_url(self.data_path, ONE_DIR)
        data_path = os.fspath(self.data_path)
        known = self.__dict__.get("_one_dir_known")
        if known is not None and known[0] == data_path:
            return known[1]
        upper = os.path.join(data_path, ONE_DIR)
        lower = os.path.join(data_path, ONE_DIR_LOWER)
        if not os.path.isdir(upper) and os.path.isdir(lower):
            chosen = lower
        else:
            chosen = upper
        if os.path.isdir(chosen):
            self.__dict__["_one_dir_known"] = (data_path, chosen)
        return chosen

    def get_saved_one(self) -> List[Path]:
        """Every saved onedata file: the ``*.npy`` files, then the ``*.npz``
        files of the onedata folder, each sorted by name. As pathlib's glob,
        dot-files are included; unlike it, only regular files are (a folder
        named ``x.npy`` is not a onedata file).

        For a session in object storage, the objects under its ``oneData/``
        prefix (one LIST), as the paths they have in the local cache (which
        need not exist yet)."""
        one_path = self.one_path
        if isinstance(one_path, str):
            remote = _remote(one_path)
            entries = remote.list()
            if not entries and self._url_lower_case():
                return self.get_saved_one()
            cache = Path(remote.cache_path())
            names = [e["name"] for e in entries if _is_file_name(e["name"])]
            npy = sorted(n for n in names if n.endswith(".npy"))
            npz = sorted(n for n in names if n.endswith(".npz"))
            return [cache / n for n in npy] + [cache / n for n in npz]
        try:
            entries = list(os.scandir(one_path))
        except FileNotFoundError:
            return []
        npy = sorted(e.name for e in entries if e.name.endswith(".npy") and e.is_file())
        npz = sorted(e.name for e in entries if e.name.endswith(".npz") and e.is_file())
        return [one_path / n for n in npy] + [one_path / n for n in npz]

    def print_saved_one(self, include_path: bool = False, include_extension: bool = False) -> list:
        """The saved onedata files' names (stems, or with extension; with the
        folder as a Path when ``include_path``)."""

        def _format(name: Path) -> Any:
            one_name = name.stem
            if include_extension:
                one_name = one_name + name.suffix
            if include_path:
                return name.parent / one_name
            return one_name

        return [_format(name) for name in self.get_saved_one()]

    def clear_one_data(self, one_file_names: Optional[List[str]] = None, certainty: bool = False) -> None:
        """Deletes onedata files: all of them (``one_file_names=None``), or
        those whose stem is in ``one_file_names``. Nothing happens unless
        ``certainty=True``.

        Unlike vrAnalysis, an empty list deletes nothing, and deleted files
        are dropped from the cache.
        """
        if not certainty:
            print("You have to be certain to clear onedata! (This means set kwarg certainty=True).")
            return None
        one_files = self.get_saved_one()
        if one_file_names is not None:
            one_files = [f for f in one_files if f.stem in one_file_names]
        remote = self.one_path if self.is_remote else None
        for file in one_files:
            if remote is not None:
                # The object, and its copy in the cache.
                _remote(join_url(remote, file.name)).delete()
                _rows._HEADERS.pop(join_url(remote, file.name), None)
            else:
                file.unlink()
            self.one_cache.pop(file.name, None)
        print(f"Cleared onedata from session: {self.session_print()}")

    def get_one_filename(self, *names: str) -> str:
        """The file name for ``names``: joined by ``"."`` with ``".npy"`` added
        (``get_one_filename("mpci", "roiActivityF")`` is ``"mpci.roiActivityF.npy"``)."""
        return ".".join(names) + ".npy"

    # -- save and load -----------------------------------------------------
    def saveone(self, data: Any, *names: str, sparse: bool = False) -> None:
        """Saves an array, a sparse ``csc_array`` (``sparse=True``) or a
        :class:`LoadingRecipe` under ``names``, atomically (and durably
        unless ``durable_saves`` is False).

        An array is also put in the cache, as vrAnalysis does. A recipe or
        sparse file replaces any cached entry of that name (vrAnalysis leaves
        a stale one). The onedata folder is created if needed.

        Raises
        ------
        ValueError
            If ``sparse=True`` and ``data`` is not a ``scipy.sparse.csc_array``.
        """
        file_name = self.get_one_filename(*names)
        _check_file_name(file_name)
        if is_url(self.data_path) and self.__dict__.get("_one_dir_checked") != self.data_path:
            # A session's first save asks the store which spelling of the
            # onedata folder it has (one LIST), so that a session kept under
            # onedata/ is not given a second, oneData/, folder.
            self._url_lower_case()
            self.__dict__["_one_dir_checked"] = self.data_path
        one_path = self.one_path
        if isinstance(one_path, str):
            # In object storage: written in the local cache folder, then uploaded.
            return self._saveone_remote(one_path, data, file_name, sparse)
        path = one_path / file_name
        if not getattr(self, "_onedata_swept", False):
            # The first save deletes what saves killed mid-write left behind
            # (hidden .onedata-*.tmp files; never one a save still writes).
            self._onedata_swept = True
            try:
                _onedata.remove_stale_temporaries(one_path)
            except Error:
                pass
        if isinstance(data, LoadingRecipe) or (
            hasattr(data, "to_dict") and getattr(data, "RECIPE_MARKER", None) == LoadingRecipe.RECIPE_MARKER
        ):
            one_path.mkdir(parents=True, exist_ok=True)
            _onedata.write_recipe(path, data.to_dict(), bool(self.durable_saves))
            self.one_cache.pop(file_name, None)
        elif sparse:
            from scipy.sparse import csc_array

            if not isinstance(data, csc_array):
                raise InvalidArgument("Data is not a scipy.sparse.csc_array, not supported for saving with sparse=True")
            one_path.mkdir(parents=True, exist_ok=True)
            sparse_name = _sparse_name(file_name)
            _save_sparse(one_path / sparse_name, data, bool(self.durable_saves))
            self.one_cache.pop(sparse_name, None)
        else:
            one_path.mkdir(parents=True, exist_ok=True)
            self.one_cache[file_name] = data
            _io.save(path, data, durable=bool(self.durable_saves))

    def _saveone_remote(self, one_url: str, data: Any, file_name: str, sparse: bool) -> None:
        """``saveone`` for a session in object storage: the file is written in
        the cache folder as a local save writes it, then uploaded (to a
        temporary key moved into place, so that readers never see a partial
        object)."""
        is_recipe = isinstance(data, LoadingRecipe) or (
            hasattr(data, "to_dict") and getattr(data, "RECIPE_MARKER", None) == LoadingRecipe.RECIPE_MARKER
        )
        if sparse and not is_recipe:
            from scipy.sparse import csc_array

            if not isinstance(data, csc_array):
                raise InvalidArgument("Data is not a scipy.sparse.csc_array, not supported for saving with sparse=True")
            file_name = _sparse_name(file_name)
        remote = _remote(join_url(one_url, file_name))
        local = Path(remote.cache_path())
        local.parent.mkdir(parents=True, exist_ok=True)
        durable = bool(self.durable_saves)
        # The copy is locked from its write to the end of its upload: a
        # download of the same file (another session, another process)
        # cannot rename an older version in between.
        with remote.lock_copy():
            # The object as this cache last saw it: the upload replaces that
            # one only, so that another writer's save meanwhile is not lost.
            etag = remote.last_seen_etag()
            if is_recipe:
                _onedata.write_recipe(local, data.to_dict(), durable)
            elif sparse:
                _save_sparse(local, data, durable)
            else:
                _io.save(local, data, durable=durable)
            _rows._HEADERS.pop(join_url(one_url, file_name), None)
            try:
                remote.upload(local, etag)
            except BaseException:
                self.one_cache.pop(file_name, None)
                raise
        if is_recipe or sparse:
            self.one_cache.pop(file_name, None)
        else:
            self.one_cache[file_name] = data

    def _url_lower_case(self) -> bool:
        """For a session in object storage with no ``oneData/`` prefix but a
        ``onedata/`` one (the spelling other vrAnalysis versions use):
        remembers it and says True. One LIST, made only after a file was not
        found under ``oneData/``."""
        data_path = self.data_path
        known = self.__dict__.get("_one_dir_known")
        if known is not None and known[0] == data_path:
            return False
        dirs = _remote(data_path).list_dirs()
        if ONE_DIR not in dirs and ONE_DIR_LOWER in dirs:
            self.__dict__["_one_dir_known"] = (data_path, join_url(data_path, ONE_DIR_LOWER))
            return True
        return False

    def _fetch(self, file_name: str) -> str:
        """The local path of a complete, verified copy of ``file_name`` of a
        session in object storage (downloaded into the cache unless it is
        there already)."""
        try:
            return _remote(join_url(self._one_dir(), file_name)).fetch(bool(self.revalidate))
        except RemoteError as e:
            if getattr(e, "fault", None) != "NotFound":
                raise
            if self._url_lower_case():
                return self._fetch(file_name)
            raise self._not_available(file_name) from e

    def one_rows(self, *names: str) -> RowSource:
        """The rows of a saved dense array, read only when sliced.

        ``session.one_rows("mpci", "roiActivityF")[a:b]`` reads frames
        ``a..b`` only: for a local session a slice of the file's map, for a
        session in object storage ranged GETs of those rows' bytes (nothing
        is downloaded). ``shape`` and ``dtype`` come from the file's header.
        The source pickles as where the file is, not as its data.

        Raises
        ------
        onedata.NotAvailable
            When the file does not exist.
        onedata.TypeMismatch
            When the file is not a dense array (a recipe, an object array).
        """
        file_name = self.get_one_filename(*names)
        _check_file_name(file_name)
        one = self._one_dir()
        location = join_url(one, file_name) if is_url(one) else os.path.join(one, file_name)
        try:
            return RowSource(location)
        except FileNotFoundError as e:
            raise self._not_available(file_name) from e
        except RemoteError as e:
            if getattr(e, "fault", None) != "NotFound":
                raise
            if self._url_lower_case():
                return self.one_rows(*names)
            raise self._not_available(file_name) from e

    def loadone_rows(self, name: Union[str, tuple], start: int, stop: int) -> np.ndarray:
        """Rows ``start..stop`` (axis 0) of a saved array, as a writeable
        copy that owns its memory (``loadone(name)[start:stop].copy()``).

        For a local session, or a file already loaded or in the download
        cache, the rows are copied from the file's map (no request); for a
        file of a session in object storage not downloaded yet, only those
        rows' bytes are read, with ranged GETs (nothing is downloaded). A
        name that holds a loading recipe is loaded (``loadone``) and sliced.

        Parameters
        ----------
        name : str or tuple of str
            The onedata name (``"mpci.roiActivityF"``) or the parts
            ``loadone`` joins.
        start, stop : int
            The rows, as a slice ``start:stop`` takes them.
        """
        names = (name,) if isinstance(name, str) else tuple(name)
        file_name = self.get_one_filename(*names)
        cached = self.one_cache.get(file_name)
        if isinstance(cached, np.ndarray) and cached.ndim > 0:
            return np.array(cached[start:stop])
        one = self._one_dir()
        if is_url(one):
            _check_file_name(file_name)
            url = join_url(one, file_name)
            remote = _remote(url)
            if remote.is_cached():
                # Downloaded already: the rows of the cached copy, with no
                # request (one HEAD when ``revalidate``), as loadone reads it.
                data = _io.load(remote.fetch(bool(self.revalidate)), policy=self.map_policy)
                return self._rows_of(names, data, start, stop, url)
            # Ranged GETs: the header (the first time this process reads
            # the file), then the rows.
            try:
                header = _rows.remote_header(url, remote)
            except RemoteError as e:
                if getattr(e, "fault", None) != "NotFound":
                    raise
                if self._url_lower_case():
                    return self.loadone_rows(names, start, stop)
                raise self._not_available(file_name) from e
            shape, dtype = header["shape"], header["dtype"]
            # (0-d, Fortran order, an object array: as below.)
            if shape and not dtype.hasobject and not (header["fortran_order"] and len(shape) > 1):
                a, b, _ = slice(start, stop).indices(shape[0])
                return np.array(_rows.remote_rows(url, remote, [(a, max(a, b))])[0][0])
        try:
            source = self.one_rows(*names)
        except TypeMismatch:
            return np.array(np.asarray(self.loadone(*names))[start:stop])
        return np.array(source.read_rows(start, stop))

    def _rows_of(self, names: tuple, data: Any, start: int, stop: int, location: str) -> np.ndarray:
        """Rows ``start..stop`` of ``data`` (a file's map), copied; a recipe
        or an object array is loaded through ``loadone`` and sliced."""
        if isinstance(data, np.ndarray) and data.dtype.hasobject:
            return np.array(np.asarray(self.loadone(*names))[start:stop])
        if not isinstance(data, np.ndarray) or data.ndim == 0:
            raise InvalidArgument(f"{location} holds a 0-d array, which has no rows")
        return np.array(data[start:stop])

    def loadone(self, *names: str, force: bool = False, sparse: bool = False, keep_sparse: bool = False) -> Any:
        """Loads a onedata file, from the cache when it holds it, following a
        recipe when the file is one.

        Parameters
        ----------
        *names : str
            Joined into the file name (``"mpci", "roiActivityF"`` ->
            ``mpci.roiActivityF.npy``).
        force : bool, optional
            Reload even if the cache holds the file.
        sparse : bool, optional
            Load the ``.npz`` file of that name.
        keep_sparse : bool, optional
            With ``sparse``, return the scipy sparse array instead of a dense one.

        Returns
        -------
        numpy.ndarray
            A read-only array over the file's map (or what the recipe's loader
            and transforms return, or a scipy sparse array).

        Raises
        ------
        onedata.NotAvailable
            A ValueError (as vrAnalysis raises) when the file does not exist;
            the message lists the files that do.
        onedata.RecipeCycle
            A RecursionError, when a recipe's loader asks (directly or through
            other recipes) for a file being loaded; ``files`` names the cycle.
        onedata.InvalidName
            When the file name would leave ``oneData`` or Windows refuses it.
        """
        if self._plain_names:  # get_one_filename as defined here, inlined
            file_name = ".".join(names) + ".npy"
        else:
            file_name = self.get_one_filename(*names)
        if sparse:
            file_name = _sparse_name(file_name)
        if not force:
            cache = self.one_cache
            hit = cache.get(file_name)
            if hit is not None or file_name in cache:
                return hit
        _check_file_name(file_name)
        one_dir = self._one_dir()
        if is_url(one_dir):
            path = self._fetch(file_name)
        else:
            path = os.path.join(one_dir, file_name)
        if sparse:
            data = _load_sparse(path, file_name, self)
            if not keep_sparse:
                data = data.toarray()
        else:
            try:
                data = _io.load(path, policy=self.map_policy)
            except FileNotFoundError as e:
                raise self._not_available(file_name) from e
            # Only object arrays can hold a recipe.
            if data.dtype.hasobject and LoadingRecipe.is_recipe(data):
                data = self._resolve_recipe(file_name, LoadingRecipe.from_dict(data.item()))
        self.one_cache[file_name] = data
        return data

    def _resolve_recipe(self, file_name: str, recipe: LoadingRecipe) -> Any:
        """What ``recipe`` (the contents of ``file_name``) points at: its
        loader, then its transforms. A loader that asks, directly or through
        other recipes, for a file whose recipe this thread is resolving
        raises :class:`onedata.RecipeCycle` (vrAnalysis recurses until the
        recursion limit)."""
        stack = _resolving.__dict__.setdefault("stack", [])
        key = (id(self), file_name)
        if key in stack:
            files = [name for _, name in stack[stack.index(key) :]] + [file_name]
            error = RecipeCycle(
                f"recipe cycle in session {self.session_print()}: {' -> '.join(files)}; "
                "a recipe's loader asks for a name being loaded"
            )
            error.files = files
            error.path = self._file_location(file_name)
            raise error
        stack.append(key)
        try:
            if recipe.source_arg is not None:
                data = self.recipe_loaders[recipe.loader_type](recipe.source_arg, **recipe.kwargs)
            else:
                data = self.recipe_loaders[recipe.loader_type](**recipe.kwargs)
            for transform in recipe.transforms:
                data = self.recipe_transforms[transform](data)
        finally:
            stack.pop()
        return data

    def _not_available(self, file_name: str) -> NotAvailable:
        saved = ", ".join(self.print_saved_one(include_extension=True)) or "none"
        error = NotAvailable(
            f"onedata requested is not available: session {self.session_print()} has no {file_name} "
            f"in {self.one_path} (saved: {saved})"
        )
        error.path = self._file_location(file_name)
        return error

    def _file_location(self, file_name: str) -> str:
        """Where ``file_name`` is kept: its path, or its URL."""
        one = self._one_dir()
        return join_url(one, file_name) if is_url(one) else os.path.join(one, file_name)

    def clear_cache(self, file_names: Optional[List[str]] = None) -> None:
        """Drops cached files (all, or those named, with extension). Files on
        disk are untouched; arrays already handed out stay valid."""
        if file_names is None:
            self.one_cache.clear()
        else:
            for file_name in file_names:
                self.one_cache.pop(file_name, None)

    # -- from asyncio ---------------------------------------------------------
    async def aloadone(self, *names: str, **options: Any) -> Any:
        """``loadone`` for a coroutine: the load (a download, for a session
        in object storage) runs on a worker thread with the GIL released, so
        the caller's event loop keeps running meanwhile.

        >>> spks = await session.aloadone("mpci.roiActivityDeconvolvedOasis")  # doctest: +SKIP
        """
        return await asyncio.to_thread(self.loadone, *names, **options)

    async def aloadone_rows(self, name: Union[str, tuple], start: int, stop: int) -> np.ndarray:
        """``loadone_rows`` for a coroutine (see ``aloadone``)."""
        return await asyncio.to_thread(self.loadone_rows, name, start, stop)

    async def asaveone(self, data: Any, *names: str, **options: Any) -> None:
        """``saveone`` for a coroutine (see ``aloadone``): the write and the
        upload run on a worker thread."""
        await asyncio.to_thread(self.saveone, data, *names, **options)

    # -- pickling -------------------------------------------------------------
    def __getstate__(self) -> dict:
        """Sessions pickle by identity and path: the cache is left behind (it
        refills from the files), so workers get a light session."""
        state = self.__dict__.copy()
        if not is_url(self.data_path):
            # A folder is looked at again where the session lands (a URL's
            # spelling is the store's, the same everywhere).
            state.pop("_one_dir_known", None)
        cache = self.one_cache
        state["one_cache"] = OneCache(cache.max_items) if isinstance(cache, OneCache) else {}
        return state


#: Attributes a session may set on itself that a reopened copy keeps: how
#: it maps files, saves them and revalidates its download cache.
_REFERENCE_SETTINGS = ("map_policy", "durable_saves", "revalidate")


class SessionReference:
    """A :class:`SessionData` by reference: its class, the fields it was
    made with (``mouse_name``, ``date``, ``session_id``, and a subclass's
    own), its ``data_path`` (a folder or a URL) and its map, save and
    revalidation settings. It pickles in a few hundred bytes whatever the
    session holds (values, cache, attributes set by ``_additional_loading``),
    and :meth:`reopen` makes the session again where it lands."""

    __slots__ = ("cls", "fields", "data_path", "settings")

    def __init__(self, cls: type, fields: dict, data_path: Union[Path, str], settings: dict) -> None:
        self.cls = cls
        self.fields = fields
        self.data_path = data_path
        self.settings = settings

    def __reduce__(self):
        return (SessionReference, (self.cls, self.fields, self.data_path, self.settings))

    def __repr__(self) -> str:
        return f"SessionReference({self.cls.__qualname__}, {self.fields!r}, {self.data_path!r})"

    def reopen(self) -> "SessionData":
        """The session again: its fields set, at its recorded ``data_path``
        (``_init_data_path`` is not asked again, so that a worker need not
        have the configuration that chose it), then ``_additional_loading``,
        as for any new session. Its values and cache start empty."""
        cls = self.cls
        session = cls.__new__(cls)
        for f in dataclasses.fields(cls):
            if f.name in self.fields:
                value = self.fields[f.name]
            elif f.default is not dataclasses.MISSING:
                value = f.default
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                continue
            object.__setattr__(session, f.name, value)
        object.__setattr__(session, "data_path", self.data_path)
        session.__dict__.update(self.settings)
        session._additional_loading()
        return session


def session_reference(session: "SessionData") -> SessionReference:
    """``session`` by reference (see :class:`SessionReference`)."""
    fields = {f.name: getattr(session, f.name) for f in dataclasses.fields(session) if f.init}
    settings = {k: session.__dict__[k] for k in _REFERENCE_SETTINGS if k in session.__dict__}
    known = session.__dict__.get("_one_dir_known")
    if known is not None and is_url(session.data_path):
        # The spelling of the onedata folder a URL session found (the
        # store's, the same everywhere): the copy makes no LIST to find it.
        settings["_one_dir_known"] = known
    return SessionReference(type(session), fields, session.data_path, settings)


def _save_sparse(path: Path, matrix: Any, durable: bool) -> None:
    from ._sparse import save_npz

    save_npz(path, matrix, durable=durable)


def _load_sparse(path: Any, file_name: str, session: SessionData) -> Any:
    from ._sparse import load_npz

    try:
        return load_npz(path)
    except FileNotFoundError as e:
        raise session._not_available(file_name) from e
