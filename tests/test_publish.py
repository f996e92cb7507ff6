"""``course-grader publish``: the students' repository holds no solution, case or grading file."""

from __future__ import annotations

import shutil
import subprocess

import nbformat
import pytest

from autograder.publish import PrivateLineFound, private_lines, publish, scan
from course import __version__
from course.notebooks import ROOT, colab_url, install_requirement


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    return publish(ROOT, tmp_path_factory.mktemp("public") / "repo")


def test_the_publication_holds_units_released_assignments_and_the_package(published):
    folder = published.folder
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*")
             if p.is_file() and ".git" not in p.parts}
    assert {f"units/{p.name}" for p in (ROOT / "units").glob("*.ipynb")} <= names
    for release in (ROOT / "assignments" / "release").iterdir():
        assert f"assignments/{release.name}/{release.name}.ipynb" in names
    assert "course/__init__.py" in names and "pyproject.toml" in names and "README.md" in names
    for private in ("source/", "grading/", "autograder/", "tests/", "nbgrader_config.py",
                    "course/notebooks.py", "course/cli.py"):
        assert not any(private in name for name in names), private


def test_the_publication_has_a_fresh_history_tagged_with_the_version(published):
    log = subprocess.run(["git", "-C", str(published.folder), "log", "--format=%s"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert log == [f"dl-vision-course v{__version__}"]
    tags = subprocess.run(["git", "-C", str(published.folder), "tag"], capture_output=True,
                          text=True, check=True).stdout.split()
    assert tags == [published.tag] == [f"v{__version__}"]


def test_no_published_file_holds_a_private_line(published):
    private = private_lines(ROOT / "assignments")
    assert len(private) > 50  # solutions, model answers and cases of four assignments
    assert scan(published.folder, private) == []


def test_setup_cells_and_badges_point_to_the_published_tag(published):
    for path in sorted(published.folder.glob("**/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        relative = path.relative_to(published.folder).as_posix()
        assert colab_url(relative) in nb.cells[0].source, relative
        setup = next(c for c in nb.cells if c.cell_type == "code")
        assert install_requirement() in setup.source, relative
    assert colab_url("units/01_tensorflow_linear_regression.ipynb") in (
        published.folder / "README.md").read_text()


def test_the_published_package_installs_only_the_course_package(published, tmp_path):
    built = subprocess.run(["pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                            str(published.folder)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("dl_vision_course-*.whl")
    listing = subprocess.run(["python", "-m", "zipfile", "-l", str(wheel)], capture_output=True,
                             text=True, check=True).stdout
    assert "course/__init__.py" in listing and "autograder" not in listing
    assert f"-{__version__}-" in wheel.name


def test_a_solution_line_planted_in_the_package_stops_the_publication(tmp_path):
    repo = tmp_path / "repo"
    for name in ("units", "course", "assignments"):
        shutil.copytree(ROOT / name, repo / name,
                        ignore=shutil.ignore_patterns("__pycache__", "gradebook.db"))
    shutil.copy(ROOT / "pyproject.toml", repo)
    private = private_lines(repo / "assignments")
    line = max((text for text, origin in private.items() if "solution" in origin), key=len)
    with open(repo / "course" / "grading.py", "a") as handle:
        handle.write(f"\n{line}\n")
    with pytest.raises(PrivateLineFound, match="course/grading.py"):
        publish(repo, tmp_path / "out")
