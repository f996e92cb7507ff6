"""Convolution drawn cell by cell, and the residual block built from it.

``strided_convolution()`` is a worked example with numbers: a small
multi-channel input with its zero padding, one filter with a kernel per input
channel, and the output map, with one output value traced back to the window
it comes from in every channel. ``residual_block()`` draws the two-convolution
block of ResNet with its identity or projection shortcut.
"""

from __future__ import annotations

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

__all__ = ["convolution_output", "residual_block", "strided_convolution"]

WINDOW_COLOR = "#d62728"
CHANNEL_COLORS = ("#fcbba1", "#c7e9c0", "#c6dbef", "#fdd0a2", "#dadaeb")
PADDING_COLOR = "0.85"


def _figure(**kwargs) -> Figure:
    """A figure already released from pyplot, so a notebook shows it once (see course.plots)."""
    fig = plt.figure(**kwargs)
    plt.close(fig)
    return fig


def convolution_output(image, kernel, bias: float = 0.0, stride: int = 1,
                       padding: int = 0) -> np.ndarray:
    """The numbers the diagram prints: one filter over a ``(H, W, C)`` input, summed over channels.

    A plain loop, written to be read next to the figure, not for speed.
    """
    image = np.pad(np.asarray(image, dtype=float), ((padding, padding), (padding, padding), (0, 0)))
    kernel = np.asarray(kernel, dtype=float)
    size = kernel.shape[0]
    rows = (image.shape[0] - size) // stride + 1
    cols = (image.shape[1] - size) // stride + 1
    out = np.empty((rows, cols))
    for i in range(rows):
        for j in range(cols):
            window = image[i * stride : i * stride + size, j * stride : j * stride + size]
            out[i, j] = np.sum(window * kernel) + bias
    return out


def _arrow(ax, start, end, **style) -> FancyArrowPatch:
    arrow = FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, lw=1.2,
                            color=style.pop("color", "0.25"), zorder=5, **style)
    arrow.set_gid("arrow")
    ax.add_patch(arrow)
    return arrow


def _cell(ax, x, y, value, facecolor, gid, fontsize) -> None:
    cell = Rectangle((x, y), 1, 1, facecolor=facecolor, edgecolor="0.4", lw=0.6)
    cell.set_gid(gid)
    ax.add_patch(cell)
    ax.text(x + 0.5, y + 0.5, f"{value:g}", ha="center", va="center", fontsize=fontsize)


def strided_convolution(size: int = 5, channels: int = 3, kernel: int = 3, stride: int = 2,
                        padding: int = 1, position: tuple[int, int] = (1, 1), bias: float = 1.0,
                        seed: int = 0) -> Figure:
    """One filter sliding over a padded multi-channel input with a stride, in numbers.

    Args:
        size: height and width of each input channel (before padding).
        channels: input channels; the filter has one ``kernel x kernel`` slice per channel.
        kernel: the filter's height and width F.
        stride: the step S between windows.
        padding: rings of zeros P around each channel.
        position: the output cell ``(i, j)`` traced back to its windows.
        bias: the filter's bias, added once after the sum over channels.
        seed: chooses the small integers in the input and the kernel.

    Raises ValueError unless ``(size - kernel + 2 * padding)`` is a non-negative
    multiple of ``stride`` (the filter must tile the padded input exactly).

    Artists carry a ``gid`` for tests: ``"input-cell"``, ``"padding-cell"``,
    ``"kernel-cell"``, ``"output-cell"`` (Rectangles), ``"window"`` (one per
    channel), ``"output-highlight"`` and ``"arrow"`` (window to kernel slice,
    kernel slice to the sum, sum to the output: ``2 * channels + 1``).
    """
    span = size - kernel + 2 * padding
    if min(size, channels, kernel, stride) < 1 or padding < 0:
        raise ValueError("size, channels, kernel and stride must be at least 1, padding at least 0.")
    if span < 0 or span % stride:
        raise ValueError(
            f"a {kernel}x{kernel} filter with stride {stride} does not tile a {size}x{size} input "
            f"padded by {padding}: choose sizes where (size - kernel + 2 * padding) is a "
            "non-negative multiple of the stride."
        )
    out_size = span // stride + 1
    row, col = position
    if not (0 <= row < out_size and 0 <= col < out_size):
        raise ValueError(f"position {position} is outside the {out_size}x{out_size} output.")

    rng = np.random.default_rng(seed)
    image = rng.integers(0, 4, size=(size, size, channels)).astype(float)
    weights = rng.integers(-1, 2, size=(kernel, kernel, channels)).astype(float)
    output = convolution_output(image, weights, bias, stride, padding)
    padded = np.pad(image, ((padding, padding), (padding, padding), (0, 0)))
    side = size + 2 * padding
    gap = 1.5
    height = channels * side + (channels - 1) * gap
    fontsize = 8 if side <= 9 else 6

    fig = _figure(figsize=(0.42 * (side + kernel + out_size + 9), 0.42 * height + 1.2),
                  layout="constrained")
    ax = fig.add_subplot()
    kernel_x = side + 2.5
    sum_centre = (kernel_x + kernel + 2.2, height / 2)
    out_x = sum_centre[0] + 1.8
    out_y = (height - out_size) / 2
    top, left = row * stride, col * stride
    for c in range(channels):
        y0 = c * (side + gap)
        for i in range(side):
            for j in range(side):
                is_padding = not (padding <= i < padding + size and padding <= j < padding + size)
                _cell(ax, j, y0 + i, padded[i, j, c],
                      PADDING_COLOR if is_padding else CHANNEL_COLORS[c % len(CHANNEL_COLORS)],
                      "padding-cell" if is_padding else "input-cell", fontsize)
        window = Rectangle((left, y0 + top), kernel, kernel, fill=False, edgecolor=WINDOW_COLOR,
                           lw=2.5, zorder=4)
        window.set_gid("window")
        ax.add_patch(window)
        ax.text(-0.4, y0 + side / 2, f"channel {c}", rotation=90, ha="right", va="center",
                fontsize=9)
        ky = y0 + (side - kernel) / 2
        for i in range(kernel):
            for j in range(kernel):
                _cell(ax, kernel_x + j, ky + i, weights[i, j, c],
                      CHANNEL_COLORS[c % len(CHANNEL_COLORS)], "kernel-cell", fontsize)
        ax.text(kernel_x + kernel / 2, ky - 0.2, f"kernel, channel {c}", ha="center",
                va="bottom", fontsize=8)
        _arrow(ax, (left + kernel, y0 + top + kernel / 2), (kernel_x - 0.1, ky + kernel / 2),
               color=WINDOW_COLOR, connectionstyle="arc3,rad=-0.15")
        _arrow(ax, (kernel_x + kernel + 0.1, ky + kernel / 2), sum_centre, shrinkB=14)
        partial = np.sum(padded[top : top + kernel, left : left + kernel, c] * weights[:, :, c])
        ax.text(kernel_x + kernel + 0.3, ky + kernel / 2 - 0.15, f"{partial:g}", ha="left",
                va="bottom", fontsize=9, color=WINDOW_COLOR)
    ax.add_patch(Circle(sum_centre, 0.55, facecolor="white", edgecolor="k", zorder=6))
    ax.text(*sum_centre, "Σ", ha="center", va="center", fontsize=13, zorder=7)
    ax.text(sum_centre[0], sum_centre[1] + 0.8, f"+ bias {bias:g}", ha="center", va="top",
            fontsize=8)
    for i in range(out_size):
        for j in range(out_size):
            _cell(ax, out_x + j, out_y + i, output[i, j], "white", "output-cell", fontsize)
    highlight = Rectangle((out_x + col, out_y + row), 1, 1, fill=False, edgecolor=WINDOW_COLOR,
                          lw=2.5, zorder=4)
    highlight.set_gid("output-highlight")
    ax.add_patch(highlight)
    _arrow(ax, (sum_centre[0] + 0.55, sum_centre[1]), (out_x - 0.05, out_y + row + 0.5))
    ax.text(out_x + out_size / 2, out_y - 0.2, f"output {out_size}x{out_size}", ha="center",
            va="bottom", fontsize=9)

    ax.set_xlim(-1.6, out_x + out_size + 0.5)
    ax.set_ylim(height + 0.5, -1.2)  # row 0 at the top, as in an image
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(
        f"{channels} channels of {size}x{size}, zero padding {padding} (gray), one "
        f"{kernel}x{kernel}x{channels} filter, stride {stride}\n"
        f"output[{row}, {col}] = the sum over the {channels} channels of window * kernel "
        f"(red numbers), + bias = {output[row, col]:g}",
        fontsize=10,
    )
    return fig


def _box(ax, centre, text, color, width=1.25, height=0.8) -> FancyBboxPatch:
    x, y = centre
    box = FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                         boxstyle="round,pad=0.05", facecolor=color, edgecolor="k", lw=0.8,
                         zorder=3)
    box.set_gid("layer")
    ax.add_patch(box)
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5, zorder=4)
    return box


def residual_block(projection: bool = False, filters: int = 64, stride: int | None = None) -> Figure:
    """ResNet's basic block: two 3x3 conv + batch-norm layers, a shortcut, an addition, a ReLU.

    Args:
        projection: draw the projection shortcut (a 1x1 convolution with the
            block's stride, and batch norm) used when the block changes the
            shape; otherwise the identity shortcut.
        filters: the filters of the block's convolutions (a label only).
        stride: the stride of the first convolution (default 2 with a
            projection, 1 without).

    Artists carry a ``gid``: ``"layer"`` for each layer box (6 on the main path,
    plus 2 on a projection shortcut), ``"add"`` for the addition node and
    ``"arrow"`` for each arrow (8 on the main path, 1 identity or 3 projection).
    """
    stride = stride or (2 if projection else 1)
    conv_color, norm_color, relu_color = "#c6dbef", "#fdd0a2", "#c7e9c0"
    main = [
        (f"3x3 conv\n{filters}, stride {stride}", conv_color),
        ("batch\nnorm", norm_color),
        ("ReLU", relu_color),
        (f"3x3 conv\n{filters}", conv_color),
        ("batch\nnorm", norm_color),
    ]
    fig = _figure(figsize=(13, 3.4), layout="constrained")
    ax = fig.add_subplot()
    step = 1.6
    ax.text(0, 0, "x", ha="center", va="center", fontsize=14)
    previous = (0.25, 0)
    for index, (text, color) in enumerate(main, start=1):
        centre = (index * step, 0)
        _box(ax, centre, text, color)
        _arrow(ax, previous, (centre[0] - 0.68, 0))
        previous = (centre[0] + 0.68, 0)
    add_centre = ((len(main) + 1) * step, 0)
    add = Circle(add_centre, 0.3, facecolor="white", edgecolor="k", zorder=3)
    add.set_gid("add")
    ax.add_patch(add)
    ax.text(*add_centre, "+", ha="center", va="center", fontsize=14, zorder=4)
    _arrow(ax, previous, (add_centre[0] - 0.3, 0))
    relu_centre = (add_centre[0] + step, 0)
    _box(ax, relu_centre, "ReLU", relu_color)
    _arrow(ax, (add_centre[0] + 0.3, 0), (relu_centre[0] - 0.68, 0))
    ax.text(relu_centre[0] + step, 0, "y", ha="center", va="center", fontsize=14)
    _arrow(ax, (relu_centre[0] + 0.68, 0), (relu_centre[0] + step - 0.25, 0))
    ax.text(step * 3, -0.75, "residual branch F(x)", ha="center", va="top", fontsize=9)

    lift = 1.3
    add_x = add_centre[0]
    if projection:
        middle = add_x / 2
        _box(ax, (middle - 0.75, lift), f"1x1 conv\n{filters}, stride {stride}", conv_color,
             width=1.4)
        _box(ax, (middle + 0.9, lift), "batch\nnorm", norm_color)
        ax.plot([0, 0, middle - 1.6], [0.25, lift, lift], color="0.25", lw=1.2)
        _arrow(ax, (middle - 1.6, lift), (middle - 1.47, lift))
        _arrow(ax, (middle - 0.03, lift), (middle + 0.25, lift))
        ax.plot([middle + 1.55, add_x], [lift, lift], color="0.25", lw=1.2)
        label = "projection shortcut: y = ReLU(F(x) + W_s x)"
    else:
        ax.plot([0, 0, add_x], [0.25, lift, lift], color="0.25", lw=1.2)
        label = "identity shortcut: y = ReLU(F(x) + x)"
    _arrow(ax, (add_x, lift), (add_x, 0.3))
    ax.text(add_centre[0] / 2, lift + 0.5, label, ha="center", va="bottom", fontsize=10)
    ax.set_xlim(-0.5, relu_centre[0] + step + 0.5)
    ax.set_ylim(-1.2, lift + 0.9)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig
