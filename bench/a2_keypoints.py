"""Benchmark of assignment A2 (facial keypoints): the instructor solution against two references.

For each data set and seed it runs the code cells of the *source* notebook (the solution
included; the test cells, the setup cell and the hand-in cell left out) in this process, with
one epoch budget for every network, then trains a plain Keras CNN on the same faces, and scores
on the grading split:

* ``solution``  the notebook's final model (Part 6's solution);
* ``baseline``  the notebook's locked baseline CNN;
* ``plain CNN`` the reference the solution must beat by 10 %: three convolution blocks, two
  dense layers of 500, Adam (learning rate 1e-3), mean squared error, the complete training
  faces only, no augmentation (Nouri's network, trained the plain way);
* ``mean face`` the grader's zero point: the mean keypoints of the faces the notebook loaded,
  predicted for every grading face.

Data sets:

* ``synthetic`` the synthetic faces of ``course.data`` and their hidden split;
* ``fixture``   a Kaggle-format ``training.csv`` written from synthetic faces (pixels as
  integers, missing keypoints as empty fields, 70 % of the rows with only four keypoints), from
  which ``course-grader holdout`` draws the grading faces; the notebook then reads it through
  the real loader, which leaves the held-back faces out by their published hashes;
* ``real``      Kaggle's file in the dataset cache and the instructor's held-back faces
  (``--hidden-dir``, as drawn by ``course-grader holdout``).

Synthetic faces are much easier than Kaggle's photographs: their numbers only compare the
models with each other.

    # 3 seeds, 40 epochs per network, on the real data (needs the data and a GPU):
    PYTHONPATH=. python bench/a2_keypoints.py --data real --hidden-dir ~/hidden --epochs 40
    # a CPU-sized run on synthetic and fixture faces:
    PYTHONPATH=. python bench/a2_keypoints.py --data synthetic fixture --rows 1000 --epochs 6 \
        --set VALIDATION_SIZE=80 --hidden-limit 300 --json bench/results/a2-cpu.json

``--set NAME=VALUE`` replaces any notebook line ``NAME = ...`` (repeatable).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import re
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NAME = "a2_facial_keypoints"
SOURCE = ROOT / "assignments" / "source" / NAME / f"{NAME}.ipynb"
# Cells that play no part in training or scoring: the Colab setup cell (a %pip magic), plots,
# the time estimate, the notebook's own evaluation and the hand-in archive. Graded test cells
# are skipped by their nbgrader metadata.
SKIPPED = {"bootstrap", "tier_plot", "distance_factor", "time_estimate", "evaluate", "bundle"}
MODELS = ("solution", "baseline", "plain CNN", "mean face")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", choices=("synthetic", "fixture", "real"),
                        default=["synthetic", "fixture"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=40,
                        help="epochs of every network: baseline, plain CNN, solution")
    parser.add_argument("--rows", type=int, default=None,
                        help="faces the notebook loads (default: all; ROWS of the notebook)")
    parser.add_argument("--hidden-limit", type=int, default=None,
                        help="score on at most this many grading faces (default: all)")
    parser.add_argument("--fixture-hidden", type=int, default=300,
                        help="faces `course-grader holdout` holds back from the fixture CSV")
    parser.add_argument("--hidden-dir", type=Path, default=None,
                        help="the instructor's held-back faces, for --data real")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="replace the notebook line `NAME = ...` by `NAME = VALUE`")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    return parser.parse_args(argv)


def overridden(source: str, settings: dict[str, str], used: set[str]) -> str:
    for name, value in settings.items():
        pattern = re.compile(rf"^{re.escape(name)} = .*$", re.MULTILINE)
        if pattern.search(source):
            source = pattern.sub(f"{name} = {value}", source)
            used.add(name)
    return source


@contextlib.contextmanager
def environment(**values: str | None):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update({k: v for k, v in values.items() if v is not None})
    for name in (k for k, v in values.items() if v is None):
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def write_fixture_csv(path: Path, rows: int) -> None:
    """A Kaggle-format training.csv of synthetic faces, missing keypoints left empty."""
    import numpy as np

    from course.data import KEYPOINT_COLUMNS, load_facial_keypoints

    faces = load_facial_keypoints(source="synthetic", limit=rows)
    pixels = np.round(faces.images[..., 0] * 255).astype(np.uint8).reshape(rows, -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([*KEYPOINT_COLUMNS, "Image"])
        for points, image in zip(faces.keypoints, pixels, strict=True):
            writer.writerow([*("" if np.isnan(v) else f"{v:.4f}" for v in points),
                             " ".join(map(str, image))])


@contextlib.contextmanager
def data_set(name: str, args, scratch: Path):
    """Environment and hidden folder for one data set; yields (source, hidden_dir)."""
    if name == "synthetic":
        with environment(COURSE_DATA="synthetic"):
            yield "synthetic", None
        return
    if name == "real":
        with environment(COURSE_DATA="real"):
            yield "real", args.hidden_dir
        return
    from autograder.splits import draw_keypoint_holdout

    cache = scratch / "fixture-cache"
    csv_path = cache / "facial_keypoints" / "training.csv"
    if not csv_path.exists():
        rows = (args.rows or 2000) + args.fixture_hidden
        write_fixture_csv(csv_path, rows)
        draw_keypoint_holdout(csv_path, scratch / "fixture-hidden", args.fixture_hidden,
                              heldout_dir=scratch / "fixture-heldout", seed=2027)
    with environment(COURSE_DATA="real", COURSE_CACHE=str(cache),
                     COURSE_HELDOUT_DIR=str(scratch / "fixture-heldout")):
        yield "real", scratch / "fixture-hidden"


def plain_cnn():
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((96, 96, 1)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 2, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(128, 2, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(500, activation="relu"), layers.Dense(500, activation="relu"),
        layers.Dense(30),
    ], name="plain_cnn")


def run_notebook(settings: dict[str, str], seed: int, work: Path) -> tuple[dict, dict]:
    """The notebook's training cells with ``settings``; returns (namespace, seconds by cell)."""
    import course

    course.runtime.setup(seed=seed, verbose=False)
    notebook = nbformat.read(SOURCE, as_version=4)
    namespace: dict = {"__name__": "__a2_bench__"}
    used: set[str] = set()
    seconds: dict[str, tuple[float, float]] = {}  # cell -> (wall, CPU) seconds
    previous = Path.cwd()
    os.chdir(work)  # fit_or_restore writes the weights files here
    try:
        for cell in notebook.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or meta.get("grade") or meta.get("grade_id") in SKIPPED:
                continue
            started, cpu = time.perf_counter(), time.process_time()
            exec(overridden(cell.source, settings, used), namespace)  # noqa: S102
            seconds[meta["grade_id"]] = (time.perf_counter() - started,
                                         time.process_time() - cpu)
    finally:
        os.chdir(previous)
    unused = set(settings) - used
    if unused:
        raise SystemExit(f"no line `NAME = ...` in the notebook for: {sorted(unused)}")
    return namespace, seconds


def one_run(source: str, hidden_dir: Path | None, args, settings, seed: int) -> dict:
    import keras
    import numpy as np

    from autograder import splits
    from autograder.metrics import METRICS

    with tempfile.TemporaryDirectory(prefix="a2-bench-") as work, \
            environment(COURSE_CHECKPOINTS=str(Path(work) / "checkpoints"), COURSE_QUICK="0"):
        keras.backend.clear_session()
        namespace, seconds = run_notebook(settings, seed, Path(work))
        plain = plain_cnn()
        plain.compile(keras.optimizers.Adam(1e-3), loss="mse")
        started, cpu = time.perf_counter(), time.process_time()
        complete = namespace["complete_train"]
        plain.fit(namespace["x_train"][complete],
                  namespace["standardize"](namespace["y_train"][complete]),
                  epochs=args.epochs, batch_size=32, verbose=0)
        plain_seconds = (time.perf_counter() - started, time.process_time() - cpu)
        plain_model = keras.Sequential([plain, namespace["pixel_head"]()])

    split = splits.load_grading_split("facial_keypoints", source=source, limit=args.hidden_limit,
                                      hidden_dir=hidden_dir)
    targets = namespace["data"].keypoints  # every face the notebook loaded, as the grader's
    metric = METRICS["keypoint_rmse"]
    labels = np.asarray(split.labels, np.float64)
    predictions = {
        "solution": namespace["final_model"].predict(split.images, verbose=0),
        "baseline": namespace["baseline"].predict(split.images, verbose=0),
        "plain CNN": plain_model.predict(split.images, verbose=0),
        "mean face": metric.baseline(targets, labels),
    }
    return {
        "rmse": {m: metric.value(labels, np.asarray(p, np.float64)) for m, p in predictions.items()},
        # (wall, CPU) seconds of training; CPU seconds count every thread of this process
        "seconds": {"solution": seconds["training"], "baseline": seconds["baseline"],
                    "plain CNN": plain_seconds, "mean face": (0.0, 0.0)},
        "training_faces": int(len(namespace["x_train"])),
        "complete_training_faces": int(complete.sum()),
        "grading_faces": int(len(labels)),
        "grading_split": split.description,
    }


def summary(runs: list[dict]) -> dict:
    table = {}
    for model in MODELS:
        values = [run["rmse"][model] for run in runs]
        table[model] = {
            "rmse_per_seed": values,
            "rmse_mean": statistics.fmean(values),
            "rmse_std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "train_wall_seconds_mean": statistics.fmean(run["seconds"][model][0] for run in runs),
            "train_cpu_seconds_mean": statistics.fmean(run["seconds"][model][1] for run in runs),
        }
    plain = table["plain CNN"]["rmse_mean"]
    table["solution"]["gain_over_plain_cnn"] = 1 - table["solution"]["rmse_mean"] / plain
    return table


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = dict(item.split("=", 1) for item in args.set)
    settings.update(BASELINE_EPOCHS=str(args.epochs), FINAL_EPOCHS=str(args.epochs))
    if args.rows is not None:
        settings["ROWS"] = str(args.rows)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import matplotlib

    matplotlib.use("Agg")

    results = {"command": "PYTHONPATH=. python bench/a2_keypoints.py " + " ".join(argv or []),
               "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs)",
               "epochs": args.epochs, "seeds": args.seeds, "settings": settings, "data": {}}
    started_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="a2-bench-data-") as scratch:
        for name in args.data:
            runs = []
            with data_set(name, args, Path(scratch)) as (source, hidden_dir):
                for seed in args.seeds:
                    runs.append(one_run(source, hidden_dir, args, settings, seed))
                    print(f"[{name}, seed {seed}] " + ", ".join(
                        f"{m} {runs[-1]['rmse'][m]:.3f} px ({runs[-1]['seconds'][m][0]:.0f} s)"
                        for m in MODELS), flush=True)
            results["data"][name] = {"runs": runs, "summary": summary(runs)}
    results["wall_seconds"] = time.perf_counter() - started_all

    print(f"\nA2 benchmark: {args.epochs} epochs per network, seeds {args.seeds}, "
          f"RMSE in pixels on the grading split (mean +- standard deviation over the seeds)")
    print(f"{'data':<10} {'model':<10} {'RMSE':>16} {'wall s':>8} {'CPU s':>8}")
    for name, entry in results["data"].items():
        for model, row in entry["summary"].items():
            print(f"{name:<10} {model:<10} {row['rmse_mean']:9.3f} +- {row['rmse_std']:.3f} "
                  f"{row['train_wall_seconds_mean']:8.0f} {row['train_cpu_seconds_mean']:8.0f}")
        gain = entry["summary"]["solution"]["gain_over_plain_cnn"]
        run = entry["runs"][0]
        print(f"{'':<10} solution vs plain CNN: {100 * gain:.1f} % lower RMSE; "
              f"{run['training_faces']} training faces ({run['complete_training_faces']} "
              f"complete), {run['grading_faces']} grading faces")
    print(f"total wall time {results['wall_seconds'] / 60:.1f} min")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
