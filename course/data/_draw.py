"""Vectorised drawing primitives for the synthetic datasets.

Everything works on whole batches at once: a shape is described by one
parameter per image (arrays of length ``n``) and evaluated on a pixel grid of
shape ``(n, H, W)``. Shapes are drawn through *signed distances* (negative
inside, in pixels), which gives anti-aliased edges and sub-pixel accurate
positions for free: a pixel is covered by ``clip(0.5 - distance, 0, 1)``.

Coordinates: ``x`` is the column and ``y`` the row of a pixel centre, so the
top-left pixel sits at ``(0, 0)`` and ``np.fliplr`` maps ``x`` to ``W - 1 - x``.
"""

from __future__ import annotations

import numpy as np


def grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates shaped ``(1, H, 1)`` (rows) and ``(1, 1, W)`` (columns)."""
    ys = np.arange(height, dtype=np.float32)[None, :, None]
    xs = np.arange(width, dtype=np.float32)[None, None, :]
    return xs, ys


def coverage(distance: np.ndarray, softness: float | np.ndarray = 1.0) -> np.ndarray:
    """Fraction of each pixel covered by a shape, from its signed distance."""
    return np.clip(0.5 - distance / softness, 0.0, 1.0)


def _per_image(value, ndim: int = 3) -> np.ndarray:
    """Reshape a per-image parameter ``(n,)`` so it broadcasts against ``(n, H, W)``."""
    value = np.asarray(value, dtype=np.float32)
    return value.reshape(value.shape + (1,) * (ndim - value.ndim))


def ellipse_distance(xs, ys, cx, cy, rx, ry, angle=0.0) -> np.ndarray:
    """Approximate signed distance (pixels) to rotated ellipses.

    ``cx, cy`` are the centres, ``rx, ry`` the semi-axes and ``angle`` (radians)
    turns the ``rx`` axis away from the x axis. The first-order estimate
    ``(r - 1) / |grad r|`` is exact on the boundary, which is all anti-aliasing
    and border bands need.
    """
    cx, cy, rx, ry, angle = (_per_image(v) for v in (cx, cy, rx, ry, angle))
    cos, sin = np.cos(angle), np.sin(angle)
    dx, dy = xs - cx, ys - cy
    u = (dx * cos + dy * sin) / rx
    v = (-dx * sin + dy * cos) / ry
    radius = np.sqrt(u * u + v * v) + 1e-6
    gradient = np.sqrt((u / rx) ** 2 + (v / ry) ** 2) / radius + 1e-6
    return (radius - 1.0) / gradient


def segment_distance(xs, ys, x0, y0, x1, y1) -> np.ndarray:
    """Unsigned distance (pixels) to line segments from ``(x0, y0)`` to ``(x1, y1)``.

    The end points may carry extra trailing axes (e.g. ``(n, S)`` for ``S``
    strokes per image); the result is then ``(n, S, H, W)``.
    """
    extra = np.ndim(x0) + 2
    x0, y0, x1, y1 = (_per_image(v, extra) for v in (x0, y0, x1, y1))
    bx, by = x1 - x0, y1 - y0
    px, py = xs - x0, ys - y0
    t = np.clip((px * bx + py * by) / (bx * bx + by * by + 1e-6), 0.0, 1.0)
    return np.sqrt((px - t * bx) ** 2 + (py - t * by) ** 2)


def paint(canvas: np.ndarray, cx, cy, window: int, draw) -> None:
    """Blend a small shape into ``canvas`` ``(n, H, W)`` in place, around ``(cx, cy)``.

    Only a ``window x window`` patch per image is evaluated, which makes small
    features (eyes, pupils) about 20 times cheaper than drawing on the full
    canvas. ``draw(xs, ys)`` receives absolute pixel coordinates of the patch
    and returns ``(alpha, value)`` arrays that broadcast to ``(n, window, window)``.
    """
    n, height, width = canvas.shape
    left = np.clip(np.round(np.asarray(cx)).astype(int) - window // 2, 0, width - window)
    top = np.clip(np.round(np.asarray(cy)).astype(int) - window // 2, 0, height - window)
    rows = (top[:, None] + np.arange(window))[:, :, None]
    cols = (left[:, None] + np.arange(window))[:, None, :]
    index = (np.arange(n)[:, None, None], rows, cols)
    alpha, value = draw(cols.astype(np.float32), rows.astype(np.float32))
    patch = canvas[index]
    canvas[index] = patch + alpha * (value - patch)


def blend(canvas: np.ndarray, alpha: np.ndarray, value) -> np.ndarray:
    """``canvas`` with ``value`` laid over it at opacity ``alpha`` (broadcasting)."""
    return canvas + alpha * (value - canvas)


def smooth_noise(rng: np.random.Generator, n: int, size: int, cells: int) -> np.ndarray:
    """Smooth random fields ``(n, size, size)`` in about [-1, 1].

    A coarse ``cells x cells`` grid of random values is bilinearly upsampled:
    a cheap stand-in for Perlin-style textures.
    """
    coarse = rng.uniform(-1.0, 1.0, size=(n, cells + 1, cells + 1)).astype(np.float32)
    position = np.linspace(0.0, cells, size, dtype=np.float32)
    lower = np.minimum(position.astype(int), cells - 1)
    frac = position - lower
    rows = coarse[:, lower] * (1 - frac)[None, :, None] + coarse[:, lower + 1] * frac[None, :, None]
    return rows[:, :, lower] * (1 - frac) + rows[:, :, lower + 1] * frac


def ellipse_brush(cx, cy, rx, ry, angle, value):
    """A ``draw`` function for :func:`paint`: filled ellipses of colour ``value``."""

    def draw(xs, ys):
        return coverage(ellipse_distance(xs, ys, cx, cy, rx, ry, angle)), value

    return draw


def stroke_brush(x0, y0, x1, y1, half_width, value):
    """A ``draw`` function for :func:`paint`: strokes ``half_width`` pixels thick."""

    def draw(xs, ys):
        distance = segment_distance(xs, ys, x0, y0, x1, y1)
        return coverage(distance - _per_image(half_width)), value

    return draw
