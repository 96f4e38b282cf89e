"""Shared fixtures. The tests run against real numpy and scipy."""

import pytest

try:
    import numpy  # noqa: F401
    import scipy  # noqa: F401
except ImportError as e:  # pragma: no cover
    raise ImportError(
        f"onedata's Python tests need numpy and scipy ({e}); install them with "
        "`python3 -m pip install numpy==2.2.6 scipy==1.15.3`"
    ) from e

try:
    import onedata  # noqa: F401
except ImportError as e:  # pragma: no cover
    raise ImportError(f"the onedata package is not installed ({e}); install it with `python3 -m pip install ./python`") from e


@pytest.fixture
def tmp(tmp_path):
    return tmp_path
