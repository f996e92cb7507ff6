"""Trusted-side scoring of metric questions (runs outside the sandbox).

The sandbox only ever sees hidden IMAGES; labels stay in this process. The
student's predictions come back as a ``.npy`` file which is opened without
following links, size-checked, loaded without pickle, validated for shape and
finiteness, then scored with the metric of :mod:`autograder.metrics` and
converted to points with ``course.grading.tier_fraction``, the formula the
notebook prints, whose zero point is the trivial model's score on the split.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder.config import MetricQuestion, Tiers
from autograder.metrics import METRICS


class InvalidPredictions(ValueError):
    """Predictions missing, unreadable, of the wrong shape or not finite."""


def load_module(spec: str):
    """A module by import name (``autograder.splits``) or by file path (``splits.py``)."""
    if spec.endswith(".py"):
        module_spec = importlib.util.spec_from_file_location(Path(spec).stem, spec)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"{spec!r}: cannot import it")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module
    return importlib.import_module(spec)


def read_untrusted_file(path: Path, max_bytes: int) -> bytes:
    """Read a file the student's code could have replaced (no links, no devices, size cap)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError as err:
        raise InvalidPredictions(f"{path.name} was not written") from err
    except OSError as err:
        raise InvalidPredictions(f"{path.name} cannot be opened safely: {err.strerror}") from err
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise InvalidPredictions(f"{path.name} is not a regular file")
        if info.st_size > max_bytes:
            raise InvalidPredictions(f"{path.name} is {info.st_size} bytes, over {max_bytes}")
        return handle.read(max_bytes + 1)


def read_predictions(path: Path, max_bytes: int) -> np.ndarray:
    data = read_untrusted_file(path, max_bytes)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InvalidPredictions(f"{path.name} is not a NumPy array file: {err}") from err
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiub":
        raise InvalidPredictions(f"{path.name} does not hold a numeric array")
    return array


@dataclass(frozen=True)
class ZeroPoint:
    """Where a question's smooth tier reaches 0: the trivial model's score on the split."""

    value: float
    model: str  # e.g. "the mean training face"


def zero_point(question: MetricQuestion, train_targets: np.ndarray,
               labels: np.ndarray, tiers: Tiers) -> ZeroPoint:
    metric = METRICS[question.metric]
    value = metric.value(labels, metric.baseline(train_targets, labels))
    last = tiers.tiers[-1][0]
    if (value >= last) if metric.higher_is_better else (value <= last):
        raise ValueError(
            f"{question.grade_id}: {metric.baseline_name} already scores {value:.4g} "
            f"{question.metric} on the grading split, as good as the lowest tier ({last:g}): "
            "raise the tiers in the grading TOML")
    return ZeroPoint(value, metric.baseline_name)


@dataclass(frozen=True)
class MetricScore:
    grade_id: str
    metric: str
    value: float | None
    fraction: float
    points: float
    max_points: float
    examples: int
    comment: str
    zero_at: float
    error: str | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def score(question: MetricQuestion, predictions_path: Path, labels: np.ndarray, tiers: Tiers,
          zero: ZeroPoint, split: str, max_points: float, max_bytes: int) -> MetricScore:
    """Points for one metric question; an unusable prediction earns 0 with the reason."""
    from course.grading import tier_fraction

    metric = METRICS[question.metric]
    try:
        predictions = read_predictions(predictions_path, max_bytes)
        problem = metric.check(predictions, labels)
        if problem:
            raise InvalidPredictions(f"{question.model}.{problem}")
    except InvalidPredictions as err:
        comment = f"[grader] {question.grade_id}: no score, {err}. 0/{max_points:g} points."
        return MetricScore(question.grade_id, question.metric, None, 0.0, 0.0, max_points,
                           len(labels), comment, zero.value, str(err))
    value = metric.value(labels, predictions.astype(np.float64))
    fraction = tier_fraction(value, tiers.tiers, zero.value)
    points = round(max_points * fraction, 4)
    comment = (f"[grader] {question.grade_id}: {question.metric} = {value:.4f} on {len(labels)} "
               f"examples of {split} -> {fraction:.2f} of the points = {points:g}/{max_points:g} "
               f"(tiers {list(tiers.tiers)}; 0 points at {zero.value:.4g}, the score of "
               f"{zero.model}).")
    return MetricScore(question.grade_id, question.metric, value, fraction, points, max_points,
                       len(labels), comment, zero.value)
