"""Self-checks for Unit 6 (improving deep networks).

Each check runs the student's function on hand-picked and random inputs,
compares with the reference below and, when they disagree, tries the typical
mistakes (an off-by-one warm-up, a flipped sign, a forgotten weight decay, an
unscaled dropout mask ...) so that the message can name the one that was made,
without handing out the code.
"""

from __future__ import annotations

import math

import numpy as np

from course.checks import (
    CheckFailed,
    as_array,
    exercise,
    require,
    require_close,
    require_no_loops,
)


def warmup_cosine_solution(step, peak_lr, warmup_steps, total_steps, floor_lr=0.0):
    """Linear warm-up from 0 to peak_lr over warmup_steps, cosine decay to floor_lr at total_steps."""
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    if step >= total_steps:
        return floor_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return floor_lr + 0.5 * (peak_lr - floor_lr) * (1.0 + math.cos(math.pi * progress))


def momentum_step_solution(w, v, grad, lr, momentum=0.9, weight_decay=0.0005):
    """One AlexNet update: v <- momentum*v - weight_decay*lr*w - lr*grad; w <- w + v."""
    v_new = momentum * v - weight_decay * lr * w - lr * grad
    w_new = w + v_new
    return w_new, v_new


def dropout_forward_solution(x, rate, training, rng):
    """Inverted dropout: zero each entry with probability `rate`, scale survivors by 1/(1-rate)."""
    x = np.asarray(x, dtype=float)
    if not training or rate == 0.0:
        return x
    keep = rng.random(x.shape) >= rate
    return x * keep / (1.0 - rate)


# --------------------------------------------------------------------------- 6.1 warm-up + cosine


def _schedule(fn, steps, *args) -> np.ndarray:
    values = []
    for step in steps:
        value = fn(int(step), *args)
        if value is None:
            raise CheckFailed(
                f"your function returned None at step {step}: did you forget to `return`?"
            )
        values.append(as_array(value, f"your learning rate at step {step}"))
    return np.array([float(v) for v in values])


def _off_by_one_warmup(step, peak_lr, warmup_steps, total_steps, floor_lr):
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    return warmup_cosine_solution(step, peak_lr, warmup_steps, total_steps, floor_lr)


@exercise("Exercise 6.1 — linear warm-up followed by cosine decay",
          solution=warmup_cosine_solution)
def warmup_cosine(fn):
    """Check `fn(step, peak_lr, warmup_steps, total_steps, floor_lr)` on whole schedules."""
    for peak, warmup, total, floor in [(0.1, 10, 100, 0.001), (2.0, 5, 40, 0.25),
                                       (0.4, 20, 60, 0.0)]:
        args = (peak, warmup, total, floor)
        where = f"(peak_lr={peak}, warmup_steps={warmup}, total_steps={total}, floor_lr={floor})"
        steps = np.arange(0, total + 6)  # a few steps past the end: the floor must hold there
        got = _schedule(fn, steps, *args)
        expected = np.array([warmup_cosine_solution(int(s), *args) for s in steps])
        if np.allclose(got, expected, rtol=1e-6, atol=1e-9):
            continue
        if np.isclose(got[0], peak):
            raise CheckFailed(
                f"{where}: step 0 already has the peak rate {got[0]:.4g}: there is no warm-up. "
                "Before warmup_steps the rate must grow in a straight line, from 0 at step 0 "
                "to the peak at step warmup_steps."
            )
        if not np.allclose(got[:warmup], expected[:warmup]):
            off_by_one = np.array([_off_by_one_warmup(int(s), *args) for s in steps])
            if np.allclose(got[:warmup], off_by_one[:warmup]):
                raise CheckFailed(
                    f"{where}: your warm-up is one step ahead (step 0 gives {got[0]:.4g}, and "
                    f"step {warmup - 1} already reaches the peak). The warm-up starts at 0 at "
                    "step 0 and reaches peak_lr exactly at step == warmup_steps, not one step "
                    "earlier."
                )
            bad = int(np.argmax(~np.isclose(got[:warmup], expected[:warmup])))
            raise CheckFailed(
                f"{where}: during the warm-up, step {bad} gives {got[bad]:.6g}, expected "
                f"{expected[bad]:.6g}: the warm-up is a straight line from (0, 0) to "
                "(warmup_steps, peak_lr)."
            )
        if not np.isclose(got[warmup], peak):
            raise CheckFailed(
                f"{where}: at step == warmup_steps ({warmup}) the rate should be exactly the "
                f"peak {peak}, you have {got[warmup]:.6g}. Check the boundary between the two "
                "phases: the cosine starts at progress 0 there."
            )
        if not np.isclose(got[total], floor, atol=1e-9):
            hint = (
                " It decays to 0 instead: the half cosine must run from the peak down to "
                "floor_lr, not down to 0."
                if np.isclose(got[total], 0.0, atol=1e-9) and floor > 0
                else " The cosine's progress must run from 0 at warmup_steps to 1 at "
                "total_steps: the decay phase lasts total_steps - warmup_steps steps."
            )
            raise CheckFailed(
                f"{where}: at step == total_steps ({total}) the rate should reach the floor "
                f"{floor}, you have {got[total]:.6g}.{hint}"
            )
        after = got[total + 1 :]
        require(
            np.allclose(after, floor, atol=1e-9),
            f"{where}: after total_steps the rate must stay at the floor {floor}; at step "
            f"{total + 1} you have {after[0]:.6g} (the cosine comes back up if you do not stop it).",
        )
        middle = warmup + (total - warmup) // 2
        require_close(
            got[warmup:total + 1], expected[warmup:total + 1],
            f"your cosine phase {where} (e.g. step {middle} should be {expected[middle]:.6g})",
            rtol=1e-6, atol=1e-9,
        )


# --------------------------------------------------------------------------- 6.2 momentum


def _split_pair(result, name: str):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(
            f"{name} returned {type(result).__name__}, expected a pair (w_new, v_new): "
            "return both the new weights and the new velocity, e.g. `return w_new, v_new`."
        )
    return as_array(result[0], "your w_new"), as_array(result[1], "your v_new")


def _momentum_mistake(w, v, grad, lr, mom, wd, w_new, v_new) -> str | None:
    """Name the typical mistake that reproduces the student's (w_new, v_new), if any."""
    right_v = mom * v - wd * lr * w - lr * grad
    candidates = {
        "the gradient term has the wrong sign: the velocity must move *against* the gradient "
        "(downhill), as in plain gradient descent.": (
            w + (mom * v - wd * lr * w + lr * grad),
            mom * v - wd * lr * w + lr * grad,
        ),
        "the weight-decay term is missing: AlexNet's velocity also gets a small push towards 0, "
        "proportional to the weights themselves (and to the learning rate).": (
            w + (mom * v - lr * grad),
            mom * v - lr * grad,
        ),
        "the weight-decay term has the wrong sign: it must shrink the weights towards 0, not "
        "grow them.": (
            w + (mom * v + wd * lr * w - lr * grad),
            mom * v + wd * lr * w - lr * grad,
        ),
        "the weight decay does not scale with the learning rate: like the gradient term, the "
        "decay term is a step, and every step is measured in units of the learning rate.": (
            w + (mom * v - wd * w - lr * grad),
            mom * v - wd * w - lr * grad,
        ),
        "the velocity is not updated: you return the old v. Compute the new velocity first, "
        "then use it for the weights and return it.": (w + right_v, v),
        "the weights move with the OLD velocity: update v first, then w <- w + v_new.": (
            w + v,
            right_v,
        ),
        "the momentum term is missing: the new velocity must keep a fraction `momentum` of the "
        "old one, otherwise this is plain gradient descent.": (
            w + (-wd * lr * w - lr * grad),
            -wd * lr * w - lr * grad,
        ),
        "the pair is returned in the wrong order: return (w_new, v_new).": (right_v, w + right_v),
    }
    for message, (wrong_w, wrong_v) in candidates.items():
        if np.allclose(w_new, wrong_w, atol=1e-9) and np.allclose(v_new, wrong_v, atol=1e-9):
            return message
    return None


@exercise("Exercise 6.2 — AlexNet's momentum update with weight decay",
          solution=momentum_step_solution)
def momentum_step(fn):
    """Check `fn(w, v, grad, lr, momentum=0.9, weight_decay=0.0005) -> (w_new, v_new)`."""
    rng = np.random.default_rng(6)
    cases = [
        # Large, well-separated numbers make every mistake visible in the first case.
        (np.array([2.0, -1.0, 0.5]), np.array([0.3, -0.2, 0.1]), np.array([1.0, 4.0, -2.0]),
         0.1, {}),
        (rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), 0.05, {}),
        (rng.normal(size=5), rng.normal(size=5), rng.normal(size=5), 0.5,
         {"momentum": 0.5, "weight_decay": 0.01}),
    ]
    for w, v, grad, lr, options in cases:
        mom = options.get("momentum", 0.9)
        wd = options.get("weight_decay", 0.0005)
        where = f"(lr={lr}, momentum={mom}, weight_decay={wd}, w of shape {w.shape})"
        result = fn(w.copy(), v.copy(), grad.copy(), lr, **options)
        w_new, v_new = _split_pair(result, "your function")
        expected_w, expected_v = momentum_step_solution(w, v, grad, lr, mom, wd)
        require(
            w_new.shape == w.shape and v_new.shape == v.shape,
            f"your w_new {w_new.shape} and v_new {v_new.shape} should both have the shape of "
            f"w {w.shape}.",
        )
        if np.allclose(w_new, expected_w) and np.allclose(v_new, expected_v):
            continue
        if options:
            default_w, default_v = momentum_step_solution(w, v, grad, lr)
            if np.allclose(w_new, default_w) and np.allclose(v_new, default_v):
                raise CheckFailed(
                    f"with {where} you still use 0.9 and 0.0005: use the `momentum` and "
                    "`weight_decay` arguments instead of fixed numbers."
                )
        mistake = _momentum_mistake(w, v, grad, lr, mom, wd, w_new, v_new)
        if mistake:
            raise CheckFailed(f"{where}: {mistake}")
        require_close(v_new, expected_v, f"your v_new {where}")
        require_close(w_new, expected_w, f"your w_new {where}")


# --------------------------------------------------------------------------- 6.3 dropout


def _dropout_call(fn, x, rate, training, seed):
    result = fn(x.copy(), rate, training, np.random.default_rng(seed))
    out = as_array(result, f"your output (rate={rate}, training={training})")
    require(
        out.shape == x.shape,
        f"your output (rate={rate}, training={training}) has shape {out.shape}; dropout keeps "
        f"the shape of its input {x.shape}.",
    )
    return out


@exercise("Exercise 6.3 — inverted dropout", solution=dropout_forward_solution)
def dropout_forward(fn):
    """Check `fn(x, rate, training, rng)`: statistics in training, the identity at inference."""
    require_no_loops(fn, "Dropout works on whole arrays: draw the random numbers for every "
                         "entry in one call (the generator returns an array of any shape) and "
                         "combine arrays elementwise.")
    x_random = np.random.default_rng(63).normal(size=(8, 50)) + 3.0  # no zeros in the input
    for rate in (0.2, 0.8, 0.5):  # 0.5 last: there rate and 1 - rate look alike
        where = f"(rate={rate}, training=True)"
        out = _dropout_call(fn, np.ones((200, 100)), rate, True, seed=1)
        zeros = np.isclose(out, 0.0)
        survivors = out[~zeros]
        require(
            survivors.size > 0,
            f"{where}: every entry was dropped; only a fraction `rate` should be.",
        )
        dropped = zeros.mean()
        if abs(dropped - (1.0 - rate)) < 0.03 and abs(rate - 0.5) > 0.1:
            raise CheckFailed(
                f"{where}: you dropped {dropped:.0%} of the entries. `rate` is the probability "
                "to DROP an entry, so about rate (not 1 - rate) of them should become 0."
            )
        require(
            abs(dropped - rate) < 0.03,
            f"{where}: about {rate:.0%} of the entries should be 0 but {dropped:.1%} are. Each "
            "entry must be dropped on its own, with probability `rate`, using the generator "
            "`rng` that is passed in.",
        )
        scale = 1.0 / (1.0 - rate)
        if np.allclose(survivors, 1.0):
            raise CheckFailed(
                f"{where}: the kept entries are not rescaled. Inverted dropout scales them up "
                "during training so that the expected output equals the input."
            )
        if np.allclose(survivors, rate):
            raise CheckFailed(
                f"{where}: the kept entries are multiplied by rate = {rate}, which shrinks "
                "them. Inverted dropout makes the survivors *larger*, just enough that the "
                "average output equals the input although some entries are now 0."
            )
        if np.allclose(survivors, 1.0 - rate):
            raise CheckFailed(
                f"{where}: the kept entries are multiplied by (1 - rate), which shrinks them "
                "and scales the average output by (1 - rate)^2. Inverted dropout makes the "
                "survivors larger, so that the average output equals the input."
            )
        require(
            np.allclose(survivors, scale),
            f"{where}: on an input of ones the kept entries should all be 1 / (1 - rate) = "
            f"{scale:.4g}; you have values such as {survivors[0]:.4g}.",
        )
        out = _dropout_call(fn, x_random, rate, True, seed=2)
        kept = ~np.isclose(out, 0.0)
        require_close(out[kept], x_random[kept] * scale, f"your kept entries {where}")

    for rate in (0.5, 0.3):
        where = f"(rate={rate}, training=False)"
        out = _dropout_call(fn, x_random, rate, False, seed=3)
        if np.isclose(out, 0.0).mean() > 0.05:
            raise CheckFailed(
                f"{where}: you still drop entries at inference. With training=False dropout "
                "does nothing: return x unchanged."
            )
        if np.allclose(out, x_random * (1.0 - rate)) or np.allclose(out, x_random / (1 - rate)):
            raise CheckFailed(
                f"{where}: you rescale at inference. With *inverted* dropout the scaling "
                "happens during training, so inference returns x unchanged."
            )
        require_close(out, x_random, f"your output {where}")
    out = _dropout_call(fn, x_random, 0.0, True, seed=4)
    require_close(out, x_random, "your output with rate=0.0 (nothing to drop)")
