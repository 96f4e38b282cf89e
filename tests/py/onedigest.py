"""onedata's digest in numpy: SHA-256 of the elements in C order, each
little-endian, booleans as one byte 0 or 1."""
import hashlib

import numpy as np


def digest(a):
    a = np.asarray(a)
    if a.dtype == np.bool_:
        a = a.astype("u1")
    le = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return hashlib.sha256(le.tobytes()).hexdigest()
