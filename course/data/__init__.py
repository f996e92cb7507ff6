"""Datasets of the course: real (downloaded and cached) or synthetic twins.

Every loader takes ``source`` (``"real"`` or ``"synthetic"``; ``None`` reads
``$COURSE_DATA``) and ``limit`` (at most that many examples per split). Real
data that cannot be found or downloaded raises :class:`DatasetNotFound` with
the steps to get it; the loaders never switch to synthetic data on their own.
See ``docs/contracts.md`` for the exact formats.
"""

from course.data._common import DatasetNotFound
from course.data.classification import CIFAR10_CLASSES, load_cifar10, load_mnist
from course.data.keypoints import (
    FLIP_PAIRS,
    KEYPOINT_COLUMNS,
    KEYPOINT_NAMES,
    KeypointData,
    complete_rows,
    heldout_hashes,
    load_facial_keypoints,
)
from course.data.pets import PET_CLASSES, load_oxford_pets
from course.data.samples import sample_image
from course.data.text import load_imdb

__all__ = [
    "CIFAR10_CLASSES",
    "FLIP_PAIRS",
    "KEYPOINT_COLUMNS",
    "KEYPOINT_NAMES",
    "PET_CLASSES",
    "DatasetNotFound",
    "KeypointData",
    "complete_rows",
    "load_cifar10",
    "load_facial_keypoints",
    "load_imdb",
    "load_mnist",
    "load_oxford_pets",
    "sample_image",
    "heldout_hashes",
]
