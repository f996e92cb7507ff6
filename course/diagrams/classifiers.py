"""Diagrams for Unit 2 (image classification): how the data is split to choose a model."""

from __future__ import annotations

from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

__all__ = ["kfold_cross_validation"]

TRAIN_COLOR = "#9ecae1"
VALIDATION_COLOR = "#fd8d3c"
TEST_COLOR = "#bdbdbd"


def _box(ax, x: float, y: float, width: float, height: float, color: str, gid: str,
         text: str = "") -> None:
    ax.add_patch(Rectangle((x, y), width, height, facecolor=color, edgecolor="black",
                           linewidth=1.0, gid=gid))
    if text:
        ax.text(x + width / 2, y + height / 2, text, ha="center", va="center", fontsize=9)


def kfold_cross_validation(num_folds: int = 5) -> Figure:
    """``num_folds``-fold cross-validation: each round holds out a different fold.

    One row per round: the training data cut into ``num_folds`` folds, one of
    them (orange) scoring the model trained on the others (blue). The test set
    (grey) stands apart and is used once, after the choice is made. Fold boxes
    carry the ``gid`` ``"train-fold"`` or ``"validation-fold"``, the test box
    ``"test-set"``.
    """
    if num_folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {num_folds}")
    fold_width, row_height, gap = 1.0, 0.7, 0.3
    test_x = num_folds * fold_width + 0.6
    height = num_folds * row_height + (num_folds - 1) * gap
    x_limits, y_limits = (-1.4, test_x + 1.6), (-0.2, height + 0.6)
    inches_per_unit = 0.85
    # Created through pyplot so that Jupyter knows how to show it, then released
    # from pyplot at once so that it is shown only where it is returned.
    fig = plt.figure(figsize=(inches_per_unit * (x_limits[1] - x_limits[0]),
                              inches_per_unit * (y_limits[1] - y_limits[0]) + 0.4))
    plt.close(fig)
    ax = fig.add_axes((0, 0, 1, 1 - 0.4 / fig.get_figheight()))
    for round_index in range(num_folds):
        y = (num_folds - 1 - round_index) * (row_height + gap)
        for fold in range(num_folds):
            held_out = fold == round_index
            _box(ax, fold * fold_width, y, fold_width, row_height,
                 VALIDATION_COLOR if held_out else TRAIN_COLOR,
                 "validation-fold" if held_out else "train-fold",
                 "validate" if held_out else "train")
        ax.text(-0.15, y + row_height / 2, f"round {round_index + 1}", ha="right", va="center",
                fontsize=9)
    _box(ax, test_x, 0, 1.4, height, TEST_COLOR, "test-set", "test set\n\nused once,\nat the end")
    ax.text(num_folds * fold_width / 2, height + 0.25,
            f"training data, cut into {num_folds} folds", ha="center", fontsize=10)
    ax.set_xlim(*x_limits)
    ax.set_ylim(*y_limits)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"{num_folds}-fold cross-validation: the score of a setting is the mean over "
                 f"the {num_folds} rounds", fontsize=10)
    return fig
