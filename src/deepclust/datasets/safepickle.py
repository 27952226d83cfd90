"""A restricted unpickler for data files that are pickles (CIFAR batches, DEC's reutersidf10k.npy).

Only plain containers and numpy arrays can be rebuilt: no other class or function is importable, so a
malicious file cannot run code. Python 2 pickles are read with encoding="latin1" (numpy's advice).
"""
from __future__ import annotations

import io
import pickle

import numpy as np

from ..errors import CorruptFileError

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
        if module == "numpy":
            return getattr(np, name)
        if module.startswith("numpy.core"):
            module = "numpy._core" + module[len("numpy.core"):]
        return super().find_class(module, name)


def loads(data: bytes, source="data"):
    return load(io.BytesIO(data), source)


def load(fh, source="data"):
    """Unpickle from an open binary file; CorruptFileError naming `source` on any failure."""
    try:
        return SafeUnpickler(fh, encoding="latin1").load()
    except Exception as exc:  # pickle raises many types on damaged input
        raise CorruptFileError(f"{source}: not a readable data pickle ({type(exc).__name__}: {exc}); "
                               "delete it and download it again") from exc


def load_npy_object(path):
    """The object stored in an object-dtype .npy file (e.g. np.save of a dict), read with SafeUnpickler.

    Returns None if the file is a plain (non-object) array.
    """
    from numpy.lib import format as npformat

    with open(path, "rb") as fh:
        try:
            version = npformat.read_magic(fh)
            reader = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
            shape, _, dtype = reader(fh)
        except ValueError as exc:
            raise CorruptFileError(f"{path}: not a .npy file ({exc})") from exc
        if not dtype.hasobject:
            return None
        obj = load(fh, str(path))
    if isinstance(obj, np.ndarray) and obj.shape == () and shape == ():
        return obj.item()
    return obj
