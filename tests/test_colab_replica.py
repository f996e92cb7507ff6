"""Every unit, and every released assignment filled with its solution, runs on the Colab replica.

The kernel is Python 3.13 with Colab's versions of TensorFlow (its CPU build), Keras,
NumPy, IPython and the rest (tests/colab_replica.py), and the course package installed
into it the way a setup cell installs it. A first cell checks, inside the kernel, that
it really has those versions. The executed units are kept in build/executed/, where
`make site` finds them.
"""

from __future__ import annotations

import hashlib
import shutil

import colab_replica
import nbformat
import pytest

from autograder.demo import answered_release
from course.notebooks import QUICK_ENV, ROOT, execute, unit_notebooks

EXECUTED = ROOT / "build" / "executed"
TIME_LIMIT_S = 240  # a loaded CI machine; bench/notebooks.py reports the real times
ASSIGNMENTS = sorted(p.name for p in (ROOT / "assignments" / "release").iterdir() if p.is_dir())


def version_check_cell() -> nbformat.NotebookNode:
    wanted = colab_replica.replica_packages()
    source = (
        "import importlib.metadata, sys\n"
        f"assert sys.version_info[:2] == {colab_replica.PYTHON_VERSION!r}, sys.version\n"
        f"wanted = {wanted!r}\n"
        "found = {name: importlib.metadata.version(name) for name in wanted}\n"
        "assert found == wanted, {n: (found[n], v) for n, v in wanted.items() if found[n] != v}\n"
        "print('Colab replica:', sys.version.split()[0], found)"
    )
    return nbformat.v4.new_code_cell(source, metadata={"tags": ["colab-replica-check"]})


def run_in_replica(nb: nbformat.NotebookNode, folder, name: str):
    nb.cells.insert(0, version_check_cell())
    path = folder / name
    nbformat.write(nb, path)
    return execute(path, timeout=TIME_LIMIT_S, cell_timeout=TIME_LIMIT_S, env=QUICK_ENV,
                   python=str(colab_replica.kernel_python()))


def source_digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.notebook
@pytest.mark.parametrize("path", unit_notebooks(), ids=lambda p: p.stem)
def test_unit_runs_on_the_colab_replica(path, tmp_path, colab_session):
    result = run_in_replica(nbformat.read(path, as_version=4), tmp_path, path.name)
    assert result.ok, f"{path.name} failed after {result.seconds:.0f} s:\n{result.error}"
    executed = result.notebook
    executed.cells.pop(0)  # the version check is the test's, not the unit's
    executed.metadata.setdefault("course", {})["executed_from"] = source_digest(path)
    EXECUTED.mkdir(parents=True, exist_ok=True)
    nbformat.write(executed, EXECUTED / path.name)


@pytest.mark.notebook
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_assignment_with_its_solution_runs_on_the_colab_replica(assignment, tmp_path,
                                                                         colab_session):
    release = ROOT / "assignments" / "release" / assignment
    for extra in release.iterdir():
        if extra.is_file() and extra.suffix != ".ipynb":
            shutil.copy(extra, tmp_path / extra.name)
    nb = answered_release(ROOT / "assignments", assignment)
    result = run_in_replica(nb, tmp_path, f"{assignment}.ipynb")
    assert result.ok, f"{assignment} failed after {result.seconds:.0f} s:\n{result.error}"
    assert (tmp_path / f"{assignment}_submission.zip").exists()  # its last cell packed it
