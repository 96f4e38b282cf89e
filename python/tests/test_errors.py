"""onedata's exception classes: each is an onedata.Error and the builtin a caller would catch."""

import onedata


def test_remote_errors_are_oserrors_with_a_url():
    assert issubclass(onedata.RemoteError, onedata.Error)
    assert issubclass(onedata.RemoteError, OSError)
    assert onedata.RemoteError.url is None
    assert "RemoteError" in onedata.__all__
