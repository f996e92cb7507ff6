"""Memory of full-size grading: A3 against 3669 pets at 128x128, A2 against 500 faces.

Grades one solution submission of each (its notebook trained in quick mode on the
synthetic data, as a student's run would be) through ``course-grader grade`` with
the default limits (6 GiB of address space), against grading splits of the real
sizes, and prints the sandboxed kernel's peak address space (VmPeak, what
``--memory`` caps) and peak resident set (VmHWM), with the time it took.

    python bench/grading_memory.py [--backend bwrap]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import nbformat  # noqa: E402

from autograder import collect, pipeline, release  # noqa: E402
from autograder.config import GradeOptions, Limits  # noqa: E402
from autograder.demo import answered_release  # noqa: E402
from course.notebooks import QUICK_ENV, execute  # noqa: E402

COURSE = REPO / "assignments"
FULL_SIZES = {"oxford_pets": 3669, "facial_keypoints": 500}
SPLITS = REPO / "bench" / "full_size_splits.py"


def solution_archive(assignment: str, work: Path) -> Path:
    work.mkdir(parents=True)
    for extra in (COURSE / "release" / assignment).iterdir():
        if extra.is_file() and extra.suffix != ".ipynb":
            shutil.copy(extra, work / extra.name)
    path = work / f"{assignment}.ipynb"
    nbformat.write(answered_release(COURSE, assignment), path)
    result = execute(path, timeout=1800, cell_timeout=1800, env=QUICK_ENV)
    if not result.ok:
        raise RuntimeError(result.error)
    return work / f"{assignment}_submission.zip"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="bwrap")
    args = parser.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for assignment in ("a3_segmentation", "a2_facial_keypoints"):
            course = tmp / assignment / "course"
            course.mkdir(parents=True)
            shutil.copy(COURSE / "nbgrader_config.py", course)
            shutil.copytree(COURSE / "source" / assignment, course / "source" / assignment)
            shutil.copytree(COURSE / "grading", course / "grading")
            release.release(course, assignment)
            uploads = tmp / assignment / "uploads"
            uploads.mkdir()
            archive = solution_archive(assignment, tmp / assignment / "student")
            shutil.copy(archive, uploads / f"ada_{archive.name}")
            collect.collect(course, assignment, uploads, assignment)
            started = time.perf_counter()
            (result,) = pipeline.grade(GradeOptions(
                course_dir=course, assignment=assignment, backend=args.backend,
                data_source="synthetic", quick=False, splits=str(SPLITS), limits=Limits(),
                progress=False))
            seconds = time.perf_counter() - started
            metric = result.metrics[0]
            figures[assignment] = {
                "status": result.status, "reason": result.reason,
                "hidden_examples": metric["examples"], "metric": metric["metric"],
                "value": metric["value"], "kernel_memory": result.kernel_memory,
                "limit_mib": Limits().memory_bytes // 2**20, "grade_seconds": round(seconds, 1),
                "problems": result.problems}
            memory = result.kernel_memory
            print(f"{assignment}: {metric['examples']} hidden examples, {metric['metric']} "
                  f"{metric['value']}, kernel peak address space {memory.get('vm_peak_mib')} MiB"
                  f" of {Limits().memory_bytes // 2**20}, peak resident "
                  f"{memory.get('rss_peak_mib')} MiB, graded in {seconds:.0f} s "
                  f"({result.status}{': ' + result.reason if result.reason else ''})")
    out = REPO / "bench" / "results" / "grading-memory-cpu.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
