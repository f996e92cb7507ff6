"""The committed student versions in assignments/release/ are what nbgrader makes from source/."""

import shutil

import pytest

from autograder.release import release
from course.notebooks import ROOT

COURSE = ROOT / "assignments"
ASSIGNMENTS = sorted(p.name for p in (COURSE / "source").iterdir() if p.is_dir())


# One worker regenerates every release once for all the tests below (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("release-current")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """What `course-grader release` (nbgrader's generate_assignment) makes from source/ now."""
    work = tmp_path_factory.mktemp("course")
    for name in ("nbgrader_config.py", "source", "grading"):
        src = COURSE / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / name)
    for assignment in ASSIGNMENTS:
        release(work, assignment, db_path=work / "gb.db")
    return work / "release"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_is_current(assignment, regenerated):
    fresh = sorted(p.relative_to(regenerated / assignment).as_posix()
                   for p in (regenerated / assignment).rglob("*") if p.is_file())
    committed_dir = COURSE / "release" / assignment
    committed = sorted(p.relative_to(committed_dir).as_posix()
                       for p in committed_dir.rglob("*") if p.is_file())
    assert committed == fresh, "release/ lists other files: run `course-grader release`"
    for name in fresh:
        assert (committed_dir / name).read_bytes() == (regenerated / assignment / name).read_bytes(), (
            f"release/{assignment}/{name} is stale: run `course-grader release {assignment}` "
            "from assignments/ and commit the result"
        )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_keeps_no_solutions_or_hidden_tests(assignment):
    for path in (COURSE / "release" / assignment).glob("*.ipynb"):
        text = path.read_text()
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in text, f"{path.name} still contains {marker!r}"
