"""The synthetic twins are part of the contract: small models must learn them.

Each test trains a small Keras model briefly on the CPU and checks a score on
data the model has not seen. The thresholds are the promises made in the docstring of
:mod:`course.data.synthetic`; a twin that is too hard, or whose labels do not
match its images, fails them.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from autograder.splits import load_grading_split
from course.data import complete_rows, load_facial_keypoints, load_mnist, load_oxford_pets

pytestmark = pytest.mark.slow


def _iou_per_class(true: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Intersection over union per class, in plain NumPy (independent of course.metrics)."""
    ious = []
    for c in range(num_classes):
        intersection = np.sum((true == c) & (pred == c))
        union = np.sum((true == c) | (pred == c))
        ious.append(intersection / union if union else np.nan)
    return np.array(ious)


def test_iou_helper_scores_perfect_and_wrong_predictions():
    truth = np.array([[0, 1], [2, 2]])
    assert np.allclose(_iou_per_class(truth, truth, 3), 1.0)
    swapped = np.array([[1, 0], [2, 2]])
    assert np.allclose(_iou_per_class(truth, swapped, 3), [0.0, 0.0, 1.0])


def test_synthetic_digits_small_cnn_reaches_90_percent():
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_mnist("synthetic", limit=6000)
    x_train, x_test = x_train[..., None] / 255.0, x_test[:2000, ..., None] / 255.0
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=4, batch_size=64, verbose=0)
    accuracy = np.mean(model.predict(x_test, verbose=0).argmax(axis=1) == y_test[:2000])
    print(f"synthetic digits, small CNN test accuracy: {accuracy:.4f}")
    assert accuracy >= 0.90


def test_synthetic_digits_are_not_trivial_for_a_linear_model():
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_mnist("synthetic", limit=6000)
    model = keras.Sequential([
        keras.Input((28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train / 255.0, y_train, epochs=8, batch_size=64, verbose=0)
    accuracy = np.mean(model.predict(x_test / 255.0, verbose=0).argmax(axis=1) == y_test)
    print(f"synthetic digits, linear (softmax regression) test accuracy: {accuracy:.4f}")
    assert 0.5 < accuracy < 0.97  # learnable, but a linear model must not solve it


def test_synthetic_faces_small_cnn_halves_the_mean_predictor_error():
    keras.utils.set_random_seed(0)
    train = complete_rows(load_facial_keypoints("synthetic", limit=4000))
    hidden = load_grading_split("facial_keypoints", "synthetic", limit=300)
    test_images, test_keypoints = hidden.images, hidden.labels
    centre = 48.0  # targets scaled to about [-1, 1] train faster
    model = keras.Sequential([
        keras.Input((96, 96, 1)),
        keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(30),
    ])
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    model.fit(train.images, (train.keypoints - centre) / centre, epochs=8, batch_size=32,
              verbose=0)
    predicted = model.predict(test_images, verbose=0) * centre + centre
    rmse = np.sqrt(np.mean((predicted - test_keypoints) ** 2))
    baseline = np.sqrt(np.mean((train.keypoints.mean(axis=0) - test_keypoints) ** 2))
    print(f"synthetic faces: CNN RMSE {rmse:.2f} px, mean-keypoints RMSE {baseline:.2f} px")
    assert rmse <= 0.5 * baseline


def _small_unet(size: int, classes: int, levels=(16, 32, 48)) -> keras.Model:
    """Three down/up levels: enough context to tell fur from a textured background."""
    inputs = keras.Input((size, size, 3))
    skips, x = [], inputs
    for filters in levels:
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        skips.append(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    for filters, skip in zip(reversed(levels), reversed(skips), strict=True):
        x = keras.layers.UpSampling2D()(x)
        x = keras.layers.Concatenate()([x, skip])
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    outputs = keras.layers.Conv2D(classes, 1, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def test_synthetic_scenes_small_unet_reaches_mean_iou_0_6():
    keras.utils.set_random_seed(0)
    # 48 x 48 scenes: the same shapes as A3's 64 x 64 quick mode at half the training cost.
    (x_train, m_train), (x_test, m_test) = load_oxford_pets("synthetic", size=48, limit=600)
    model = _small_unet(48, 3)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x_train, m_train, epochs=6, batch_size=16, verbose=0)
    predicted = model.predict(x_test[:200], verbose=0).argmax(axis=-1)
    ious = _iou_per_class(m_test[:200], predicted, 3)
    print(f"synthetic scenes: U-Net IoU per class {np.round(ious, 3)}, mean {np.mean(ious):.3f}")
    assert np.mean(ious) >= 0.6
