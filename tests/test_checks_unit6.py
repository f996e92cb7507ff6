"""The Unit 6 self-checks accept right answers and explain typical wrong ones."""

import math
import re

import nbformat
import numpy as np
import pytest

from course.checks import CheckFailed
from course.checks import unit6 as check
from course.notebooks import ROOT

NOTEBOOK = ROOT / "units" / "06_improving_deep_networks.ipynb"


def test_exercises_are_numbered_in_the_order_the_notebook_asks_them():
    """Each exercise heading of the notebook names its check's title, in increasing order."""
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    headings = [m for c in cells if c.cell_type == "markdown"
                for m in re.findall(r"^### (Exercise 6\.\d) ", c.source, flags=re.M)]
    assert headings == sorted(headings) == ["Exercise 6.1", "Exercise 6.2", "Exercise 6.3"]
    titles = [check.warmup_cosine.title, check.momentum_step.title, check.dropout_forward.title]
    assert [t.split(" —")[0] for t in titles] == headings


def test_later_cells_reuse_the_students_functions():
    code = "\n".join(c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells
                     if c.cell_type == "code")
    assert "_solution" not in code
    for use in ("check.warmup_cosine.use(warmup_cosine)", "check.momentum_step.use(momentum_step)",
                "check.dropout_forward.use(dropout_forward)"):
        assert use in code

# --------------------------------------------------------------------------- 6.1 warmup_cosine


def warmup_cosine_vectorised_style(step, peak_lr, warmup_steps, total_steps, floor_lr=0.0):
    warm = peak_lr * min(step, warmup_steps) / warmup_steps
    progress = min(max(step - warmup_steps, 0), total_steps - warmup_steps)
    progress /= total_steps - warmup_steps
    cosine = floor_lr + (peak_lr - floor_lr) * (1 + np.cos(np.pi * progress)) / 2
    return np.float32(warm if step < warmup_steps else cosine)


def test_warmup_cosine_accepts_an_equivalent_formula(capsys):
    assert check.warmup_cosine(warmup_cosine_vectorised_style) is True
    assert "correct" in capsys.readouterr().out


def no_warmup(step, peak_lr, warmup_steps, total_steps, floor_lr=0.0):
    progress = min(step / total_steps, 1.0)
    return floor_lr + 0.5 * (peak_lr - floor_lr) * (1 + math.cos(math.pi * progress))


def warmup_one_ahead(step, peak_lr, warmup_steps, total_steps, floor_lr=0.0):
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    return check.warmup_cosine_solution(step, peak_lr, warmup_steps, total_steps, floor_lr)


def cosine_over_total_steps(step, peak_lr, warmup_steps, total_steps, floor_lr=0.0):
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    progress = min((step - warmup_steps) / total_steps, 1.0)
    return floor_lr + 0.5 * (peak_lr - floor_lr) * (1 + math.cos(math.pi * progress))


def decays_to_zero(step, peak_lr, warmup_steps, total_steps, floor_lr=0.0):
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    progress = min((step - warmup_steps) / (total_steps - warmup_steps), 1.0)
    return 0.5 * peak_lr * (1 + math.cos(math.pi * progress))


def cosine_comes_back(step, peak_lr, warmup_steps, total_steps, floor_lr=0.0):
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return floor_lr + 0.5 * (peak_lr - floor_lr) * (1 + math.cos(math.pi * progress))


def cosine_starts_late(step, peak_lr, warmup_steps, total_steps, floor_lr=0.0):
    if step <= warmup_steps:
        return peak_lr * step / (warmup_steps + 1)
    return check.warmup_cosine_solution(step, peak_lr, warmup_steps, total_steps, floor_lr)


def linear_decay(step, peak_lr, warmup_steps, total_steps, floor_lr=0.0):
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    progress = min((step - warmup_steps) / (total_steps - warmup_steps), 1.0)
    return peak_lr + (floor_lr - peak_lr) * progress


def forgets_return(step, peak_lr, warmup_steps, total_steps, floor_lr=0.0):
    peak_lr * step / warmup_steps  # noqa: B018 - the mistake under test


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (no_warmup, "there is no warm-up"),
        (warmup_one_ahead, "warm-up is one step ahead"),
        (cosine_starts_late, "during the warm-up, step 1 gives"),
        (cosine_over_total_steps, "should reach the floor .* progress must run from 0"),
        (decays_to_zero, "It decays to 0 instead"),
        (cosine_comes_back, "must stay at the floor"),
        (linear_decay, "your cosine phase"),
        (forgets_return, "returned None"),
    ],
)
def test_warmup_cosine_names_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.warmup_cosine(wrong)


def test_warmup_cosine_reports_a_wrong_peak_at_the_boundary():
    def drops_at_boundary(step, peak_lr, warmup_steps, total_steps, floor_lr=0.0):
        if step == warmup_steps:
            return floor_lr
        return check.warmup_cosine_solution(step, peak_lr, warmup_steps, total_steps, floor_lr)

    with pytest.raises(CheckFailed, match="at step == warmup_steps .* should be exactly the peak"):
        check.warmup_cosine(drops_at_boundary)


# --------------------------------------------------------------------------- 6.2 momentum_step


def momentum_written_differently(w, v, grad, lr, momentum=0.9, weight_decay=0.0005):
    step = -lr * (grad + weight_decay * w)
    v = v * momentum + step
    return w + v, v


def test_momentum_step_accepts_an_equivalent_formula(capsys):
    assert check.momentum_step(momentum_written_differently) is True
    assert "correct" in capsys.readouterr().out


def test_momentum_step_accepts_tensorflow():
    tf = pytest.importorskip("tensorflow")

    def with_tensorflow(w, v, grad, lr, momentum=0.9, weight_decay=0.0005):
        v_new = momentum * tf.constant(v) - weight_decay * lr * w - lr * tf.constant(grad)
        return tf.constant(w) + v_new, v_new

    assert check.momentum_step(with_tensorflow) is True


def wrong_sign(w, v, grad, lr, momentum=0.9, weight_decay=0.0005):
    v = momentum * v - weight_decay * lr * w + lr * grad
    return w + v, v


def no_weight_decay(w, v, grad, lr, momentum=0.9, weight_decay=0.0005):
    v = momentum * v - lr * grad
    return w + v, v


def decay_without_lr(w, v, grad, lr, momentum=0.9, weight_decay=0.0005):
    v = momentum * v - weight_decay * w - lr * grad
    return w + v, v


def velocity_not_updated(w, v, grad, lr, momentum=0.9, weight_decay=0.0005):
    v_new = momentum * v - weight_decay * lr * w - lr * grad
    return w + v_new, v


def old_velocity_used(w, v, grad, lr, momentum=0.9, weight_decay=0.0005):
    w_new = w + v
    v = momentum * v - weight_decay * lr * w - lr * grad
    return w_new, v


def hard_coded_constants(w, v, grad, lr, momentum=0.9, weight_decay=0.0005):
    v = 0.9 * v - 0.0005 * lr * w - lr * grad
    return w + v, v


def only_weights_returned(w, v, grad, lr, momentum=0.9, weight_decay=0.0005):
    v = momentum * v - weight_decay * lr * w - lr * grad
    return w + v


def swapped_order(w, v, grad, lr, momentum=0.9, weight_decay=0.0005):
    v = momentum * v - weight_decay * lr * w - lr * grad
    return v, w + v


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (wrong_sign, "wrong sign: the velocity must move"),
        (no_weight_decay, "weight-decay term is missing"),
        (decay_without_lr, "does not scale with the learning rate"),
        (velocity_not_updated, "velocity is not updated"),
        (old_velocity_used, "OLD velocity"),
        (hard_coded_constants, "use the `momentum` and `weight_decay` arguments"),
        (only_weights_returned, r"expected a pair \(w_new, v_new\)"),
        (swapped_order, "wrong order"),
    ],
)
def test_momentum_step_names_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.momentum_step(wrong)


def test_momentum_step_reports_an_unrecognised_mistake_with_numbers():
    def half_gradient(w, v, grad, lr, momentum=0.9, weight_decay=0.0005):
        v = momentum * v - weight_decay * lr * w - 0.5 * lr * grad
        return w + v, v

    with pytest.raises(CheckFailed, match="your v_new .* differs from the expected values"):
        check.momentum_step(half_gradient)


# --------------------------------------------------------------------------- 6.3 dropout_forward


def dropout_with_binomial(x, rate, training, rng):
    if not training:
        return x
    mask = rng.binomial(1, 1.0 - rate, size=np.shape(x))
    return x * mask / (1.0 - rate)


def test_dropout_accepts_a_binomial_mask(capsys):
    assert check.dropout_forward(dropout_with_binomial) is True
    assert "correct" in capsys.readouterr().out


def not_rescaled(x, rate, training, rng):
    if not training:
        return x
    return x * (rng.random(x.shape) >= rate)


def scaled_by_rate(x, rate, training, rng):
    if not training:
        return x
    return x * (rng.random(x.shape) >= rate) * rate


def scaled_by_keep_probability(x, rate, training, rng):
    if not training:
        return x
    return x * (rng.random(x.shape) >= rate) * (1 - rate)


def drops_at_inference(x, rate, training, rng):
    return x * (rng.random(x.shape) >= rate) / (1 - rate)


def classic_dropout_at_inference(x, rate, training, rng):
    if not training:
        return x * (1 - rate)
    return x * (rng.random(x.shape) >= rate) / (1 - rate)


def keeps_with_probability_rate(x, rate, training, rng):
    if not training:
        return x
    return x * (rng.random(x.shape) < rate) / (1 - rate)


def drops_everything(x, rate, training, rng):
    return np.zeros_like(x) if training else x


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (not_rescaled, "kept entries are not rescaled"),
        (scaled_by_rate, "multiplied by rate"),
        (scaled_by_keep_probability, r"multiplied by \(1 - rate\)"),
        (drops_at_inference, "still drop entries at inference"),
        (classic_dropout_at_inference, "you rescale at inference"),
        (keeps_with_probability_rate, "`rate` is the probability to DROP"),
        (drops_everything, "every entry was dropped"),
    ],
)
def test_dropout_names_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.dropout_forward(wrong)


def dropout_entry_by_entry(x, rate, training, rng):
    if not training:
        return x
    out = np.array(x, dtype=float)
    for index in np.ndindex(out.shape):
        out[index] = 0.0 if rng.random() < rate else out[index] / (1 - rate)
    return out


def test_dropout_asks_for_whole_array_operations():
    with pytest.raises(CheckFailed, match=r"still loops in Python \(for loop \(line 5\)\)"):
        check.dropout_forward(dropout_entry_by_entry)
