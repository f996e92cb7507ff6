"""The held-back grading splits, read only by the trusted autograder."""

from __future__ import annotations

import numpy as np

from course import runtime
from course.data import synthetic
from course.data._common import check_limit
from course.data.classification import load_cifar10, load_mnist
from course.data.keypoints import load_hidden_keypoints
from course.data.pets import load_hidden_pets

HIDDEN_DATASETS = ("mnist", "cifar10", "facial_keypoints", "oxford_pets")


def load_hidden(
    dataset: str, source: str | None = None, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of the grading split of ``dataset``, in the loader's formats.

    Real data: the official test splits of MNIST, CIFAR-10 and Oxford-IIIT Pet
    (128x128), and for facial keypoints the instructor's held-back complete
    faces in ``$COURSE_HIDDEN_DIR``. Synthetic data: a split generated with its
    own seed, never returned by the other loaders.
    """
    if dataset == "mnist":
        return _classification(load_mnist, synthetic.digits, source, limit)
    if dataset == "cifar10":
        return _classification(load_cifar10, synthetic.objects, source, limit)
    if dataset == "facial_keypoints":
        return load_hidden_keypoints(source, limit)
    if dataset == "oxford_pets":
        return load_hidden_pets(source, limit)
    raise ValueError(f"unknown dataset {dataset!r}: choose one of {HIDDEN_DATASETS}")


def _classification(loader, twin, source, limit):
    limit = check_limit(limit)
    if runtime.data_source(source) == "synthetic":
        return twin("hidden", limit)
    _, test = loader(source="real", limit=limit)
    return test
