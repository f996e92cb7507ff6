"""Synthetic twins of the course datasets, for offline practice and fast tests.

``COURSE_DATA=synthetic`` makes every loader in :mod:`course.data` return these
instead of the real datasets. Each twin has the same shapes, dtypes, value
ranges and label meaning as its real counterpart, is deterministic (fixed
seeds; the train, test and hidden splits use different seeds) and is
learnable by the models of the course without being trivially easy:

* :func:`digits` — MNIST-like glyphs drawn as strokes with random affine
  jitter, stroke thickness, blur and noise (``uint8``, 28x28).
* :func:`objects` — CIFAR-like coloured shapes and textures on varied
  backgrounds (``uint8``, 32x32x3). The ten classes are *shapes standing in*
  for the CIFAR-10 categories: label 0 is a disk, not an airplane.
* :func:`faces` — face-like 96x96 images with 15 keypoints in the Kaggle order.
  As in the Kaggle data, "left" is the subject's left, which appears on the
  right of the image.
* :func:`scenes` — pet-like silhouettes on textured backgrounds with trimaps
  (0 = pet, 1 = background, 2 = border band), like Oxford-IIIT Pet.

Learnability is part of the contract (``tests/test_learnability.py`` trains
small Keras models for a minute on a CPU): a small CNN reaches at least 90 %
accuracy on the digits while a linear model stays well below 100 %; a small
CNN's keypoint RMSE on complete faces is at most half that of predicting the
mean keypoints; a small U-Net reaches a mean IoU of at least 0.6 over the three
trimap classes.

Rendering is vectorised NumPy in fixed chunks of images, each with its own
seeded random stream, so ``n`` examples are always the first ``n`` of the
full split and generating a handful of them is fast.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from course.data import _draw

SPLITS = ("train", "test", "hidden")
# Images rendered at once (small enough to stay in the CPU cache); fixed per
# dataset so that the first n examples never depend on n.
CHUNKS = {"digits": 1024, "objects": 512, "faces": 256, "scenes": 32}

# Full split sizes of the twins (the real MNIST/CIFAR-10 sizes; fewer faces
# and pets than the real sets because those are slower to render).
SIZES = {
    "digits": {"train": 60_000, "test": 10_000, "hidden": 10_000},
    "objects": {"train": 50_000, "test": 10_000, "hidden": 10_000},
    "faces": {"train": 7_049, "hidden": 1_000},
    "scenes": {"train": 2_000, "test": 500, "hidden": 500},
}
_DATASET_SEEDS = {"digits": 11, "objects": 22, "faces": 33, "scenes": 44}


def split_size(dataset: str, split: str, limit: int | None = None) -> int:
    """Number of examples a twin's split holds, capped at ``limit``."""
    try:
        full = SIZES[dataset][split]
    except KeyError:
        raise ValueError(
            f"no synthetic split {split!r} for {dataset!r}: choose one of {tuple(SIZES[dataset])}"
        ) from None
    if limit is None:
        return full
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return min(full, int(limit))


def _rng(dataset: str, split: str, *stream: int) -> np.random.Generator:
    """The seeded random stream of one dataset split (and optional sub-stream)."""
    return np.random.default_rng([_DATASET_SEEDS[dataset], SPLITS.index(split), *stream])


def _render_chunks(dataset, split, n, render: Callable[..., tuple[np.ndarray, ...]]):
    """Call ``render(start, stop, rng)`` per chunk and concatenate the outputs.

    A render that draws several random arrays takes each from its own
    ``rng.spawn`` child, so the first rows never depend on the chunk's length.
    """
    chunk = CHUNKS[dataset]
    parts = [
        render(start, min(start + chunk, n), _rng(dataset, split, 1000 + start // chunk))
        for start in range(0, n, chunk)
    ]
    if not parts:
        raise ValueError("limit=0 gives no examples; ask for at least one")
    return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))


def _cached(generator):
    """Memoise a generator (the two most recent calls) and hand out copies.

    Copies keep the cache intact when a notebook edits its arrays in place
    (``x /= 255``); copying is much cheaper than rendering again.
    """
    memo = functools.lru_cache(maxsize=2)(generator)

    @functools.wraps(generator)
    def copying(*args, **kwargs):
        return tuple(array.copy() for array in memo(*args, **kwargs))

    copying.cache_clear = memo.cache_clear
    return copying


def _uniform(rng, low, high, n):
    return rng.uniform(low, high, n).astype(np.float32)


# --------------------------------------------------------------------------- digits

# Strokes of each digit in a unit box (x to the right, y downwards), written
# like a quick handwritten or seven-segment glyph: (x0, y0, x1, y1) per stroke.
_DIGIT_STROKES = {
    0: [(0.5, 0, 1, 0.25), (1, 0.25, 1, 0.75), (1, 0.75, 0.5, 1), (0.5, 1, 0, 0.75),
        (0, 0.75, 0, 0.25), (0, 0.25, 0.5, 0)],
    1: [(0.55, 0, 0.55, 1), (0.55, 0, 0.2, 0.3)],
    2: [(0, 0.2, 0.5, 0), (0.5, 0, 1, 0.25), (1, 0.25, 0, 1), (0, 1, 1, 1)],
    3: [(0, 0, 1, 0), (1, 0, 1, 1), (0.3, 0.5, 1, 0.5), (0, 1, 1, 1)],
    4: [(0.7, 0, 0, 0.65), (0, 0.65, 1, 0.65), (0.7, 0, 0.7, 1)],
    5: [(1, 0, 0, 0), (0, 0, 0, 0.45), (0, 0.45, 1, 0.55), (1, 0.55, 1, 1), (1, 1, 0, 1)],
    6: [(0.9, 0, 0, 0.55), (0, 0.55, 0, 1), (0, 1, 1, 1), (1, 1, 1, 0.55), (1, 0.55, 0, 0.55)],
    7: [(0, 0, 1, 0), (1, 0, 0.35, 1)],
    8: [(0, 0, 1, 0), (0, 0, 0, 1), (1, 0, 1, 1), (0, 0.5, 1, 0.5), (0, 1, 1, 1)],
    9: [(1, 0.45, 0, 0.45), (0, 0.45, 0, 0), (0, 0, 1, 0), (1, 0, 1, 0.45), (1, 0.45, 0.4, 1)],
}
_MAX_STROKES = max(len(strokes) for strokes in _DIGIT_STROKES.values())


def _stroke_table() -> tuple[np.ndarray, np.ndarray]:
    table = np.zeros((10, _MAX_STROKES, 4), dtype=np.float32)
    used = np.zeros((10, _MAX_STROKES), dtype=bool)
    for digit, strokes in _DIGIT_STROKES.items():
        table[digit, : len(strokes)] = strokes
        used[digit, : len(strokes)] = True
    return table, used


@_cached
def digits(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-like digits: ``x`` uint8 ``(n, 28, 28)`` in 0..255, ``y`` uint8 ``(n,)``."""
    n = split_size("digits", split, limit)
    full = SIZES["digits"][split]
    rng = _rng("digits", split)
    labels = rng.integers(0, 10, full).astype(np.uint8)
    wobble = rng.normal(0, 0.04, (full, _MAX_STROKES, 4)).astype(np.float32)
    pose = {
        "angle": np.clip(rng.normal(0, 0.2, full), -0.45, 0.45),
        "shear": rng.uniform(-0.3, 0.3, full),
        "scale": rng.uniform(0.8, 1.15, full),
        "aspect": rng.uniform(0.8, 1.2, full),
        "dx": rng.uniform(-2.5, 2.5, full),
        "dy": rng.uniform(-2.5, 2.5, full),
        "half_width": rng.uniform(0.7, 1.7, full),
        "softness": rng.uniform(0.6, 1.5, full),
        "ink": rng.uniform(170, 255, full),
        "noise": rng.uniform(0, 18, full),
    }
    pose = {name: value.astype(np.float32) for name, value in pose.items()}
    table, used = _stroke_table()
    xs, ys = _draw.grid(28, 28)

    def render(start, stop, chunk_rng):
        p = {name: value[start:stop, None] for name, value in pose.items()}
        strokes = table[labels[start:stop]] + wobble[start:stop]
        # Unit box -> a 11x17-pixel glyph, then shear, rotate, scale and shift.
        gx = (strokes[..., 0::2] - 0.5) * 11 * p["aspect"][..., None]
        gy = (strokes[..., 1::2] - 0.5) * 17
        gx = gx + p["shear"][..., None] * gy
        cos, sin = np.cos(p["angle"])[..., None], np.sin(p["angle"])[..., None]
        scale = p["scale"][..., None]
        px = 13.5 + p["dx"][..., None] + scale * (gx * cos - gy * sin)
        py = 13.5 + p["dy"][..., None] + scale * (gx * sin + gy * cos)
        distance = _draw.segment_distance(xs, ys, px[..., 0], py[..., 0], px[..., 1], py[..., 1])
        distance[~used[labels[start:stop]]] = np.inf
        ink = _draw.coverage(
            distance.min(axis=1) - p["half_width"][..., None], p["softness"][..., None]
        )
        noise = chunk_rng.standard_normal(ink.shape, dtype=np.float32) * p["noise"][..., None]
        image = np.clip(ink * p["ink"][..., None] + noise, 0, 255)
        return (np.round(image).astype(np.uint8),)

    (images,) = _render_chunks("digits", split, n, render)
    return images, labels[:n]


# --------------------------------------------------------------------------- objects

def _object_masks(label: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of shape class ``label`` in object coordinates (radius 1)."""
    r = np.sqrt(u * u + v * v)
    if label == 0:  # disk
        return r < 1
    if label == 1:  # square
        return np.maximum(abs(u), abs(v)) < 0.8
    if label == 2:  # triangle, apex up
        return (v < 0.75) & (abs(u) < (v + 1) * 0.6)
    if label == 3:  # ring
        return (r < 1) & (r > 0.55)
    if label == 4:  # plus sign
        return ((abs(u) < 0.3) & (abs(v) < 1)) | ((abs(v) < 0.3) & (abs(u) < 1))
    if label == 5:  # striped disk
        return (r < 1) & (np.sin(v * np.pi * 2.5) > 0)
    if label == 6:  # bar
        return (abs(u) < 1) & (abs(v) < 0.3)
    if label == 7:  # crescent
        return (r < 1) & ((u - 0.45) ** 2 + v * v > 0.5)
    if label == 8:  # two dots
        return ((u - 0.5) ** 2 + v * v < 0.2) | ((u + 0.5) ** 2 + v * v < 0.2)
    return (np.maximum(abs(u), abs(v)) < 0.85) & (np.sin(u * 6) * np.sin(v * 6) > 0)  # checks


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


@_cached
def objects(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-like shapes: ``x`` uint8 ``(n, 32, 32, 3)``, ``y`` uint8 ``(n,)``."""
    n = split_size("objects", split, limit)
    full = SIZES["objects"][split]
    rng = _rng("objects", split)
    labels = rng.integers(0, 10, full).astype(np.uint8)
    cx, cy = (16 + rng.uniform(-5, 5, (2, full))).astype(np.float32)
    radius = _uniform(rng, 7, 12, full)
    angle = _uniform(rng, -0.5, 0.5, full)
    background = rng.uniform(0, 1, (full, 2, 3)).astype(np.float32)
    colour = rng.uniform(0, 1, (full, 3)).astype(np.float32)
    # Keep the object visible: flip its colour when it is too close to the background.
    too_close = abs(_luminance(colour) - _luminance(background.mean(axis=1))) < 0.2
    colour[too_close] = 1 - colour[too_close]
    gradient = _uniform(rng, 0, 2 * np.pi, full)
    noise = _uniform(rng, 0.01, 0.06, full)
    xs, ys = _draw.grid(32, 32)

    def render(start, stop, chunk_rng):
        s = slice(start, stop)
        dx, dy = xs - cx[s, None, None], ys - cy[s, None, None]
        cos, sin = np.cos(angle[s])[:, None, None], np.sin(angle[s])[:, None, None]
        u = (dx * cos + dy * sin) / radius[s, None, None]
        v = (-dx * sin + dy * cos) / radius[s, None, None]
        mask = np.zeros(u.shape, dtype=bool)
        for label in range(10):
            rows = labels[s] == label
            mask[rows] = _object_masks(label, u[rows], v[rows])
        ramp = (dx * np.cos(gradient[s])[:, None, None] + dy * np.sin(gradient[s])[:, None, None])
        ramp = np.clip(0.5 + ramp / 32, 0, 1)[..., None]
        texture_rng, grain_rng = chunk_rng.spawn(2)
        texture = 0.12 * _draw.smooth_noise(texture_rng, stop - start, 32, 4)[..., None]
        bg = background[s, 0, None, None] + ramp * (background[s, 1] - background[s, 0])[:, None, None]
        image = np.where(mask[..., None], colour[s, None, None], bg + texture)
        grain = grain_rng.standard_normal(image.shape, dtype=np.float32)
        image = image + noise[s, None, None, None] * grain
        return (np.round(np.clip(image, 0, 1) * 255).astype(np.uint8),)

    (images,) = _render_chunks("objects", split, n, render)
    return images, labels[:n]


# --------------------------------------------------------------------------- faces

# Template keypoints relative to the face centre, with a depth (in units of
# 22 px) that makes features move when the head turns (yaw). Order and names
# follow the Kaggle columns; "left" is the subject's left = image right (+x).
_FACE_DEPTH = np.array(
    [0.45, 0.45, 0.5, 0.3, 0.5, 0.3, 0.55, 0.3, 0.55, 0.3, 1.0, 0.5, 0.5, 0.5, 0.5],
    dtype=np.float32,
)


def _face_template(rng, n) -> tuple[np.ndarray, np.ndarray]:
    """Per-face keypoints (x, y) ``(n, 15)`` before pose: faces differ in proportions."""
    eye_y = rng.normal(-12, 1.2, n)
    eye_sep = rng.normal(18, 1.0, n)
    eye_half = rng.normal(7, 0.6, n)
    brow_y = eye_y - rng.normal(8.5, 1.2, n)
    brow_in = eye_sep - rng.normal(9, 1.0, n)
    brow_out = eye_sep + rng.normal(13, 1.0, n)
    nose_y = rng.normal(12.5, 1.5, n)
    mouth_y = rng.normal(26, 1.5, n)
    mouth_half = rng.normal(15, 1.5, n)
    mouth_open = rng.uniform(1.8, 4.5, n)
    zero = np.zeros(n)
    x = [eye_sep, -eye_sep, eye_sep - eye_half, eye_sep + eye_half, -eye_sep + eye_half,
         -eye_sep - eye_half, brow_in, brow_out, -brow_in, -brow_out, zero, mouth_half,
         -mouth_half, zero, zero]
    y = [eye_y, eye_y, eye_y, eye_y, eye_y, eye_y, brow_y, brow_y + 1, brow_y, brow_y + 1,
         nose_y, mouth_y, mouth_y, mouth_y - mouth_open, mouth_y + mouth_open]
    return np.stack(x, axis=1), np.stack(y, axis=1)


def _face_parameters(split: str):
    full = SIZES["faces"][split]
    rng = _rng("faces", split)
    tx, ty = _face_template(rng, full)
    yaw = rng.uniform(-0.35, 0.35, full)[:, None]
    roll = np.clip(rng.normal(0, 0.12, full), -0.3, 0.3)[:, None]
    scale = rng.uniform(0.88, 1.08, full)[:, None]
    cx = 48 + rng.uniform(-4, 4, full)[:, None]
    cy = 50 + rng.uniform(-4, 4, full)[:, None]
    # Turn the head (yaw: project a 3-D rotation), then tilt it (roll), scale and move it.
    turned_x = tx * np.cos(yaw) + _FACE_DEPTH * 22 * np.sin(yaw)
    kx = cx + scale * (turned_x * np.cos(roll) - ty * np.sin(roll))
    ky = cy + scale * (turned_x * np.sin(roll) + ty * np.cos(roll))
    keypoints = np.stack([kx, ky], axis=2).reshape(full, 30).astype(np.float32)
    skin = rng.uniform(0.35, 0.85, full)
    level = rng.uniform(0.05, 0.95, full)
    dull = abs(level - skin) < 0.2  # keep the head visible against the background
    level[dull] = np.where(skin[dull] > 0.5, skin[dull] - 0.3, skin[dull] + 0.3)
    style = {
        "yaw": yaw[:, 0], "roll": roll[:, 0], "scale": scale[:, 0], "cx": cx[:, 0],
        "cy": cy[:, 0], "skin": skin, "background": level,
        "light": rng.uniform(-0.25, 0.25, full), "brow": rng.uniform(1.0, 2.0, full),
        "noise": rng.uniform(0.01, 0.04, full),
    }
    style = {name: value.astype(np.float32) for name, value in style.items()}
    partial = rng.uniform(0, 1, full) < (0.7 if split == "train" else 0.0)
    return keypoints, style, partial


def _render_faces(keypoints: np.ndarray, style: dict, rng) -> np.ndarray:
    """Draw faces whose features are centred on ``keypoints`` ``(n, 30)``."""
    n = len(keypoints)
    px, py = keypoints[:, 0::2], keypoints[:, 1::2]
    xs, ys = _draw.grid(96, 96)
    skin = style["skin"][:, None, None]
    texture_rng, grain_rng = rng.spawn(2)
    canvas = style["background"][:, None, None] + 0.12 * _draw.smooth_noise(texture_rng, n, 96, 3)
    head = _draw.ellipse_distance(
        xs, ys, style["cx"] - 3 * np.sin(style["yaw"]) * style["scale"],
        style["cy"] + 2 * style["scale"], 35 * style["scale"], 44 * style["scale"], style["roll"],
    )
    canvas = _draw.blend(canvas, _draw.coverage(head), skin)
    canvas = canvas * (1 + style["light"][:, None, None] * (xs - 48) / 48)

    dark = 0.3 * skin
    for inner, outer in ((6, 7), (8, 9)):  # eyebrows: thick dark strokes
        brow = _draw.stroke_brush(
            px[:, inner], py[:, inner], px[:, outer], py[:, outer], style["brow"], dark
        )
        _draw.paint(canvas, (px[:, inner] + px[:, outer]) / 2, (py[:, inner] + py[:, outer]) / 2,
                    40, brow)

    for centre, inner, outer in ((0, 2, 3), (1, 4, 5)):  # eyes: white sclera, dark pupil
        cx, cy = px[:, centre], py[:, centre]
        half = np.hypot(px[:, outer] - px[:, inner], py[:, outer] - py[:, inner]) / 2
        tilt = np.arctan2(py[:, outer] - py[:, inner], px[:, outer] - px[:, inner])
        _draw.paint(canvas, cx, cy, 24, _draw.ellipse_brush(cx, cy, half, half / 2, tilt, 0.95))
        pupil = _draw.ellipse_brush(cx, cy, half * 0.4, half * 0.4, tilt, 0.05)
        _draw.paint(canvas, cx, cy, 24, pupil)

    nostrils = _draw.ellipse_brush(
        px[:, 10], py[:, 10], 4.5 * style["scale"], 2.2 * style["scale"], style["roll"], 0.45 * skin
    )
    _draw.paint(canvas, px[:, 10], py[:, 10], 16, nostrils)

    # Lips between the mouth corners (11, 12) and lip centres (13, 14), then the open mouth.
    mouth_x, mouth_y = (px[:, 11] + px[:, 12]) / 2, (py[:, 11] + py[:, 12]) / 2
    half_width = np.hypot(px[:, 11] - px[:, 12], py[:, 11] - py[:, 12]) / 2
    half_open = np.hypot(px[:, 14] - px[:, 13], py[:, 14] - py[:, 13]) / 2
    tilt = np.arctan2(py[:, 11] - py[:, 12], px[:, 11] - px[:, 12])
    for scale_x, scale_y, value in ((1.0, 1.0, 0.35 * skin), (0.75, 0.45, 0.05)):
        lips = _draw.ellipse_brush(
            mouth_x, mouth_y, half_width * scale_x, half_open * scale_y, tilt, value
        )
        _draw.paint(canvas, mouth_x, mouth_y, 48, lips)

    grain = grain_rng.standard_normal(canvas.shape, dtype=np.float32)
    canvas = canvas + style["noise"][:, None, None] * grain
    return np.clip(canvas, 0, 1).astype(np.float32)


@_cached
def faces(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face-like images with keypoints.

    Returns ``images`` float32 ``(n, 96, 96, 1)`` in [0, 1], ``keypoints``
    float32 ``(n, 30)`` (all present; x then y per keypoint, in pixels) and
    ``partial`` bool ``(n,)``: rows that the loader reduces to the four
    keypoints most Kaggle rows have (about 70 % of the train split).
    """
    n = split_size("faces", split, limit)
    keypoints, style, partial = _face_parameters(split)

    def render(start, stop, chunk_rng):
        chunk_style = {name: value[start:stop] for name, value in style.items()}
        return (_render_faces(keypoints[start:stop], chunk_style, chunk_rng),)

    (images,) = _render_chunks("faces", split, n, render)
    return images[..., None], keypoints[:n], partial[:n]


# --------------------------------------------------------------------------- scenes

def _pet_parts(rng, full: int) -> np.ndarray:
    """Ellipses ``(full, parts, 5)`` = (cx, cy, rx, ry, angle), in pixels of a 128x128 image.

    A pet is a body, a head, two ears, a tail and two legs.
    """
    body_x, body_y = rng.uniform(45, 83, (2, full))
    body_rx, body_ry = rng.uniform(24, 36, full), rng.uniform(15, 22, full)
    tilt = rng.uniform(-0.4, 0.4, full)
    facing = rng.choice([-1.0, 1.0], full)
    head_r = rng.uniform(13, 18, full)
    floppy = rng.uniform(0, 1, full) < 0.4  # dog-like hanging ears vs cat-like pointed ears
    cos, sin = np.cos(tilt), np.sin(tilt)

    def along_body(forward, up):
        """A point of the body frame: ``forward`` along the pet, ``up`` above its axis."""
        fx, fy = forward * facing, -up
        return body_x + fx * cos - fy * sin, body_y + fx * sin + fy * cos

    head_x, head_y = along_body(body_rx * 0.85, body_ry * 0.7)
    parts = [
        (body_x, body_y, body_rx, body_ry, tilt),
        (head_x, head_y, head_r, head_r * rng.uniform(0.85, 1.1, full), tilt),
    ]
    for side in (-1, 1):
        ear_dx = np.where(floppy, 0.95, 0.55) * side * head_r
        ear_dy = np.where(floppy, -0.1, -0.85) * head_r
        ear_angle = np.where(floppy, 1.57 - 0.3 * side, 1.57 + 0.35 * side)
        parts.append((head_x + ear_dx, head_y + ear_dy, rng.uniform(8, 11, full),
                      rng.uniform(4, 6, full), ear_angle))
    tail_x, tail_y = along_body(-body_rx * 1.05, body_ry * 0.6)
    parts.append((tail_x, tail_y, rng.uniform(11, 16, full), rng.uniform(3, 4.5, full),
                  tilt - facing * 0.8))
    for forward in (-0.5, 0.5):
        leg_x, leg_y = along_body(body_rx * forward, -body_ry * 0.95)
        parts.append((leg_x, leg_y, rng.uniform(4, 5.5, full), rng.uniform(9, 13, full), tilt))
    return np.stack([np.stack(part, axis=1) for part in parts], axis=1).astype(np.float32)


def _colours(rng, full):
    return rng.uniform(0, 1, (full, 3)).astype(np.float32)


@_cached
def scenes(split: str, size: int = 128, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pet-like scenes: ``x`` float32 ``(n, size, size, 3)`` in [0, 1], trimaps uint8.

    Trimap values: 0 = pet, 1 = background, 2 = a border band about 3 pixels
    wide (at ``size=128``; at least 2 pixels) around the pet's outline, like the
    "not classified" band of the Oxford-IIIT Pet trimaps.
    """
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    n = split_size("scenes", split, limit)
    full = SIZES["scenes"][split]
    rng = _rng("scenes", split)
    parts = _pet_parts(rng, full)
    parts[..., :4] *= size / 128
    fur, spots, back_a, back_b = (_colours(rng, full) for _ in range(4))
    # Most pets stand out from the background; leave a few hard, low-contrast ones.
    dull = (abs(_luminance(fur) - _luminance((back_a + back_b) / 2)) < 0.15)
    dull &= rng.uniform(0, 1, full) < 0.8
    fur[dull] = 1 - fur[dull]
    stripes = rng.uniform(0.05, 0.35, (full, 2)).astype(np.float32)
    band = max(1.0, 1.5 * size / 128)
    xs, ys = _draw.grid(size, size)

    def render(start, stop, chunk_rng):
        s = slice(start, stop)
        count = stop - start
        distance = np.full((count, size, size), np.inf, dtype=np.float32)
        for part in range(parts.shape[1]):
            p = parts[s, part]
            part_distance = _draw.ellipse_distance(xs, ys, p[:, 0], p[:, 1], p[:, 2], p[:, 3], p[:, 4])
            np.minimum(distance, part_distance, out=distance)
        wave = np.sin(xs * stripes[s, 0, None, None] + ys * stripes[s, 1, None, None])
        background_rng, fur_rng, grain_rng = chunk_rng.spawn(3)
        mix = 0.5 + 0.35 * wave + 0.3 * _draw.smooth_noise(background_rng, count, size, 6)
        mix = np.clip(mix, 0, 1)[..., None]
        background = back_a[s, None, None] + mix * (back_b - back_a)[s, None, None]
        spotty = np.clip(_draw.smooth_noise(fur_rng, count, size, 8), 0, 1)[..., None] * 0.6
        pet = fur[s, None, None] + spotty * (spots - fur)[s, None, None]
        image = _draw.blend(background, _draw.coverage(distance)[..., None], pet)
        image = image + 0.03 * grain_rng.standard_normal(image.shape, dtype=np.float32)
        trimap = np.where(distance < -band, 0, np.where(distance > band, 1, 2)).astype(np.uint8)
        return np.clip(image, 0, 1).astype(np.float32), trimap

    return _render_chunks("scenes", split, n, render)


# --------------------------------------------------------------------------- reviews

SIZES["reviews"] = {"train": 25_000, "test": 25_000}
CHUNKS["reviews"] = 1024
_DATASET_SEEDS["reviews"] = 55
REVIEW_MIN_WORDS = 100
# Sentiment words: even ids read positive ("good", "great" ...), odd ids negative
# ("bad", "dull" ...). A modifier ("not", "hardly", "never") right before a word
# flips it, so counting words cannot tell the classes apart; a filter that reads
# two neighbouring ids can.
_MODIFIERS = (10, 11, 12)
_SENTIMENT_WORDS = np.arange(20, 32)
_START, _PAD = 1, 0


def reviews(split: str, num_words: int = 10_000, length: int = 200,
            limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Review-like rows of word ids with a sentiment label, in the IMDB format.

    Filler words follow a Zipf-like law over ids ``40..num_words-1``. A review
    holds three or five sentiment phrases (a sentiment word, or a modifier and a
    word, which flips it) and its label is their majority polarity (1 = positive).
    Reviews are zero-padded at the front, as ``keras.utils.pad_sequences`` does.
    """
    n = split_size("reviews", split, limit)
    filler_ids = np.arange(40, num_words)
    zipf = 1.0 / np.arange(1, len(filler_ids) + 1)
    zipf /= zipf.sum()

    def render(start, stop, rng):
        text_rng, phrase_rng = rng.spawn(2)
        rows = stop - start
        x = np.full((rows, length), _PAD, dtype=np.int32)
        labels = np.zeros(rows, dtype=np.uint8)
        for i in range(rows):
            words = int(text_rng.integers(length // 3, length + 1))
            review = text_rng.choice(filler_ids, size=words, p=zipf)
            review[0] = _START
            count = int(phrase_rng.choice([3, 5]))
            sentiment = phrase_rng.choice(_SENTIMENT_WORDS, size=count)
            negated = phrase_rng.random(count) < 0.5
            polarity = np.where(sentiment % 2 == 0, 1, -1) * np.where(negated, -1, 1)
            slots = phrase_rng.choice(np.arange(1, words - 1, 2), size=count, replace=False)
            review[slots + 1] = sentiment
            review[slots[negated]] = phrase_rng.choice(_MODIFIERS, size=int(negated.sum()))
            labels[i] = polarity.sum() > 0
            x[i, length - words:] = review
        return x, labels

    return _render_chunks("reviews", split, n, render)
