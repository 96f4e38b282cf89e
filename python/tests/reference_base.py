"""The behaviour of vrAnalysis's SessionData base class, as a reference.

Written for these tests from vrAnalysis's documented behaviour (its
``loadone``/``saveone`` read and write with ``np.load(allow_pickle=True)`` and
``np.save`` and keep a plain dict cache). A session type is run on this base
and on ``onedata.SessionData`` and must give the same answers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import numpy as np
from scipy.sparse import csc_array, load_npz, save_npz


class RefLoadingRecipe:
    RECIPE_MARKER = "__LOADING_RECIPE__"

    def __init__(self, loader_type, source_arg, transforms=None, **kwargs):
        self.loader_type = loader_type
        self.source_arg = source_arg
        self.transforms = transforms or []
        self.kwargs = kwargs

    def to_dict(self):
        return {
            "marker": self.RECIPE_MARKER,
            "loader_type": self.loader_type,
            "source_arg": self.source_arg,
            "transforms": self.transforms,
            "kwargs": self.kwargs,
        }

    @classmethod
    def from_dict(cls, d):
        return cls(d["loader_type"], d["source_arg"], d["transforms"], **d["kwargs"])

    @classmethod
    def is_recipe(cls, data):
        try:
            item = data.item()
        except (AttributeError, ValueError):
            return False
        return isinstance(item, dict) and item.get("marker") == cls.RECIPE_MARKER


@dataclass
class RefSessionData(ABC):
    mouse_name: str
    date: object
    session_id: Optional[str] = None
    data_path: Path = field(init=False, repr=False)
    values: SimpleNamespace = field(default_factory=SimpleNamespace, repr=False, init=False)
    one_cache: dict = field(default_factory=dict, repr=False, init=False)

    def __post_init__(self):
        if isinstance(self.date, datetime):
            self.date = self.date.strftime("%Y-%m-%d")
        else:
            self.date = datetime.strptime(self.date, "%Y-%m-%d").strftime("%Y-%m-%d")
        self.data_path = self._init_data_path()
        self._additional_loading()

    def _additional_loading(self):
        pass

    @abstractmethod
    def _init_data_path(self):
        ...

    @property
    @abstractmethod
    def spks(self):
        ...

    @property
    def session_name(self):
        if self.session_id:
            return self.mouse_name, self.date, self.session_id
        return self.mouse_name, self.date

    def session_print(self, joinby="/"):
        return joinby.join(self.session_name)

    def get_value(self, key):
        return getattr(self.values, key)

    def set_value(self, key, value):
        setattr(self.values, key, value)

    @property
    def one_path(self):
        return Path(self.data_path) / "oneData"

    def get_saved_one(self):
        return sorted(self.one_path.glob("*.npy")) + sorted(self.one_path.glob("*.npz"))

    def print_saved_one(self, include_path=False, include_extension=False):
        out = []
        for name in self.get_saved_one():
            one = name.stem + (name.suffix if include_extension else "")
            out.append(name.parent / one if include_path else one)
        return out

    def get_one_filename(self, *names):
        return ".".join(names) + ".npy"

    def saveone(self, data, *names, sparse=False):
        file_name = self.get_one_filename(*names)
        path = self.one_path / file_name
        if isinstance(data, RefLoadingRecipe):
            np.save(path, np.array(data.to_dict(), dtype=object))
        elif sparse:
            if not isinstance(data, csc_array):
                raise ValueError("not a csc_array")
            save_npz(path.with_suffix(".npz"), data)
        else:
            self.one_cache[file_name] = data
            np.save(path, data)

    def loadone(self, *names, force=False, sparse=False, keep_sparse=False):
        file_name = self.get_one_filename(*names)
        path = self.one_path / file_name
        if sparse:
            path = path.with_suffix(".npz")
            file_name = path.name
        if not force and file_name in self.one_cache:
            return self.one_cache[file_name]
        if not path.exists():
            raise ValueError("onedata requested is not available")
        if sparse:
            data = load_npz(path)
            if not keep_sparse:
                data = data.toarray()
        else:
            data = np.load(path, allow_pickle=True)
            if RefLoadingRecipe.is_recipe(data):
                recipe = RefLoadingRecipe.from_dict(data.item())
                if recipe.source_arg is not None:
                    data = self.recipe_loaders[recipe.loader_type](recipe.source_arg, **recipe.kwargs)
                else:
                    data = self.recipe_loaders[recipe.loader_type](**recipe.kwargs)
                for t in recipe.transforms:
                    data = self.recipe_transforms[t](data)
        self.one_cache[file_name] = data
        return data

    def clear_cache(self, file_names=None):
        if file_names is None:
            self.one_cache = {}
        else:
            for f in file_names:
                self.one_cache.pop(f, None)
