"""Fully connected networks: the layer-and-connection picture, and what a classifier draws in 2-D.

``mlp([784, 800, 10])`` draws each layer as a column of neurons with a line
for every connection between neighbouring layers; layers too wide to draw are
shown with their first and last neurons around an ellipsis, and their true size
underneath. ``decision_boundary({...}, X, y)`` colours the plane by the class
each model predicts there, one panel per model, with the data on top.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Circle

__all__ = ["decision_boundary", "mlp"]

LAYER_COLORS = {"input": "#9ecae1", "hidden": "#fdae6b", "output": "#a1d99b"}
LAYER_SPACING = 3.0  # horizontal distance between layers, in neuron spacings
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _figure(**kwargs) -> Figure:
    """A figure already released from pyplot, so a notebook shows it once (see course.plots)."""
    fig = plt.figure(**kwargs)
    plt.close(fig)
    return fig


def _shown_units(size: int, max_shown: int) -> list[int | None]:
    """Indices of the neurons drawn for a layer of ``size``; None marks the ellipsis."""
    if size <= max_shown:
        return list(range(size))
    head = (max_shown + 1) // 2
    tail = max_shown - head
    return list(range(head)) + [None] + list(range(size - tail, size))


def mlp(layer_sizes: Sequence[int], *, names: Sequence[str] | None = None, max_shown: int = 8,
        title: str | None = None) -> Figure:
    """A multilayer perceptron as columns of neurons joined by every connection.

    Args:
        layer_sizes: units per layer, input first, e.g. ``[784, 800, 10]``.
        names: one caption per layer (default: "input", "hidden 1", ..., "output").
        max_shown: the most neurons drawn per layer; wider layers get an ellipsis.
        title: the figure title (default: the sizes joined by dashes).

    Every drawn neuron is a ``Circle`` patch and all connections are one
    ``LineCollection`` (one segment per pair of drawn neurons in neighbouring
    layers), so a test can count them.
    """
    sizes = [int(size) for size in layer_sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"an MLP needs at least two layers of at least one unit, got {sizes}.")
    if max_shown < 2:
        raise ValueError(f"max_shown must be at least 2, got {max_shown}.")
    if names is None:
        names = ["input", *(f"hidden {i}" for i in range(1, len(sizes) - 1)), "output"]
    if len(names) != len(sizes):
        raise ValueError(f"{len(names)} names for {len(sizes)} layers.")

    columns = [_shown_units(size, max_shown) for size in sizes]
    tallest = max(len(column) for column in columns)
    fig = _figure(figsize=(1.6 * len(sizes) + 1.5, 0.4 * tallest + 1.4), layout="constrained")
    ax = fig.add_subplot()
    radius = 0.28
    centres = []  # per layer: (x, y) of each drawn neuron
    for index, (column, size) in enumerate(zip(columns, sizes, strict=True)):
        role = "input" if index == 0 else "output" if index == len(sizes) - 1 else "hidden"
        x = index * LAYER_SPACING
        top = (len(column) - 1) / 2
        layer_centres = []
        for row, unit in enumerate(column):
            y = top - row
            if unit is None:
                ax.text(x, y, "⋮", ha="center", va="center", fontsize=16)
                continue
            ax.add_patch(Circle((x, y), radius, facecolor=LAYER_COLORS[role], edgecolor="k",
                                lw=0.8, zorder=3))
            layer_centres.append((x, y))
        centres.append(layer_centres)
        ax.text(x, -tallest / 2 - 0.1, f"{names[index]}\n{size:,} units", ha="center", va="top",
                fontsize=9)
    segments = [(start, end) for left, right in zip(centres, centres[1:], strict=False)
                for start in left for end in right]
    ax.add_collection(LineCollection(segments, colors="0.55", linewidths=0.5, zorder=1))
    ax.set_xlim(-1, (len(sizes) - 1) * LAYER_SPACING + 1)
    ax.set_ylim(-tallest / 2 - 1.4, tallest / 2 + 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or "-".join(str(size) for size in sizes) + " fully connected network")
    return fig


def _class_indices(predicted: np.ndarray, count: int) -> np.ndarray:
    """Class per grid point from scores ``(N, C)``, one probability ``(N,)``/``(N, 1)``, or labels."""
    predicted = np.asarray(predicted)
    if predicted.ndim == 2 and predicted.shape[1] > 1:
        return predicted.argmax(axis=1)
    predicted = predicted.reshape(count)
    if np.issubdtype(predicted.dtype, np.floating) and not np.all(predicted == np.round(predicted)):
        return (predicted > 0.5).astype(int)  # a probability of class 1
    return predicted.astype(int)


def decision_boundary(models: Mapping[str, Callable[[np.ndarray], np.ndarray]], X, y, *,
                      resolution: int = 200, margin: float = 0.5) -> Figure:
    """The regions each model assigns to each class, on a 2-D data set.

    Args:
        models: panel title -> ``predict(points)`` taking ``(N, 2)`` points and
            returning class scores ``(N, C)``, probabilities of class 1, or labels.
        X: the data points ``(N, 2)``, drawn on top of every panel.
        y: their integer classes ``(N,)``.
        resolution: grid points along each axis.
        margin: how far the grid extends beyond the data.

    Each panel title ends with the model's accuracy on ``X`` (in %).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y).astype(int).ravel()
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must hold 2-D points, shape (N, 2); got {X.shape}.")
    if len(y) != len(X):
        raise ValueError(f"{len(X)} points but {len(y)} labels.")
    if not models:
        raise ValueError("give at least one model to draw.")
    classes = int(max(y.max() + 1, 2))
    colors = ListedColormap(CLASS_COLORS[:classes])
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(low[0], high[0], resolution),
                         np.linspace(low[1], high[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])

    fig = _figure(figsize=(4.2 * len(models), 4.2), layout="constrained")
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, (name, predict) in zip(axes, models.items(), strict=True):
        regions = _class_indices(predict(grid), len(grid)).reshape(gx.shape)
        accuracy = np.mean(_class_indices(predict(X), len(X)) == y)
        ax.contourf(gx, gy, regions, levels=np.arange(classes + 1) - 0.5, cmap=colors, alpha=0.3)
        ax.scatter(X[:, 0], X[:, 1], c=y, cmap=colors, vmin=-0.5, vmax=classes - 0.5, s=12,
                   edgecolors="k", linewidths=0.3)
        ax.set_title(f"{name}: {100 * accuracy:.1f} % correct")
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.set_aspect("equal")
    return fig
