"""``onedata.B2Session``: vrAnalysis's B2 session type, loaded by onedata."""

from __future__ import annotations

import json
import os
from typing import Any, List, Optional, Union

from . import _onedata
from ._rows import is_url, join_url

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["B2Session"]


def _result(value: Any) -> Any:
    # A matrix kept sparse comes back as ("sparse", path): load it as scipy's.
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "sparse":
        from ._sparse import load_npz

        return load_npz(value[1])
    return value


class B2Session:
    """A vrAnalysis B2 session (suite2p imaging output under ``suite2p/``).

    Loads run in Rust with the GIL released. Dense results are read-only
    numpy arrays over onedata's memory (the file's map for ``.npy`` files
    loaded as they are; the one concatenated copy for recipes such as
    ``mpci.roiActivityF``, ``S2P("F")`` then ``transpose``, which come back
    as vrAnalysis computes them, dtype and memory order included). Object
    arrays (suite2p's ``stat``, ``ops``) are decoded by onedata's restricted
    pickle reader, which executes nothing. Loads are cached and shared
    between sessions made with :meth:`with_spks_type`.

    Parameters
    ----------
    root : str or os.PathLike
        The data root: the session is ``root/mouse_name/date/session_id``.
        A URL (``s3://bucket/root``, ``gs://``, ``az://``, ``http(s)://``)
        for a session in object storage: listings ask the store, loads fetch
        into the local download cache (``ONEDATA_CACHE_DIR``) and map the
        copy, and ``data_path``/``one_path`` are URLs. Recipes that read
        suite2p output read it from the cache folder (``cache_path``),
        which holds only what was fetched.
    mouse_name : str
    date : str
        ``YYYY-MM-DD``.
    session_id : str, optional
    spks_type : str, optional
        Which activity :meth:`spks` returns: ``"significant"`` (default),
        ``"oasis"``, ``"deconvolved"``, ``"raw"``, ``"neuropil"``,
        ``"sigbase"``, ``"sigrebase"`` or ``"corrected"``.

    Examples
    --------
    >>> import onedata
    >>> s = onedata.B2Session("/data", "ATL001", "2024-05-03", "701")  # doctest: +SKIP
    >>> f = s.loadone("mpci.roiActivityF")      # frames x ROIs  # doctest: +SKIP
    >>> s.get_roi_position("median").shape     # doctest: +SKIP
    (26, 3)
    """

    def __init__(
        self,
        root: PathLike,
        mouse_name: str,
        date: str,
        session_id: Optional[str] = None,
        spks_type: Optional[str] = None,
        *,
        _inner: Any = None,
    ) -> None:
        if _inner is None:
            if is_url(root):
                _inner = _onedata.B2Session.from_url(root, mouse_name, str(date), session_id, spks_type)
            else:
                _inner = _onedata.B2Session(os.fspath(root), mouse_name, str(date), session_id, spks_type)
        self._inner = _inner

    @classmethod
    def open(cls, data_path: PathLike) -> "B2Session":
        """The session kept in ``data_path`` (``.../mouse/YYYY-MM-DD[/session_id]``),
        a folder or a URL."""
        if is_url(data_path):
            return cls(None, "", "", _inner=_onedata.B2Session.open_url(data_path))
        return cls(None, "", "", _inner=_onedata.B2Session.open(os.fspath(data_path)))

    def with_spks_type(self, spks_type: str) -> "B2Session":
        """The same session (sharing its cache and values) with another spks type."""
        return B2Session(None, "", "", _inner=self._inner.with_spks_type(spks_type))

    @property
    def spks_type(self) -> str:
        """The spks type in force."""
        return self._inner.spks_type

    @property
    def session_name(self) -> List[str]:
        """``[mouse_name, date(, session_id)]``."""
        return self._inner.session_name

    def session_print(self, joinby: str = "/") -> str:
        """The session's name parts joined by ``joinby``."""
        return self._inner.session_print(joinby)

    @property
    def is_remote(self) -> bool:
        """Whether the session is in object storage (opened from a URL)."""
        return self._inner.url is not None

    @property
    def data_path(self):
        """The session folder (a ``pathlib.Path``), or for a session in
        object storage its URL (a ``str``)."""
        url = self._inner.url
        return self._inner.data_path if url is None else url

    @property
    def one_path(self):
        """The session's ``oneData`` folder, or for a session in object
        storage its URL."""
        url = self._inner.url
        one = self._inner.one_path
        return one if url is None else join_url(url, os.path.basename(one))

    @property
    def cache_path(self):
        """The session folder on this machine: ``data_path``, or for a session
        in object storage its folder in the download cache."""
        return self._inner.data_path

    @property
    def s2p_path(self):
        """``data_path / "suite2p"``."""
        return self._inner.s2p_path

    @property
    def neuropil_coefficient(self) -> float:
        """The neuropil coefficient of ``corrected`` spks."""
        return self._inner.neuropil_coefficient

    @property
    def opts(self) -> dict:
        """The registration options of ``vrExperimentOptions.json``."""
        return json.loads(self._inner.options_json())

    def loadone(self, name: str, force: bool = False, sparse: bool = False, keep_sparse: bool = False) -> Any:
        """Load the onedata file ``name``, resolving loading recipes, as vrAnalysis's ``loadone``.

        Parameters
        ----------
        name : str
            The onedata name (``mpci.roiActivityF``), without extension.
        force : bool, optional
            Reload even if cached.
        sparse : bool, optional
            Load ``name.npz`` (a scipy sparse matrix): densified as scipy's
            ``toarray()`` unless ``keep_sparse``.
        keep_sparse : bool, optional
            With ``sparse``, return the scipy sparse object (see
            :func:`onedata.load_npz`).

        Returns
        -------
        numpy.ndarray, scipy sparse object, or the Python value of an object array

        Examples
        --------
        >>> f = session.loadone("mpci.roiActivityF")  # doctest: +SKIP
        >>> f.flags.writeable  # doctest: +SKIP
        False
        """
        return _result(self._inner.loadone(name, force, sparse, keep_sparse))

    def loadone_rows(self, name: str, start: int, stop: int) -> Any:
        """Rows ``start..stop`` (axis 0) of the dense array ``name``: a copy
        from the file's map, or for a file of a session in object storage not
        downloaded yet, ranged GETs of just those rows."""
        return self._inner.loadone_rows(name, start, stop)

    def one_rows(self, name: str) -> Any:
        """The rows of the dense array ``name``, read only when sliced (an
        :class:`onedata.RowSource`)."""
        from ._rows import RowSource

        file_name = name if name.endswith(".npy") else name + ".npy"
        one = self.one_path
        return RowSource(join_url(one, file_name) if is_url(one) else os.path.join(os.fspath(one), file_name))

    def spks(self, spks_type: Optional[str] = None) -> Any:
        """The activity of the session's spks type (or of ``spks_type``), frames x ROIs."""
        return _result(self._inner.spks(spks_type))

    def load_s2p(self, var_name: str, concatenate: bool = True) -> Any:
        """vrAnalysis's ``load_s2p``: a suite2p variable of every plane, concatenated."""
        return _result(self._inner.load_s2p(var_name, concatenate))

    def get_roi_position(self, mode: str = "weightedmean") -> Any:
        """vrAnalysis's ``get_roi_position``: ``(nROIs, 3)`` float64, columns ``x, y, planeID``."""
        return self._inner.get_roi_position(mode)

    def loadfcorr(self) -> Any:
        """vrAnalysis's ``loadfcorr``: ``F - c * (Fneu - mean(Fneu))``, ROIs x frames."""
        return self._inner.loadfcorr()

    def get_value(self, key: str) -> Any:
        """The session value ``key`` (``vrExperimentValues.json``), as ``json.load`` reads it."""
        return json.loads(self._inner.get_value_json(key))

    def set_value(self, key: str, value: Any) -> None:
        """Set the session value ``key`` and save the values file."""
        self._inner.set_value_json(key, json.dumps(value))

    @property
    def durable_saves(self) -> bool:
        """Whether saving the values file ``fsync``s it before its rename and
        the folder after it (default True; see :func:`onedata.save`)."""
        return self._inner.durable_saves

    @durable_saves.setter
    def durable_saves(self, durable: bool) -> None:
        self._inner.durable_saves = bool(durable)

    @property
    def values(self) -> dict:
        """Every session value."""
        return json.loads(self._inner.values_json())

    def get_saved_one(self) -> list:
        """The files in the session's ``oneData`` folder."""
        return self._inner.get_saved_one()

    def clear_cache(self, file_names: Optional[List[str]] = None) -> None:
        """Drop cached loads (all, or of these file names)."""
        self._inner.clear_cache(file_names)

    def __reduce__(self):
        """A session pickles as its folder and spks type (workers reopen it,
        with a cache of their own)."""
        data_path = self.data_path
        return (_reopen, (data_path if is_url(data_path) else os.fspath(data_path), self.spks_type))

    def __repr__(self) -> str:
        return repr(self._inner)


def _reopen(data_path: str, spks_type: str) -> B2Session:
    return B2Session.open(data_path).with_spks_type(spks_type)
