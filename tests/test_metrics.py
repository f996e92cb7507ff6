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

# 2x2 masks. Class 0: truth {(0,0), (0,1)}, prediction {(0,0), (1,1)}: overlap 1,
# union 3 -> IoU 1/3, Dice 2*1/(2+2) = 1/2. Class 1 is symmetric.
MASK_TRUE = np.array([[0, 0], [1, 1]])
MASK_PRED = np.array([[0, 1], [1, 0]])


def test_iou_and_dice_two_by_two():
    np.testing.assert_allclose(metrics.iou_per_class(MASK_TRUE, MASK_PRED, 2), [1 / 3, 1 / 3])
    np.testing.assert_allclose(metrics.dice_per_class(MASK_TRUE, MASK_PRED, 2), [0.5, 0.5])
    assert metrics.mean_iou(MASK_TRUE, MASK_PRED, 2) == pytest.approx(1 / 3)
    assert metrics.mean_dice(MASK_TRUE, MASK_PRED, 2) == pytest.approx(0.5)
    assert metrics.pixel_accuracy(MASK_TRUE, MASK_PRED) == pytest.approx(0.5)


def test_absent_class_is_nan_and_skipped_by_the_mean():
    # Class 0: truth 3 px, prediction 2 px, overlap 2 -> IoU 2/3, Dice 4/5.
    # Class 1: truth 1 px, prediction 2 px, overlap 1 -> IoU 1/2, Dice 2/3.
    # Class 2: in neither -> NaN.
    y_true = np.array([[0, 0], [0, 1]])
    y_pred = np.array([[0, 0], [1, 1]])
    iou = metrics.iou_per_class(y_true, y_pred, 3)
    np.testing.assert_allclose(iou[:2], [2 / 3, 1 / 2])
    assert np.isnan(iou[2])
    dice = metrics.dice_per_class(y_true, y_pred, 3)
    np.testing.assert_allclose(dice[:2], [4 / 5, 2 / 3])
    assert np.isnan(dice[2])
    assert metrics.mean_iou(y_true, y_pred, 3) == pytest.approx(7 / 12)
    assert metrics.mean_dice(y_true, y_pred, 3) == pytest.approx(11 / 15)


def test_all_correct_and_all_wrong():
    masks = np.array([[[0, 1], [2, 2]], [[1, 1], [0, 2]]])
    assert metrics.mean_iou(masks, masks, 3) == pytest.approx(1.0)
    assert metrics.mean_dice(masks, masks, 3) == pytest.approx(1.0)
    assert metrics.pixel_accuracy(masks, masks) == pytest.approx(1.0)
    wrong = (masks + 1) % 3
    np.testing.assert_array_equal(metrics.iou_per_class(masks, wrong, 3), [0.0, 0.0, 0.0])
    assert metrics.mean_iou(masks, wrong, 3) == 0.0
    assert metrics.mean_dice(masks, wrong, 3) == 0.0
    assert metrics.pixel_accuracy(masks, wrong) == 0.0


def test_class_only_in_prediction_has_iou_zero():
    y_true = np.zeros((2, 2), dtype=np.uint8)
    y_pred = np.array([[0, 0], [0, 1]])
    np.testing.assert_allclose(metrics.iou_per_class(y_true, y_pred, 2), [3 / 4, 0.0])


def test_iou_counts_pixels_over_all_images_together():
    # Image 1 is perfect for class 1 (IoU 1); image 2 misses all 3 px of class 1 (IoU 0).
    # Pooled over both images: overlap 1, union 4 -> 1/4 (not the per-image mean 1/2).
    y_true = np.array([[[1, 0, 0, 0]], [[1, 1, 1, 0]]])
    y_pred = np.array([[[1, 0, 0, 0]], [[0, 0, 0, 0]]])
    assert metrics.iou_per_class(y_true, y_pred, 2)[1] == pytest.approx(1 / 4)


@pytest.mark.parametrize(
    "metric",
    [
        lambda t, p: metrics.iou_per_class(t, p, 2),
        lambda t, p: metrics.mean_iou(t, p, 2),
        lambda t, p: metrics.dice_per_class(t, p, 2),
        lambda t, p: metrics.mean_dice(t, p, 2),
        metrics.pixel_accuracy,
    ],
)
def test_segmentation_metrics_bad_input(metric):
    with pytest.raises(ValueError, match="same shape"):
        metric(np.zeros((2, 4, 4), int), np.zeros((2, 4, 5), int))
    with pytest.raises(ValueError, match="argmax"):
        metric(np.zeros((2, 4, 4), int), np.zeros((2, 4, 4, 2)))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        metric(np.zeros((2, 4, 4, 1), int), np.zeros((2, 4, 4, 1), int))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        metric(np.zeros(4, int), np.zeros(4, int))


def test_segmentation_label_out_of_range():
    with pytest.raises(ValueError, match="num_classes=2"):
        metrics.mean_iou(np.array([[0, 3]]), np.array([[0, 1]]), 2)


# --------------------------------------------------------------------------- Keras side


def test_keras_keypoint_rmse_matches_numpy_over_batches():
    metric = metrics.KeypointRMSE()
    metric.update_state(KP_TRUE[:1], KP_PRED[:1])
    metric.update_state(KP_TRUE[1:], KP_PRED[1:])
    # Pooled over batches (sqrt(25/5)), not the mean of per-batch RMSEs ((sqrt(12.5) + 0) / 2).
    assert float(metric.result()) == pytest.approx(np.sqrt(5.0), rel=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_keras_keypoint_rmse_random_and_scaled():
    rng = np.random.default_rng(0)
    true = rng.uniform(0, 96, size=(16, 30))
    true[rng.random(true.shape) < 0.3] = NAN
    pred = rng.uniform(0, 96, size=(16, 30))
    expected = metrics.keypoint_rmse(true, pred)
    metric = metrics.KeypointRMSE(scale=48.0)
    metric.update_state((true - 48) / 48, (pred - 48) / 48)
    assert float(metric.result()) == pytest.approx(expected, rel=1e-5)


def test_keras_keypoint_rmse_sample_weight_and_config():
    metric = metrics.KeypointRMSE(scale=2.0, name="rmse_px")
    # Weight 0 drops row 0, leaving only row 1 whose error is 0.
    metric.update_state(KP_TRUE, KP_PRED, sample_weight=np.array([0.0, 1.0]))
    assert float(metric.result()) == 0.0
    clone = metrics.KeypointRMSE.from_config(metric.get_config())
    assert clone.scale == 2.0 and clone.name == "rmse_px"


def test_keras_mean_iou_matches_numpy():
    rng = np.random.default_rng(1)
    num_classes = 3
    y_true = rng.integers(0, num_classes, size=(4, 8, 8))
    scores = rng.random((4, 8, 8, num_classes)).astype("float32")
    scores /= scores.sum(axis=-1, keepdims=True)
    metric = metrics.mean_iou_metric(num_classes)
    metric.update_state(y_true, scores)
    expected = metrics.mean_iou(y_true, scores.argmax(axis=-1), num_classes)
    assert float(metric.result()) == pytest.approx(expected, rel=1e-5)


def test_keras_mean_iou_skips_absent_class_like_numpy():
    y_true = np.array([[[0, 0], [0, 1]]])
    scores = np.eye(3, dtype="float32")[np.array([[[0, 0], [1, 1]]])]
    metric = metrics.mean_iou_metric(3)
    metric.update_state(y_true, scores)
    assert float(metric.result()) == pytest.approx(7 / 12, rel=1e-5)


def test_keras_keypoint_rmse_inside_model_evaluate():
    import keras

    rng = np.random.default_rng(2)
    images = rng.random((10, 3)).astype("float32")
    true = rng.uniform(0, 96, size=(10, 4)).astype("float32")
    true[::3, 1] = NAN
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    model.compile(loss="mae", metrics=[metrics.KeypointRMSE()])
    # Batches of 4 check that the epoch value pools all coordinates (compiled graph mode).
    scores = model.evaluate(images, true, batch_size=4, verbose=0, return_dict=True)
    expected = metrics.keypoint_rmse(true, model.predict(images, verbose=0))
    assert scores["keypoint_rmse"] == pytest.approx(expected, rel=1e-5)
