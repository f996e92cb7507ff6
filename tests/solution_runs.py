"""One run of each released assignment filled with its solution, shared by the tests that need it.

A solution run trains the model in quick mode and ends with the notebook's own
last cell packing ``<assignment>_submission.zip`` (notebook and weights), as a
student's run does. Tests that check the notebook runs (on the Colab replica,
or on real-format data) and tests that grade the archive it leaves share one
run per assignment and mode: the first asks for it, the others wait on a lock
and reuse it (the pytest-xdist workers share this run's temporary folder).
"""

from __future__ import annotations

import fcntl
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.demo import answered_release
from course.notebooks import QUICK_ENV, ROOT, execute

COURSE = ROOT / "assignments"
TIME_LIMIT_S = 300  # a loaded CI machine; bench/notebooks.py reports the real times


@dataclass(frozen=True)
class SolutionRun:
    ok: bool
    error: str | None
    seconds: float
    archive: Path | None  # <assignment>_submission.zip, when the last cell made it
    folder: Path


def shared_folder(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if base.name.startswith("popen-gw") else base


def solution_run(tmp_path_factory, assignment: str, mode: str, *, python: str | None = None,
                 env_for=None) -> SolutionRun:
    """The released ``assignment`` with its solution, executed once per test run and ``mode``.

    ``python`` runs the kernel in another environment; ``env_for(folder)`` gives extra
    kernel environment variables for the run's folder.
    """
    shared = shared_folder(tmp_path_factory)
    folder = shared / f"solution-{mode}-{assignment}"
    record = folder.with_suffix(".json")
    with open(shared / f"solution-{mode}-{assignment}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            folder.mkdir(parents=True, exist_ok=True)
            release = COURSE / "release" / assignment
            for extra in release.iterdir():
                if extra.is_file() and extra.suffix != ".ipynb":
                    shutil.copy(extra, folder / extra.name)
            path = folder / f"{assignment}.ipynb"
            nbformat.write(answered_release(COURSE, assignment), path)
            extra = env_for(folder) if env_for else {}
            result = execute(path, timeout=TIME_LIMIT_S, cell_timeout=TIME_LIMIT_S,
                             env={**QUICK_ENV, **extra}, python=python)
            archive = folder / f"{assignment}_submission.zip"
            record.write_text(json.dumps({
                "ok": result.ok, "error": result.error, "seconds": result.seconds,
                "archive": str(archive) if archive.exists() else None}))
    data = json.loads(record.read_text())
    return SolutionRun(data["ok"], data["error"], data["seconds"],
                       Path(data["archive"]) if data["archive"] else None, folder)


def replica_solution_run(tmp_path_factory, assignment: str, colab_session: dict) -> SolutionRun:
    """The solution run on the Colab replica, its kernel reporting its versions.

    ``colab_session`` is the fixture that installs this checkout's course package into the
    replica: asking for it here makes sure no run starts (and is cached) before that."""
    assert colab_session["wheel"], colab_session
    import colab_replica

    return solution_run(tmp_path_factory, assignment, "replica",
                        python=str(colab_replica.kernel_python()),
                        env_for=colab_replica.kernel_check_env)
