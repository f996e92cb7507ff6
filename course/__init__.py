"""Shared helpers for the deep-learning image course.

``import course`` is cheap; the heavier submodules (``course.data``,
``course.plots`` ...) are imported the first time a notebook touches them.
"""

import importlib

from course import runtime

__all__ = ["checks", "data", "diagrams", "grading", "metrics", "plots", "pretrained", "runtime"]
__version__ = "0.2.0"


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"course.{name}")
    raise AttributeError(f"module 'course' has no attribute {name!r}")
