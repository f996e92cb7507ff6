"""Pieces shared by the loaders: the missing-data error, limits, verified downloads."""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path

import numpy as np

OFFLINE_HINT = (
    "To practise offline instead, set COURSE_DATA=synthetic (or pass source='synthetic'): "
    "the synthetic twins have the same shapes and labels but are generated locally."
)


class DatasetNotFound(RuntimeError):
    """Real data was requested but is not available; the message says how to get it."""


def check_limit(limit: int | None) -> int | None:
    """Validate a loader's ``limit`` argument (``None`` = everything)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    return int(limit)


def take(limit: int | None, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """The first ``limit`` rows of each array (all of them when ``limit`` is None)."""
    return tuple(array[:limit] for array in arrays)


def sha256_of(path: Path) -> str:
    return file_digest(path, "sha256")


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def image_hashes(images: np.ndarray) -> list[str]:
    """SHA-256 of each image's bytes (first axis = images): the identity of an example.

    Two loaders that return the same picture give it the same hash, whatever
    file or archive it came from, so hashes show that a grading split and the
    students' data share no image.
    """
    images = np.ascontiguousarray(images)
    return [hashlib.sha256(image.tobytes()).hexdigest() for image in images]


def download_verified(url: str, target: Path, checksum: str, *, algorithm: str = "sha256",
                      fix: str = "ask the instructor for the current URL and checksum") -> Path:
    """Download ``url`` to ``target`` and check its checksum (``sha256`` or ``md5``).

    The file is written under a temporary name first, so an interrupted or
    corrupted download never looks like a finished one; on a checksum mismatch
    it is deleted and :class:`DatasetNotFound` explains what happened and
    ``fix`` says what to do.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        urllib.request.urlretrieve(url, partial)
    except (OSError, ValueError) as err:  # URLError is an OSError; bad URLs raise ValueError
        partial.unlink(missing_ok=True)
        raise DatasetNotFound(
            f"Could not download {url}: {err}. Check the network connection and the URL. "
            f"{OFFLINE_HINT}"
        ) from err
    actual = file_digest(partial, algorithm)
    if actual != checksum.strip().lower():
        partial.unlink()
        raise DatasetNotFound(
            f"The file downloaded from {url} has {algorithm.upper()} {actual}, but {checksum} "
            f"was expected, so it was deleted. The download was corrupted or the file has "
            f"changed: {fix}."
        )
    partial.replace(target)
    return target
