"""What assignment notebooks share with the autograder.

Student side: :func:`fit_or_restore` trains a model and saves its weights, or,
inside the grader, restores the weights the student handed in instead of
re-training; :func:`bundle_submission` packs the notebook and the weights into
the one archive students upload.

Both sides: :func:`tier_fraction` turns a score (accuracy, pixel error, mean
IoU) into the fraction of a question's points, so the formula printed in the
notebook is the formula the trusted grader applies.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from course import runtime


class MissingWeights(FileNotFoundError):
    """The grader was asked to restore weights that the submission lacks."""


def retrain_requested() -> bool:
    """True when the grader runs with ``--retrain`` (``COURSE_GRADING_RETRAIN=1``)."""
    return os.environ.get("COURSE_GRADING_RETRAIN", "0") == "1"


def fit_or_restore(model, weights_path: str | os.PathLike, fit: Callable[[], object]):
    """Train ``model`` with ``fit()`` and save its weights, or restore them when grading.

    Students call it in their training cell::

        history = fit_or_restore(model, "a1_model.weights.h5",
                                 lambda: model.fit(x_train, y_train, epochs=EPOCHS))

    On Colab or a laptop it trains and writes ``weights_path``. In the grader
    (``COURSE_GRADING=1``) it loads ``weights_path`` from the submission so a
    class of hundreds is not re-trained, unless the instructor asked for
    ``--retrain``. Returns the value of ``fit()`` (a Keras History), or None
    when the weights were restored.
    """
    weights_path = Path(weights_path)
    if runtime.grading() and not retrain_requested():
        if not weights_path.exists():
            raise MissingWeights(
                f"{weights_path.name} is not in the submission: run the training cell "
                "and hand in the archive made by the last cell of the notebook."
            )
        model.load_weights(weights_path)
        print(f"Restored the submitted weights from {weights_path.name}.")
        return None
    result = fit()
    model.save_weights(weights_path)
    print(f"Saved the trained weights to {weights_path}.")
    return result


def _current_colab_notebook() -> dict:
    """The notebook open in Colab, as JSON (Colab keeps it in the browser, not on disk)."""
    from google.colab import _message  # type: ignore[import-not-found]

    reply = _message.blocking_request("get_ipynb", timeout_sec=60)
    if not reply or "ipynb" not in reply:
        raise RuntimeError("Colab did not return the notebook: save it (Ctrl+S) and retry.")
    return reply["ipynb"]


def bundle_submission(
    assignment: str,
    notebook: str | os.PathLike,
    files: Sequence[str | os.PathLike] = (),
    out_dir: str | os.PathLike = ".",
) -> Path:
    """Write ``<assignment>_submission.zip`` holding the notebook and ``files``.

    On Colab the notebook is taken from the browser session and the archive is
    offered as a download; locally ``notebook`` is the path of the saved file.
    Missing files are reported before anything is written.
    """
    notebook = Path(notebook)
    files = [Path(f) for f in files]
    missing = [str(f) for f in files if not f.exists()]
    if not runtime.on_colab() and not notebook.exists():
        missing.insert(0, str(notebook))
    if missing:
        raise FileNotFoundError(
            "Cannot bundle the submission, these files are missing: "
            + ", ".join(missing)
            + ". Run the whole notebook first (the training cell writes the weights)."
        )
    archive = Path(out_dir) / f"{assignment}_submission.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        if runtime.on_colab():
            zf.writestr(notebook.name, json.dumps(_current_colab_notebook()))
        else:
            zf.write(notebook, notebook.name)
        for f in files:
            zf.write(f, f.name)
    size_mb = archive.stat().st_size / 1e6
    print(f"Wrote {archive} ({size_mb:.1f} MB): upload this file.")
    if runtime.on_colab():
        from google.colab import files as colab_files  # type: ignore[import-not-found]

        colab_files.download(str(archive))
    return archive


def tier_fraction(score: float, tiers: Sequence[tuple[float, float]], zero_at: float) -> float:
    """Fraction of a question's points earned by ``score``.

    ``tiers`` lists ``(threshold, fraction)`` from the best tier down, e.g. for
    a pixel error ``[(1.4, 1.0), (1.5, 0.9), (1.6, 0.8)]``: a score at or better
    than a threshold earns that fraction. Below the last tier the credit falls
    linearly from the last fraction to 0 at ``zero_at`` (for keypoints, the
    error of always predicting the mean face). Whether lower or higher is
    better is read from the order of the thresholds relative to ``zero_at``.
    NaN or infinite scores earn 0.
    """
    if not tiers:
        raise ValueError("tiers must list at least one (threshold, fraction)")
    if score != score or score in (float("inf"), float("-inf")):
        return 0.0
    lower_is_better = tiers[-1][0] < zero_at
    sign = 1.0 if lower_is_better else -1.0
    for threshold, fraction in tiers:
        if sign * (score - threshold) <= 0:
            return float(fraction)
    last_threshold, last_fraction = tiers[-1]
    span = zero_at - last_threshold
    remaining = (zero_at - score) / span
    return float(max(0.0, min(1.0, remaining)) * last_fraction)
