"""The grading splits hold no picture that the student loaders return.

Real sources on the fixture world of ``tests/real_data.py`` (QMNIST's new
digits, CIFAR-10.1 through the TFDS mock, TFDS's Oxford-IIIT Pet test split,
held-back Kaggle faces), checked by image hashes or file names; the fixture
plants copies of students' images for the filters to find. Then the same on
the synthetic twins, and the targets the grader's zero point comes from.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import real_data

from autograder import splits
from course import data
from course.data import keypoints as kp
from course.data import pets
from course.data._common import DatasetNotFound, image_hashes, sha256_of


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    return real_data.session_world(tmp_path_factory)


@pytest.fixture
def hooks(world, tmp_path, monkeypatch):
    with real_data.activated_in_test(world, tmp_path, monkeypatch) as active:
        yield active


def _hashes(images) -> set[str]:
    return set(image_hashes(images))


def _student_images(loader) -> np.ndarray:
    (x_train, _), (x_test, _) = loader()
    return np.concatenate([x_train, x_test])


# --------------------------------------------------------------------------- MNIST: QMNIST

def test_mnist_grading_split_is_qmnist_new_digits_without_the_planted_copy(hooks, world):
    split = splits.load_grading_split("mnist")
    new_images, new_labels = real_data.qmnist_new_digits_drawn()
    assert np.array_equal(split.images, new_images) and np.array_equal(split.labels, new_labels)
    assert split.images.dtype == np.uint8 and split.labels.dtype == np.uint8
    assert f"({len(new_images)} images)" in split.description
    assert _hashes(split.images).isdisjoint(_hashes(_student_images(data.load_mnist)))


def test_qmnist_rows_in_mnist_and_the_planted_copy_are_dropped_by_hash(hooks, world, monkeypatch):
    facts = world.facts["qmnist"]
    rows = splits.read_idx(world.qmnist_dir / "qmnist-test-images-idx3-ubyte.gz")
    (x_train, _), (x_test, _) = data.load_mnist()
    assert len(rows) == facts["rows"] and np.array_equal(rows[: len(x_test)], x_test)
    planted = rows[facts["row"]]
    assert np.array_equal(planted, x_train[facts["mnist_train_index"]])
    assert _hashes(planted[None]) & _hashes(x_train)  # the copy is a student's image ...
    assert not _hashes(planted[None]) & _hashes(splits.load_grading_split("mnist").images)
    # ... and only the hash comparison removes it: without student images it is graded.
    monkeypatch.setattr(splits, "_classification_images", lambda loader: x_train[:0])
    unfiltered = splits.load_grading_split("mnist").images
    assert len(unfiltered) == facts["new"] and np.array_equal(
        unfiltered[facts["row"] - splits.QMNIST_ROWS_IN_MNIST], planted)


def test_mnist_grading_split_limit_keeps_the_first_digits(hooks):
    split = splits.load_grading_split("mnist", limit=25)
    assert np.array_equal(split.images, real_data.qmnist_new_digits_drawn()[0][:25])


# --------------------------------------------------------------------------- CIFAR-10: CIFAR-10.1

def test_cifar10_grading_split_is_cifar10_1_without_the_planted_copy(hooks, world, monkeypatch):
    split = splits.load_grading_split("cifar10")
    drawn_images, drawn_labels = real_data.cifar10_1_drawn()
    assert np.array_equal(split.images, drawn_images)
    assert np.array_equal(split.labels, drawn_labels) and split.labels.dtype == np.uint8
    student = _student_images(data.load_cifar10)
    assert _hashes(split.images).isdisjoint(_hashes(student))
    facts = world.facts["cifar10_1"]
    monkeypatch.setattr(splits, "_classification_images", lambda loader: student[:0])
    unfiltered = splits.load_grading_split("cifar10").images
    assert len(unfiltered) == facts["test"]  # the planted copy is served; the hashes drop it
    assert _hashes(unfiltered[facts["index"]][None]) <= _hashes(student)


# --------------------------------------------------------------------------- Oxford-IIIT Pet

def test_pets_grading_split_is_the_tfds_test_split(hooks, world):
    split = splits.load_grading_split("oxford_pets")
    served = real_data.pets_served(world, "test")
    n = len(served["names"])
    assert split.images.shape == (n, 128, 128, 3) and split.images.dtype == np.float32
    assert split.labels.shape == (n, 128, 128) and split.labels.dtype == np.uint8
    # Drawn at 64 and served 2 or 3 times larger: nearest-neighbour to 128 doubles each pixel.
    doubled = served["trimaps"].repeat(2, axis=1).repeat(2, axis=2) - 1
    assert np.array_equal(split.labels, doubled)
    # The students' training and test parts both come from TFDS's train split.
    student_names = splits._student_pet_names()
    assert student_names == real_data.pets_served(world, "train")["names"].tolist()
    assert 0 < sum(map(pets.in_student_test_part, student_names)) < len(student_names)
    assert set(served["names"]).isdisjoint(student_names)


def test_pets_grading_split_drops_a_photo_that_students_have(hooks, world, monkeypatch):
    served = real_data.pets_served(world, "test")
    shared = served["names"][5]
    student_names = splits._student_pet_names()
    monkeypatch.setattr(splits, "_student_pet_names", lambda: [*student_names, shared])
    split = splits.load_grading_split("oxford_pets")
    assert len(split.labels) == len(served["names"]) - 1 and "199 photos" in split.description
    doubled = served["trimaps"].repeat(2, axis=1).repeat(2, axis=2) - 1
    assert np.array_equal(split.labels, np.delete(doubled, 5, axis=0))


# --------------------------------------------------------------------------- held-back faces

KAGGLE_ROWS, HELD_BACK = 150, 12


@pytest.fixture
def holdout(hooks, tmp_path, monkeypatch):
    """The instructor's draw on a Kaggle file, its list published, the file in the student cache."""
    csv_path = tmp_path / "kaggle" / "training.csv"
    pixels, keypoints = real_data.write_kaggle_subset(csv_path, KAGGLE_ROWS)
    drawn = splits.draw_keypoint_holdout(csv_path, tmp_path / "hidden", n_hidden=HELD_BACK,
                                         heldout_dir=tmp_path / "published", seed=3)
    monkeypatch.setenv("COURSE_HELDOUT_DIR", str(tmp_path / "published"))
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "facial_keypoints").mkdir(parents=True)
    return {"csv": csv_path, "pixels": pixels, "keypoints": keypoints, "drawn": drawn,
            "hidden_dir": tmp_path / "hidden"}


def _held_rows(holdout, split) -> list[int]:
    """The rows of the Kaggle file that the grading faces are, found by their pixels."""
    row_of = {h: i for i, h in enumerate(image_hashes(holdout["pixels"]))}
    graded = np.round(split.images[..., 0] * 255).astype(np.uint8)
    return [row_of[h] for h in image_hashes(graded)]


def test_keypoint_grading_split_is_the_drawn_complete_faces(holdout):
    split = splits.load_grading_split("facial_keypoints", hidden_dir=holdout["hidden_dir"])
    assert split.images.shape == (HELD_BACK, 96, 96, 1) and split.labels.shape == (HELD_BACK, 30)
    assert not np.isnan(split.labels).any()  # only complete faces are held back
    rows = _held_rows(holdout, split)
    assert rows == sorted(rows) and len(set(rows)) == HELD_BACK
    np.testing.assert_array_equal(split.labels, holdout["keypoints"][rows])
    assert kp.heldout_hashes() == _hashes(holdout["pixels"][rows])


@pytest.mark.parametrize("student_file", ["training.csv", "training.zip",
                                          "facial-keypoints-detection.zip", "mirror"])
def test_student_loader_leaves_out_the_held_back_faces(holdout, tmp_path, monkeypatch,
                                                       student_file, capsys):
    folder = tmp_path / "cache" / "facial_keypoints"
    if student_file == "training.csv":
        (folder / "training.csv").write_bytes(holdout["csv"].read_bytes())
    elif student_file == "mirror":  # the instructor's mirror: the CSV without those rows
        mirror = holdout["drawn"].mirror_csv
        monkeypatch.setenv("COURSE_KEYPOINTS_URL", mirror.as_uri())
        monkeypatch.setenv("COURSE_KEYPOINTS_SHA256", sha256_of(mirror))
        with open(mirror, newline="") as file:
            assert sum(1 for _ in csv.reader(file)) == 1 + KAGGLE_ROWS - HELD_BACK
    else:
        zips = real_data.write_kaggle_zips(holdout["csv"], tmp_path / "zips")
        (folder / student_file).write_bytes(
            (zips[0] if student_file == "training.zip" else zips[1]).read_bytes())
    split = splits.load_grading_split("facial_keypoints", hidden_dir=holdout["hidden_dir"])
    held = _held_rows(holdout, split)
    faces = data.load_facial_keypoints()
    kept = [i for i in range(KAGGLE_ROWS) if i not in held]
    assert np.array_equal(np.round(faces.images[..., 0] * 255).astype(np.uint8),
                          holdout["pixels"][kept])
    assert _hashes(faces.images).isdisjoint(_hashes(split.images))
    if student_file != "mirror":  # the loader's filter did it, and said so
        assert f"{HELD_BACK} faces are held back" in capsys.readouterr().out


def test_keypoint_grading_refuses_faces_missing_from_the_published_list(holdout, tmp_path,
                                                                        monkeypatch):
    published = holdout["drawn"].heldout_list.read_text().splitlines()
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / kp.HELDOUT_FILE).write_text("\n".join(published[:-1]) + "\n")
    monkeypatch.setenv("COURSE_HELDOUT_DIR", str(partial))
    with pytest.raises(DatasetNotFound, match=f"1 of the {HELD_BACK} held-back faces .* not in "
                                              "the published list"):
        splits.load_grading_split("facial_keypoints", hidden_dir=holdout["hidden_dir"])
    monkeypatch.setenv("COURSE_HELDOUT_DIR", str(tmp_path / "nothing-published"))
    with pytest.raises(DatasetNotFound, match=f"{HELD_BACK} of the {HELD_BACK} held-back"):
        splits.load_grading_split("facial_keypoints", hidden_dir=holdout["hidden_dir"])


def test_keypoint_grading_needs_the_hidden_dir(hooks, tmp_path):
    with pytest.raises(DatasetNotFound, match="none given.*--hidden-dir DIR"):
        splits.load_grading_split("facial_keypoints")
    with pytest.raises(DatasetNotFound, match=splits.HIDDEN_KEYPOINTS_FILE):
        splits.load_grading_split("facial_keypoints", hidden_dir=tmp_path / "empty")


# --------------------------------------------------------------------------- synthetic twins

def _synthetic_student_images(dataset: str, limit: int) -> np.ndarray:
    if dataset == "facial_keypoints":
        return data.load_facial_keypoints("synthetic", limit).images
    if dataset == "oxford_pets":
        (x_train, _), (x_test, _) = data.load_oxford_pets("synthetic", 128, limit)
    else:
        loader = data.load_mnist if dataset == "mnist" else data.load_cifar10
        (x_train, _), (x_test, _) = loader("synthetic", limit)
    return np.concatenate([x_train, x_test])


@pytest.mark.parametrize(("dataset", "limit"), [("mnist", 1000), ("cifar10", 500),
                                                ("facial_keypoints", 200), ("oxford_pets", 32)])
def test_synthetic_grading_splits_are_disjoint_from_the_student_splits(dataset, limit):
    split = splits.load_grading_split(dataset, "synthetic", limit=limit)
    assert len(split.images) == limit and "hidden split" in split.description
    assert _hashes(split.images).isdisjoint(_hashes(_synthetic_student_images(dataset, limit)))


# --------------------------------------------------------------------------- training targets

def test_training_targets_are_the_student_training_labels(hooks, world, tmp_path, monkeypatch):
    assert np.array_equal(splits.training_targets("mnist"), real_data.mnist_arrays(world)[0][1])
    cifar = splits.training_targets("cifar10")
    assert cifar.shape == (50_000,) and cifar.dtype == np.uint8
    assert np.array_equal(cifar[:9], real_data.cifar10_training_images()[1][:9])
    masks = splits.training_targets("oxford_pets", limit=5)
    assert masks.shape == (5, 128, 128) and set(np.unique(masks)) <= {0, 1, 2}
    _, keypoints = real_data.write_kaggle_subset(
        tmp_path / "cache" / "facial_keypoints" / "training.csv", 30)
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    np.testing.assert_array_equal(splits.training_targets("facial_keypoints"), keypoints)


@pytest.mark.parametrize(("dataset", "shape"), [("mnist", (6,)), ("cifar10", (6,)),
                                                ("facial_keypoints", (6, 30)),
                                                ("oxford_pets", (6, 128, 128))])
def test_synthetic_training_targets(dataset, shape):
    assert splits.training_targets(dataset, "synthetic", limit=6).shape == shape


def test_unknown_datasets_are_refused():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        splits.load_grading_split("imagenet", "synthetic")
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        splits.training_targets("imagenet", "synthetic")
