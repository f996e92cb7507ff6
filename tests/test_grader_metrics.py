"""The grader's own metrics (autograder.metrics): hand-computed IoU, baselines, the registry."""

import numpy as np
import pytest

from autograder.metrics import METRICS, iou_per_class, keypoint_rmse, mean_iou

# 2x2 masks. Class 0: truth {(0,0), (0,1)}, prediction {(0,0), (1,1)}: overlap 1,
# union 3 -> IoU 1/3. Class 1 is symmetric.
MASK_TRUE = np.array([[0, 0], [1, 1]])
MASK_PRED = np.array([[0, 1], [1, 0]])


def test_iou_two_by_two():
    np.testing.assert_allclose(iou_per_class(MASK_TRUE, MASK_PRED, 2), [1 / 3, 1 / 3])
    assert mean_iou(MASK_TRUE, MASK_PRED) == pytest.approx(1 / 3)


def test_absent_class_is_nan_and_skipped_by_the_mean():
    # Class 0: truth 3 px, prediction 2 px, overlap 2 -> 2/3. Class 1: 1 px, 2 px, overlap 1
    # -> 1/2. Class 2 in neither -> NaN, and the mean over the defined classes is 7/12.
    y_true = np.array([[0, 0], [0, 1]])
    y_pred = np.array([[0, 0], [1, 1]])
    iou = iou_per_class(y_true, y_pred, 3)
    np.testing.assert_allclose(iou[:2], [2 / 3, 1 / 2])
    assert np.isnan(iou[2])
    assert mean_iou(y_true, y_pred) == pytest.approx(7 / 12)


def test_iou_counts_pixels_over_all_images_together():
    # Image 1 is perfect for class 1; image 2 misses all 3 px of class 1. Pooled over both
    # images: overlap 1, union 4 -> 1/4 (not the per-image mean 1/2).
    y_true = np.array([[[1, 0, 0, 0]], [[1, 1, 1, 0]]])
    y_pred = np.array([[[1, 0, 0, 0]], [[0, 0, 0, 0]]])
    assert iou_per_class(y_true, y_pred, 2)[1] == pytest.approx(1 / 4)


def test_all_correct_and_all_wrong():
    masks = np.array([[[0, 1], [2, 2]], [[1, 1], [0, 2]]])
    assert mean_iou(masks, masks) == pytest.approx(1.0)
    assert mean_iou(masks, (masks + 1) % 3) == 0.0


def test_keypoint_rmse_skips_missing_targets():
    true = np.array([[10.0, 20.0, np.nan, np.nan], [0.0, 0.0, 3.0, np.nan]])
    pred = np.array([[13.0, 24.0, 5.0, 5.0], [0.0, 0.0, 3.0, 7.0]])
    assert keypoint_rmse(true, pred) == pytest.approx(np.sqrt(5))


@pytest.mark.parametrize("name, train, labels, expected", [
    ("accuracy", np.array([2, 2, 1]), np.array([2, 0, 2, 1]), 0.5),
    ("mean_iou", np.array([[0, 0], [0, 1]]), np.array([[0, 1], [1, 1]]), 0.125),
    ("keypoint_rmse", np.array([[0.0, 2.0], [2.0, np.nan]]), np.array([[1.0, 2.0]]), 0.0),
])
def test_each_baseline_is_the_trivial_model(name, train, labels, expected):
    metric = METRICS[name]
    assert metric.value(labels, metric.baseline(train, labels)) == pytest.approx(expected)


def test_the_registry_says_which_way_is_better_and_how_the_sandbox_reduces():
    assert METRICS["keypoint_rmse"].higher_is_better is False
    assert METRICS["accuracy"].reduce == METRICS["mean_iou"].reduce == "argmax"
    assert METRICS["keypoint_rmse"].reduce == "none"
    problem = METRICS["mean_iou"].check(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))
    assert "shape (2, 4, 4)" in problem and "mask scores" in problem
