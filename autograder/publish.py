"""``course-grader publish DIR``: the public, student-facing repository of a term.

This repository (the instructor's) holds the solutions, the graded cases and
the grading settings, and stays private. ``publish`` writes what students may
see into ``DIR`` and gives it a fresh git history of one commit, tagged
``v<course version>`` — the tag every setup cell installs and every Colab
badge opens:

* ``units/``: the six teaching notebooks;
* ``assignments/<name>/``: the released assignments (``release/`` of the course);
* ``course/``: the package the notebooks import, and a ``pyproject.toml`` that
  installs only it (no grader, no nbgrader);
* ``README.md``: the students' README.

Before the commit, every published file is scanned for every line that must
stay private (:func:`private_lines`): solution lines, hidden-test lines and the
graded cases. A single one found stops the publication.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course import __version__
from course.notebooks import colab_url, install_requirement

MIN_LINE = 20  # shorter lines ("return out", "else:") are shared by any two programs
# Lines any two programs share whatever they compute: imports, comments, decorators.
BOILERPLATE = ("import ", "from ", "#", "@", '"""')
PUBLIC_LINES = "public_lines.txt"
TEXT_SUFFIXES = {".py", ".ipynb", ".md", ".toml", ".txt", ".cfg", ".sha256", ".yml", ".yaml"}
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
# Maintainer tooling inside the course package: it needs nbformat and the grader.
NOT_FOR_STUDENTS = ("cli.py", "notebooks.py")


class PrivateLineFound(RuntimeError):
    """A line that must stay private appears in a file about to be published."""


@dataclass(frozen=True)
class Publication:
    folder: Path
    files: int
    tag: str


def _solution_and_hidden_lines(nb: nbformat.NotebookNode) -> set[str]:
    lines = set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        inside = None
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line or "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
                inside = None
            elif inside or (meta.get("solution") and cell.cell_type == "markdown"):
                lines.add(line.strip())
    return lines


def _notebook_lines(folder: Path) -> set[str]:
    lines = set()
    for path in folder.glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            lines.update(line.strip() for line in cell.source.splitlines())
    return lines


def significant(line: str) -> bool:
    """Long enough to mean something, and not an import, a comment or a decorator."""
    return len(line) >= MIN_LINE and not line.startswith(BOILERPLATE)


def public_idioms(course_dir: Path) -> set[str]:
    """Lines the instructor has declared generic (``grading/public_lines.txt``): API idioms
    such as ``with tf.GradientTape() as tape:`` that a solution and a unit may share."""
    path = course_dir / "grading" / PUBLIC_LINES
    if not path.exists():
        return set()
    return {line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")}


def private_lines(course_dir: Path) -> dict[str, str]:
    """line -> where it comes from: every solution line, hidden-test line and line of graded
    cases of every assignment, except imports, comments, lines too short to mean
    anything, lines already public in the released notebook and declared idioms."""
    found = {}
    idioms = public_idioms(course_dir)
    for source in sorted((course_dir / "source").glob("*/*.ipynb")):
        assignment = source.parent.name
        public = _notebook_lines(course_dir / "release" / assignment)

        def keep(line: str, public=public) -> bool:
            return significant(line) and line not in public and line not in idioms

        for line in _solution_and_hidden_lines(nbformat.read(source, as_version=4)):
            if keep(line):
                found.setdefault(line, f"{assignment}: a solution or hidden-test line")
        cases = course_dir / "grading" / f"{assignment}.py"
        if cases.exists():
            for line in (raw.strip() for raw in cases.read_text().splitlines()):
                if keep(line):
                    found.setdefault(line, f"{assignment}: a line of its graded cases")
    return found


def file_lines(path: Path) -> list[str]:
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        return [line.strip() for cell in nb.cells for line in cell.source.splitlines()]
    return [line.strip() for line in path.read_text(errors="replace").splitlines()]


def scan(folder: Path, private: dict[str, str]) -> list[str]:
    """``file: line (origin)`` for every private line found in a text file under ``folder``."""
    leaks = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts):
        if path.suffix not in TEXT_SUFFIXES:
            continue
        for line in file_lines(path):
            if line in private:
                leaks.append(f"{path.relative_to(folder)}: {line!r} ({private[line]})")
    return leaks


def student_pyproject(repo: Path) -> str:
    """The published package's pyproject.toml: the course package and its student deps."""
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]

    def listed(items):
        return "[" + ", ".join(f'"{item}"' for item in items) + "]"

    return f'''[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "{project['name']}"
version = "{__version__}"
description = "{project['description']}"
readme = "README.md"
requires-python = "{project['requires-python']}"
license = {{ text = "{project['license']['text']}" }}
dependencies = {listed(project['dependencies'])}

[project.optional-dependencies]
cpu = {listed(extras['cpu'])}
gpu = {listed(extras['gpu'])}

[tool.setuptools.packages.find]
include = ["course*"]

[tool.setuptools.package-data]
course = ["data/heldout/*.sha256"]
'''


def student_readme(units: list[Path], assignments: list[Path]) -> str:
    def badge(path: str) -> str:
        return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                f"({colab_url(path)})")

    def title(path: Path) -> str:
        first = nbformat.read(path, as_version=4).cells[0].source.splitlines()[0]
        return first.lstrip("# ").strip()

    unit_rows = "\n".join(f"| [{title(p)}](units/{p.name}) | {badge(f'units/{p.name}')} |"
                          for p in units)
    assignment_rows = "\n".join(
        f"| [{title(p)}](assignments/{p.parent.name}/{p.name}) | "
        f"{badge(f'assignments/{p.parent.name}/{p.name}')} |" for p in assignments)
    return f"""# Deep learning for image classification and segmentation

Six teaching notebooks and four assignments in TensorFlow/Keras, release
v{__version__}. Open a notebook in Google Colab with its badge, choose a GPU
runtime (*Runtime > Change runtime type > T4 GPU*) and run it top to bottom: its
first cell installs this course's package, at the version the notebook was
released with, and keeps datasets and checkpoints on your Google Drive.

## Units

| Notebook | Colab |
|---|---|
{unit_rows}

## Assignments

| Assignment | Colab |
|---|---|
{assignment_rows}

Work through an assignment in its notebook; its last cell packs the notebook and
your trained weights into `<assignment>_submission.zip`, which you upload to the
course's LMS. Every exercise has checks you can run yourself; the grader runs
further cases of its own, on data the notebooks never load.

## Without Colab

```bash
pip install "{install_requirement().replace('dl-vision-course @', 'dl-vision-course[cpu] @')}"
```

Then open the notebooks with Jupyter. `COURSE_DATA=synthetic` runs every
notebook on generated data that needs no download, and `COURSE_QUICK=1` shrinks
datasets and epochs so a notebook runs in about a minute on a laptop.
"""


def publish(repo: Path, out: Path, course_dir: Path | None = None,
            private_source: Path | None = None) -> Publication:
    """Write the student repository into ``out`` (which must be empty or absent).

    ``private_source`` is the course directory whose private lines are looked
    for (default: ``course_dir``); tests point it elsewhere to plant a leak.
    """
    repo, out = Path(repo).resolve(), Path(out).resolve()
    course_dir = Path(course_dir or repo / "assignments")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: publish into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / "units").mkdir()
    units = sorted((repo / "units").glob("*.ipynb"))
    for path in units:
        shutil.copy(path, out / "units" / path.name)
    assignments = []
    for folder in sorted(p for p in (course_dir / "release").iterdir() if p.is_dir()):
        shutil.copytree(folder, out / "assignments" / folder.name, ignore=SKIPPED)
        assignments += sorted((out / "assignments" / folder.name).glob("*.ipynb"))
    shutil.copytree(repo / "course", out / "course",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", *NOT_FOR_STUDENTS))
    (out / "pyproject.toml").write_text(student_pyproject(repo))
    (out / "README.md").write_text(student_readme(units, assignments))
    (out / ".gitignore").write_text("__pycache__/\n*.egg-info/\n.ipynb_checkpoints/\n"
                                    "*.weights.h5\n*_submission.zip\n")
    leaks = scan(out, private_lines(private_source or course_dir))
    if leaks:
        raise PrivateLineFound("these published files hold private lines:\n  "
                               + "\n  ".join(leaks[:20]))
    tag = f"v{__version__}"
    git = ["git", "-C", str(out), "-c", "user.name=course-grader",
           "-c", "user.email=course-grader@localhost", "-c", "init.defaultBranch=main"]
    for command in (["init", "--quiet"], ["add", "--all"],
                    ["commit", "--quiet", "-m", f"dl-vision-course {tag}"],
                    ["tag", tag]):
        subprocess.run([*git, *command], check=True, capture_output=True)
    files = sum(1 for p in out.rglob("*") if p.is_file() and ".git" not in p.parts)
    return Publication(out, files, tag)
