"""Plain values over a pipe: JSON, with NumPy arrays as base64 bytes. Never pickle.

The grader and the case runner in the sandbox exchange one JSON object per
line. Arrays travel as ``{"__array__": dtype, "shape": [...], "data": base64}``
and only numeric and boolean dtypes are accepted, so a reply from student
code can hold numbers, strings, lists, tuples and dicts, but never an object
the trusted side would have to run.
"""

from __future__ import annotations

import base64
import json
import math

import numpy as np

ARRAY_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex
MAX_DEPTH = 20


class WireError(ValueError):
    """A value that cannot be sent, or a message that is not what the protocol allows."""


def encode(value, depth: int = 0):
    """A JSON-ready form of ``value`` (numbers, strings, None, lists, tuples, dicts, arrays)."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray | np.generic) or hasattr(value, "__array__"):
        array = np.asarray(value)
        if array.dtype.kind not in ARRAY_KINDS:
            raise WireError(f"an array of dtype {array.dtype} cannot be sent (numbers only)")
        array = np.ascontiguousarray(array)
        return {"__array__": array.dtype.str, "shape": list(array.shape),
                "data": base64.b64encode(array.tobytes()).decode("ascii")}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, depth + 1) for v in value]}
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise WireError("dict keys must be strings")
        return {"__dict__": {k: encode(v, depth + 1) for k, v in value.items()}}
    raise WireError(f"a value of type {type(value).__name__} cannot be sent")


def decode(data, depth: int = 0, max_elements: int = 50_000_000):
    """The inverse of :func:`encode`, refusing anything it could not have produced."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list):
        return [decode(v, depth + 1, max_elements) for v in data]
    if not isinstance(data, dict) or len(data) not in (1, 3):
        raise WireError("malformed value")
    if "__array__" in data:
        dtype = np.dtype(str(data["__array__"]))
        shape = data.get("shape")
        if dtype.kind not in ARRAY_KINDS or not isinstance(shape, list) or not all(
                isinstance(n, int) and n >= 0 for n in shape):
            raise WireError("malformed array")
        if math.prod(shape) > max_elements:
            raise WireError(f"array of shape {tuple(shape)} is larger than allowed")
        raw = base64.b64decode(str(data["data"]), validate=True)
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise WireError("array data does not match its shape")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if "__tuple__" in data and isinstance(data["__tuple__"], list):
        return tuple(decode(v, depth + 1, max_elements) for v in data["__tuple__"])
    if "__dict__" in data and isinstance(data["__dict__"], dict):
        return {str(k): decode(v, depth + 1, max_elements) for k, v in data["__dict__"].items()}
    if "__float__" in data and data["__float__"] in ("nan", "inf", "-inf"):
        return float(data["__float__"])
    raise WireError("malformed value")


def dumps(message: dict) -> bytes:
    return json.dumps(message, allow_nan=False).encode() + b"\n"


def loads(line: bytes) -> dict:
    try:
        message = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WireError(f"not a JSON line: {err}") from err
    if not isinstance(message, dict):
        raise WireError("a message must be a JSON object")
    return message
