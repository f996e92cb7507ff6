"""autograder/colab_grader.ipynb, step by step, on the Colab replica with a stub google.colab.

The stub plays Colab: ``drive.mount`` puts a fake Drive folder in place and
``flush_and_unmount`` takes it away, ``files.upload`` hands over the zips an
instructor would pick (the instructor repository, then the LMS download), and
``files.download`` keeps what the notebook offers. The notebook must install
its grader without touching the replica's packages, grade the sample
submissions in a sandbox, and keep Drive and its private folder out of reach
of student code.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import colab_replica
import nbformat
import pytest
from autograder_support import FIXTURES, answer, pack, released_notebook

from autograder.release import release
from autograder.sandbox import BwrapSandbox
from course.notebooks import ROOT, execute

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not BwrapSandbox().available()[0], reason="needs bubblewrap")]

STUB = {
    "google/__init__.py": "",
    "google/colab/__init__.py": "from google.colab import drive, files, userdata  # noqa\n",
    "google/colab/drive.py": '''
import json, os, shutil
from pathlib import Path

STATE = json.loads(os.environ["STUB_COLAB"])


def _log(event):
    with open(STATE["log"], "a") as handle:
        handle.write(event + "\\n")


def mount(path, **kwargs):
    if Path(STATE["parked"]).exists():
        shutil.move(STATE["parked"], STATE["drive"])
    _log("mount")


def flush_and_unmount():
    shutil.move(STATE["drive"], STATE["parked"])
    _log("unmount")
''',
    "google/colab/files.py": '''
import json, os, shutil
from pathlib import Path

STATE = json.loads(os.environ["STUB_COLAB"])


def upload():
    queue = sorted(Path(STATE["uploads"]).iterdir())
    first = queue[0]
    data = {first.name.split("-", 1)[1]: first.read_bytes()}
    first.unlink()
    return data


def download(path):
    shutil.copy(path, STATE["downloads"])
''',
    "google/colab/userdata.py": '''
def get(name):
    raise KeyError(name)
''',
}
SNOOP = (
    "import os\n"
    "def square(x):\n"
    "    return x * x\n"
    "for path in {paths!r}:\n"
    "    print('SEEN' if os.path.exists(path) and os.access(path, os.R_OK) else 'hidden', path)\n"
)


def instructor_repository_zip(course: Path) -> bytes:
    """What an instructor uploads: the package, the grader and the course directory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for folder in ("course", "autograder"):
            for path in (ROOT / folder).rglob("*"):
                if path.is_file() and "__pycache__" not in path.parts:
                    zf.write(path, f"instructor/{path.relative_to(ROOT)}")
        for name in ("pyproject.toml", "README.md"):
            zf.write(ROOT / name, f"instructor/{name}")
        for path in course.rglob("*"):
            if path.is_file():
                zf.write(path, f"instructor/assignments/{path.relative_to(course)}")
        zf.write(FIXTURES / "splits_toy.py", "instructor/assignments/grading/splits_toy.py")
    return buffer.getvalue()


def test_the_colab_grader_grades_in_a_sandbox_and_keeps_drive_out_of_reach(tmp_path,
                                                                           colab_session):
    course = tmp_path / "course-src"
    shutil.copytree(FIXTURES / "course", course)
    release(course, "toy")
    drive, private = tmp_path / "drive" / "MyDrive" / "grading", tmp_path / "root-grading"
    (drive / "hidden").mkdir(parents=True)
    (drive / "hidden" / "labels.npy").write_bytes(b"secret")
    solution = answer(answer(released_notebook(course, "toy"), "square_answer",
                             "def square(x):\n    return x * x"), "model_answer",
                      "class M:\n    def predict(self, x):\n        return np.asarray(x)\n\n"
                      "final_model = M()")
    snoop = answer(copy.deepcopy(solution), "square_answer",
                   SNOOP.format(paths=[str(drive), str(drive / "hidden"), str(private)]))
    lms = io.BytesIO()
    with zipfile.ZipFile(lms, "w") as zf:
        for student, nb in (("ann", solution), ("ben", released_notebook(course, "toy")),
                            ("cid", snoop)):
            zf.writestr(f"{student}_1_2_toy_submission.zip", pack(nb))
    uploads, downloads = tmp_path / "uploads-queue", tmp_path / "downloads"
    uploads.mkdir()
    downloads.mkdir()
    (uploads / "1-instructor.zip").write_bytes(instructor_repository_zip(course))
    (uploads / "2-lms.zip").write_bytes(lms.getvalue())
    stub = tmp_path / "stub"
    for name, text in STUB.items():
        (stub / name).parent.mkdir(parents=True, exist_ok=True)
        (stub / name).write_text(text)
    state = {"drive": str(drive), "parked": str(tmp_path / "unmounted"), "log": str(tmp_path /
             "drive.log"), "uploads": str(uploads), "downloads": str(downloads)}
    shutil.move(drive, state["parked"])  # not mounted until the notebook mounts it

    nb = nbformat.read(ROOT / "autograder" / "colab_grader.ipynb", as_version=4)
    settings = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    settings.source = (
        "from pathlib import Path\n"
        "ASSIGNMENT = 'toy'\nREPO_URL = ''\n"
        f"DRIVE_FOLDER = Path({str(drive)!r})\nTIMES_CSV = ''\n"
        f"GRADER = Path({str(tmp_path / 'opt' / 'course-grader')!r})\n"
        f"PRIVATE = Path({str(private)!r})\nUPLOADS = Path({str(tmp_path / 'uploads')!r})\n"
        f"EXTRA_GRADE_ARGS = ['--data', 'synthetic', '--splits', "
        f"{str(private / 'repo' / 'assignments' / 'grading' / 'splits_toy.py')!r}]\n")
    path = tmp_path / "colab_grader.ipynb"
    nbformat.write(nb, path)
    before = colab_replica.freeze(colab_replica.VENV)
    result = execute(path, timeout=1500, cell_timeout=1200,
                     python=str(colab_replica.kernel_python()),
                     env={"PYTHONPATH": str(stub), "STUB_COLAB": json.dumps(state),
                          "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert result.ok, result.error
    assert colab_replica.freeze(colab_replica.VENV) == before  # Colab's packages untouched
    # ... and used: the grader's environment added what Colab lacks, not a second copy of them
    added = {p.name.split("-")[0].lower() for p in
             (tmp_path / "opt" / "course-grader").glob("lib/python3*/site-packages/*.dist-info")}
    assert "nbgrader" in added and not added & {"numpy", "keras", "matplotlib", "tensorflow"}, added
    text = "\n".join(o.get("text", "") for c in result.notebook.cells
                     for o in c.get("outputs", []))
    assert "Student code will run in the 'bwrap' sandbox." in text
    assert (tmp_path / "drive.log").read_text().split() == ["mount", "unmount", "mount",
                                                            "unmount"]
    grades = (downloads / "grades.csv").read_text()
    rows = {line.split(",")[0]: line.split(",") for line in grades.splitlines()[1:]}
    assert rows["ann"][3] == "6.0" and rows["ben"][3] == "0.0"
    graded = private / "repo" / "assignments" / "autograded" / "cid" / "toy" / "toy.ipynb"
    outputs = "".join(o.get("text", "") for c in nbformat.read(graded, as_version=4).cells
                      for o in c.get("outputs", []))
    assert "SEEN" not in outputs and outputs.count("hidden ") == 3
    assert (Path(state["parked"]) / "results" / "toy" / "grades.csv").exists()
    permissions = subprocess.run(["stat", "-c", "%a", str(private)], capture_output=True,
                                 text=True).stdout.strip()
    assert permissions == "700"
