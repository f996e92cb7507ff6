"""The metrics a model question can be scored on: one registry for the whole grader.

Each :class:`Metric` says which way is better, what the model must return,
how the sandbox reduces that output before sending it back (labels take one
byte per pixel where scores take twelve), how the reduced predictions are
checked and scored against the hidden labels, and what the trivial model
scores, which is where a smooth tier reaches zero points. The grading TOML,
the scoring, ``export``, ``leaderboard`` and :func:`course.grading.tier_fraction`
all read it from here. These implementations are the grader's own: the
student package does not ship an IoU (assignment A3 asks students to write it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(labels == predicted))


def keypoint_rmse(labels: np.ndarray, predicted: np.ndarray) -> float:
    present = ~np.isnan(labels)
    return float(np.sqrt(np.mean((labels[present] - predicted[present]) ** 2)))


def iou_per_class(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """IoU of every class over all pixels; NaN for a class absent from truth and prediction."""
    pairs = labels.astype(np.int64).ravel() * num_classes + predicted.astype(np.int64).ravel()
    confusion = np.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)
    intersection = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / union, np.nan)


def mean_iou(labels: np.ndarray, predicted: np.ndarray) -> float:
    num_classes = int(max(labels.max(), predicted.max())) + 1
    return float(np.nanmean(iou_per_class(labels, predicted, num_classes)))


def _majority_class(train_labels: np.ndarray, hidden_labels: np.ndarray) -> np.ndarray:
    majority = np.bincount(np.asarray(train_labels, dtype=np.int64).ravel()).argmax()
    return np.full(hidden_labels.shape, majority, dtype=np.uint8)


def _mean_face(train_keypoints: np.ndarray, hidden_labels: np.ndarray) -> np.ndarray:
    mean = np.nanmean(np.asarray(train_keypoints, dtype=np.float64), axis=0)
    return np.broadcast_to(mean, hidden_labels.shape).astype(np.float32)


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    model_output: str  # what MODEL.predict must return, for messages
    reduce: str  # how the sandbox reduces the output: "argmax" or "none"
    value: Callable[[np.ndarray, np.ndarray], float]  # (labels, reduced predictions)
    baseline: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (train targets, labels) -> preds
    baseline_name: str
    label_shape: Callable[[tuple], tuple]  # shape of the reduced predictions, from the labels'

    def check(self, predictions: np.ndarray, labels: np.ndarray) -> str | None:
        """What is wrong with reduced predictions, or None."""
        expected = self.label_shape(labels.shape)
        if predictions.shape != expected:
            return (f"predict returned shape {tuple(predictions.shape)} after reduction, expected "
                    f"{expected}: the model must return {self.model_output}")
        if predictions.dtype.kind == "f" and not np.isfinite(predictions).all():
            return "predict returned NaN or infinite values"
        return None


METRICS = {
    metric.name: metric for metric in (
        Metric("accuracy", True, "class scores (N, C)", "argmax", accuracy, _majority_class,
               "the most frequent training class", lambda shape: shape),
        Metric("keypoint_rmse", False, "keypoints (N, 30) in pixels", "none", keypoint_rmse,
               _mean_face, "the mean training face", lambda shape: shape),
        Metric("mean_iou", True, "mask scores (N, H, W, C)", "argmax", mean_iou, _majority_class,
               "the most frequent training class at every pixel", lambda shape: shape),
    )
}


def direction(name: str) -> bool:
    """True when higher values are better."""
    return METRICS[name].higher_is_better
