"""Benchmark of assignment A2's instructor solution (facial keypoints), outside nbgrader.

Runs the code cells of the *source* notebook (the solution included, the test
cells and the submission cell left out) in this process, then scores the baseline
CNN and the final model on the validation faces and on the held-back grading
split, next to the mean face, and prints the points the grader would give.

    # the notebook's full settings on the real Kaggle data (needs the data and a GPU):
    PYTHONPATH=. python bench/a2_keypoints.py
    # quick settings on synthetic faces (what the tests use):
    PYTHONPATH=. python bench/a2_keypoints.py --data synthetic --quick
    # any setting of the notebook (a line `NAME = ...` in a code cell) can be overridden:
    PYTHONPATH=. python bench/a2_keypoints.py --data synthetic --set ROWS=3000 --set GENERAL_EPOCHS=40

``COURSE_RESULTS=out.json`` stores the headline figures (``course.runtime.record``).
"""

from __future__ import annotations

import argparse
import os
import re
import time
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NAME = "a2_facial_keypoints"
SOURCE = ROOT / "assignments" / "source" / NAME / f"{NAME}.ipynb"
GRADING = ROOT / "assignments" / "grading" / f"{NAME}.toml"
# Cells that are not part of training: the Colab bootstrap (it holds a %pip magic) and the
# hand-in archive. Graded test cells are skipped by their nbgrader metadata.
SKIPPED = {"bootstrap", "bundle"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=("real", "synthetic"), default="real")
    parser.add_argument("--quick", action="store_true", help="the notebook's quick settings")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="replace the notebook line `NAME = ...` by `NAME = VALUE` (repeatable)",
    )
    parser.add_argument("--hidden-limit", type=int, default=None,
                        help="score on at most this many held-back faces (default: all)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/a2_bench"),
                        help="where the weights file is written")
    return parser.parse_args(argv)


def overridden(source: str, settings: dict[str, str], used: set[str]) -> str:
    for name, value in settings.items():
        pattern = re.compile(rf"^{re.escape(name)} = .*$", re.MULTILINE)
        if pattern.search(source):
            source = pattern.sub(f"{name} = {value}", source)
            used.add(name)
    return source


def main(argv=None) -> None:
    args = parse_args(argv)
    os.environ["COURSE_DATA"] = args.data
    os.environ["COURSE_QUICK"] = "1" if args.quick else "0"
    settings = dict(item.split("=", 1) for item in args.set)

    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    import course
    from course.grading import tier_fraction
    from course.metrics import keypoint_rmse, mean_keypoint_distance

    course.runtime.setup()
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(args.workdir)  # the training cell writes a2_model.weights.h5 here

    notebook = nbformat.read(SOURCE, as_version=4)
    namespace: dict = {"__name__": "__a2_bench__"}
    used: set[str] = set()
    timings: dict[str, float] = {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade") or meta.get("grade_id") in SKIPPED:
            continue
        started = time.perf_counter()
        exec(overridden(cell.source, settings, used), namespace)
        timings[meta["grade_id"]] = time.perf_counter() - started
    unused = set(settings) - used
    if unused:
        raise SystemExit(f"no line `NAME = ...` in the notebook for: {sorted(unused)}")

    hidden_images, hidden_keypoints = course.data.load_hidden(
        "facial_keypoints", limit=args.hidden_limit
    )
    mean_face = np.tile(namespace["mean_face"], (len(hidden_keypoints), 1))
    metric = tomllib.loads(GRADING.read_text())["metric"][0][args.data]
    tiers, zero_at = [tuple(t) for t in metric["tiers"]], metric["zero_at"]

    print(f"\nA2 benchmark: data={args.data}, mode={'quick' if args.quick else 'full'}, "
          f"overrides={settings or 'none'}, {len(namespace['x_train'])} training faces")
    print(f"{'model':<12} {'val RMSE':>9} {'val dist':>9} {'hidden RMSE':>12} {'hidden dist':>12} "
          f"{'points':>7}")
    rows = [("mean face", None), ("baseline", namespace["baseline"]),
            ("final", namespace["final_model"])]
    for label, model in rows:
        if model is None:
            val_pred = np.tile(namespace["mean_face"], (len(namespace["y_val"]), 1))
            hidden_pred = mean_face
        else:
            val_pred = model.predict(namespace["x_val"], verbose=0)
            hidden_pred = model.predict(hidden_images, verbose=0)
        hidden_rmse = keypoint_rmse(hidden_keypoints, hidden_pred)
        points = 35 * tier_fraction(hidden_rmse, tiers, zero_at)
        print(f"{label:<12} {keypoint_rmse(namespace['y_val'], val_pred):9.3f} "
              f"{mean_keypoint_distance(namespace['y_val'], val_pred):9.3f} {hidden_rmse:12.3f} "
              f"{mean_keypoint_distance(hidden_keypoints, hidden_pred):12.3f} {points:7.1f}")
        slug = label.replace(" ", "_")
        course.runtime.record(f"a2.{args.data}.{slug}_hidden_rmse", hidden_rmse)
    print(f"wall time: baseline {timings['baseline']:.0f} s, final model "
          f"{timings['training']:.0f} s, all cells {sum(timings.values()):.0f} s")
    course.runtime.record(f"a2.{args.data}.final_training_seconds", timings["training"])


if __name__ == "__main__":
    main()
