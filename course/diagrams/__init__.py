"""Figures of network structures, drawn with matplotlib (each function returns a Figure).

One module per family of diagrams; ``course.diagrams.<module>`` is imported on
first use, like the submodules of :mod:`course`.
"""

import importlib
import pkgutil

__all__ = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"course.diagrams.{name}")
    raise AttributeError(f"module 'course.diagrams' has no attribute {name!r}")
