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
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_verified(url: str, target: Path, sha256: str) -> Path:
    """Download ``url`` to ``target`` and check its SHA-256 checksum.

    The file is written under a temporary name first, so an interrupted or
    corrupted download never looks like a finished one; on a checksum mismatch
    it is deleted and :class:`DatasetNotFound` explains what happened.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        urllib.request.urlretrieve(url, partial)
    except (OSError, ValueError) as err:  # URLError is an OSError; bad URLs raise ValueError
        partial.unlink(missing_ok=True)
        raise DatasetNotFound(
            f"Could not download {url}: {err}. Check the network connection and the URL "
            f"(COURSE_KEYPOINTS_URL). {OFFLINE_HINT}"
        ) from err
    actual = sha256_of(partial)
    if actual != sha256.strip().lower():
        partial.unlink()
        raise DatasetNotFound(
            f"The file downloaded from {url} has SHA-256 {actual}, but {sha256} was expected, "
            "so it was deleted. The download was corrupted or the file has changed: ask the "
            "instructor for the current URL and checksum (COURSE_KEYPOINTS_URL, "
            "COURSE_KEYPOINTS_SHA256)."
        )
    partial.replace(target)
    return target
