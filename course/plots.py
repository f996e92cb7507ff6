"""Figures used throughout the course: image grids, training curves, keypoints, masks, filters.

Every function builds and returns a :class:`matplotlib.figure.Figure`. The
figures are released from ``pyplot``'s list of open figures right away, so
nothing piles up in memory when you draw many of them, nothing is shown twice,
and the code runs the same on a headless server. In a notebook, make the call
the **last line of the cell** (Jupyter then shows the returned figure) or pass
the figure to ``display(fig)``; save it with ``fig.savefig("name.png")``.

Images may be ``uint8`` in 0..255 or float (shown as 0..1 when they lie in
that range, otherwise stretched from their minimum to their maximum).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

__all__ = [
    "confusion_matrix",
    "conv_filters",
    "curves",
    "feature_maps",
    "image_grid",
    "keypoints",
    "segmentation",
    "training_curves",
]

CORRECT_COLOR = "black"
WRONG_COLOR = "red"
# One fixed color per class (class 0 first), so the same class always looks the same.
CLASS_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
OVERLAY_ALPHA = 0.5


# --------------------------------------------------------------------------- helpers


def _figure(**kwargs) -> Figure:
    """A new figure on the current backend, already closed in pyplot.

    Creating it through pyplot loads the backend (in Jupyter: the inline one,
    which teaches Jupyter to display figures); closing it stops pyplot from
    keeping it alive or showing it a second time at the end of the cell.
    """
    fig = plt.figure(**kwargs)
    plt.close(fig)
    return fig


def _grid(count: int, ncols: int, cell_size: float = 1.6) -> tuple[Figure, list]:
    """A figure with ``count`` visible axes laid out ``ncols`` wide; spare axes are hidden."""
    if count < 1:
        raise ValueError("there is nothing to plot: got 0 items.")
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}.")
    ncols = min(ncols, count)
    nrows = math.ceil(count / ncols)
    fig = _figure(figsize=(cell_size * ncols, cell_size * nrows + 0.3), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, list(axes[:count])


def _images(images, name: str = "images") -> np.ndarray:
    """Return images as (N, H, W) grayscale or (N, H, W, 3) RGB."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
        raise ValueError(
            f"{name} must be shaped (N, H, W), (N, H, W, 1) or (N, H, W, 3), got {images.shape}. "
            "For a single image use image[None]."
        )
    return images


def _show(ax, image: np.ndarray) -> None:
    """Draw one grayscale or RGB image with a value range that suits its dtype."""
    if image.dtype == np.uint8:
        low, high = 0.0, 255.0
    else:
        image = image.astype(np.float32)
        low, high = float(np.min(image)), float(np.max(image))
        if low >= 0.0 and high <= 1.0:
            low, high = 0.0, 1.0
    if image.ndim == 3:  # RGB: imshow wants floats in [0, 1]
        image = (image.astype(np.float32) - low) / max(high - low, 1e-12)
        ax.imshow(image)
    else:
        ax.imshow(image, cmap="gray", vmin=low, vmax=high)


def _matching(values, count: int, name: str, ndim: int = 1) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != ndim or len(values) != count:
        raise ValueError(
            f"{name} must have one entry per image: expected shape ({count}"
            f"{', ...' if ndim > 1 else ''}), got {values.shape}."
        )
    return values


def _label_name(label, class_names: Sequence[str] | None) -> str:
    label = int(label)
    if class_names is None:
        return str(label)
    if not 0 <= label < len(class_names):
        raise ValueError(f"label {label} has no entry in class_names ({len(class_names)} names).")
    return str(class_names[label])


# --------------------------------------------------------------------------- classification


def image_grid(
    images, labels=None, predictions=None, class_names=None, ncols=8, title=None
) -> Figure:
    """Show images in a grid, optionally titled with true and predicted labels.

    Args:
        images: ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)``, uint8 or float.
        labels: optional true labels ``(N,)`` (integers).
        predictions: optional predicted labels ``(N,)`` (use ``scores.argmax(axis=-1)``).
        class_names: optional names indexed by label.
        ncols: images per row.
        title: optional title above the grid.

    With both labels and predictions each image is titled ``true: ...`` /
    ``pred: ...`` and wrong predictions are written in red.
    """
    images = _images(images)
    count = len(images)
    if labels is not None:
        labels = _matching(labels, count, "labels")
    if predictions is not None:
        predictions = _matching(predictions, count, "predictions")
    fig, axes = _grid(count, ncols)
    for index, ax in enumerate(axes):
        _show(ax, images[index])
        lines, color = [], CORRECT_COLOR
        if labels is not None:
            lines.append(f"true: {_label_name(labels[index], class_names)}")
        if predictions is not None:
            lines.append(f"pred: {_label_name(predictions[index], class_names)}")
            if labels is not None and int(labels[index]) != int(predictions[index]):
                color = WRONG_COLOR
        if lines:
            ax.set_title("\n".join(lines), fontsize=8, color=color)
    if title:
        fig.suptitle(title)
    return fig


def confusion_matrix(cm, class_names=None, normalize=False) -> Figure:
    """Draw a confusion matrix (rows = true class, columns = predicted) as an annotated heatmap.

    Args:
        cm: square array ``(C, C)`` of counts, e.g. from :func:`course.metrics.confusion_matrix`.
        class_names: optional ``C`` names for the axes.
        normalize: divide each row by its total, so that cell ``[i, j]`` is the
            fraction of class ``i`` predicted as ``j`` and the diagonal is the
            per-class recall.
    """
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (C, C) matrix, got shape {cm.shape}.")
    num_classes = cm.shape[0]
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"class_names has {len(class_names)} names for {num_classes} classes.")
    if normalize:
        totals = cm.sum(axis=1, keepdims=True)
        cm = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    names = list(class_names) if class_names is not None else [str(c) for c in range(num_classes)]
    size = max(3.5, 0.5 * num_classes + 1.5)
    fig = _figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.subplots()
    top = 1.0 if normalize else max(float(cm.max()), 1.0)
    image = ax.imshow(cm, cmap="Blues", vmin=0, vmax=top)
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = np.arange(num_classes)
    ax.set_xticks(ticks, names, rotation=45, ha="right")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    # White text on the dark upper half of the color scale, black on the light half.
    threshold = top / 2
    for row in range(num_classes):
        for col in range(num_classes):
            value = cm[row, col]
            text = f"{value:.2f}" if normalize else f"{value:.0f}"
            ax.text(
                col,
                row,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if value > threshold else "black",
            )
    return fig


# --------------------------------------------------------------------------- training


def curves(
    series: Mapping[str, Sequence[float]], xlabel="epoch", ylabel="loss", title=None, logy=False
) -> Figure:
    """Plot several curves on one axes, e.g. the loss for different learning rates.

    Args:
        series: ``{"lr=0.1": losses, "lr=0.01": other_losses, ...}``; each value
            is a sequence of numbers, plotted against 1, 2, 3, ...
        xlabel, ylabel, title: axis labels and optional title.
        logy: use a logarithmic y axis (useful when losses span several orders).
    """
    if not series:
        raise ValueError("series is empty: pass a dict {name: values}.")
    fig = _figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for name, values in series.items():
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1 or values.size == 0:
            raise ValueError(
                f"series[{name!r}] must be a non-empty 1-D sequence, got {values.shape}."
            )
        ax.plot(np.arange(1, values.size + 1), values, label=str(name))
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def training_curves(history, metrics=None) -> Figure:
    """Plot training curves: one panel per metric, with its validation twin (``val_...``).

    Args:
        history: what ``model.fit`` returns (a ``keras.callbacks.History``) or
            its ``history.history`` dict, e.g. ``{"loss": [...], "val_loss": [...]}``.
        metrics: names to plot, e.g. ``["loss", "accuracy"]``; default: every
            logged name that does not start with ``val_``.
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping) or not logs:
        raise ValueError(
            "history must be a keras History or a non-empty dict such as "
            f"{{'loss': [...], 'val_loss': [...]}}; got {type(history).__name__}."
        )
    if metrics is None:
        metrics = [name for name in logs if not name.startswith("val_")]
    elif isinstance(metrics, str):
        metrics = [metrics]
    missing = [name for name in metrics if name not in logs]
    if missing or not metrics:
        raise ValueError(f"history has no {missing or 'training metric'}; it logged {list(logs)}.")
    fig = _figure(figsize=(4.2 * len(metrics), 3.2), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, name in zip(axes, metrics, strict=True):
        epochs = np.arange(1, len(logs[name]) + 1)
        ax.plot(epochs, logs[name], marker=".", label="training")
        if f"val_{name}" in logs:
            val_epochs = np.arange(1, len(logs[f"val_{name}"]) + 1)
            ax.plot(val_epochs, logs[f"val_{name}"], marker=".", label="validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


# --------------------------------------------------------------------------- keypoints


def keypoints(images, true=None, pred=None, ncols=4) -> Figure:
    """Show face images with their keypoints: targets as green dots, predictions as red crosses.

    Args:
        images: ``(N, 96, 96, 1)`` (or ``(N, H, W)``) face images.
        true: optional target keypoints ``(N, 30)`` in pixels, columns x1, y1, x2, y2, ...;
            ``NaN`` (missing) keypoints are simply not drawn.
        pred: optional predicted keypoints ``(N, 30)`` in pixels.
        ncols: images per row.
    """
    images = _images(images)
    count = len(images)
    layers = []
    for values, name, style in (
        (true, "true", {"color": "lime", "marker": "o", "s": 12, "label": "true"}),
        (pred, "pred", {"color": "red", "marker": "x", "s": 18, "label": "predicted"}),
    ):
        if values is None:
            continue
        values = _matching(values, count, name, ndim=2).astype(np.float64)
        if values.shape[1] % 2:
            raise ValueError(
                f"{name} must have (x, y) column pairs, got {values.shape[1]} columns."
            )
        layers.append((values, style))
    fig, axes = _grid(count, ncols, cell_size=2.4)
    for index, ax in enumerate(axes):
        _show(ax, images[index])
        for values, style in layers:
            ax.scatter(values[index, 0::2], values[index, 1::2], linewidths=1, **style)
    if layers:
        fig.legend(
            handles=[
                Line2D(
                    [],
                    [],
                    linestyle="",
                    marker=style["marker"],
                    color=style["color"],
                    label=style["label"],
                )
                for _, style in layers
            ],
            loc="outside lower center",
            ncols=len(layers),
        )
    return fig


# --------------------------------------------------------------------------- segmentation


def _masks(masks, count: int, name: str) -> np.ndarray:
    masks = np.asarray(masks)
    if masks.ndim == 4 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    if masks.ndim != 3 or len(masks) != count:
        raise ValueError(
            f"{name} must be label maps (N, H, W) with one per image (N={count}), got {masks.shape}."
        )
    return masks


def segmentation(images, masks, predictions=None, class_names=None) -> Figure:
    """Show each image, its true mask and optionally the predicted mask as color overlays.

    One row per image; columns *image*, *true mask* and *predicted mask*. Each
    class keeps a fixed color (listed in the legend).

    Args:
        images: ``(N, H, W, 3)`` or grayscale images.
        masks: true label maps ``(N, H, W)`` (or ``(N, H, W, 1)``).
        predictions: optional predicted label maps ``(N, H, W)``, or the model's
            class scores ``(N, H, W, C)``, of which the argmax is shown.
        class_names: optional names; their number sets the number of classes.
    """
    images = _images(images)
    count = len(images)
    masks = _masks(masks, count, "masks")
    if predictions is not None:
        predictions = np.asarray(predictions)
        if predictions.ndim == 4 and predictions.shape[-1] > 1:
            predictions = predictions.argmax(axis=-1)
        predictions = _masks(predictions, count, "predictions")
    if masks.shape[1:] != images.shape[1:3]:
        raise ValueError(f"masks are {masks.shape[1:]} but images are {images.shape[1:3]}.")
    labels_seen = [masks] if predictions is None else [masks, predictions]
    num_classes = int(max(int(m.max()) for m in labels_seen)) + 1
    if class_names is not None:
        if len(class_names) < num_classes:
            raise ValueError(
                f"the masks contain label {num_classes - 1} but class_names has "
                f"{len(class_names)} names."
            )
        num_classes = len(class_names)
    if num_classes > len(CLASS_COLORS):
        raise ValueError(f"at most {len(CLASS_COLORS)} classes can be drawn, got {num_classes}.")
    colormap = ListedColormap(CLASS_COLORS[:num_classes])
    columns = [("image", None), ("true mask", masks)]
    if predictions is not None:
        columns.append(("predicted mask", predictions))
    fig = _figure(figsize=(2.4 * len(columns), 2.4 * count + 0.5), layout="constrained")
    axes = fig.subplots(count, len(columns), squeeze=False)
    for row in range(count):
        for col, (heading, labels) in enumerate(columns):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            _show(ax, images[row])
            if labels is not None:
                ax.imshow(
                    labels[row],
                    cmap=colormap,
                    vmin=-0.5,
                    vmax=num_classes - 0.5,
                    alpha=OVERLAY_ALPHA,
                    interpolation="nearest",
                )
            if row == 0:
                ax.set_title(heading)
    names = class_names if class_names is not None else [f"class {c}" for c in range(num_classes)]
    fig.legend(
        handles=[Patch(color=CLASS_COLORS[c], label=str(names[c])) for c in range(num_classes)],
        loc="outside lower center",
        ncols=num_classes,
    )
    return fig


# --------------------------------------------------------------------------- inside a CNN


def conv_filters(kernel, ncols=8) -> Figure:
    """Show the filters of a ``Conv2D`` layer, one small image per output channel.

    Args:
        kernel: the weights ``(kh, kw, c_in, c_out)``, e.g. ``layer.kernel`` or
            ``layer.get_weights()[0]``. With 3 input channels (an RGB first
            layer) each filter is shown in color; otherwise its first input
            channel is shown with a blue-white-red scale.
        ncols: filters per row.

    The color scale is symmetric around 0 and shared by all filters, so white
    (or gray, in color) means weight 0 and filters can be compared.
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 4:
        raise ValueError(
            f"kernel must be a Conv2D kernel (kh, kw, c_in, c_out), got shape {kernel.shape}. "
            "layer.get_weights() returns [kernel, bias]: pass its first element."
        )
    largest = float(np.abs(kernel).max()) or 1.0
    count = kernel.shape[-1]
    fig, axes = _grid(count, ncols, cell_size=1.2)
    for index, ax in enumerate(axes):
        if kernel.shape[2] == 3:
            ax.imshow(kernel[:, :, :, index] / (2 * largest) + 0.5, interpolation="nearest")
        else:
            image = ax.imshow(
                kernel[:, :, 0, index],
                cmap="RdBu_r",
                vmin=-largest,
                vmax=largest,
                interpolation="nearest",
            )
        ax.set_title(str(index), fontsize=7)
    if kernel.shape[2] != 3:
        fig.colorbar(image, ax=axes, shrink=0.8)
    return fig


def feature_maps(activations, max_maps=16, ncols=8) -> Figure:
    """Show the channels of one layer's output for one image.

    Args:
        activations: ``(H, W, C)`` or ``(1, H, W, C)``, e.g. the output of a
            ``keras.Model(model.inputs, layer.output)`` on a single image.
        max_maps: show at most this many channels (the first ones).
        ncols: maps per row.
    """
    activations = np.asarray(activations, dtype=np.float32)
    if activations.ndim == 4:
        if activations.shape[0] != 1:
            raise ValueError(
                f"activations hold {activations.shape[0]} images; pass one, e.g. activations[:1]."
            )
        activations = activations[0]
    if activations.ndim != 3:
        raise ValueError(f"activations must be (H, W, C) or (1, H, W, C), got {activations.shape}.")
    if max_maps < 1:
        raise ValueError(f"max_maps must be at least 1, got {max_maps}.")
    count = min(max_maps, activations.shape[-1])
    fig, axes = _grid(count, ncols)
    for index, ax in enumerate(axes):
        ax.imshow(activations[:, :, index], cmap="viridis")
        ax.set_title(f"channel {index}", fontsize=7)
    return fig
