"""``course-grader collect``: uploaded ``<assignment>_submission.zip`` -> ``submitted/``.

Each archive (made by ``course.grading.bundle_submission``) holds one notebook
and the files it needs (trained weights). Archives are untrusted: entries
with absolute paths, ``..``, links, or too many bytes are refused, the single
notebook is stored under the assignment's notebook name, other files by their
base name, and nbgrader's ``timestamp.txt`` is written from the archive time.
"""

from __future__ import annotations

import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from autograder.gradebook import check_student_id

MAX_ARCHIVE_BYTES = 4 * 2**30
MAX_ENTRIES = 200


def default_pattern(assignment: str) -> str:
    """``alice_a1_submission.zip``, ``alice/a1_submission.zip`` or LMS-style
    ``alice_12345_a1_submission.zip`` (the student id is the first field)."""
    return rf"^(?P<student_id>[A-Za-z0-9.@-]+)[/_](?:.*[/_])?{re.escape(assignment)}_submission\.zip$"


@dataclass
class Collected:
    archive: str
    student: str | None
    files: list[str] = field(default_factory=list)
    error: str | None = None


class BadArchive(ValueError):
    """An archive that cannot be accepted as it is."""


def _safe_members(archive: zipfile.ZipFile, max_bytes: int) -> list[zipfile.ZipInfo]:
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > MAX_ENTRIES:
        raise BadArchive(f"{len(members)} files; at most {MAX_ENTRIES}")
    total = 0
    for member in members:
        path = PurePosixPath(member.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts:
            raise BadArchive(f"unsafe path {member.filename!r}")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise BadArchive(f"{member.filename!r} is a symbolic link")
        total += member.file_size
    if total > max_bytes:
        raise BadArchive(f"unpacks to {total} bytes, over the {max_bytes} limit")
    return [m for m in members if not PurePosixPath(m.filename).name.startswith(("._", "."))]


def extract_submission(archive_path: Path, dest: Path, notebook_name: str,
                       max_bytes: int = MAX_ARCHIVE_BYTES) -> list[str]:
    """Unpack one archive into ``dest`` (replaced atomically); returns the stored names."""
    try:
        archive = zipfile.ZipFile(archive_path)
    except zipfile.BadZipFile as err:
        raise BadArchive(f"not a zip archive: {err}") from err
    with archive:
        members = _safe_members(archive, max_bytes)
        notebooks = [m for m in members if m.filename.endswith(".ipynb")]
        if len(notebooks) != 1:
            raise BadArchive(f"expected exactly one .ipynb, found {len(notebooks)}")
        names = {}
        for member in members:
            name = notebook_name if member is notebooks[0] else PurePosixPath(member.filename).name
            if name in names:
                raise BadArchive(f"two files named {name!r}")
            names[name] = member
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
        try:
            for name, member in names.items():
                with archive.open(member) as src, open(staging / name, "wb") as out:
                    shutil.copyfileobj(src, out)
            stamp = datetime.fromtimestamp(archive_path.stat().st_mtime, UTC)
            (staging / "timestamp.txt").write_text(stamp.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
            if dest.exists():
                shutil.rmtree(dest)
            staging.rename(dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return sorted(names)


def collect(course_dir: Path, assignment: str, inbox: Path, notebook: str,
            pattern: str | None = None) -> list[Collected]:
    regex = re.compile(pattern or default_pattern(assignment))
    report = []
    for archive in sorted(p for p in Path(inbox).rglob("*.zip") if p.is_file()):
        relative = archive.relative_to(inbox).as_posix()
        match = regex.match(relative)
        if not match:
            report.append(Collected(relative, None, error=f"name does not match {regex.pattern}"))
            continue
        entry = Collected(relative, match.group("student_id"))
        try:
            check_student_id(entry.student)
            dest = Path(course_dir) / "submitted" / entry.student / assignment
            entry.files = extract_submission(archive, dest, f"{notebook}.ipynb")
        except (BadArchive, ValueError) as err:
            entry.error = str(err)
        report.append(entry)
    return report
