"""MNIST and CIFAR-10: image classification datasets (real via Keras, or synthetic twins)."""

from __future__ import annotations

import numpy as np

from course import runtime
from course.data import synthetic
from course.data._common import OFFLINE_HINT, DatasetNotFound, check_limit, take

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

Split = tuple[np.ndarray, np.ndarray]


def _download_with_keras(name: str) -> tuple[Split, Split]:
    """``keras.datasets.<name>.load_data()``, with download failures explained."""
    import keras

    module = getattr(keras.datasets, name)
    try:
        return module.load_data()
    except Exception as err:  # Keras reports failed downloads as a bare Exception
        raise DatasetNotFound(
            f"Could not load {name} with keras.datasets.{name}.load_data(): {err}. "
            "Keras downloads it once (about 10-170 MB) into ~/.keras/datasets; check the "
            f"network connection, or delete a half-downloaded file there and retry. {OFFLINE_HINT}"
        ) from err


def _as_labels(y: np.ndarray) -> np.ndarray:
    return np.asarray(y).reshape(-1).astype(np.uint8)


def load_mnist(source: str | None = None, limit: int | None = None) -> tuple[Split, Split]:
    """Handwritten digits: ``((x_train, y_train), (x_test, y_test))``.

    ``x`` is uint8 ``(N, 28, 28)`` in 0..255 and ``y`` uint8 ``(N,)`` in 0..9
    (60 000 training and 10 000 test images). ``limit`` keeps the first
    ``limit`` examples of each split.
    """
    return _train_and_test("mnist", synthetic.digits, source, limit)


def load_cifar10(source: str | None = None, limit: int | None = None) -> tuple[Split, Split]:
    """Small colour photos in 10 classes: ``((x_train, y_train), (x_test, y_test))``.

    ``x`` is uint8 ``(N, 32, 32, 3)`` and ``y`` uint8 ``(N,)`` indexing
    :data:`CIFAR10_CLASSES` (50 000 training and 10 000 test images). The
    synthetic twin draws ten shape classes that merely stand in for these names.
    """
    return _train_and_test("cifar10", synthetic.objects, source, limit)


def _train_and_test(name: str, generate, source: str | None, limit: int | None):
    """Both splits of a Keras dataset, or of its synthetic twin made by ``generate``."""
    limit = check_limit(limit)
    if runtime.data_source(source) == "synthetic":
        return generate("train", limit), generate("test", limit)
    (x_train, y_train), (x_test, y_test) = _download_with_keras(name)
    return (
        take(limit, x_train, _as_labels(y_train)),
        take(limit, x_test, _as_labels(y_test)),
    )
