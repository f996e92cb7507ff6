"""Facial keypoints (Kaggle "facial-keypoints-detection"), real or synthetic.

The Kaggle file ``training.csv`` has one row per 96x96 grayscale face: 30
columns with the x and y pixel coordinates of 15 keypoints (empty when the
annotator did not mark the point; about 70 % of the rows only have four) and
an ``Image`` column with the 9216 pixel values separated by spaces.

"Left" and "right" are the *subject's* sides: the left eye appears on the
right half of the image (``left_eye_center_x`` is about 66, the right eye's
about 30). A horizontal flip therefore has to swap the left/right pairs in
:data:`FLIP_PAIRS` as well as mirror x (writing that flip is part of assignment A2).

Pixel convention: ``(x, y) = (column, row)`` of a pixel centre, so the image
spans 0..95 and ``np.fliplr`` moves a point from ``x`` to ``95 - x``.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np

from course import runtime
from course.data import synthetic
from course.data._common import (
    OFFLINE_HINT,
    DatasetNotFound,
    check_limit,
    download_verified,
    sha256_of,
    take,
)

IMAGE_SIZE = 96
KEYPOINT_NAMES = (
    "left_eye_center", "right_eye_center",
    "left_eye_inner_corner", "left_eye_outer_corner",
    "right_eye_inner_corner", "right_eye_outer_corner",
    "left_eyebrow_inner_end", "left_eyebrow_outer_end",
    "right_eyebrow_inner_end", "right_eyebrow_outer_end",
    "nose_tip",
    "mouth_left_corner", "mouth_right_corner",
    "mouth_center_top_lip", "mouth_center_bottom_lip",
)
KEYPOINT_COLUMNS = tuple(f"{name}_{axis}" for name in KEYPOINT_NAMES for axis in "xy")
# Keypoint indices (into KEYPOINT_NAMES) that trade places in a mirror image.
FLIP_PAIRS = ((0, 1), (2, 4), (3, 5), (6, 8), (7, 9), (11, 12))
# The four keypoints present in (almost) every Kaggle row.
ALWAYS_PRESENT = (0, 1, 10, 14)

COMPETITION = "facial-keypoints-detection"
HIDDEN_FILE = "facial_keypoints_hidden.npz"
_CSV_NAME = "training.csv"
# Files a user or the Kaggle API may leave in the cache folder, in order of preference.
_SOURCE_NAMES = (_CSV_NAME, "training.zip", f"{COMPETITION}.zip")


class KeypointData(NamedTuple):
    """Face images with their keypoints.

    ``images`` float32 ``(N, 96, 96, 1)`` in [0, 1]; ``keypoints`` float32
    ``(N, 30)`` in pixels (x then y per keypoint, NaN where missing);
    ``columns`` the 30 column names, in the order of :data:`KEYPOINT_COLUMNS`.
    """

    images: np.ndarray
    keypoints: np.ndarray
    columns: tuple[str, ...]


def complete_rows(data: KeypointData) -> KeypointData:
    """Only the faces whose 15 keypoints are all present."""
    keep = ~np.isnan(data.keypoints).any(axis=1)
    return KeypointData(data.images[keep], data.keypoints[keep], data.columns)


def load_facial_keypoints(source: str | None = None, limit: int | None = None) -> KeypointData:
    """Kaggle's facial keypoints training set (7049 faces) or its synthetic twin.

    Real data is looked for in ``<cache>/facial_keypoints/`` (``training.csv``,
    ``training.zip`` or the competition zip). When it is missing it is
    downloaded from the instructor's mirror (``COURSE_KEYPOINTS_URL`` with
    ``COURSE_KEYPOINTS_SHA256``) or with the Kaggle API when Kaggle
    credentials are set up; otherwise :class:`DatasetNotFound` lists the steps.
    The parsed arrays are cached as ``.npz`` next to the CSV.
    """
    limit = check_limit(limit)
    if runtime.data_source(source) == "synthetic":
        images, keypoints, partial = synthetic.faces("train", limit)
        absent = np.ones(len(KEYPOINT_NAMES), dtype=bool)
        absent[list(ALWAYS_PRESENT)] = False
        keypoints[np.ix_(partial, np.repeat(absent, 2))] = np.nan  # like Kaggle's sparse rows
        return KeypointData(images, keypoints, KEYPOINT_COLUMNS)
    pixels, keypoints = _parsed(_find_or_download())
    pixels, keypoints = take(limit, pixels, keypoints)
    return KeypointData(_to_float_images(pixels), keypoints, KEYPOINT_COLUMNS)


def load_hidden_keypoints(source: str | None = None, limit: int | None = None):
    """The held-back grading faces (complete rows only): ``(images, keypoints)``."""
    limit = check_limit(limit)
    if runtime.data_source(source) == "synthetic":
        images, keypoints, _ = synthetic.faces("hidden", limit)
        return images, keypoints
    hidden_dir = os.environ.get("COURSE_HIDDEN_DIR")
    path = Path(hidden_dir) / HIDDEN_FILE if hidden_dir else None
    if path is None or not path.is_file():
        raise DatasetNotFound(
            f"The held-back facial keypoints split ({HIDDEN_FILE}) was not found "
            f"(COURSE_HIDDEN_DIR={hidden_dir!r}). The instructor creates it once with "
            "course.data.split_keypoints_holdout(kaggle_training_csv, out_dir), publishes the "
            "student training.csv it writes, and points COURSE_HIDDEN_DIR at out_dir on the "
            "grading machine."
        )
    with np.load(path) as stored:
        pixels, keypoints = take(limit, stored["images"], stored["keypoints"])
    return _to_float_images(pixels), keypoints.astype(np.float32)


# --------------------------------------------------------------------------- finding the file

def keypoints_dir() -> Path:
    """The cache folder of the facial keypoints data."""
    return runtime.cache_dir() / "facial_keypoints"


def _find_or_download() -> Path:
    folder = keypoints_dir()
    for name in _SOURCE_NAMES:
        if (folder / name).is_file():
            return folder / name
    url = os.environ.get("COURSE_KEYPOINTS_URL")
    if url:
        return _download_from_mirror(url, os.environ.get("COURSE_KEYPOINTS_SHA256"), folder)
    if _kaggle_credentials_found():
        return _download_from_kaggle(folder)
    raise DatasetNotFound(_missing_message(folder))


def _missing_message(folder: Path) -> str:
    return (
        f"The facial keypoints data (Kaggle competition '{COMPETITION}') is not in {folder}. "
        "Get it in one of these ways:\n"
        f"  1. Kaggle API: sign in at kaggle.com, accept the competition rules at "
        f"https://www.kaggle.com/c/{COMPETITION}/rules, create an API token (Settings > API > "
        "Create New Token) and save kaggle.json as ~/.kaggle/kaggle.json (chmod 600), or set "
        "KAGGLE_USERNAME and KAGGLE_KEY; `pip install kaggle`, then call the loader again. It "
        f"runs the equivalent of `kaggle competitions download -c {COMPETITION}`.\n"
        f"  2. By hand: download training.csv (or the competition zip) and put it in {folder} "
        "(set COURSE_CACHE to use another folder, e.g. on Google Drive).\n"
        "  3. If your instructor gave you a mirror: set COURSE_KEYPOINTS_URL and "
        "COURSE_KEYPOINTS_SHA256.\n"
        f"  4. {OFFLINE_HINT}"
    )


def _download_from_mirror(url: str, sha256: str | None, folder: Path) -> Path:
    if not sha256:
        raise DatasetNotFound(
            "COURSE_KEYPOINTS_URL is set but COURSE_KEYPOINTS_SHA256 is not: set both (the "
            "instructor publishes the checksum with the URL) so the download can be verified."
        )
    downloaded = download_verified(url, folder / "training.download", sha256)
    name = "training.zip" if zipfile.is_zipfile(downloaded) else _CSV_NAME
    return downloaded.replace(folder / name)


def _kaggle_credentials_found() -> bool:
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return True
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        folders = [Path(os.environ["KAGGLE_CONFIG_DIR"])]
    else:  # the Kaggle client's defaults, old and new
        folders = [Path.home() / ".kaggle", Path.home() / ".config" / "kaggle"]
    return any((folder / "kaggle.json").is_file() for folder in folders)


def _download_from_kaggle(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        # Importing the package authenticates with the credentials found above.
        from kaggle.api.kaggle_api_extended import KaggleApi

        api = KaggleApi()
        api.authenticate()
        api.competition_download_files(COMPETITION, path=str(folder), quiet=False)
    except ImportError as err:
        raise DatasetNotFound(
            f"Kaggle credentials were found but the kaggle package is missing: run "
            f"`pip install kaggle` and try again. {OFFLINE_HINT}"
        ) from err
    except Exception as err:  # the Kaggle client raises assorted HTTP/API errors
        raise DatasetNotFound(
            f"The Kaggle download of '{COMPETITION}' failed: {err}. A 403 error means the "
            f"competition rules are not accepted yet: open https://www.kaggle.com/c/{COMPETITION}"
            "/rules while signed in and accept them. Also check the network and kaggle.json. "
            f"{OFFLINE_HINT}"
        ) from err
    archive = folder / f"{COMPETITION}.zip"
    if not archive.is_file():
        raise DatasetNotFound(f"The Kaggle download finished but {archive} is missing.")
    return archive


# --------------------------------------------------------------------------- parsing

@contextmanager
def _open_training_csv(path: Path):
    """Open ``training.csv`` as text, directly or inside a (nested) zip archive."""
    if not zipfile.is_zipfile(path):
        with open(path, newline="") as file:
            yield file
        return
    with zipfile.ZipFile(path) as archive:
        names = {Path(name).name: name for name in archive.namelist()}
        if _CSV_NAME in names:
            with archive.open(names[_CSV_NAME]) as raw:
                yield io.TextIOWrapper(raw, newline="")
        elif "training.zip" in names:  # the competition zip holds training.zip
            inner = io.BytesIO(archive.read(names["training.zip"]))
            with zipfile.ZipFile(inner) as nested, nested.open(_CSV_NAME) as raw:
                yield io.TextIOWrapper(raw, newline="")
        else:
            raise DatasetNotFound(f"{path} holds no {_CSV_NAME} (found {sorted(names)}).")


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with _open_training_csv(path) as file:
        reader = csv.reader(file)
        header = next(reader)
        missing = [name for name in (*KEYPOINT_COLUMNS, "Image") if name not in header]
        if missing:
            raise ValueError(f"{path} is not the Kaggle training file: no columns {missing}")
        return header, list(reader)


def _rows_to_arrays(header, rows) -> tuple[np.ndarray, np.ndarray]:
    """CSV rows -> pixels uint8 ``(N, 96, 96)`` and keypoints float32 ``(N, 30)``."""
    point_columns = [header.index(name) for name in KEYPOINT_COLUMNS]
    image_column = header.index("Image")
    keypoints = np.array(
        [[float(row[i]) if row[i] else np.nan for i in point_columns] for row in rows],
        dtype=np.float32,
    ).reshape(len(rows), len(KEYPOINT_COLUMNS))
    pixels = np.array([row[image_column].split() for row in rows], dtype=np.float32)
    pixels = pixels.reshape(len(rows), IMAGE_SIZE, IMAGE_SIZE)
    return np.round(pixels).astype(np.uint8), keypoints


def _parsed(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse the CSV once and reuse a ``.npz`` copy (a few seconds instead of half a minute)."""
    cached = path.with_name(path.name + ".parsed.npz")
    if cached.is_file() and cached.stat().st_mtime >= path.stat().st_mtime:
        with np.load(cached) as stored:
            return stored["images"], stored["keypoints"]
    pixels, keypoints = _rows_to_arrays(*_read_rows(path))
    np.savez(cached, images=pixels, keypoints=keypoints)
    return pixels, keypoints


def _to_float_images(pixels: np.ndarray) -> np.ndarray:
    return (pixels.astype(np.float32) / 255.0)[..., None]


# --------------------------------------------------------------------------- instructor

class HoldoutFiles(NamedTuple):
    """What :func:`split_keypoints_holdout` wrote."""

    student_csv: Path
    hidden_npz: Path
    student_sha256: str


def split_keypoints_holdout(
    csv_path: str | Path, out_dir: str | Path, n_hidden: int = 500, seed: int = 0
) -> HoldoutFiles:
    """Instructor tool: hold back ``n_hidden`` complete faces for grading.

    Reads Kaggle's ``training.csv`` (or its zip) and writes into ``out_dir``:
    ``training.csv`` for the students (every row except the held-back ones,
    same format) and :data:`HIDDEN_FILE` (the held-back images and keypoints).
    Publish the student file and its SHA-256 (students set
    ``COURSE_KEYPOINTS_URL`` / ``COURSE_KEYPOINTS_SHA256``) and point
    ``COURSE_HIDDEN_DIR`` at ``out_dir`` on the grading machine only.
    """
    header, rows = _read_rows(Path(csv_path))
    pixels, keypoints = _rows_to_arrays(header, rows)
    complete = np.flatnonzero(~np.isnan(keypoints).any(axis=1))
    if not 0 < n_hidden < len(complete):
        raise ValueError(f"n_hidden must be between 1 and {len(complete) - 1}, got {n_hidden}")
    hidden = np.sort(np.random.default_rng(seed).choice(complete, n_hidden, replace=False))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    student_csv = out / _CSV_NAME
    held_back = set(hidden.tolist())
    with open(student_csv, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(row for i, row in enumerate(rows) if i not in held_back)
    hidden_npz = out / HIDDEN_FILE
    np.savez_compressed(
        hidden_npz, images=pixels[hidden], keypoints=keypoints[hidden],
        columns=np.array(KEYPOINT_COLUMNS),
    )
    return HoldoutFiles(student_csv, hidden_npz, sha256_of(student_csv))
