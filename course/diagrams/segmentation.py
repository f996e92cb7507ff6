"""Diagrams for Unit 5 (image segmentation): the U-Net, and a transposed convolution stamping its kernel.

``unet(depth=4, base_filters=64)`` draws the encoder going down, the decoder
coming back up and the skip connections bridging the "U", one box per feature
map labelled with its channels and size, for the padded U-Net that the unit
builds. ``transposed_convolution()`` shows how every input pixel stamps a
scaled copy of the kernel onto the output, how the overlapping stamps add up,
and which window of that sum a padding and an output padding keep.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Rectangle

__all__ = ["transposed_convolution", "unet"]

MAP_COLORS = {
    "input": "#c7e9c0",
    "encoder": "#9ecae1",
    "bottleneck": "#6baed6",
    "copy": "#d9d9d9",
    "upsampled": "#fdd0a2",
    "decoder": "#fdae6b",
    "output": "#a1d99b",
}
ARROWS = {  # gid: (colour, legend text)
    "conv-block": ("black", "two 3x3 conv + BN + ReLU"),
    "pool": ("#d62728", "2x2 max pool"),
    "up-conv": ("#2ca02c", "2x2 transposed conv, stride 2"),
    "skip": ("#7f7f7f", "copy and concatenate (skip)"),
    "head": ("#9467bd", "1x1 conv + softmax"),
}
STAMP_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                "#e377c2", "#17becf", "#bcbd22")


def _figure(**kwargs) -> Figure:
    """A figure already released from pyplot, so a notebook shows it once (see course.plots)."""
    fig = plt.figure(**kwargs)
    plt.close(fig)
    return fig


# --------------------------------------------------------------------------- U-Net


def unet(depth: int = 4, base_filters: int = 64, size: int = 128, num_classes: int = 3,
         in_channels: int = 3) -> Figure:
    """The U-Net of Unit 5: ``depth`` poolings down, as many transposed convolutions up.

    Each box is a feature map, as tall as its resolution (on a shrinking scale)
    and as wide as the logarithm of its channels, labelled "channels, size".
    Boxes carry a ``gid``: ``"input"``, ``"encoder"``, ``"bottleneck"``,
    ``"upsampled"``, ``"copy"`` (the skip connection's copy next to it),
    ``"decoder"`` and ``"output"``; arrows carry the ``gid`` of their operation
    (``"conv-block"``, ``"pool"``, ``"up-conv"``, ``"skip"``, ``"head"``).
    """
    if depth < 1:
        raise ValueError(f"a U-Net needs at least 1 level of pooling, got depth={depth}")
    if size % 2**depth:
        raise ValueError(f"size {size} must be divisible by 2**depth = {2**depth}, so that "
                         "every pooling halves the feature map exactly")
    fig = _figure(figsize=(2.0 + 2.3 * depth, 1.6 + 1.35 * depth), layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_aspect("equal")

    def level_y(level: int) -> float:
        return -2.0 * level

    def box(x: float, level: int, channels: int, gid: str) -> tuple[float, float, float, float]:
        width = 0.12 + 0.06 * math.log2(channels + 1)
        height = 1.5 * 0.7**level
        y = level_y(level) - height / 2
        ax.add_patch(Rectangle((x, y), width, height, facecolor=MAP_COLORS[gid],
                               edgecolor="black", linewidth=0.8, gid=gid))
        side = size // 2**level
        label = f"{channels}\n{side}x{side}"
        # Labels go where no arrow passes: pool arrows enter encoder boxes from above,
        # up-convolution arrows leave the bottleneck and the decoder boxes from their top.
        if gid == "encoder" and level > 0:
            ax.text(x - 0.06, y + height / 2, label, ha="right", va="center", fontsize=7)
        elif gid in ("bottleneck", "decoder"):
            ax.text(x + width / 2, y - 0.08, label, ha="center", va="top", fontsize=7)
        elif gid != "copy":  # the copy shows the same numbers as the box it came from
            ax.text(x + width / 2, y + height + 0.08, label, ha="center", va="bottom",
                    fontsize=7)
        return x, y, width, height

    def arrow(start: tuple[float, float], end: tuple[float, float], gid: str) -> None:
        color = ARROWS[gid][0]
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9,
                                     color=color, linewidth=1.2, gid=gid,
                                     linestyle="--" if gid == "skip" else "-"))

    def right(b):
        return b[0] + b[2], b[1] + b[3] / 2

    def left(b):
        return b[0], b[1] + b[3] / 2

    step = 0.55  # horizontal gap between consecutive boxes of one level
    previous = box(0.0, 0, in_channels, "input")
    skips = []
    for level in range(depth):
        if level == 0:
            x = right(previous)[0] + step
            current = box(x, level, base_filters, "encoder")
            arrow(right(previous), left(current), "conv-block")
        else:
            x = previous[0] + 0.35
            current = box(x, level, base_filters * 2**level, "encoder")
            arrow((previous[0] + previous[2] / 2, previous[1]),
                  (current[0] + current[2] / 2, current[1] + current[3]), "pool")
        skips.append(current)
        previous = current
    bottom = box(previous[0] + 0.35, depth, base_filters * 2**depth, "bottleneck")
    arrow((previous[0] + previous[2] / 2, previous[1]),
          (bottom[0] + bottom[2] / 2, bottom[1] + bottom[3]), "pool")
    previous = bottom
    for level in reversed(range(depth)):
        channels = base_filters * 2**level
        # The skip's copy sits right against the upsampled map: together they are the
        # concatenation that the next convolutions read.
        copy = box(right(previous)[0] + 0.2, level, channels, "copy")
        arrow(right(skips[level]), left(copy), "skip")
        upsampled = box(right(copy)[0], level, channels, "upsampled")
        arrow((previous[0] + previous[2] / 2, previous[1] + previous[3]),
              (upsampled[0] + upsampled[2] / 2, upsampled[1]), "up-conv")
        merged_right = right(upsampled)
        current = box(merged_right[0] + step, level, channels, "decoder")
        arrow(merged_right, left(current), "conv-block")
        previous = current
    output = box(right(previous)[0] + step, 0, num_classes, "output")
    arrow(right(previous), left(output), "head")

    handles = [Line2D([], [], color=color, linestyle="--" if gid == "skip" else "-",
                      label=text) for gid, (color, text) in ARROWS.items()]
    ax.legend(handles=handles, loc="lower right", fontsize=7, frameon=False)
    ax.autoscale_view()
    ax.margins(0.03, 0.08)
    ax.set_title(f"U-Net of depth {depth} (labels: channels, height x width)", fontsize=9)
    return fig


# --------------------------------------------------------------------------- transposed convolution


def _transposed_full(x: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    """The uncropped output, computed by Keras (``padding="valid"``, one channel)."""
    from keras import ops

    out = ops.conv_transpose(x[None, :, :, None].astype("float32"),
                             kernel[:, :, None, None].astype("float32"),
                             strides=stride, padding="valid")
    return ops.convert_to_numpy(out)[0, :, :, 0].astype(float)


def _grid(ax, values: np.ndarray, title: str, colors=None) -> None:
    rows, cols = values.shape
    for (i, j), value in np.ndenumerate(values):
        face = colors[i][j] if colors is not None else "white"
        ax.add_patch(Rectangle((j, i), 1, 1, facecolor=face, edgecolor="black", linewidth=0.8,
                               alpha=0.55 if colors is not None else 1.0))
        ax.text(j + 0.5, i + 0.5, f"{value:g}", ha="center", va="center", fontsize=9)
    ax.set_xlim(-0.2, cols + 0.2)
    ax.set_ylim(rows + 0.2, -0.2)  # row 0 at the top, as in a matrix
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)


def transposed_convolution(x=None, kernel=None, stride: int = 2, padding: int = 1,
                           output_padding: int = 1) -> Figure:
    """Every input pixel stamps ``x[i, j] * kernel`` at ``(i*stride, j*stride)``; overlaps add up.

    The default is the lecture's example: a 2x2 input, a 3x3 kernel of ones,
    stride 2, padding 1 and output padding 1, which gives a 4x4 output. Four
    panels: the input (one colour per pixel), the kernel, the full sum with one
    coloured outline per stamp (``gid`` ``"stamp"``) and the kept window dashed
    (``gid`` ``"kept"``), and the output: ``padding`` rows and columns cut at
    each side, ``output_padding`` given back at the bottom and right.
    """
    x = np.array([[1.0, 2.0], [3.0, 4.0]]) if x is None else np.asarray(x, dtype=float)
    kernel = np.ones((3, 3)) if kernel is None else np.asarray(kernel, dtype=float)
    if x.ndim != 2 or kernel.ndim != 2:
        raise ValueError("x and kernel must be 2-D (one channel)")
    if not 0 <= output_padding < stride:
        raise ValueError(f"output_padding must lie in 0..stride-1 = 0..{stride - 1}, "
                         f"got {output_padding}")
    if x.size > len(STAMP_COLORS):
        raise ValueError(f"at most {len(STAMP_COLORS)} input pixels can get their own colour")
    full = _transposed_full(x, kernel, stride)
    kh, kw = kernel.shape
    out_h = (x.shape[0] - 1) * stride + kh - 2 * padding + output_padding
    out_w = (x.shape[1] - 1) * stride + kw - 2 * padding + output_padding
    if out_h < 1 or out_w < 1:
        raise ValueError(f"padding {padding} crops away the whole output")
    # Output padding may ask for rows beyond the full output: they hold zeros.
    extended = np.pad(full, ((0, output_padding), (0, output_padding)))
    kept = extended[padding : padding + out_h, padding : padding + out_w]

    colors = [[STAMP_COLORS[i * x.shape[1] + j] for j in range(x.shape[1])]
              for i in range(x.shape[0])]
    fig = _figure(figsize=(11, 3.3), layout="constrained")
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [x.shape[1], kw, *full.shape[1:],
                                                            out_w]})
    _grid(axes[0], x, f"input {x.shape[0]}x{x.shape[1]}", colors)
    _grid(axes[1], kernel, f"kernel {kh}x{kw}")
    _grid(axes[2], full, f"sum of the stamps {full.shape[0]}x{full.shape[1]}\n"
          f"(stride {stride}: each stamp moves {stride} px)")
    for (i, j), _ in np.ndenumerate(x):
        inset = 0.06 + 0.05 * (i * x.shape[1] + j)  # offset outlines so overlaps stay visible
        axes[2].add_patch(Rectangle((j * stride + inset, i * stride + inset), kw - 2 * inset,
                                    kh - 2 * inset, fill=False, edgecolor=colors[i][j],
                                    linewidth=2.2, gid="stamp"))
    axes[2].add_patch(Rectangle((padding - 0.1, padding - 0.1), out_w + 0.2, out_h + 0.2,
                                fill=False, edgecolor="black", linestyle="--", linewidth=1.6,
                                gid="kept"))
    axes[2].set_xlim(-0.2, max(full.shape[1], padding + out_w) + 0.2)
    axes[2].set_ylim(max(full.shape[0], padding + out_h) + 0.2, -0.2)
    _grid(axes[3], kept, f"output {out_h}x{out_w}\n(padding {padding}, "
          f"output_padding {output_padding})")
    return fig
