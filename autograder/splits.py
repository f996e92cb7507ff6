"""The grading splits: labelled data that the student loaders of ``course.data`` never return.

Only the trusted grader reads these (the labels never enter the sandbox):

``mnist``             QMNIST's test digits 10 000-59 999 (Yadav & Bottou, 2019): 50 000
                      handwritten digits from the same NIST source as MNIST but not in it
                      (QMNIST's first 10 000 test digits are MNIST's test set).
``cifar10``           CIFAR-10.1 v6 (Recht et al., 2018; TFDS ``cifar10_1/v6``): 2 000 new
                      test images collected like CIFAR-10's.
``facial_keypoints``  the complete faces the instructor held back from Kaggle's file
                      (:func:`draw_keypoint_holdout`), in ``hidden_dir``; the student loader
                      leaves them out through their published image hashes.
``oxford_pets``       TFDS's ``test`` split of Oxford-IIIT Pet (3 669 photos, 128x128); the
                      student loader only reads TFDS's ``train`` split.

Each split is also checked against the students' data by image hash, and any
image found there is dropped, so a grading image can never be one a student
trained on through the course's loaders. Synthetic twins (``source="synthetic"``)
are generated with their own seeds.
"""

from __future__ import annotations

import csv
import gzip
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course import runtime
from course.data import keypoints as kp
from course.data import pets, synthetic
from course.data._common import (
    DatasetNotFound,
    check_limit,
    download_verified,
    image_hashes,
    sha256_of,
    take,
)
from course.data.classification import load_cifar10, load_mnist

GRADING_DATASETS = ("mnist", "cifar10", "facial_keypoints", "oxford_pets")
HIDDEN_KEYPOINTS_FILE = "facial_keypoints_hidden.npz"

QMNIST_URL = "https://raw.githubusercontent.com/facebookresearch/qmnist/master/"
# MD5 checksums as published with torchvision.datasets.QMNIST.
QMNIST_TEST_FILES = {
    "images": ("qmnist-test-images-idx3-ubyte.gz", "1394631089c404de565df7b7aeaf9412"),
    "labels": ("qmnist-test-labels-idx2-int.gz", "5b5b05890a5e13444e108efe57b788aa"),
}
QMNIST_ROWS_IN_MNIST = 10_000


@dataclass(frozen=True)
class GradingSplit:
    images: np.ndarray
    labels: np.ndarray
    description: str  # where the split comes from and how many examples it holds


def load_grading_split(dataset: str, source: str | None = None, limit: int | None = None,
                       hidden_dir: Path | None = None) -> GradingSplit:
    """The labelled grading split of ``dataset`` in the student loader's formats."""
    limit = check_limit(limit)
    synthetic_data = runtime.data_source(source) == "synthetic"
    if dataset == "mnist":
        if synthetic_data:
            return _twin("digits", *synthetic.digits("hidden", limit))
        images, labels = _unseen(*_qmnist_new_digits(), _classification_images(load_mnist))
        return GradingSplit(*take(limit, images, labels), f"QMNIST test digits not in MNIST "
                                                          f"({len(images)} images)")
    if dataset == "cifar10":
        if synthetic_data:
            return _twin("objects", *synthetic.objects("hidden", limit))
        images, labels = _unseen(*_cifar10_1(), _classification_images(load_cifar10))
        return GradingSplit(*take(limit, images, labels), f"CIFAR-10.1 v6 ({len(images)} images)")
    if dataset == "facial_keypoints":
        if synthetic_data:
            images, points, _ = synthetic.faces("hidden", limit)
            return _twin("faces", images, points)
        return _hidden_keypoints(hidden_dir, limit)
    if dataset == "oxford_pets":
        if synthetic_data:
            return _twin("scenes", *synthetic.scenes("hidden", 128, limit))
        images, masks, names = pets.load_tfds_split("test", 128, limit, with_names=True)
        overlap = set(names) & set(_student_pet_names())
        keep = np.array([n not in overlap for n in names], dtype=bool)
        return GradingSplit(images[keep], masks[keep],
                            f"Oxford-IIIT Pet test split ({int(keep.sum())} photos)")
    raise ValueError(f"unknown dataset {dataset!r}: choose one of {GRADING_DATASETS}")


def training_targets(dataset: str, source: str | None = None, limit: int | None = None):
    """Labels of the students' training data, from which the grader measures zero points."""
    if dataset == "mnist":
        return load_mnist(source, limit)[0][1]
    if dataset == "cifar10":
        return load_cifar10(source, limit)[0][1]
    if dataset == "facial_keypoints":
        return kp.load_facial_keypoints(source, limit).keypoints
    if dataset == "oxford_pets":
        return pets.load_oxford_pets(source, 128, limit)[0][1]
    raise ValueError(f"unknown dataset {dataset!r}: choose one of {GRADING_DATASETS}")


def _twin(name: str, images, labels) -> GradingSplit:
    return GradingSplit(images, labels, f"synthetic {name}, hidden split ({len(images)} examples)")


# --------------------------------------------------------------------------- disjointness

def _classification_images(loader) -> np.ndarray:
    (x_train, _), (x_test, _) = loader("real")
    return np.concatenate([x_train, x_test])


def _unseen(images: np.ndarray, labels: np.ndarray, student_images: np.ndarray):
    """Drop every grading image that the students' loader also returns (by image hash)."""
    seen = set(image_hashes(student_images))
    keep = np.array([h not in seen for h in image_hashes(images)], dtype=bool)
    return images[keep], labels[keep]


def _student_pet_names() -> list[str]:
    # Only file names are compared: the rule that divides TFDS's train split never
    # reads the test split, and a name is unique within the dataset.
    return pets.load_tfds_split("train", 8, None, with_names=True)[2]


# --------------------------------------------------------------------------- QMNIST

def read_idx(path: Path) -> np.ndarray:
    """An IDX array file (the format of MNIST and QMNIST), optionally gzip-compressed."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as file:
        zeros, kind, ndim = struct.unpack(">HBB", file.read(4))
        dtypes = {0x08: np.uint8, 0x0C: np.dtype(">i4")}
        if zeros != 0 or kind not in dtypes:
            raise ValueError(f"{path.name} is not an IDX file of unsigned bytes or integers")
        shape = struct.unpack(f">{ndim}I", file.read(4 * ndim))
        data = np.frombuffer(file.read(), dtype=dtypes[kind])
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path.name} holds {data.size} values, its header promises {shape}")
    return data.reshape(shape)


def _qmnist_new_digits() -> tuple[np.ndarray, np.ndarray]:
    folder = runtime.cache_dir() / "qmnist"
    paths = {}
    for part, (name, md5) in QMNIST_TEST_FILES.items():
        path = folder / name
        if not path.is_file():
            download_verified(QMNIST_URL + name, path, md5, algorithm="md5",
                              fix="download it again; the QMNIST files never change")
        paths[part] = path
    images = read_idx(paths["images"])
    labels = read_idx(paths["labels"])  # 8 columns per digit; the first is its class
    if len(images) != len(labels) or len(images) <= QMNIST_ROWS_IN_MNIST:
        raise ValueError(f"QMNIST test files in {folder} are incomplete: delete them to refetch")
    new = slice(QMNIST_ROWS_IN_MNIST, None)
    return images[new].copy(), labels[new, 0].astype(np.uint8)


# --------------------------------------------------------------------------- CIFAR-10.1

def _cifar10_1() -> tuple[np.ndarray, np.ndarray]:
    tfds = pets.import_tfds()
    data_dir = runtime.cache_dir() / "tensorflow_datasets"
    try:
        dataset = tfds.load("cifar10_1/v6", split="test", data_dir=str(data_dir),
                            batch_size=-1, as_supervised=True)
    except Exception as err:  # TFDS surfaces network and disk problems as many error types
        raise DatasetNotFound(f"Could not download or prepare CIFAR-10.1 v6 with TensorFlow "
                              f"Datasets into {data_dir}: {err}") from err
    images, labels = tfds.as_numpy(dataset)
    return images.astype(np.uint8), labels.astype(np.uint8)


# --------------------------------------------------------------------------- keypoints

def _hidden_keypoints(hidden_dir: Path | None, limit: int | None) -> GradingSplit:
    path = Path(hidden_dir) / HIDDEN_KEYPOINTS_FILE if hidden_dir else None
    if path is None or not path.is_file():
        raise DatasetNotFound(
            f"The held-back facial keypoints ({HIDDEN_KEYPOINTS_FILE}) are not in "
            f"{hidden_dir or 'the hidden directory (none given)'}. Draw them once per term with "
            "`course-grader holdout facial_keypoints training.csv --hidden-dir DIR`, then grade "
            "with --hidden-dir DIR (or COURSE_HIDDEN_DIR=DIR).")
    with np.load(path) as stored:
        pixels, points = stored["images"], stored["keypoints"]
    published = kp.heldout_hashes()
    unpublished = [h for h in image_hashes(pixels) if h not in published]
    if unpublished:
        raise DatasetNotFound(
            f"{len(unpublished)} of the {len(pixels)} held-back faces in {path} are not in the "
            "published list of held-back faces (course/data/heldout/"
            f"{kp.HELDOUT_FILE}), so students may have trained on them. Publish the list that "
            "`course-grader holdout` wrote together with this file.")
    pixels, points = take(limit, pixels, points)
    return GradingSplit(kp.to_float_images(pixels), points.astype(np.float32),
                        f"held-back Kaggle faces ({len(pixels)} complete faces)")


@dataclass(frozen=True)
class KeypointHoldout:
    hidden_file: Path  # the grading faces: keep it on the grading machine only
    heldout_list: Path  # their image hashes: publish it with the course package
    mirror_csv: Path  # Kaggle's file without the held-back rows, for an instructor's mirror
    mirror_sha256: str


def draw_keypoint_holdout(csv_path: Path, hidden_dir: Path, n_hidden: int = 500,
                          heldout_dir: Path | None = None, seed: int | None = None) -> KeypointHoldout:
    """Instructor tool: hold back ``n_hidden`` complete faces of Kaggle's file for grading.

    The draw is random each term (``seed`` only for tests), so no public code
    tells which faces are held back. Writes the grading faces to ``hidden_dir``,
    their image hashes to ``heldout_dir`` (default: the course package's
    ``course/data/heldout/``, published with it) and a copy of the CSV without
    them for a mirror.
    """
    header, rows = kp.read_training_rows(Path(csv_path))
    pixels, points = kp.rows_to_arrays(header, rows)
    complete = np.flatnonzero(~np.isnan(points).any(axis=1))
    if not 0 < n_hidden < len(complete):
        raise ValueError(f"n_hidden must be between 1 and {len(complete) - 1}, got {n_hidden}")
    rng = np.random.default_rng(secrets.randbits(128) if seed is None else seed)
    held = np.sort(rng.choice(complete, n_hidden, replace=False))
    hidden_dir = Path(hidden_dir)
    hidden_dir.mkdir(parents=True, exist_ok=True)
    hidden_file = hidden_dir / HIDDEN_KEYPOINTS_FILE
    np.savez_compressed(hidden_file, images=pixels[held], keypoints=points[held])
    heldout_dir = Path(heldout_dir or kp.HELDOUT_DIR)
    heldout_dir.mkdir(parents=True, exist_ok=True)
    heldout_list = heldout_dir / kp.HELDOUT_FILE
    heldout_list.write_text(
        f"# SHA-256 of the pixels of the {n_hidden} faces held back for grading; the course's\n"
        "# loader leaves these faces out. Written by `course-grader holdout`.\n"
        + "".join(h + "\n" for h in image_hashes(pixels[held])))
    mirror_csv = hidden_dir / "training.csv"
    kept = set(range(len(rows))) - set(held.tolist())
    with open(mirror_csv, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(row for i, row in enumerate(rows) if i in kept)
    return KeypointHoldout(hidden_file, heldout_list, mirror_csv, sha256_of(mirror_csv))
