"""Before the first submission: can the sandbox do its job on this machine?

One sandboxed probe, with the settings the submissions will get, checks that
the sandbox starts the grader's Python, imports what the runners need and the
course package, and can read every dataset cache a notebook loads from. A
failure stops ``grade`` with one message naming the cause and the fix, instead
of failing every submission one by one (a virtual environment under ``/tmp``,
a cache folder of mode 0700, a broken install).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from autograder import sandbox
from autograder.setup import GraderMisconfigured, GradingSetup

PROBE = r"""
import json, os, sys
report = {"python": sys.version.split()[0], "unreadable": [], "imports": [], "visible": []}
for name in ("autograder.runner", "autograder.case_runner", "numpy", "nbclient", "nbformat",
             "ipykernel", "IPython", "course"):  # autograder first: it spares jsonschema's grammar
    try:
        __import__(name)
    except Exception as err:
        report["imports"].append(f"{name}: {type(err).__name__}: {err}")
for private in json.loads(sys.argv[2]):
    try:
        if os.path.isdir(private):
            os.listdir(private)
        else:
            open(private, "rb").close()
        report["visible"].append(private)
    except OSError:
        pass
for folder in json.loads(sys.argv[1]):
    try:
        for name in sorted(os.listdir(folder))[:5]:
            path = os.path.join(folder, name)
            if os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, "rb") as handle:
                    handle.read(1)
    except OSError as err:
        report["unreadable"].append(f"{folder}: {err.strerror}")
print("PREFLIGHT " + json.dumps(report))
"""


def private_paths(setup: GradingSetup) -> list[Path]:
    """What student code must never read: the course directory (solutions, cases), the
    hidden data, the gradebook and a git checkout holding the grader. A folder is
    represented by what it holds besides what the sandbox mounts on purpose (the
    checkout's ``course`` and ``autograder`` packages and its virtual environment)."""
    opts = setup.options
    mounted = {p.resolve() for p in (*sandbox.package_dirs(), *sandbox.python_paths())}
    found = []
    for path in (opts.course_dir, opts.db_path, opts.hidden_dir,
                 sandbox.repository_root(sandbox.project_root())):
        if path is None or not path.exists():
            continue
        if path.is_file():
            found.append(path)
            continue
        found += [child for child in sorted(path.iterdir())
                  if not any(m == child.resolve() or child.resolve() in m.parents
                             for m in mounted)][:5]
    return found


def preflight(setup: GradingSetup) -> dict:
    """Run the probe in the sandbox; returns its report or raises GraderMisconfigured."""
    work = setup.scratch / "preflight"
    work.mkdir(mode=0o777)
    work.chmod(0o777)
    _, data_dirs = setup.data_mounts()
    spec = setup.spec(work, None, sandbox.ROOT_MODE_UID_BASE)
    argv = [sys.executable, "-c", PROBE, json.dumps([str(d) for d in data_dirs]),
            json.dumps([str(p) for p in private_paths(setup)])]
    run = sandbox.run_sandboxed(setup.backend, spec, argv, 120)
    line = next((x for x in run.stderr_tail.splitlines() if x.startswith("PREFLIGHT ")), None)
    if line is None:
        raise GraderMisconfigured(
            f"the sandbox ({setup.backend.name}) could not start the grader's Python "
            f"{sys.executable}: {run.stderr_tail.strip()[-400:] or 'no output'}. The sandbox "
            "mounts the Python environment it runs from; check that this interpreter works and "
            "that `prlimit` and (as root) `setpriv` are installed.")
    report = json.loads(line.removeprefix("PREFLIGHT "))
    if report["imports"]:
        raise GraderMisconfigured(
            "inside the sandbox, the grader's Python cannot import what grading needs: "
            + "; ".join(report["imports"]) + ". Install the grader with "
            "`pip install 'dl-vision-course[grader]'` into this environment.")
    if report["visible"] and setup.backend.name != "none":
        fix = ("the user backend protects them by file permissions only: make them readable "
               "by root alone (`chmod -R go-rwx FOLDER`), or grade with --backend bwrap"
               if setup.backend.name == "user" else
               "they must not lie inside a dataset cache (COURSE_CACHE, KERAS_HOME) or the "
               "grader's Python environment, which the sandbox mounts")
        raise GraderMisconfigured("student code could read the grader's private files: "
                                  + ", ".join(report["visible"]) + f"; {fix}.")
    if report["unreadable"]:
        raise GraderMisconfigured(
            "the sandbox's unprivileged user cannot read the dataset cache: "
            + "; ".join(report["unreadable"]) + ". Notebooks load their data from there. Make "
            "it readable for everyone (`chmod -R a+rX FOLDER` and each folder above it), or "
            "point COURSE_CACHE / KERAS_HOME at a readable copy.")
    return report
