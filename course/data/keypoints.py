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
import uuid
import zipfile
from contextlib import contextmanager, suppress
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
    image_hashes,
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
_CSV_NAME = "training.csv"
# The instructor holds some faces back for grading and publishes their image
# hashes here (one SHA-256 per line), so that every student's loader leaves them
# out, whichever copy of Kaggle's file it reads. COURSE_HELDOUT_DIR overrides the folder.
HELDOUT_DIR = Path(__file__).resolve().parent / "heldout"
HELDOUT_FILE = "facial_keypoints.sha256"
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
    The parsed arrays are cached as ``.npz`` next to the CSV when that folder is
    writable. Faces the instructor holds back for grading (:func:`heldout_hashes`)
    are left out, so the first ``limit`` faces are those of the remaining rows.
    """
    limit = check_limit(limit)
    if runtime.data_source(source) == "synthetic":
        images, keypoints, partial = synthetic.faces("train", limit)
        absent = np.ones(len(KEYPOINT_NAMES), dtype=bool)
        absent[list(ALWAYS_PRESENT)] = False
        keypoints[np.ix_(partial, np.repeat(absent, 2))] = np.nan  # like Kaggle's sparse rows
        return KeypointData(images, keypoints, KEYPOINT_COLUMNS)
    pixels, keypoints = student_rows(*parsed_training_file())
    pixels, keypoints = take(limit, pixels, keypoints)
    return KeypointData(to_float_images(pixels), keypoints, KEYPOINT_COLUMNS)


def heldout_hashes() -> frozenset[str]:
    """Image hashes of the faces held back for grading (empty before the instructor draws them)."""
    folder = Path(os.environ.get("COURSE_HELDOUT_DIR") or HELDOUT_DIR)
    path = folder / HELDOUT_FILE
    if not path.is_file():
        return frozenset()
    lines = (line.strip() for line in path.read_text().splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def student_rows(pixels: np.ndarray, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of Kaggle's file that students may train on: all but the held-back faces."""
    heldout = heldout_hashes()
    if not heldout:
        return pixels, keypoints
    keep = np.array([h not in heldout for h in image_hashes(pixels)], dtype=bool)
    if (~keep).any():
        print(f"Facial keypoints: {int((~keep).sum())} faces are held back for grading and "
              f"left out; {int(keep.sum())} remain.")
    return pixels[keep], keypoints[keep]


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
    downloaded = download_verified(
        url, folder / "training.download", sha256,
        fix="ask your instructor for the current COURSE_KEYPOINTS_URL and COURSE_KEYPOINTS_SHA256")
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


def read_training_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with _open_training_csv(path) as file:
        reader = csv.reader(file)
        header = next(reader)
        missing = [name for name in (*KEYPOINT_COLUMNS, "Image") if name not in header]
        if missing:
            raise ValueError(f"{path} is not the Kaggle training file: no columns {missing}")
        return header, list(reader)


def rows_to_arrays(header, rows) -> tuple[np.ndarray, np.ndarray]:
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


def parsed_training_file() -> tuple[np.ndarray, np.ndarray]:
    """Every row of Kaggle's ``training.csv``: pixels uint8 ``(N, 96, 96)``, keypoints ``(N, 30)``.

    The CSV is parsed once and a ``.npz`` copy kept beside it (a second instead
    of half a minute). A read-only cache, as in the grader's sandbox, is only
    read: the copy is then skipped, not an error.
    """
    path = _find_or_download()
    cached = path.with_name(path.name + ".parsed.npz")
    if cached.is_file() and cached.stat().st_mtime >= path.stat().st_mtime:
        with np.load(cached) as stored:
            return stored["images"], stored["keypoints"]
    pixels, keypoints = rows_to_arrays(*read_training_rows(path))
    # A name of this call's own: notebooks that share a cache may parse at the
    # same time, and one must never rename another's half-written file into place.
    partial = cached.with_name(f"{cached.name}.{uuid.uuid4().hex}.part.npz")
    try:
        np.savez(partial, images=pixels, keypoints=keypoints)
        partial.replace(cached)
    except OSError:  # not writable (parse again next time), or a full disk
        with suppress(OSError):
            partial.unlink(missing_ok=True)
    return pixels, keypoints


def to_float_images(pixels: np.ndarray) -> np.ndarray:
    return (pixels.astype(np.float32) / 255.0)[..., None]
