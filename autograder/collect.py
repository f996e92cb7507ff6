"""``course-grader collect``: uploaded ``<assignment>_submission.zip`` -> ``submitted/``.

Each archive (made by ``course.grading.bundle_submission``) holds one notebook
and the files it needs (trained weights). Archives are untrusted: entries
with absolute paths, ``..``, links, encryption or too many bytes are refused,
the single notebook is stored under the assignment's notebook name, other
files by their base name.

Submission times, for nbgrader's late penalties, come from the LMS, never from
the archive's date on disk (after a bulk download that is the download time):

* ``--times FILE``: a CSV exported from the LMS with a student id and a
  submission time per row (docs/instructors.md shows Canvas's and Moodle's);
* Canvas writes ``LATE`` into the file names of late submissions in its bulk
  download; without a time, such a submission counts as one second late.

An archive that cannot be read (corrupt, encrypted, too large, not one
notebook) becomes that student's failed result with the reason, and
collection goes on with the next one.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.gradebook import check_student_id
from autograder.records import SubmissionResult, save_result

MAX_ARCHIVE_BYTES = 4 * 2**30
MAX_ENTRIES = 200
# Column names as LMS exports spell them, compared as lowercase letters and digits only
# ("Login ID" -> "loginid"), in order of preference.
ID_COLUMNS = ("studentid", "loginid", "username", "identifier", "emailaddress", "sisuserid",
              "id", "student")
TIME_COLUMNS = ("submittedat", "submissiontime", "lastmodifiedsubmission")
MOODLE_TIME = "%A, %d %B %Y, %I:%M %p"  # "Monday, 1 February 2027, 11:59 PM"


def default_pattern(assignment: str) -> str:
    """``alice_a1_submission.zip``, ``alice/a1_submission.zip``, LMS-style
    ``alice_12345_a1_submission.zip`` or Canvas's ``alice_LATE_123_456_a1_submission-1.zip``
    (the student id is the first field)."""
    return (rf"^(?P<student_id>[A-Za-z0-9.@-]+)[/_](?:(?P<late>LATE)_)?(?:.*[/_])?"
            rf"{re.escape(assignment)}_submission(?:-\d+)?\.zip$")


@dataclass
class Collected:
    archive: str
    student: str | None
    files: list[str] = field(default_factory=list)
    time_source: str = ""
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
        if member.flag_bits & 0x1:
            raise BadArchive(f"{member.filename!r} is encrypted: hand in the archive the "
                             "notebook's last cell makes, without a password")
        total += member.file_size
    if total > max_bytes:
        raise BadArchive(f"unpacks to {total} bytes, over the {max_bytes} limit")
    return [m for m in members if not PurePosixPath(m.filename).name.startswith(("._", "."))]


def extract_submission(archive_path: Path, dest: Path, notebook_name: str,
                       submitted_at: dt.datetime | None,
                       max_bytes: int = MAX_ARCHIVE_BYTES) -> list[str]:
    """Unpack one archive into ``dest`` (replaced atomically); returns the stored names."""
    if archive_path.stat().st_size > max_bytes:
        raise BadArchive(f"the archive is {archive_path.stat().st_size} bytes, over the "
                         f"{max_bytes} limit")
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as err:
        raise BadArchive(f"not a readable zip archive: {err}") from err
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
            if submitted_at is not None:  # nbgrader reads the submission time from here
                stamp = submitted_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
                (staging / "timestamp.txt").write_text(stamp)
            if dest.exists():
                shutil.rmtree(dest)
            staging.rename(dest)
        except (zipfile.BadZipFile, RuntimeError, OSError, EOFError) as err:
            shutil.rmtree(staging, ignore_errors=True)
            raise BadArchive(f"the archive is damaged: {err}") from err
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return sorted(names)


def parse_time(text: str, zone: dt.tzinfo) -> dt.datetime:
    """ISO 8601 (Canvas, most exports) or Moodle's long format; naive times are in ``zone``."""
    text = text.strip()
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = dt.datetime.strptime(text, MOODLE_TIME)
        except ValueError as err:
            raise ValueError(f"submission time {text!r}: write ISO 8601, e.g. "
                             "2027-02-14T23:12:00Z") from err
    return when if when.tzinfo else when.replace(tzinfo=zone)


def read_times(path: Path, zone: dt.tzinfo = dt.UTC) -> dict[str, dt.datetime]:
    """student id -> submission time, from an LMS export (the id and time columns are found
    by their usual names, case-insensitively; see docs/instructors.md)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {re.sub(r"[^a-z0-9]", "", name.lower()): name
                   for name in reader.fieldnames or []}
        id_column = next((columns[c] for c in ID_COLUMNS if c in columns), None)
        time_column = next((columns[c] for c in TIME_COLUMNS if c in columns), None)
        if id_column is None or time_column is None:
            raise ValueError(f"{path}: needs a student id column (one of {ID_COLUMNS}) and a "
                             f"time column (one of {TIME_COLUMNS}); found {reader.fieldnames}")
        times = {}
        for row in reader:
            student, when = (row.get(id_column) or "").strip(), (row.get(time_column) or "")
            if student and when.strip() and when.strip() != "-":
                times[student.split("@")[0] if "@" in student else student] = parse_time(when, zone)
    return times


def collect(course_dir: Path, assignment: str, inbox: Path, notebook: str,
            pattern: str | None = None, times: dict[str, dt.datetime] | None = None,
            due: dt.datetime | None = None) -> list[Collected]:
    """Unpack every archive in ``inbox``; a bad archive is recorded as that student's failure."""
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
        except ValueError as err:
            entry.error = str(err)
            report.append(entry)
            continue
        submitted_at, entry.time_source = _submission_time(
            entry.student, times, match.groupdict().get("late"), due)
        dest = Path(course_dir) / "submitted" / entry.student / assignment
        try:
            entry.files = extract_submission(archive, dest, f"{notebook}.ipynb", submitted_at)
        except BadArchive as err:
            entry.error = str(err)
            shutil.rmtree(dest, ignore_errors=True)  # the latest upload is the one that counts
            save_result(course_dir, SubmissionResult(
                student=entry.student, assignment=assignment, status="failed", digest="",
                reason=f"bad archive {relative}: {err}", fault="submission"))
        report.append(entry)
    return report


def _submission_time(student, times, late_marker, due):
    if times and student in times:
        return times[student], "LMS times file"
    if late_marker and due is not None:
        return due + dt.timedelta(seconds=1), "LATE in the file name (time unknown: 1 s late)"
    if times is not None:
        return None, "not in the LMS times file: counted on time"
    return None, "unknown (no --times): counted on time"
