"""Tests for course.metrics: hand-computed cases, edge cases and bad input."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from course import metrics

NAN = np.nan

# Two images' keypoints with two keypoints each (x1, y1, x2, y2).
# Present coordinates and errors: row 0 -> 10 vs 13 (3), 20 vs 24 (4);
# row 1 -> 0 vs 0, 0 vs 0, 3 vs 3. Squared errors 9 + 16 + 0 + 0 + 0 = 25 over
# 5 coordinates: RMSE = sqrt(5). Keypoints with both x and y present: row 0
# keypoint 1 (distance 5) and row 1 keypoint 1 (distance 0): mean distance 2.5.
KP_TRUE = np.array([[10.0, 20.0, NAN, NAN], [0.0, 0.0, 3.0, NAN]])
KP_PRED = np.array([[13.0, 24.0, 5.0, 5.0], [0.0, 0.0, 3.0, 7.0]])


# --------------------------------------------------------------------------- classification


def test_accuracy_hand_computed():
    assert metrics.accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == pytest.approx(0.75)
    assert metrics.accuracy(np.array([3.0, 1.0]), np.array([3, 1])) == pytest.approx(1.0)


def test_accuracy_rejects_scores_and_mismatched_shapes():
    with pytest.raises(ValueError, match="argmax"):
        metrics.accuracy([0, 1], np.array([[0.9, 0.1], [0.2, 0.8]]))
    with pytest.raises(ValueError, match="same shape"):
        metrics.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="non-integer"):
        metrics.accuracy([0, 1], [0.2, 0.7])
    with pytest.raises(ValueError, match="empty"):
        metrics.accuracy([], [])


def test_confusion_matrix_rows_are_true_columns_predicted():
    cm = metrics.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], num_classes=3)
    expected = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64
    assert cm.sum() == 6


def test_confusion_matrix_bad_input():
    with pytest.raises(ValueError, match="num_classes=2"):
        metrics.confusion_matrix([0, 2], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match="labels from -1"):
        metrics.confusion_matrix([0, 1], [-1, 1], num_classes=2)
    with pytest.raises(ValueError, match="same shape"):
        metrics.confusion_matrix([0, 1], [0], num_classes=2)
    with pytest.raises(ValueError, match="positive integer"):
        metrics.confusion_matrix([0, 1], [0, 1], num_classes=0)


# --------------------------------------------------------------------------- keypoints


def test_keypoint_rmse_skips_missing_targets():
    assert metrics.keypoint_rmse(KP_TRUE, KP_PRED) == pytest.approx(np.sqrt(5.0))


def test_keypoint_rmse_without_missing_values():
    true = np.zeros((1, 30))
    pred = np.full((1, 30), 2.0)
    assert metrics.keypoint_rmse(true, pred) == pytest.approx(2.0)


def test_mean_keypoint_distance_needs_both_coordinates():
    assert metrics.mean_keypoint_distance(KP_TRUE, KP_PRED) == pytest.approx(2.5)


@pytest.mark.parametrize("metric", [metrics.keypoint_rmse, metrics.mean_keypoint_distance])
def test_keypoint_metrics_bad_input(metric):
    with pytest.raises(ValueError, match="same shape"):
        metric(np.zeros((2, 30)), np.zeros((3, 30)))
    with pytest.raises(ValueError, match=r"\(N, 2K\)"):
        metric(np.zeros((2, 29)), np.zeros((2, 29)))
    with pytest.raises(ValueError, match=r"\(N, 2K\)"):
        metric(np.zeros(30), np.zeros(30))
    pred_with_nan = KP_PRED.copy()
    pred_with_nan[0, 0] = NAN  # its target (10) is present
    with pytest.raises(ValueError, match="pred contains NaN"):
        metric(KP_TRUE, pred_with_nan)
    with pytest.raises(ValueError, match="nothing to score"):
        metric(np.full((1, 4), NAN), np.zeros((1, 4)))


def test_nan_in_pred_where_target_missing_is_fine():
    pred = KP_PRED.copy()
    pred[0, 2:] = NAN  # target row 0 keypoint 2 is missing anyway
    assert metrics.keypoint_rmse(KP_TRUE, pred) == pytest.approx(np.sqrt(5.0))


def test_mean_keypoint_distance_no_complete_keypoint():
    true = np.array([[1.0, NAN, NAN, 2.0]])
    with pytest.raises(ValueError, match="both its x and y"):
        metrics.mean_keypoint_distance(true, np.zeros((1, 4)))


# --------------------------------------------------------------------------- segmentation

def test_pixel_accuracy_counts_matching_pixels():
    assert metrics.pixel_accuracy(np.array([[0, 0], [1, 1]]), np.array([[0, 1], [1, 0]])) == 0.5
    masks = np.array([[[0, 1], [2, 2]], [[1, 1], [0, 2]]])
    assert metrics.pixel_accuracy(masks, masks) == 1.0
    assert metrics.pixel_accuracy(masks, (masks + 1) % 3) == 0.0


def test_pixel_accuracy_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        metrics.pixel_accuracy(np.zeros((2, 4, 4), int), np.zeros((2, 4, 5), int))
    with pytest.raises(ValueError, match="argmax"):
        metrics.pixel_accuracy(np.zeros((2, 4, 4), int), np.zeros((2, 4, 4, 2)))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        metrics.pixel_accuracy(np.zeros(4, int), np.zeros(4, int))


def test_the_student_package_has_no_iou_to_hand_out():
    # Assignment A3 asks students to write IoU; the grader has its own (autograder.metrics).
    for name in ("iou_per_class", "mean_iou", "dice_per_class", "mean_dice"):
        assert not hasattr(metrics, name), name
