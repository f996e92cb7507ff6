"""Evaluation metrics used in the units, the assignments and the autograder.

The NumPy functions take plain arrays (or anything :func:`numpy.asarray`
accepts, such as TensorFlow tensors) and return Python floats or NumPy arrays:

* classification: :func:`accuracy`, :func:`confusion_matrix`;
* facial keypoints: :func:`keypoint_rmse`, :func:`mean_keypoint_distance`
  (missing coordinates are ``NaN`` in the targets and are skipped);
* segmentation: :func:`pixel_accuracy`. IoU and Dice are the students' to write
  (unit 5 and assignment A3); ``keras.metrics.MeanIoU`` watches them in training.

All of them expect **labels**, not class scores: turn the output of
``model.predict`` into labels first, e.g. ``scores.argmax(axis=-1)``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "accuracy",
    "confusion_matrix",
    "keypoint_rmse",
    "mean_keypoint_distance",
    "pixel_accuracy",
]


# --------------------------------------------------------------------------- input checks


def _labels(values, name: str) -> np.ndarray:
    """Return integer labels; float arrays are accepted only if every value is a whole number."""
    array = np.asarray(values)
    if array.dtype == bool:
        return array.astype(np.int64)
    if np.issubdtype(array.dtype, np.integer):
        return array
    if np.issubdtype(array.dtype, np.floating):
        if np.all(np.isfinite(array)) and np.all(array == np.round(array)):
            return array.astype(np.int64)
        raise ValueError(
            f"{name} must hold integer class labels, but it contains non-integer values "
            "(class scores or probabilities?). Convert scores to labels with "
            "scores.argmax(axis=-1)."
        )
    raise ValueError(f"{name} must hold integer class labels, got dtype {array.dtype}.")


def _same_shape_labels(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = _labels(y_true, "y_true")
    y_pred = _labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        hint = ""
        if y_pred.ndim == y_true.ndim + 1:
            hint = (
                " y_pred has one more axis than y_true: it looks like class scores; "
                "pass scores.argmax(axis=-1) instead."
            )
        raise ValueError(
            f"y_true and y_pred must have the same shape, got {y_true.shape} and "
            f"{y_pred.shape}.{hint}"
        )
    if y_true.size == 0:
        raise ValueError("y_true and y_pred are empty: there is nothing to score.")
    return y_true, y_pred


def _check_label_range(labels: np.ndarray, num_classes: int, name: str) -> None:
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"{name} has labels from {labels.min()} to {labels.max()}, but num_classes="
            f"{num_classes} allows only 0..{num_classes - 1}."
        )


def _label_maps(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Check a pair of segmentation label maps, shaped (H, W) or (N, H, W)."""
    y_true, y_pred = _same_shape_labels(y_true, y_pred)
    if y_true.ndim not in (2, 3):
        raise ValueError(
            f"segmentation masks must be label maps shaped (H, W) or (N, H, W), got shape "
            f"{y_true.shape}. For one-hot or score arrays (N, H, W, C) use argmax(axis=-1); "
            "for masks shaped (N, H, W, 1) use mask[..., 0]."
        )
    return y_true, y_pred


def _keypoint_arrays(true, pred) -> tuple[np.ndarray, np.ndarray]:
    true = np.asarray(true, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if true.shape != pred.shape:
        raise ValueError(
            f"true and pred keypoints must have the same shape, got {true.shape} and {pred.shape}."
        )
    if true.ndim != 2 or true.shape[1] % 2 != 0:
        raise ValueError(
            "keypoints must be shaped (N, 2K) with columns x1, y1, x2, y2, ... "
            f"(the Kaggle layout is (N, 30)), got shape {true.shape}."
        )
    present = ~np.isnan(true)
    if not present.any():
        raise ValueError("every target coordinate is NaN (missing): there is nothing to score.")
    if np.isnan(pred[present]).any():
        raise ValueError(
            "pred contains NaN at coordinates where the target is present; "
            "a model must predict every keypoint."
        )
    return true, pred


# --------------------------------------------------------------------------- classification


def accuracy(y_true, y_pred) -> float:
    """Fraction of examples whose predicted label equals the true label.

    Args:
        y_true: true labels, any shape, e.g. ``(N,)``.
        y_pred: predicted labels with the same shape (not class scores: use
            ``scores.argmax(axis=-1)``).

    Returns:
        A float in [0, 1]. Example: ``accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75``.
    """
    y_true, y_pred = _same_shape_labels(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Count how often each true class is predicted as each class.

    Entry ``[i, j]`` is the number of examples of true class ``i`` predicted as
    class ``j``: rows are true classes, columns predicted classes, so the
    diagonal holds the correct predictions.

    Returns:
        An int64 array of shape ``(num_classes, num_classes)``.
    """
    y_true, y_pred = _same_shape_labels(y_true, y_pred)
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
    num_classes = int(num_classes)
    _check_label_range(y_true, num_classes, "y_true")
    _check_label_range(y_pred, num_classes, "y_pred")
    # Each (true, pred) pair gets its own bin number true * C + pred.
    pair_index = y_true.ravel().astype(np.int64) * num_classes + y_pred.ravel()
    counts = np.bincount(pair_index, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


# --------------------------------------------------------------------------- keypoints


def keypoint_rmse(true, pred) -> float:
    r"""Root mean squared error in pixels, the Kaggle facial-keypoints score.

    .. math:: \mathrm{RMSE} = \sqrt{\frac{1}{|P|}\sum_{(n, j) \in P} (y_{nj} - \hat y_{nj})^2}

    where :math:`P` is the set of present coordinates: the entries of ``true``
    that are not ``NaN``. Each x and each y counts as one coordinate.

    Args:
        true: target keypoints ``(N, 30)`` in pixels, ``NaN`` where missing.
        pred: predicted keypoints ``(N, 30)`` in pixels.

    Raises:
        ValueError: shapes differ or are not ``(N, 2K)``, every target is
            missing, or ``pred`` is ``NaN`` where a target is present.
    """
    true, pred = _keypoint_arrays(true, pred)
    present = ~np.isnan(true)
    squared_errors = (true[present] - pred[present]) ** 2
    return float(np.sqrt(np.mean(squared_errors)))


def mean_keypoint_distance(true, pred) -> float:
    """Mean Euclidean distance in pixels between true and predicted keypoints.

    Columns come in (x, y) pairs per keypoint, as in the Kaggle file. A keypoint
    counts only when both its x and its y are present in ``true``. Unlike the
    RMSE, this is "how many pixels off is a typical keypoint".

    Raises:
        ValueError: as :func:`keypoint_rmse`, or no keypoint has both coordinates.
    """
    true, pred = _keypoint_arrays(true, pred)
    true_xy = true.reshape(len(true), -1, 2)
    pred_xy = pred.reshape(len(pred), -1, 2)
    present = ~np.isnan(true_xy).any(axis=-1)
    if not present.any():
        raise ValueError("no keypoint has both its x and y present in true: nothing to score.")
    distances = np.linalg.norm(true_xy[present] - pred_xy[present], axis=-1)
    return float(np.mean(distances))


# --------------------------------------------------------------------------- segmentation


def pixel_accuracy(y_true, y_pred) -> float:
    """Fraction of pixels whose predicted class is right, for label maps ``(H, W)`` or ``(N, H, W)``.

    Easy to inflate: a model that predicts "background" everywhere scores high
    when most pixels are background. Report IoU or Dice next to it.
    """
    y_true, y_pred = _label_maps(y_true, y_pred)
    return float(np.mean(y_true == y_pred))
