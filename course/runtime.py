"""Runtime helpers: the first cell of every notebook calls :func:`setup`.

Two environment variables choose how a whole notebook runs, so that the same
notebook serves a student on Colab and the test suite on a laptop:

``COURSE_DATA``
    ``real`` (default) downloads and caches the real datasets;
    ``synthetic`` uses the deterministic generated twins in :mod:`course.data`.
``COURSE_QUICK``
    ``1`` shrinks datasets and epoch counts through :func:`pick` so that a
    notebook runs top to bottom in about a minute on a CPU.

``COURSE_CACHE`` moves the dataset cache (on Colab, point it at Google Drive).
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

DATA_SOURCES = ("real", "synthetic")
# The public repository students install from and open notebooks from, in one place:
# the setup cells and the "Open in Colab" badges are written from it
# (`python -m course.notebooks sync`), pinned to the release tag v<course.__version__>.
REPO_URL = "https://github.com/dl-vision-course/dl-vision-course"
DRIVE_FOLDER = Path("/content/drive/MyDrive/dl-vision-course")


def _flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name}={value!r}: use 1 (on) or 0 (off)")


def quick() -> bool:
    """True when ``COURSE_QUICK=1``: small subsets and few epochs."""
    return _flag("COURSE_QUICK")


def data_source(source: str | None = None) -> str:
    """Resolve a loader's ``source`` argument, falling back to ``COURSE_DATA``."""
    chosen = (source or os.environ.get("COURSE_DATA") or "real").strip().lower()
    if chosen not in DATA_SOURCES:
        raise ValueError(f"unknown data source {chosen!r}: choose one of {DATA_SOURCES}")
    return chosen


def pick(full: T, quick_value: T) -> T:
    """Return ``quick_value`` in quick mode and ``full`` otherwise.

    Notebooks write their sizes as ``EPOCHS = pick(full=15, quick_value=2)`` so a
    reader sees both the real setting and the one the test suite uses.
    """
    return quick_value if quick() else full


def cache_dir() -> Path:
    """Where datasets are cached: ``$COURSE_CACHE`` or ``~/.cache/dl-vision-course``."""
    root = os.environ.get("COURSE_CACHE") or Path.home() / ".cache" / "dl-vision-course"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def checkpoint_dir(name: str) -> Path:
    """A folder for the checkpoints of one long training run, e.g. ``checkpoint_dir("a2")``.

    ``$COURSE_CHECKPOINTS/<name>`` (on Colab the setup cell points it at Google
    Drive, so a disconnect loses nothing), else ``<cache>/checkpoints/<name>``.
    """
    root = os.environ.get("COURSE_CHECKPOINTS") or cache_dir() / "checkpoints"
    path = Path(root).expanduser() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def on_colab() -> bool:
    return "google.colab" in sys.modules


def grading() -> bool:
    """True inside the autograder, which sets ``COURSE_GRADING=1``."""
    return _flag("COURSE_GRADING")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and Keras (which seeds TensorFlow) in one call."""
    import keras
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


@contextlib.contextmanager
def precision_policy(name: str):
    """Use the Keras dtype policy ``name`` (e.g. ``"mixed_float16"``) inside a ``with`` block.

    Keras keeps the policy in a global setting that every layer built later
    reads; scoping it keeps one section's choice from changing the cells after it.
    """
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield keras.mixed_precision.global_policy()
    finally:
        keras.mixed_precision.set_global_policy(previous)


def silence_tensorflow() -> None:
    """Hide TensorFlow's C++ start-up notices (oneDNN stays on: it is 2x faster)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class Runtime:
    python: str
    tensorflow: str
    keras: str
    colab: bool
    gpus: tuple[str, ...]
    data: str
    quick: bool
    seed: int

    def summary(self) -> str:
        device = f"GPU x{len(self.gpus)}" if self.gpus else "CPU only"
        where = "Colab" if self.colab else platform.node() or "local"
        mode = "quick" if self.quick else "full"
        return (
            f"course runtime: {where} | {device} | Python {self.python} | "
            f"TensorFlow {self.tensorflow} | Keras {self.keras} | data={self.data} | "
            f"mode={mode} | seed={self.seed}"
        )


def _use_drive() -> None:
    """Mount Google Drive and keep the dataset cache and checkpoints there (Colab only)."""
    from google.colab import drive  # type: ignore[import-not-found]

    drive.mount("/content/drive")
    os.environ.setdefault("COURSE_CACHE", str(DRIVE_FOLDER / "cache"))
    os.environ.setdefault("COURSE_CHECKPOINTS", str(DRIVE_FOLDER / "checkpoints"))


def _kaggle_secrets() -> bool:
    """Colab's secrets KAGGLE_USERNAME and KAGGLE_KEY (the key icon), if the user added them."""
    try:
        from google.colab import userdata  # type: ignore[import-not-found]

        values = {name: userdata.get(name) for name in ("KAGGLE_USERNAME", "KAGGLE_KEY")}
    except Exception:  # secret missing or access not granted: Colab raises its own errors
        return False
    os.environ.update({k: v for k, v in values.items() if v})
    return all(values.values())


def setup(seed: int = 42, *, drive: bool = True, keypoints_url: str = "",
          keypoints_sha256: str = "", gpu_minutes: float | None = None,
          cpu_minutes: float | None = None, verbose: bool = True) -> Runtime:
    """Prepare a notebook: quiet logs, seeds, where data lives, devices, one summary line.

    On Colab, ``drive=True`` mounts Google Drive and keeps the dataset cache and
    training checkpoints there. ``keypoints_url``/``keypoints_sha256`` name an
    instructor's mirror of the facial keypoints (otherwise Kaggle credentials
    are read from Colab's secrets). ``gpu_minutes``/``cpu_minutes``: how long
    the notebook's full mode takes, printed when it is about to run without a GPU.
    """
    silence_tensorflow()
    if on_colab() and drive:
        _use_drive()
    if keypoints_url:
        os.environ["COURSE_KEYPOINTS_URL"] = keypoints_url
        os.environ["COURSE_KEYPOINTS_SHA256"] = keypoints_sha256
    kaggle = on_colab() and not keypoints_url and _kaggle_secrets()
    import keras
    import matplotlib
    import tensorflow as tf

    if not on_colab() and "ipykernel" not in sys.modules:
        matplotlib.use("Agg")  # headless scripts and tests draw without a display
    seed_everything(seed)
    gpus = tuple(d.name for d in tf.config.list_physical_devices("GPU"))
    for gpu in tf.config.list_physical_devices("GPU"):
        # Share the GPU politely with other processes (the grader runs several).
        tf.config.experimental.set_memory_growth(gpu, True)
    info = Runtime(
        python=platform.python_version(),
        tensorflow=tf.__version__,
        keras=keras.__version__,
        colab=on_colab(),
        gpus=gpus,
        data=data_source(),
        quick=quick(),
        seed=seed,
    )
    if verbose:
        print(info.summary())
        print(f"datasets: {cache_dir()} | checkpoints: "
              f"{os.environ.get('COURSE_CHECKPOINTS') or cache_dir() / 'checkpoints'}"
              + (" | Kaggle credentials from Colab's secrets" if kaggle else ""))
        if not gpus and not info.quick and not grading():
            print(_no_gpu_notice(gpu_minutes, cpu_minutes))
    return info


def _no_gpu_notice(gpu_minutes: float | None, cpu_minutes: float | None) -> str:
    expected = ""
    if cpu_minutes is not None:
        expected = f" Full mode takes about {cpu_minutes:.0f} min on a 2-core CPU"
        expected += f" and about {gpu_minutes:.0f} min on a T4 GPU." if gpu_minutes else "."
    return ("NO GPU: this notebook will train on the CPU." + expected + " On Colab choose "
            "Runtime > Change runtime type > T4 GPU; for a one-minute smoke run instead, set "
            "COURSE_QUICK=1 before the setup cell.")


def record(name: str, value: float) -> float:
    """Report a headline figure of a notebook (a test accuracy, a pixel error).

    It is printed, and when ``COURSE_RESULTS`` names a JSON file (the benchmark
    scripts in ``bench/`` set it) it is also stored there under ``name``.
    """
    import json

    value = float(value)
    print(f"[result] {name} = {value:.6g}")
    target = os.environ.get("COURSE_RESULTS")
    if target:
        path = Path(target)
        results = json.loads(path.read_text()) if path.exists() else {}
        results[name] = value
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=2, sort_keys=True))
        tmp.replace(path)
    return value
