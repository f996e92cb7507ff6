"""How fast does the sandboxed grader go? Prints its figures (targets in brackets).

1. Per-submission grading time against a bare nbclient run of the same notebook [<= 1.3x].
2. Throughput with 2 workers against 1 [>= 1.8x; needs 2 free cores].
3. Where one submission's time goes (prepare, notebook run, graded cases, record)
   and the kernel's peak memory.

Each figure is the median of ``--repeats`` runs (default 5), printed with the
machine's load average, since other work on the machine moves them. It uses the
autograder's fixture assignment ``kp`` (a small Keras CNN regressing 30
keypoints from 96x96 images, its initial weights handed in, plus a NumPy exercise decided
by graded cases) in a temporary course directory.

    python bench/grading.py [--submissions 4] [--repeats 5] [--backend bwrap] [--gpus 0]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import nbformat  # noqa: E402
from autograder_support import (  # noqa: E402
    SPLITS,
    answer,
    fixture_course,
    grade_assignment,
    pack,
    released_notebook,
    solution_source,
    trained_weights,
)

from autograder import pipeline  # noqa: E402
from autograder.config import GradeOptions, Limits, Timeouts  # noqa: E402
from course.notebooks import execute  # noqa: E402
from course.runtime import record  # noqa: E402

TIMEOUTS = Timeouts(test=120, training=300, default=300, predict=300)
LIMITS = Limits(memory_bytes=6 * 2**30, cpu_seconds=1200, max_processes=256)
RESULTS = REPO / "bench" / "results"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bare_run(notebook: nbformat.NotebookNode, weights: Path) -> float:
    """nbclient alone: the same notebook and weights, the grading environment, no grader."""
    with tempfile.TemporaryDirectory() as work:
        shutil.copy(weights, Path(work) / weights.name)
        path = Path(work) / "kp.ipynb"
        nbformat.write(notebook, path)
        env = {"COURSE_GRADING": "1", "COURSE_DATA": "synthetic", "TF_CPP_MIN_LOG_LEVEL": "2",
               "PYTHONPATH": str(REPO)}
        result = execute(path, timeout=900, cell_timeout=600, env=env)
        if not result.ok:
            raise RuntimeError(result.error)
        return result.seconds


def timed_grade(course: Path, backend: str, workers: int, gpus: tuple[str, ...]):
    options = GradeOptions(course_dir=course, assignment="kp", backend=backend, workers=workers,
                           gpus=gpus, force=True, timeouts=TIMEOUTS, limits=LIMITS,
                           data_source="synthetic", progress=False, splits=SPLITS)
    started = time.perf_counter()
    outcomes = pipeline.grade(options)
    elapsed = time.perf_counter() - started
    # The handed-in weights are the model's initial ones (what matters here is the time of
    # restoring and predicting), so only the graded cases must earn all their points.
    bad = [o for o in outcomes if not o.graded or o.problems or o.metrics[0]["value"] is None
           or any(q["points"] != q["max_points"] for q in o.questions)]
    if bad:
        raise RuntimeError(f"grading failed: {bad}")
    return elapsed, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=4)
    parser.add_argument("--backend", default="bwrap")
    parser.add_argument("--repeats", type=int, default=5, help="median of this many runs")
    parser.add_argument("--gpus", default="", help="e.g. 0: one worker on that GPU")
    args = parser.parse_args()
    gpus = tuple(g for g in args.gpus.split(",") if g)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        course = fixture_course(tmp)
        from autograder.release import release

        release(course, "kp")
        source = solution_source(course, "kp", "kp_model")
        notebook = answer(answer(released_notebook(course, "kp"), "kp_model", source),
                          "kp_mirror", solution_source(course, "kp", "kp_mirror"))
        weights = trained_weights(source, tmp / "kp_model.weights.h5")
        archive = pack(notebook, {weights.name: weights.read_bytes()})
        students = [f"student{i:02d}" for i in range(args.submissions)]
        grade_assignment(course, "kp", {s: archive for s in students}, backend=args.backend,
                         timeouts=TIMEOUTS, limits=LIMITS)  # collect; also warms caches
        bare, serial, parallel, outcomes = [], [], [], []
        loads = []
        for _ in range(args.repeats):  # alternate, so that a busy moment hits all three
            loads.append(load())
            bare.append(bare_run(notebook, weights))
            seconds, graded = timed_grade(course, args.backend, 1, gpus[:1])
            serial.append(seconds / args.submissions)
            outcomes += graded
            if not gpus:
                parallel.append(timed_grade(course, args.backend, 2, ())[0] / args.submissions)
    bare_s, serial_s = statistics.median(bare), statistics.median(serial)
    phases = {name: statistics.median(o.phase_seconds[name] for o in outcomes)
              for name in ("prepare", "notebook", "cases", "record")}
    memory = {name: max(o.kernel_memory.get(name, 0.0) for o in outcomes)
              for name in ("vm_peak_mib", "rss_peak_mib")}
    print(f"cores: {os.cpu_count()}  backend: {args.backend}  gpus: {gpus or 'none'}  "
          f"submissions: {args.submissions}  runs: {args.repeats}")
    print(f"load average (1, 5, 15 min) at each run: {'; '.join(loads)}")
    print(f"bare nbclient run of the notebook:   {bare_s:6.2f} s (median; all: "
          f"{', '.join(f'{b:.2f}' for b in bare)})")
    print(f"graded, per submission, 1 worker:    {serial_s:6.2f} s -> overhead "
          f"{serial_s / bare_s:.2f}x (target <= 1.3x)")
    figures = {"bare_s": bare_s, "graded_per_submission_s": serial_s,
               "overhead_vs_bare": serial_s / bare_s, "phases_s": phases, "kernel_memory": memory,
               "load_average": loads, "backend": args.backend, "gpus": list(gpus)}
    if parallel:
        parallel_s = statistics.median(parallel)
        print(f"per submission with 2 workers:       {parallel_s:6.2f} s -> speed-up "
              f"{serial_s / parallel_s:.2f}x (target >= 1.8x)")
        figures["speedup_2_workers"] = serial_s / parallel_s
        record("grading.speedup_2_workers", serial_s / parallel_s)
    print("one submission (median): " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items())
          + "; the notebook run and the cases run side by side")
    print(f"kernel peak memory: address space {memory['vm_peak_mib']:.0f} MiB, resident "
          f"{memory['rss_peak_mib']:.0f} MiB")
    record("grading.overhead_vs_bare", serial_s / bare_s)
    RESULTS.mkdir(exist_ok=True)
    name = f"grading-{'gpu' if gpus else 'cpu'}.json"
    (RESULTS / name).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
