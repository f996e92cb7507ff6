"""Every unit, and every released assignment filled with its solution, runs on the Colab replica.

The kernel is Python 3.13 with Colab's versions of TensorFlow (its CPU build), Keras,
NumPy, IPython and the rest (tests/colab_replica.py), and the course package installed
into it the way a setup cell installs it. Each kernel reports from inside, at its start,
its Python and package versions, and the test checks them against Colab's list.

The units run with ``COURSE_DATA=real COURSE_QUICK=1`` on the fixture world of
tests/real_data.py: Keras's, TFDS's and the other real loaders parse real-format files
whose pictures are the synthetic ones, so one run per unit proves both the replica and
the real data path. The executed units are kept in build/executed/, where `make site`
finds them; the assignments' runs (synthetic data) leave the archives that
tests/test_assignments_grading.py grades, and tests/test_real_path.py runs them on the
real path as well.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

import colab_replica
import nbformat
import pytest
import real_data
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
def test_unit_runs_on_the_colab_replica_through_the_real_loaders(path, tmp_path, colab_session,
                                                                tmp_path_factory):
    world = real_data.session_world(tmp_path_factory)
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    # world.env(): COURSE_DATA=real, the fixture caches, and on PYTHONPATH only the download
    # hooks, so the kernel imports the course package the setup cell installed.
    env = {**QUICK_ENV, **world.env(), **colab_replica.kernel_check_env(tmp_path)}
    if "load_oxford_pets" in path.read_text():
        # Colab's TFDS does not import as it is (see the test below); the notebook runs as it
        # does for a student who applied the fix the loader names.
        env["PYTHONPATH"] = os.pathsep.join([str(colab_replica.tfds_fix_dir()), env["PYTHONPATH"]])
    result = execute(copy, timeout=TIME_LIMIT_S, cell_timeout=TIME_LIMIT_S, env=env,
                     python=str(colab_replica.kernel_python()))
    assert result.ok, f"{path.name} failed after {result.seconds:.0f} s:\n{result.error}"
    assert_kernel_is_colabs(tmp_path)
    assert "data=real" in nbformat.writes(result.notebook)  # the setup cell's summary line
    executed = result.notebook
    executed.metadata.setdefault("course", {})["executed_from"] = hashlib.sha256(
        path.read_bytes()).hexdigest()
    EXECUTED.mkdir(parents=True, exist_ok=True)
    nbformat.write(executed, EXECUTED / path.name)


@pytest.mark.notebook
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_assignment_with_its_solution_runs_on_the_colab_replica(
        assignment, tmp_path_factory, colab_session):
    run = replica_solution_run(tmp_path_factory, assignment, colab_session)
    assert run.ok, f"{assignment} failed after {run.seconds:.0f} s:\n{run.error}"
    assert_kernel_is_colabs(run.folder)
    assert run.archive is not None  # its last cell packed the notebook and the weights


def test_colabs_tfds_fails_with_the_fix_named_and_works_with_it(colab_session, tmp_path_factory):
    """Colab's list pairs tensorflow-metadata 1.21.0 with protobuf 5.29.6, which cannot import
    it (tensorflow/metadata#68): the pets loader says so and names the fix, which works."""
    from course.data.pets import TFDS_FIX

    world = real_data.session_world(tmp_path_factory)
    code = "from course.data import load_oxford_pets; print(len(load_oxford_pets(size=64, limit=8)[0][0]))"
    runs = {}
    for fixed in (False, True):
        env = world.process_env()
        env.pop("PYTHONPATH")
        path = ([str(colab_replica.tfds_fix_dir())] if fixed else []) + [str(world.hooks)]
        env["PYTHONPATH"] = os.pathsep.join(path)
        runs[fixed] = subprocess.run([str(colab_replica.kernel_python()), "-c", code], env=env,
                                     capture_output=True, text=True, timeout=300)
    assert runs[False].returncode != 0
    assert "TensorFlow Datasets cannot be imported" in runs[False].stderr
    assert TFDS_FIX in runs[False].stderr
    assert runs[True].returncode == 0, runs[True].stderr[-2000:]
    assert runs[True].stdout.split()[-1] == "8"
