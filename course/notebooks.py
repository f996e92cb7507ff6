"""Keep the course notebooks consistent, and execute them.

Command line (run from the repository root)::

    python -m course.notebooks sync     # write the shared setup cell, strip outputs
    python -m course.notebooks check    # fail if a notebook has outputs or a stale setup cell
    python -m course.notebooks run      # execute every notebook in quick + synthetic mode

The test suite, the benchmark in ``bench/notebooks.py`` and ``course demo`` all
execute notebooks through :func:`execute`, so they measure the same thing.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course import __version__
from course.runtime import REPO_URL

ROOT = Path(__file__).resolve().parent.parent
COLAB_BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^)\s]+\.ipynb")
QUICK_ENV = {"COURSE_DATA": "synthetic", "COURSE_QUICK": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def unit_notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / "units").glob("*.ipynb"))


def assignment_notebooks(root: Path = ROOT) -> list[Path]:
    """The instructor's source notebooks (with solutions) of every assignment."""
    return sorted((root / "assignments" / "source").glob("*/*.ipynb"))


def course_notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook that starts with the shared setup cell."""
    return unit_notebooks(root) + assignment_notebooks(root)


def first_code_cell(nb: nbformat.NotebookNode):
    return next((c for c in nb.cells if c.cell_type == "code"), None)


def install_requirement() -> str:
    """What the setup cell installs: the course package at this release's tag."""
    return f"dl-vision-course @ git+{REPO_URL}@v{__version__}"


def setup_cell(nb: nbformat.NotebookNode) -> str:
    """The first code cell of a notebook, written from its ``metadata.course`` settings:
    ``setup: ["keypoints"]`` adds the facial keypoints' data settings, and
    ``full_mode_minutes: {"gpu": ..., "cpu": ...}`` the measured full-mode times."""
    settings = nb.metadata.get("course", {})
    keypoints = "keypoints" in settings.get("setup", [])
    minutes = settings.get("full_mode_minutes", {})
    lines = [
        "# Setup. On Colab this installs the course package (the version this notebook was",
        "# released with) and keeps datasets and checkpoints on your Google Drive.",
        "DRIVE = True  # False: keep them on the Colab machine only (lost when it disconnects)",
    ]
    arguments = ["drive=DRIVE"]
    if keypoints:
        lines += [
            "# Facial keypoints come from Kaggle: on Colab add your KAGGLE_USERNAME and",
            "# KAGGLE_KEY as secrets (the key icon on the left), or paste your instructor's",
            "# mirror and its SHA-256 checksum here.",
            'KEYPOINTS_URL = ""',
            'KEYPOINTS_SHA256 = ""',
        ]
        arguments += ["keypoints_url=KEYPOINTS_URL", "keypoints_sha256=KEYPOINTS_SHA256"]
    arguments += [f"{kind}_minutes={minutes[kind]}" for kind in ("gpu", "cpu") if kind in minutes]
    call = "runtime_info = course.runtime.setup(" + ", ".join(arguments) + ")"
    if len(call) > 95:
        call = "runtime_info = course.runtime.setup(\n    " + ",\n    ".join(arguments) + ",\n)"
    lines += [
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        f'    %pip install -q "{install_requirement()}"',
        "",
        "import course",
        "",
        call,
    ]
    return "\n".join(lines)


def badge_path(path: Path, root: Path = ROOT) -> str:
    """Where a notebook lives in the published repository (released assignments at
    ``assignments/<name>/``, as ``course-grader publish`` lays them out)."""
    relative = path.resolve().relative_to(root.resolve())
    if relative.parts[:2] in (("assignments", "source"), ("assignments", "release")):
        return f"assignments/{relative.parts[2]}/{relative.name}"
    return relative.as_posix()


def colab_url(published_path: str) -> str:
    owner_repo = REPO_URL.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_repo}/blob/v{__version__}/{published_path}"


def problems(path: Path) -> list[str]:
    """What is wrong with a committed notebook: invalid, outputs left, stale setup cell."""
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # nbformat raises several unrelated exception types
        return [f"not a valid notebook: {error}"]
    found = []
    if any(c.cell_type == "code" and (c.outputs or c.execution_count) for c in nb.cells):
        found.append("has outputs or execution counts (run `python -m course.notebooks sync`)")
    setup = first_code_cell(nb)
    if setup is None or setup.source != setup_cell(nb):
        found.append("first code cell is not the shared setup cell (`python -m course.notebooks sync`)")
    if path.resolve().is_relative_to(ROOT):  # a course notebook, published at a known path
        expected = colab_url(badge_path(path))
        if (COLAB_BADGE.findall(nb.cells[0].source) if nb.cells else []) != [expected]:
            found.append(f"the first cell's Colab badge is not {expected} "
                         "(`python -m course.notebooks sync`)")
    return found


def readme_problems(readme: Path = ROOT / "README.md") -> list[str]:
    """Colab links in the README that open no notebook of this release."""
    valid = {colab_url(badge_path(path)) for path in course_notebooks()}
    return [f"{readme.name}: {url} is not the Colab link of a notebook of v{__version__}"
            for url in COLAB_BADGE.findall(readme.read_text()) if url not in valid]


def sync(path: Path) -> bool:
    """Write the shared setup cell and strip outputs; True when the file changed."""
    before = path.read_text()
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    setup = first_code_cell(nb)
    if setup is None:
        raise ValueError(f"{path}: no code cell to hold the setup cell")
    setup.source = setup_cell(nb)
    if path.resolve().is_relative_to(ROOT):
        nb.cells[0].source = COLAB_BADGE.sub(colab_url(badge_path(path)), nb.cells[0].source)
    after = nbformat.writes(nb) + "\n"
    if after != before:
        path.write_text(after)
        return True
    return False


@dataclass
class Execution:
    path: Path
    seconds: float
    error: str | None
    notebook: nbformat.NotebookNode

    @property
    def ok(self) -> bool:
        return self.error is None


def python_kernel_manager(python: str | None = None):
    """A kernel manager whose kernel is ``python`` (default: this interpreter).

    Looking up "python3" by name would take a kernel spec from ~/.local first,
    which may belong to another virtual environment.
    """
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="python3")
    manager._kernel_spec = KernelSpec(  # no public setter exists
        argv=[python or sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        display_name="Python 3", language="python",
    )
    return manager


def execute(path: Path, *, timeout: float = 600, cell_timeout: float = 300,
            env: dict[str, str] | None = None, python: str | None = None) -> Execution:
    """Run a notebook top to bottom in its own directory with a whole-notebook deadline.

    ``env`` is added to this process's environment for the kernel (for example
    :data:`QUICK_ENV`); ``python`` runs the kernel in another environment (the
    Colab replica). Errors and time-outs are returned, not raised, so a
    caller can report every notebook.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    kernel_env = {**os.environ, **(env or {})}
    # The kernel draws inline, as in Jupyter and Colab, even when this process is headless.
    kernel_env.pop("MPLBACKEND", None)
    client = NotebookClient(
        nb, timeout=cell_timeout, kernel_name="python3", km=python_kernel_manager(python),
        resources={"metadata": {"path": str(path.parent)}}, shutdown_kernel="immediate",
    )
    start = time.perf_counter()
    error = None
    # The kernel process's own stderr carries only TensorFlow's C++ start-up
    # notices and Jupyter's transport warning (cell output travels over ZMQ):
    # keep it in a log and show its tail only when something goes wrong.
    kernel_log = tempfile.TemporaryFile(mode="w+")
    try:
        # nbclient keeps a kernel alive whose manager it did not create, unless told
        # otherwise: without cleanup_kc every run would leave a kernel (~1 GB with TF) behind.
        with client.setup_kernel(env=kernel_env, cwd=str(path.parent), stderr=kernel_log,
                                 cleanup_kc=True):
            for index, cell in enumerate(nb.cells):
                if time.perf_counter() - start > timeout:
                    error = f"exceeded the {timeout:.0f} s limit before cell {index}"
                    break
                client.execute_cell(cell, index)
    except Exception as exc:  # nbclient raises CellExecutionError, timeouts, dead kernels
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # drop terminal colours
        kernel_log.seek(0)
        error = f"{type(exc).__name__}: {plain[-2000:]}\nkernel stderr:\n{kernel_log.read()[-1000:]}"
    kernel_log.close()
    return Execution(path, time.perf_counter() - start, error, nb)


def _run(paths: list[Path], out_dir: Path, timeout: float) -> int:
    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for path in tqdm(paths, desc="notebooks", unit="nb"):
        result = execute(path, timeout=timeout, env=QUICK_ENV)
        nbformat.write(result.notebook, out_dir / path.name)
        results.append(result)
    print(f"\n{'notebook':<50} {'seconds':>8}  status")
    for r in results:
        status = "ok" if r.ok else "FAILED: " + r.error.splitlines()[-1][:60]
        print(f"{r.path.relative_to(ROOT).as_posix():<50} {r.seconds:8.1f}  {status}")
    print(f"executed copies in {out_dir}")
    return 0 if all(r.ok for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.notebooks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("sync", help="write the shared setup cell into every notebook, strip outputs")
    sub.add_parser("check", help="report notebooks with outputs or a stale setup cell, stale README links")
    run = sub.add_parser("run", help="execute notebooks in quick + synthetic mode")
    run.add_argument("paths", nargs="*", type=Path, help="notebooks (default: every unit)")
    run.add_argument("--out", type=Path, default=ROOT / "build" / "executed")
    run.add_argument("--timeout", type=float, default=300, help="seconds per notebook")
    args = parser.parse_args(argv)

    if args.command == "sync":
        for path in course_notebooks():
            if sync(path):
                print(f"updated {path.relative_to(ROOT)}")
        return 0
    if args.command == "check":
        bad = {p: problems(p) for p in course_notebooks()}
        for path, found in bad.items():
            for problem in found:
                print(f"{path.relative_to(ROOT)}: {problem}")
        stale_links = readme_problems()
        print(*stale_links, sep="\n", end="\n" if stale_links else "")
        return 1 if any(bad.values()) or stale_links else 0
    return _run([p.resolve() for p in args.paths] or unit_notebooks(), args.out, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
