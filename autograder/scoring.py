"""Trusted-side scoring of metric questions (runs outside the sandbox).

The sandbox only ever sees hidden IMAGES; labels stay in this process. The
student's predictions come back as a ``.npy`` file which is opened without
following links, size-checked, loaded without pickle, validated for shape and
finiteness, then scored with ``course.metrics`` and converted to points with
``course.grading.tier_fraction``, the same formula the notebook prints.
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

from autograder.config import MetricQuestion


class InvalidPredictions(ValueError):
    """Predictions missing, unreadable, of the wrong shape or not finite."""


def load_callable(spec: str):
    """``module:function`` or ``path/to/file.py:function``."""
    target, _, name = spec.rpartition(":")
    if not target or not name:
        raise ValueError(f"{spec!r}: write MODULE:FUNCTION or FILE.py:FUNCTION")
    if target.endswith(".py"):
        module_spec = importlib.util.spec_from_file_location(Path(target).stem, target)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"{spec!r}: cannot import {target}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, name)


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
    return array.astype(np.float64)


def validate(question: MetricQuestion, predictions: np.ndarray, labels: np.ndarray) -> None:
    n = len(labels)
    expected = {
        "accuracy": f"({n}, C) class scores",
        "keypoint_rmse": f"{tuple(labels.shape)} keypoints in pixels",
        "mean_iou": f"({n}, {', '.join(map(str, labels.shape[1:]))}, C) mask scores",
    }[question.metric]
    ok = {
        "accuracy": predictions.ndim == 2 and predictions.shape[0] == n,
        "keypoint_rmse": predictions.shape == labels.shape,
        "mean_iou": predictions.ndim == labels.ndim + 1
        and predictions.shape[:-1] == labels.shape,
    }[question.metric]
    if not ok:
        raise InvalidPredictions(
            f"{question.model}.predict returned shape {predictions.shape}; expected {expected}")
    if not np.isfinite(predictions).all():
        raise InvalidPredictions(f"{question.model}.predict returned NaN or infinite values")


def metric_value(question: MetricQuestion, predictions: np.ndarray, labels: np.ndarray) -> float:
    from course import metrics

    if question.metric == "accuracy":
        return float(metrics.accuracy(labels, predictions.argmax(axis=-1)))
    if question.metric == "keypoint_rmse":
        return float(metrics.keypoint_rmse(labels, predictions))
    num_classes = max(predictions.shape[-1], int(labels.max()) + 1)
    return float(metrics.mean_iou(labels, predictions.argmax(axis=-1), num_classes))


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
    error: str | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def score(question: MetricQuestion, predictions_path: Path, labels: np.ndarray,
          source: str, max_points: float, max_bytes: int) -> MetricScore:
    """Points for one metric question; an unusable prediction earns 0 with the reason."""
    from course.grading import tier_fraction

    if source not in question.tiers:
        raise ValueError(f"{question.grade_id}: no [metric.{source}] tiers for COURSE_DATA={source}")
    tiers = question.tiers[source]
    try:
        predictions = read_predictions(predictions_path, max_bytes)
        validate(question, predictions, labels)
    except InvalidPredictions as err:
        comment = f"[grader] {question.grade_id}: no score, {err}. 0/{max_points:g} points."
        return MetricScore(question.grade_id, question.metric, None, 0.0, 0.0, max_points,
                           len(labels), comment, str(err))
    value = metric_value(question, predictions, labels)
    fraction = tier_fraction(value, tiers.tiers, tiers.zero_at)
    points = round(max_points * fraction, 4)
    comment = (f"[grader] {question.grade_id}: {question.metric} = {value:.4f} on "
               f"{len(labels)} hidden {source} examples -> {fraction:.2f} of the points = "
               f"{points:g}/{max_points:g} (tiers {list(tiers.tiers)}, zero at {tiers.zero_at:g}).")
    return MetricScore(question.grade_id, question.metric, value, fraction, points, max_points,
                       len(labels), comment)
