"""A replica of Google Colab's Python environment, from the package list Google publishes.

``python tests/colab_replica.py build DIR`` makes a Python 3.13 virtual
environment with Colab's versions (``colab/pip-freeze.txt``) of the packages
the course's notebooks and their kernel use, TensorFlow as the
``tensorflow-cpu`` build of the same version. The tests then publish this
checkout, install its course package into the replica the way a notebook's
setup cell does (:func:`install_current_course`: ``pip install "<wheel>"``,
after a dry run against Colab's versions that must install nothing else) and
run notebooks in a kernel of that environment (:func:`kernel_python`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FREEZE = ROOT / "colab" / "pip-freeze.txt"
VENV = ROOT / ".venv-colab"
PYTHON_VERSION = (3, 13)
# The kernel's own stack and what the notebooks import; with the course package's own
# dependencies (read from pyproject.toml) this is what the replica holds.
KERNEL_PACKAGES = ("tensorflow", "keras", "numpy", "ipykernel", "ipython", "jupyter_client",
                   "traitlets", "nbformat", "nbclient", "matplotlib", "tensorflow-datasets")
PINNED = re.compile(r"^([A-Za-z0-9_.-]+)==([^+ ]+)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def colab_versions(path: Path = FREEZE) -> dict[str, str]:
    """Canonical package name -> version, for every ``name==version`` line of Colab's list."""
    versions = {}
    for line in path.read_text().splitlines():
        match = PINNED.match(line.strip())
        if match:
            versions[canonical(match.group(1))] = match.group(2)
    return versions


def constraints_file(folder: Path) -> Path:
    path = folder / "colab-constraints.txt"
    path.write_text("".join(f"{name}=={version}\n" for name, version in
                            sorted(colab_versions().items())))
    return path


def student_dependencies() -> list[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0] for spec in project["dependencies"]]


def replica_packages() -> dict[str, str]:
    """What the replica installs: pip requirement -> the version Colab has."""
    versions = colab_versions()
    names = {canonical(n) for n in (*KERNEL_PACKAGES, *student_dependencies())}
    wanted = {}
    for name in sorted(names):
        if name not in versions:
            raise LookupError(f"{name} is not in Colab's package list {FREEZE}")
        wanted["tensorflow-cpu" if name == "tensorflow" else name] = versions[name]
    return wanted


def find_python() -> str:
    """A Python 3.13 interpreter: $COLAB_PYTHON, python3.13 on PATH, or pyenv's."""
    candidates = [os.environ.get("COLAB_PYTHON"), shutil.which("python3.13")]
    if shutil.which("pyenv"):
        found = subprocess.run(["pyenv", "which", "python3.13"], capture_output=True, text=True,
                               env={**os.environ, "PYENV_VERSION": _pyenv_313()})
        candidates.append(found.stdout.strip() if found.returncode == 0 else None)
    for candidate in filter(None, candidates):
        version = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                                 capture_output=True, text=True)
        if version.returncode == 0 and version.stdout.strip() == str(PYTHON_VERSION):
            return candidate
    raise RuntimeError("no Python 3.13 found for the Colab replica: install one (e.g. "
                       "`pyenv install 3.13`) or set COLAB_PYTHON to its path")


def _pyenv_313() -> str:
    listed = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True)
    matches = [v for v in listed.stdout.split() if v.startswith("3.13")]
    return matches[-1] if matches else "3.13"


def kernel_python(venv: Path = VENV) -> Path:
    return venv / "bin" / "python"


def pip(venv: Path, *args: str, capture: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([str(kernel_python(venv)), "-m", "pip", *args], check=True,
                          capture_output=capture, text=True)


def build_student_wheel(source: Path, out: Path) -> Path:
    """The wheel of the course package as students get it (from the published tree)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                    "--wheel-dir", str(out), str(source)], check=True)
    return next(out.glob("dl_vision_course-*.whl"))


def dry_run_install(venv: Path, requirement: str, constraints: Path) -> list[str]:
    """Names of what ``pip install requirement`` would install in the replica."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        pip(venv, "install", "--dry-run", "--quiet", "--report", str(report),
            "-c", str(constraints), requirement)
        data = json.loads(report.read_text())
    return sorted(canonical(item["metadata"]["name"]) for item in data["install"])


def build(venv: Path) -> None:
    """The replica without the course package (tests install the current one into it)."""
    python = find_python()
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    with tempfile.TemporaryDirectory() as folder:
        constraints = constraints_file(Path(folder))
        pip(venv, "install", "--quiet", "-c", str(constraints),
            *[f"{name}=={version}" for name, version in replica_packages().items()])
        # What a student adds when TFDS cannot be imported (course.data.pets.TFDS_FIX), kept
        # apart: kernels see it only when a test puts it on their PYTHONPATH.
        pip(venv, "install", "--quiet", "--no-deps", "--target", str(tfds_fix_dir(venv)),
            "tensorflow-metadata<1.17")
    (venv / ".replica-stamp").write_text(json.dumps(replica_packages(), indent=1))


def tfds_fix_dir(venv: Path | None = None) -> Path:
    """The folder holding the tensorflow-metadata that course.data.pets.TFDS_FIX installs."""
    return (venv or VENV) / "tfds-fix"


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "build":
        sys.exit("usage: python tests/colab_replica.py build VENV")
    build(Path(sys.argv[2]))


def install_current_course(venv: Path, work: Path) -> dict:
    """Publish this checkout, and install its course package into the replica the way a
    setup cell does; fails if that would install or change anything else. Returns timings."""
    import time

    from autograder.publish import publish

    published = publish(ROOT, work / "published")
    wheel = build_student_wheel(published.folder, work / "wheel")
    constraints = constraints_file(work)
    subprocess.run([str(kernel_python(venv)), "-m", "pip", "uninstall", "--quiet", "--yes",
                    "dl-vision-course"], capture_output=True)  # a copy from an earlier run
    would_install = dry_run_install(venv, str(wheel), constraints)
    before = freeze(venv)
    started = time.perf_counter()
    pip(venv, "install", "--quiet", str(wheel))  # what the setup cell's %pip install does
    seconds = time.perf_counter() - started
    changed = sorted(set(freeze(venv)) ^ set(before))
    return {"would_install": would_install, "changed": changed, "seconds": seconds,
            "wheel": wheel.name}


def freeze(venv: Path) -> list[str]:
    return pip(venv, "freeze", "--all", capture=True).stdout.splitlines()


def kernel_check_env(folder: Path) -> dict[str, str]:
    """Environment that makes a kernel report, from inside, its Python and package versions.

    An IPython startup file (IPython runs them when a kernel starts) writes the report
    to ``folder/kernel-report.json``; :func:`kernel_report` reads it back.
    """
    startup = folder / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    names = sorted(replica_packages())
    (startup / "00-report-versions.py").write_text(
        "import importlib.metadata, json, sys\n"
        f"with open({str(folder / 'kernel-report.json')!r}, 'w') as report:\n"
        "    json.dump({'python': list(sys.version_info[:2]), 'executable': sys.executable,\n"
        f"               'versions': {{n: importlib.metadata.version(n) for n in {names!r}}}}},\n"
        "              report)\n")
    return {"IPYTHONDIR": str(folder / "ipython")}


def kernel_report(folder: Path) -> dict:
    return json.loads((folder / "kernel-report.json").read_text())
