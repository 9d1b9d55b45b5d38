"""Values as JSON can hold them (results, fronts and fingerprints are JSON)."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

__all__ = ["jsonable"]


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy values as Python ones, tuples as lists, non-finite floats as ``None``, paths
    (``pathlib.Path``) as their strings and anything else JSON cannot hold (a function, an object of
    one's own) as its ``repr``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, os.PathLike):  # read back as a string: a plug-in taking a path takes one
        return os.fsdecode(obj)
    return repr(obj)
