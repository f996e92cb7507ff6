"""One JSON record per graded submission, written atomically.

``<course>/grader_results/<assignment>/<student>.json`` says what happened
(grade, or why none), which isolation and limits were used, the metric values
(for the leaderboard) and the digest of the submitted files, so a re-run can
skip submissions that did not change.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

RESULTS_DIR = "grader_results"


def results_dir(course_dir: Path, assignment: str) -> Path:
    return Path(course_dir) / RESULTS_DIR / assignment


def result_path(course_dir: Path, assignment: str, student: str) -> Path:
    return results_dir(course_dir, assignment) / f"{student}.json"


def submission_digest(folder: Path) -> str:
    """SHA-256 over the relative names and bytes of every submitted file."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: Path, data: dict) -> None:
    """tmp + rename in the same folder: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_result(course_dir: Path, assignment: str, student: str) -> dict | None:
    path = result_path(course_dir, assignment, student)
    return json.loads(path.read_text()) if path.exists() else None


def load_results(course_dir: Path, assignment: str) -> dict[str, dict]:
    folder = results_dir(course_dir, assignment)
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
