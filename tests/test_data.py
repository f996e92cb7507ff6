"""Tests of course.data: formats, determinism, keypoint conventions and real-data errors.

No test touches the network: real downloads are replaced by failing stubs or by
local ``file://`` URLs, and the cache lives in a temporary folder. The grading
splits come from ``autograder.splits``; ``test_real_loaders.py`` and
``test_grading_splits.py`` run the same loaders on files in the real formats.
"""

from __future__ import annotations

import csv
import sys
import zipfile

import keras
import numpy as np
import pytest
from keypoint_reference import flip_horizontal

from autograder import splits
from course import data, runtime
from course.data import pets, synthetic
from course.data.keypoints import ALWAYS_PRESENT


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """A private cache and no course/Kaggle settings leaking in from the shell."""
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle"))
    monkeypatch.setenv("COURSE_HELDOUT_DIR", str(tmp_path / "no-heldout"))
    for name in ("COURSE_DATA", "COURSE_HIDDEN_DIR", "COURSE_KEYPOINTS_URL",
                 "COURSE_KEYPOINTS_SHA256", "KAGGLE_USERNAME", "KAGGLE_KEY"):
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------- formats

def test_mnist_format():
    (x_train, y_train), (x_test, y_test) = data.load_mnist("synthetic", limit=300)
    for x, y in ((x_train, y_train), (x_test, y_test)):
        assert x.shape == (300, 28, 28) and x.dtype == np.uint8
        assert y.shape == (300,) and y.dtype == np.uint8
        assert x.max() > 200 and x.min() == 0
        assert set(np.unique(y)) == set(range(10))


def test_cifar10_format():
    (x_train, y_train), (x_test, y_test) = data.load_cifar10("synthetic", limit=300)
    for x, y in ((x_train, y_train), (x_test, y_test)):
        assert x.shape == (300, 32, 32, 3) and x.dtype == np.uint8
        assert y.shape == (300,) and y.dtype == np.uint8
        assert set(np.unique(y)) == set(range(10))
    assert len(data.CIFAR10_CLASSES) == 10


def test_facial_keypoints_format():
    faces = data.load_facial_keypoints("synthetic", limit=200)
    assert isinstance(faces, data.KeypointData)
    assert faces.images.shape == (200, 96, 96, 1) and faces.images.dtype == np.float32
    assert 0.0 <= faces.images.min() and faces.images.max() <= 1.0
    assert faces.keypoints.shape == (200, 30) and faces.keypoints.dtype == np.float32
    assert tuple(faces.columns) == data.KEYPOINT_COLUMNS
    assert np.nanmin(faces.keypoints) >= 0 and np.nanmax(faces.keypoints) <= 95


@pytest.mark.parametrize("size", [64, 128])
def test_oxford_pets_format(size):
    (x_train, m_train), (x_test, m_test) = data.load_oxford_pets("synthetic", size=size, limit=20)
    for x, m in ((x_train, m_train), (x_test, m_test)):
        assert x.shape == (20, size, size, 3) and x.dtype == np.float32
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert m.shape == (20, size, size) and m.dtype == np.uint8
        assert set(np.unique(m)) == {0, 1, 2}
    assert data.PET_CLASSES == ("pet", "background", "border")


def test_pet_trimap_border_separates_pet_from_background():
    """Like the real trimaps, the pet never touches the background directly."""
    _, masks = synthetic.scenes("train", 128, 20)
    pet, background = masks == 0, masks == 1
    vertical = (pet[:, 1:] & background[:, :-1]) | (pet[:, :-1] & background[:, 1:])
    horizontal = (pet[:, :, 1:] & background[:, :, :-1]) | (pet[:, :, :-1] & background[:, :, 1:])
    assert not vertical.any() and not horizontal.any()
    assert 0.03 < np.mean(masks == 2) < 0.2  # a band, not a blob


@pytest.mark.parametrize(
    ("dataset", "image_shape", "label_shape", "label_dtype"),
    [
        ("mnist", (28, 28), (), np.uint8),
        ("cifar10", (32, 32, 3), (), np.uint8),
        ("facial_keypoints", (96, 96, 1), (30,), np.float32),
        ("oxford_pets", (128, 128, 3), (128, 128), np.uint8),
    ],
)
def test_grading_split_formats(dataset, image_shape, label_shape, label_dtype):
    split = splits.load_grading_split(dataset, "synthetic", limit=8)
    images, labels = split.images, split.labels
    assert images.shape == (8, *image_shape)
    assert labels.shape == (8, *label_shape) and labels.dtype == label_dtype
    assert not np.isnan(np.asarray(labels, dtype=np.float64)).any()  # keypoints: complete rows


def test_grading_split_rejects_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset"):
        splits.load_grading_split("imagenet", "synthetic")


def test_source_defaults_to_course_data(monkeypatch):
    monkeypatch.setenv("COURSE_DATA", "synthetic")
    (x_train, _), _ = data.load_mnist(limit=5)
    assert np.array_equal(x_train, synthetic.digits("train", 5)[0])


def test_sample_image_is_a_grayscale_photo():
    image = data.sample_image()
    assert image.ndim == 2 and image.shape[0] > 100 and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.1


# --------------------------------------------------------------------------- determinism and limits

def test_loaders_are_deterministic():
    first = data.load_mnist("synthetic", limit=50)
    synthetic.digits.cache_clear()  # generate again instead of reading the memo
    second = data.load_mnist("synthetic", limit=50)
    assert np.array_equal(first[0][0], second[0][0]) and np.array_equal(first[1][1], second[1][1])
    synthetic.faces.cache_clear()
    faces = [data.load_facial_keypoints("synthetic", limit=10) for _ in range(2)]
    assert np.array_equal(faces[0].images, faces[1].images)


def test_cached_arrays_are_not_shared_with_the_caller():
    (x_train, _), _ = data.load_mnist("synthetic", limit=20)
    x_train[:] = 0
    assert data.load_mnist("synthetic", limit=20)[0][0].any()


@pytest.mark.parametrize("twin", [synthetic.digits, synthetic.objects, synthetic.faces])
def test_a_limit_returns_the_first_examples_of_the_full_split(twin):
    small, large = twin("train", 7), twin("train", 600)  # 600 crosses a chunk boundary
    for part_small, part_large in zip(small, large, strict=True):
        assert np.array_equal(part_small, part_large[:7])


def test_limit_larger_than_the_split_returns_everything():
    split = splits.load_grading_split("facial_keypoints", "synthetic", limit=10**9)
    assert len(split.images) == synthetic.SIZES["faces"]["hidden"]


@pytest.mark.parametrize("limit", [0, -3, 2.5, True])
def test_bad_limits_are_rejected(limit):
    with pytest.raises(ValueError, match="limit"):
        data.load_mnist("synthetic", limit=limit)


def test_unknown_source_is_rejected():
    with pytest.raises(ValueError, match="unknown data source"):
        data.load_mnist("imaginary", limit=5)


@pytest.mark.parametrize(
    "generate",
    [
        lambda split: synthetic.digits(split, 64)[0],
        lambda split: synthetic.objects(split, 64)[0],
        lambda split: synthetic.scenes(split, 64, 8)[0],
    ],
)
def test_train_test_and_hidden_splits_differ(generate):
    train, test, hidden = generate("train"), generate("test"), generate("hidden")
    assert not np.array_equal(train, test)
    assert not np.array_equal(train, hidden)
    assert not np.array_equal(test, hidden)


def test_face_hidden_split_differs_from_training_faces():
    train = synthetic.faces("train", 20)[0]
    hidden = synthetic.faces("hidden", 20)[0]
    assert np.abs(train - hidden).mean() > 0.05


# --------------------------------------------------------------------------- keypoint conventions

def test_keypoint_names_and_columns_follow_kaggle():
    assert len(data.KEYPOINT_NAMES) == 15 and len(data.KEYPOINT_COLUMNS) == 30
    assert data.KEYPOINT_COLUMNS[:4] == (
        "left_eye_center_x", "left_eye_center_y", "right_eye_center_x", "right_eye_center_y"
    )
    assert data.KEYPOINT_COLUMNS[-1] == "mouth_center_bottom_lip_y"


def test_flip_pairs_match_left_with_right():
    names = data.KEYPOINT_NAMES
    paired = {i for pair in data.FLIP_PAIRS for i in pair}
    for left, right in data.FLIP_PAIRS:
        assert names[left].replace("left", "right") == names[right]
    unpaired = {names[i] for i in set(range(15)) - paired}
    assert unpaired == {"nose_tip", "mouth_center_top_lip", "mouth_center_bottom_lip"}


def test_subjects_left_eye_is_on_the_right_of_the_image():
    faces = data.load_facial_keypoints("synthetic", limit=500)
    mean = np.nanmean(faces.keypoints, axis=0)
    column = data.KEYPOINT_COLUMNS.index
    assert mean[column("left_eye_center_x")] > 60 > 36 > mean[column("right_eye_center_x")]
    assert mean[column("mouth_left_corner_x")] > mean[column("mouth_right_corner_x")]


def _pupil_centre(image: np.ndarray, x: float, y: float, radius: int = 3) -> np.ndarray:
    """Darkness-weighted centroid of a small window around ``(x, y)``: a pupil's centre."""
    col, row = int(round(x)), int(round(y))
    window = image[row - radius : row + radius + 1, col - radius : col + radius + 1]
    weight = np.clip(0.3 - window, 0, None)  # only the pupil is this dark
    rows, cols = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    total = weight.sum()
    return np.array([col + (weight * cols).sum() / total, row + (weight * rows).sum() / total])


def test_rendered_pupils_sit_on_the_eye_keypoints():
    images, keypoints, _ = synthetic.faces("hidden", 30)
    for image, points in zip(images[..., 0], keypoints, strict=True):
        for eye in (0, 1):
            found = _pupil_centre(image, *points[2 * eye : 2 * eye + 2])
            assert np.allclose(found, points[2 * eye : 2 * eye + 2], atol=0.4)
            # The measurement is sharp enough to see a one-pixel mistake.
            assert not np.allclose(found, points[2 * eye : 2 * eye + 2] + [1, 0], atol=0.4)


def test_flip_horizontal_matches_the_mirrored_image():
    """After np.fliplr a point moves to x' = 95 - x and the left eye becomes the right one."""
    images, keypoints, _ = synthetic.faces("hidden", 30)
    flipped_images, flipped_points = flip_horizontal(images, keypoints)
    assert np.array_equal(flipped_images[..., 0], images[:, :, ::-1, 0])
    for image, points in zip(flipped_images[..., 0], flipped_points, strict=True):
        for eye in (0, 1):
            found = _pupil_centre(image, *points[2 * eye : 2 * eye + 2])
            assert np.allclose(found, points[2 * eye : 2 * eye + 2], atol=0.4)
            # x' = 96 - x, the other plausible convention, misses by a pixel.
            assert not np.allclose(found, points[2 * eye : 2 * eye + 2] + [1, 0], atol=0.4)
    # Still the subject's left eye on the image's right after flipping.
    assert np.all(flipped_points[:, 0] > flipped_points[:, 2])


def test_flip_horizontal_twice_is_the_identity():
    images, keypoints, _ = synthetic.faces("hidden", 5)
    back_images, back_points = flip_horizontal(*flip_horizontal(images, keypoints))
    assert np.array_equal(back_images, images)
    assert np.allclose(back_points, keypoints)


def test_missing_keypoints_follow_the_kaggle_pattern():
    faces = data.load_facial_keypoints("synthetic", limit=1500)
    missing = np.isnan(faces.keypoints)
    partial_rows = missing.any(axis=1)
    assert 0.65 < partial_rows.mean() < 0.75
    present = np.zeros(30, dtype=bool)
    present[np.ravel([[2 * i, 2 * i + 1] for i in ALWAYS_PRESENT])] = True
    assert np.array_equal(~missing[partial_rows], np.tile(present, (partial_rows.sum(), 1)))


def test_complete_rows_keeps_only_fully_annotated_faces():
    faces = data.load_facial_keypoints("synthetic", limit=300)
    complete = data.complete_rows(faces)
    expected = int((~np.isnan(faces.keypoints).any(axis=1)).sum())
    assert len(complete.images) == len(complete.keypoints) == expected > 0
    assert not np.isnan(complete.keypoints).any()
    assert complete.columns == faces.columns


# --------------------------------------------------------------------------- real data: errors

@pytest.mark.parametrize(("loader", "module"), [(data.load_mnist, "mnist"),
                                                (data.load_cifar10, "cifar10")])
def test_keras_download_failure_becomes_dataset_not_found(monkeypatch, loader, module):
    def offline():
        raise Exception("URL fetch failure on https://storage.googleapis.com/: None -- offline")

    monkeypatch.setattr(getattr(keras.datasets, module), "load_data", offline)
    with pytest.raises(data.DatasetNotFound, match="COURSE_DATA=synthetic") as error:
        loader("real", limit=5)
    assert "network" in str(error.value) and "offline" in str(error.value)


def test_real_source_from_environment_never_falls_back_to_synthetic(monkeypatch):
    monkeypatch.setenv("COURSE_DATA", "real")
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: (_ for _ in ()).throw(OSError()))
    with pytest.raises(data.DatasetNotFound):
        data.load_mnist(limit=5)


def test_missing_keypoints_explain_every_way_to_get_them():
    with pytest.raises(data.DatasetNotFound) as error:
        data.load_facial_keypoints("real")
    message = str(error.value)
    for step in ("kaggle.json", "rules", "KAGGLE_USERNAME", "training.csv",
                 "COURSE_KEYPOINTS_URL", "COURSE_KEYPOINTS_SHA256", "COURSE_DATA=synthetic"):
        assert step in message


def test_kaggle_credentials_without_the_package_say_to_install_it(monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "student")
    monkeypatch.setenv("KAGGLE_KEY", "not-a-real-key")
    monkeypatch.setitem(sys.modules, "kaggle", None)  # makes `import kaggle...` fail offline
    with pytest.raises(data.DatasetNotFound, match="pip install kaggle"):
        data.load_facial_keypoints("real")


def test_pets_download_failure_becomes_dataset_not_found(monkeypatch):
    import tensorflow_datasets as tfds

    requested = {}

    def offline_builder(name, data_dir):
        requested.update(name=name, data_dir=data_dir)
        raise ConnectionError("no network")

    monkeypatch.setattr(tfds, "builder", offline_builder)
    with pytest.raises(data.DatasetNotFound, match="COURSE_DATA=synthetic"):
        data.load_oxford_pets("real", limit=2)
    assert requested["name"] == "oxford_iiit_pet"
    assert requested["data_dir"].startswith(str(runtime.cache_dir()))


def test_real_cifar10_labels_are_flattened(monkeypatch):
    """Keras ships CIFAR-10 labels as (N, 1) int arrays; the loader returns uint8 (N,)."""
    x = np.zeros((6, 32, 32, 3), np.uint8)
    y = np.arange(6, dtype=np.int64).reshape(6, 1)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: ((x, y), (x[:2], y[:2])))
    (x_train, y_train), (x_test, y_test) = data.load_cifar10("real", limit=4)
    assert x_train.shape == (4, 32, 32, 3) and x_test.shape == (2, 32, 32, 3)
    assert y_train.dtype == np.uint8 and y_train.tolist() == [0, 1, 2, 3]


def _pet_names(in_test_part: bool, count: int, number: int) -> list[str]:
    """Oxford-style file names that the students' split rule puts in (or out of) their test part."""
    names = (f"Abyssinian_{i}.jpg" for i in range(number, 10**6, 2))
    return [n for n in names if pets.in_student_test_part(n) == in_test_part][:count]


class _FakePetBuilder:
    """Stands in for the TFDS builder: tiny examples with Oxford's 1/2/3 trimap labels.

    TFDS's train split holds two photos of the students' training part and two
    of their test part; its test split three others (odd and even numbers: no
    file name in both).
    """

    NAMES = {"train": _pet_names(False, 2, 1) + _pet_names(True, 2, 1),
             "test": _pet_names(False, 3, 2)}

    def download_and_prepare(self):
        pass

    def as_dataset(self, split):
        import tensorflow as tf

        n = len(self.NAMES[split])
        mask = np.full((n, 40, 50, 1), 2, np.uint8)  # background
        mask[:, 10:30, 10:40] = 3  # border ...
        mask[:, 12:28, 12:38] = 1  # ... around the pet
        image = np.full((n, 40, 50, 3), 255, np.uint8)
        return tf.data.Dataset.from_tensor_slices(
            {"image": image, "segmentation_mask": mask, "file_name": self.NAMES[split]})


def test_real_pets_are_resized_and_relabelled(monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(tfds, "builder", lambda name, data_dir: _FakePetBuilder())
    (x_train, m_train), (x_test, m_test) = data.load_oxford_pets("real", size=32, limit=2)
    assert x_train.shape == (2, 32, 32, 3) and x_train.dtype == np.float32
    assert x_test.shape == (2, 32, 32, 3) and m_test.shape == (2, 32, 32)
    assert np.allclose(x_train, 1.0)
    assert m_train.shape == (2, 32, 32) and m_train.dtype == np.uint8
    assert set(np.unique(m_train)) == {0, 1, 2}  # nearest-neighbour: no in-between labels
    assert m_train[0, 16, 16] == 0 and m_train[0, 0, 0] == 1
    split = splits.load_grading_split("oxford_pets", "real")
    assert split.images.shape == (3, 128, 128, 3) and split.labels.shape == (3, 128, 128)


def test_hidden_keypoints_need_the_instructor_file(tmp_path):
    with pytest.raises(data.DatasetNotFound, match="course-grader holdout"):
        splits.load_grading_split("facial_keypoints", "real")
    with pytest.raises(data.DatasetNotFound, match=str(tmp_path)):
        splits.load_grading_split("facial_keypoints", "real", hidden_dir=tmp_path)


# --------------------------------------------------------------------------- real data: files

def _write_kaggle_csv(path, images: np.ndarray, keypoints: np.ndarray) -> None:
    """A miniature ``training.csv`` in Kaggle's format (empty cells = missing)."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([*data.KEYPOINT_COLUMNS, "Image"])
        for image, points in zip(images, keypoints, strict=True):
            cells = ["" if np.isnan(v) else repr(float(v)) for v in points]
            writer.writerow([*cells, " ".join(str(int(p)) for p in image.ravel())])


@pytest.fixture
def kaggle_csv(tmp_path):
    """Twelve faces, five of them complete, as Kaggle would ship them."""
    faces = data.load_facial_keypoints("synthetic", limit=12)
    pixels = np.round(faces.images[..., 0] * 255).astype(np.uint8)
    keypoints = faces.keypoints.copy()
    keypoints[:, :] = np.nan
    keypoints[:5] = synthetic.faces("train", 5)[1]
    keypoints[5:, :4] = 40.5  # partial rows: eye centres only
    path = tmp_path / "kaggle" / "training.csv"
    path.parent.mkdir()
    _write_kaggle_csv(path, pixels, keypoints)
    return path, pixels, keypoints


def _assert_loaded(faces, pixels, keypoints):
    assert np.array_equal(np.round(faces.images[..., 0] * 255).astype(np.uint8), pixels)
    np.testing.assert_allclose(faces.keypoints, keypoints, rtol=1e-6)


def test_real_loader_reads_a_csv_in_the_cache(kaggle_csv):
    path, pixels, keypoints = kaggle_csv
    folder = data.keypoints.keypoints_dir()
    folder.mkdir(parents=True)
    (folder / "training.csv").write_bytes(path.read_bytes())
    _assert_loaded(data.load_facial_keypoints("real"), pixels, keypoints)
    assert (folder / "training.csv.parsed.npz").is_file()  # parsed once, then reused
    _assert_loaded(data.load_facial_keypoints("real", limit=3), pixels[:3], keypoints[:3])


def test_real_loader_reads_the_nested_competition_zip(kaggle_csv):
    path, pixels, keypoints = kaggle_csv
    folder = data.keypoints.keypoints_dir()
    folder.mkdir(parents=True)
    inner = path.with_name("training.zip")
    with zipfile.ZipFile(inner, "w") as archive:
        archive.write(path, "training.csv")
    with zipfile.ZipFile(folder / "facial-keypoints-detection.zip", "w") as archive:
        archive.write(inner, "training.zip")
        archive.writestr("IdLookupTable.csv", "RowId,ImageId,FeatureName,Location\n")
    _assert_loaded(data.load_facial_keypoints("real"), pixels, keypoints)


def test_mirror_download_with_wrong_checksum_is_deleted(kaggle_csv, monkeypatch):
    path, _, _ = kaggle_csv
    monkeypatch.setenv("COURSE_KEYPOINTS_URL", path.as_uri())
    monkeypatch.setenv("COURSE_KEYPOINTS_SHA256", "0" * 64)
    with pytest.raises(data.DatasetNotFound, match="has SHA256 .* was expected, so it was deleted"):
        data.load_facial_keypoints("real")
    assert list(data.keypoints.keypoints_dir().iterdir()) == []


def test_mirror_download_with_right_checksum_loads(kaggle_csv, monkeypatch):
    from course.data._common import sha256_of

    path, pixels, keypoints = kaggle_csv
    monkeypatch.setenv("COURSE_KEYPOINTS_URL", path.as_uri())
    monkeypatch.setenv("COURSE_KEYPOINTS_SHA256", sha256_of(path))
    _assert_loaded(data.load_facial_keypoints("real"), pixels, keypoints)
    assert (data.keypoints.keypoints_dir() / "training.csv").is_file()


def test_mirror_url_without_checksum_is_refused(kaggle_csv, monkeypatch):
    monkeypatch.setenv("COURSE_KEYPOINTS_URL", kaggle_csv[0].as_uri())
    with pytest.raises(data.DatasetNotFound, match="COURSE_KEYPOINTS_SHA256"):
        data.load_facial_keypoints("real")


def test_unreachable_mirror_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_KEYPOINTS_URL", (tmp_path / "absent.csv").as_uri())
    monkeypatch.setenv("COURSE_KEYPOINTS_SHA256", "0" * 64)
    with pytest.raises(data.DatasetNotFound, match="Could not download"):
        data.load_facial_keypoints("real")


def test_holdout_split_round_trip(kaggle_csv, tmp_path, monkeypatch):
    path, pixels, keypoints = kaggle_csv
    files = splits.draw_keypoint_holdout(path, tmp_path / "hidden", n_hidden=3,
                                         heldout_dir=tmp_path / "published", seed=1)
    with open(files.mirror_csv, newline="") as file:
        student_rows = list(csv.reader(file))[1:]
    assert len(student_rows) == 12 - 3

    monkeypatch.setenv("COURSE_HELDOUT_DIR", str(tmp_path / "published"))
    split = splits.load_grading_split("facial_keypoints", "real", hidden_dir=tmp_path / "hidden")
    images, hidden_points = split.images, split.labels
    assert images.shape == (3, 96, 96, 1) and hidden_points.shape == (3, 30)
    assert not np.isnan(hidden_points).any()
    held = [int(np.flatnonzero(np.all(np.isclose(keypoints, row), axis=1))[0])
            for row in hidden_points]
    assert all(i < 5 for i in held)  # only complete faces are held back
    assert np.array_equal(np.round(images[..., 0] * 255).astype(np.uint8), pixels[held])

    # Students get every other row, in order, through the mirror.
    monkeypatch.setenv("COURSE_KEYPOINTS_URL", files.mirror_csv.as_uri())
    monkeypatch.setenv("COURSE_KEYPOINTS_SHA256", files.mirror_sha256)
    kept = [i for i in range(12) if i not in held]
    _assert_loaded(data.load_facial_keypoints("real"), pixels[kept], keypoints[kept])


def test_holdout_refuses_more_faces_than_are_complete(kaggle_csv, tmp_path):
    with pytest.raises(ValueError, match="n_hidden"):
        splits.draw_keypoint_holdout(kaggle_csv[0], tmp_path / "hidden", n_hidden=5,
                                     heldout_dir=tmp_path / "published")
    assert not (tmp_path / "published").exists()  # refused before anything was written
