"""The student install: what every setup cell runs works on today's Colab and changes nothing.

The Colab replica (tests/colab_replica.py, built by `make test` from Google's own list in
colab/) holds Colab's versions; the setup cell's requirement, built as a wheel from the
published student repository, is resolved there with Colab's versions as pip constraints.
"""

from __future__ import annotations

import json
import subprocess
import tomllib

import colab_replica

from course import __version__
from course.notebooks import ROOT, course_notebooks, first_code_cell, install_requirement


def test_the_setup_cell_installs_only_the_course_package_on_colab(colab_session):
    assert colab_session["would_install"] == ["dl-vision-course"]
    changed = {line.split("==")[0].split(" @ ")[0] for line in colab_session["changed"]}
    assert changed == {"dl-vision-course"}, colab_session["changed"]
    print(f"student install on the replica: {colab_session['seconds']:.1f} s")


def test_the_replica_has_colabs_python_and_versions():
    wanted = colab_replica.replica_packages()
    probe = ("import importlib.metadata as m, json, sys\n"
             "print(json.dumps({'python': list(sys.version_info[:2]), 'versions': "
             f"{{n: m.version(n) for n in {sorted(wanted)!r}}}}}))")
    found = json.loads(subprocess.run([str(colab_replica.kernel_python()), "-c", probe],
                                      capture_output=True, text=True, check=True).stdout)
    assert tuple(found["python"]) == colab_replica.PYTHON_VERSION
    assert found["versions"] == wanted


def test_the_student_install_needs_no_grader_tooling():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {spec.split(">")[0].split("<")[0].split("=")[0].strip().lower()
             for spec in project["dependencies"]}
    assert not names & {"nbgrader", "jupyterlab", "nbclient", "ipykernel", "notebook"}
    assert not names & {"tensorflow", "tensorflow-cpu"}  # Colab has its own GPU build
    assert "<3.13" not in project["requires-python"]
    extras = project["optional-dependencies"]
    assert any(spec.startswith("nbgrader") for spec in extras["grader"])


def test_every_setup_cell_pins_the_release_it_was_written_for():
    requirement = install_requirement()
    assert requirement.endswith(f"@v{__version__}")
    for path in course_notebooks():
        import nbformat

        cell = first_code_cell(nbformat.read(path, as_version=4))
        assert f'%pip install -q "{requirement}"' in cell.source, path.name


def test_importing_the_course_package_does_not_import_the_grader(colab_session):
    probe = ("import sys, course, course.data, course.metrics, course.grading, course.plots\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('autograder', 'nbgrader', 'nbclient')))")
    run = subprocess.run([str(colab_replica.kernel_python()), "-c", probe],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
