"""Every unit, and every released assignment filled with its solution, runs on the Colab replica.

The kernel is Python 3.13 with Colab's versions of TensorFlow (its CPU build), Keras,
NumPy, IPython and the rest (tests/colab_replica.py), and the course package installed
into it the way a setup cell installs it. Each kernel reports from inside, at its start,
its Python and package versions, and the test checks them against Colab's list. The
executed units are kept in build/executed/, where `make site` finds them; the
assignments' runs leave the archives that tests/test_assignments_grading.py grades.
"""

from __future__ import annotations

import hashlib

import colab_replica
import nbformat
import pytest
from solution_runs import replica_solution_run

from course.notebooks import QUICK_ENV, ROOT, execute, unit_notebooks

EXECUTED = ROOT / "build" / "executed"
TIME_LIMIT_S = 300  # a loaded CI machine; bench/notebooks.py reports the real times
ASSIGNMENTS = sorted(p.name for p in (ROOT / "assignments" / "release").iterdir() if p.is_dir())


def assert_kernel_is_colabs(folder):
    report = colab_replica.kernel_report(folder)
    assert tuple(report["python"]) == colab_replica.PYTHON_VERSION, report
    assert report["versions"] == colab_replica.replica_packages()
    assert report["executable"].startswith(str(colab_replica.VENV))


@pytest.mark.notebook
@pytest.mark.parametrize("path", unit_notebooks(), ids=lambda p: p.stem)
def test_unit_runs_on_the_colab_replica(path, tmp_path, colab_session):
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    result = execute(copy, timeout=TIME_LIMIT_S, cell_timeout=TIME_LIMIT_S,
                     env={**QUICK_ENV, **colab_replica.kernel_check_env(tmp_path)},
                     python=str(colab_replica.kernel_python()))
    assert result.ok, f"{path.name} failed after {result.seconds:.0f} s:\n{result.error}"
    assert_kernel_is_colabs(tmp_path)
    executed = result.notebook
    executed.metadata.setdefault("course", {})["executed_from"] = hashlib.sha256(
        path.read_bytes()).hexdigest()
    EXECUTED.mkdir(parents=True, exist_ok=True)
    nbformat.write(executed, EXECUTED / path.name)


@pytest.mark.notebook
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_assignment_with_its_solution_runs_on_the_colab_replica(
        assignment, tmp_path_factory, colab_session):
    run = replica_solution_run(tmp_path_factory, assignment)
    assert run.ok, f"{assignment} failed after {run.seconds:.0f} s:\n{run.error}"
    assert_kernel_is_colabs(run.folder)
    assert run.archive is not None  # its last cell packed the notebook and the weights
