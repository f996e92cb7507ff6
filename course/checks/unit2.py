"""Self-checks for Unit 2 (image classification: k-NN and a linear softmax classifier).

Exercises:

* 2.1 ``l2_distances(queries, references)``: Euclidean (not squared) distances, no loops;
* 2.2 ``knn_predict(distances, train_labels, k)``: majority vote of the k nearest,
  ties broken toward the smaller label;
* 2.3 ``softmax_loss(W, b, X, y)``: mean cross-entropy and its gradients;
* 2.4 ``regularized_softmax_loss(W, b, X, y, reg)``: the same plus an L2 penalty
  ``reg * (sum of the squared entries of W)`` on the weights (not the bias).

The reference implementations are public (``reference_*``) so that the notebook
cells after an exercise work whatever state the student's answer is in.
"""

from __future__ import annotations

import warnings

import numpy as np

from course.checks import (
    CheckFailed,
    as_array,
    exercise,
    numerical_gradient,
    require,
    require_close,
    require_no_loops,
    require_shape,
)

__all__ = [
    "knn_predict",
    "l2_distances",
    "reference_knn_predict",
    "reference_l2_distances",
    "reference_regularized_softmax_loss",
    "reference_softmax_loss",
    "regularized_softmax_loss",
    "softmax_loss",
]


# --------------------------------------------------------------------------- references


def reference_l2_distances(queries, references):
    """Euclidean distances ``(M, N)`` between rows of ``queries (M, D)`` and ``references (N, D)``."""
    queries = np.asarray(queries, dtype=np.float64)
    references = np.asarray(references, dtype=np.float64)
    squared = (
        np.sum(queries**2, axis=1)[:, None]
        + np.sum(references**2, axis=1)[None, :]
        - 2.0 * queries @ references.T
    )
    # Round-off can make a distance of zero slightly negative: clip before the root.
    return np.sqrt(np.maximum(squared, 0.0))


def reference_knn_predict(distances, train_labels, k):
    """Majority label of the ``k`` nearest references for each query (row of ``distances``)."""
    train_labels = np.asarray(train_labels).astype(np.int64)
    if k < distances.shape[1]:
        # argpartition finds the k smallest without sorting the whole row (much faster).
        nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]
    else:
        nearest = np.argsort(distances, axis=1)
    votes = train_labels[nearest]
    num_classes = int(train_labels.max()) + 1
    # bincount(...).argmax() returns the first (smallest) label among equal counts.
    return np.array([np.bincount(row, minlength=num_classes).argmax() for row in votes])


def reference_softmax_loss(W, b, X, y):
    """Mean cross-entropy of softmax(X @ W + b) and its gradients ``(loss, dW, db)``."""
    num_examples = X.shape[0]
    scores = X @ W + b
    scores = scores - scores.max(axis=1, keepdims=True)  # exp never overflows
    log_probs = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    rows = np.arange(num_examples)
    loss = -log_probs[rows, y].mean()
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1.0  # softmax minus one-hot
    dscores /= num_examples
    return loss, X.T @ dscores, dscores.sum(axis=0)


def reference_regularized_softmax_loss(W, b, X, y, reg):
    """``reference_softmax_loss`` plus ``reg`` times the sum of the squared weights (not ``b``)."""
    loss, dW, db = reference_softmax_loss(W, b, X, y)
    return loss + reg * np.sum(W * W), dW + 2.0 * reg * W, db


# --------------------------------------------------------------------------- 2.1 distances


def _check_l2_distances(l2_distances) -> None:
    """Exercise 2.1: values, shape, no squared distances, no NaN, and no Python loops."""
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, size=(12, 30))
    cases = [
        (np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])),
        # Queries 0 and 1 also appear among the references: their distance is exactly 0.
        (pixels[:5], np.concatenate([pixels[5:], pixels[:2]])),
        (rng.normal(size=(9, 4)), rng.normal(size=(6, 4))),
    ]
    for queries, references in cases:
        expected = reference_l2_distances(queries, references)
        result = as_array(l2_distances(queries.copy(), references.copy()), "the distances")
        m, n = expected.shape
        if result.shape == (n, m) and m != n:
            raise CheckFailed(
                f"the distances have shape {result.shape} for {m} queries and {n} references: "
                f"expected ({m}, {n}). Row i must hold the distances of query i (transposed?)."
            )
        require_shape(result, expected.shape, f"the distances ({m} queries, {n} references)")
        if np.any(np.isnan(result)):
            raise CheckFailed(
                "some distances are NaN: round-off makes ||a||² + ||b||² - 2a·b slightly "
                "negative when a = b, and the square root of a negative number is NaN. Clip "
                "the squared distances at zero before taking the root."
            )
        if np.allclose(result, expected**2, rtol=1e-6, atol=1e-6):
            raise CheckFailed(
                "you returned SQUARED distances: the exercise asks for Euclidean distances, "
                "the square root of the squared ones (after clipping negatives to 0)."
            )
        if np.allclose(result**2, expected, rtol=1e-6, atol=1e-6):
            raise CheckFailed(
                "your distances are the square roots of the right ones: you took the root twice?"
            )
        require_close(result, expected, f"the distances ({m} queries, {n} references)",
                      rtol=1e-6, atol=1e-4)

    # Read from the code, not timed: a loop over the queries with vectorised work inside
    # is fast on small inputs, yet it is the Python loop the exercise is about.
    require_no_loops(
        l2_distances,
        "The values are right; now compute all pairs at once. Expand the squared distance "
        "as in the text: the dot products of every query with every reference come out of "
        "a single matrix product, and broadcasting adds the squared norms.",
    )


l2_distances = exercise("Exercise 2.1 — vectorised L2 distances",
                        solution=reference_l2_distances)(_check_l2_distances)


# --------------------------------------------------------------------------- 2.2 k-NN


def _vote(votes: np.ndarray, prefer_larger: bool) -> int:
    counts = np.bincount(votes)
    best = np.flatnonzero(counts == counts.max())
    return int(best.max() if prefer_larger else best.min())


def _knn_variants(distances, labels, k) -> dict[str, np.ndarray]:
    """Predictions of typical wrong implementations, keyed by the message that explains them."""
    order = np.argsort(distances, axis=1, kind="stable")
    votes = labels[order[:, :k]]
    variants = {
        "you seem to use only the single nearest neighbour whatever k is: the labels of "
        "all k nearest training images must vote.":
            labels[order[:, 0]],
        "you picked the FARTHEST neighbours (the largest distances): the nearest "
        "neighbours are the ones with the SMALLEST distances.":
            reference_knn_predict(-distances, labels, k),
        "ties between labels with the same number of votes must go to the SMALLER label; "
        "yours went to the larger one.":
            np.array([_vote(row, prefer_larger=True) for row in votes]),
        "ties between labels with the same number of votes must go to the SMALLER label; you "
        "broke them in favour of the nearest neighbour.":
            np.array([_vote_nearest_first(row) for row in votes]),
    }
    if k > 1:
        variants["you let one neighbour too few vote (k - 1 instead of k)."] = (
            reference_knn_predict(distances, labels, k - 1))
    variants["you let one neighbour too many vote (k + 1 instead of k)."] = (
        reference_knn_predict(distances, labels, k + 1))
    return variants


def _vote_nearest_first(votes: np.ndarray) -> int:
    counts = np.bincount(votes)
    tied = set(np.flatnonzero(counts == counts.max()).tolist())
    return int(next(label for label in votes if label in tied))


def _check_knn_predict(knn_predict) -> None:
    """Exercise 2.2: majority vote of the k nearest, ties toward the smaller label."""
    rng = np.random.default_rng(1)
    cases = [
        # Two nearest labels are 2 and 1: a tie, which goes to the smaller label 1.
        (np.array([[0.1, 0.2, 0.3, 0.9], [0.5, 0.4, 0.1, 0.2]]), np.array([2, 1, 0, 2]), 2),
        (np.array([[0.3, 0.1, 0.2, 0.9, 0.8]]), np.array([4, 0, 4, 0, 0]), 3),
    ]
    random_distances = rng.uniform(0.0, 10.0, size=(80, 40))
    random_labels = rng.integers(0, 5, size=40).astype(np.uint8)
    cases += [(random_distances, random_labels, k) for k in (1, 3, 4, 7)]

    # A wrong rule can agree with another one on some cases (with k = 2, "nearest wins ties"
    # and "k = 1" coincide), so keep only the explanations that fit every failed case.
    explanations, first_failure = None, None
    for distances, labels, k in cases:
        expected = reference_knn_predict(distances, labels, k)
        result = as_array(knn_predict(distances.copy(), labels.copy(), k), "the predictions")
        if result.shape == (len(expected), 1):
            raise CheckFailed(
                f"the predictions have shape {result.shape}: return a 1-D array with one label "
                "per query (shape (M,))."
            )
        require_shape(result, expected.shape, f"the predictions (k={k})")
        if np.array_equal(result, expected):
            continue
        fitting = [
            message
            for message, variant in _knn_variants(distances, labels.astype(np.int64), k).items()
            if np.array_equal(result, variant)
        ]
        explanations = fitting if explanations is None else [
            message for message in explanations if message in fitting
        ]
        if first_failure is None:
            wrong = int(np.flatnonzero(result != expected)[0])
            nearest = np.argsort(distances[wrong], kind="stable")[:k]
            first_failure = (
                f"with k={k}, query {wrong}: the {k} nearest references have labels "
                f"{labels[nearest].tolist()}, so the prediction is {expected[wrong]}, "
                f"but yours is {result[wrong]:g}."
            )
    if first_failure is not None:
        raise CheckFailed(explanations[0] if explanations else first_failure)


knn_predict = exercise("Exercise 2.2 — k-nearest-neighbour vote",
                       solution=reference_knn_predict)(_check_knn_predict)


# --------------------------------------------------------------------------- 2.3 softmax


def _call_loss(loss_function, args, what: str):
    """Call a student's loss on copies of ``args``; return ``(loss, dW, db)`` as floats/arrays."""
    name = getattr(loss_function, "__name__", "your function")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        returned = loss_function(*(np.copy(a) if isinstance(a, np.ndarray) else a for a in args))
    if not (isinstance(returned, tuple | list) and len(returned) == 3):
        raise CheckFailed(f"{name} must return three things, (loss, dW, db); {what} it "
                          f"returned {type(returned).__name__}.")
    loss = as_array(returned[0], "the loss")
    require(loss.size == 1, f"the loss must be one number (the mean over examples), {what} it "
                            f"has shape {loss.shape}.")
    return float(loss.reshape(())), as_array(returned[1], "dW"), as_array(returned[2], "db")


def _call_softmax(softmax_loss, W, b, X, y, what: str):
    return _call_loss(softmax_loss, (W, b, X, y), what)


def _require_finite_differences(loss_of, values: np.ndarray, analytic: np.ndarray, name: str,
                                hint: str = "") -> None:
    """Compare a gradient with central differences of the loss it claims to differentiate.

    ``loss_of()`` evaluates the student's own loss while :func:`numerical_gradient`
    perturbs ``values`` in place, so a disagreement names the entries that are wrong.
    """
    require_shape(analytic, values.shape, name)
    numerical = numerical_gradient(loss_of, values)
    wrong = np.argwhere(~np.isclose(analytic, numerical, rtol=1e-4, atol=1e-6))
    if len(wrong):
        entries = "; ".join(
            f"{name}[{', '.join(str(int(i)) for i in index)}]: yours "
            f"{analytic[tuple(index)]:.5g}, finite differences {numerical[tuple(index)]:.5g}"
            for index in wrong[:4]
        )
        more = f" (and {len(wrong) - 4} more)" if len(wrong) > 4 else ""
        raise CheckFailed(
            f"{len(wrong)} of {analytic.size} entries of {name} disagree with the "
            f"numerical gradient: {entries}{more}." + hint
        )


def _gradient_hint(result, W, b, X, y, name: str) -> str:
    """Recognise the typical gradient mistakes by comparing with known wrong formulas."""
    n = X.shape[0]
    scores = X @ W + b
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    one_hot = np.eye(W.shape[1])[y]
    right = probs - one_hot
    candidates = {
        "it is N times too large: the loss is a MEAN over the N examples, and so is its "
        "gradient.": right,
        "it does not depend on the true labels: the derivative of -log p_y with respect to "
        "the scores has a term for the true class y, and yours lacks it.": probs / n,
        "it has the wrong sign: a step against it would make the loss grow. Re-derive the "
        "derivative of -log p_y with respect to one score.": -right / n,
    }
    for hint, dscores in candidates.items():
        expected = X.T @ dscores if name == "dW" else dscores.sum(axis=0)
        if np.allclose(result, expected, rtol=1e-5, atol=1e-8):
            return f" {name}: {hint}"
    return ""


def _check_softmax_loss(softmax_loss) -> None:
    """Exercise 2.3: loss value, gradients by finite differences, and large scores."""
    rng = np.random.default_rng(2)
    n, d, c = 6, 4, 3
    W, b = 0.5 * rng.normal(size=(d, c)), 0.1 * rng.normal(size=c)
    X, y = rng.normal(size=(n, d)), np.array([0, 2, 1, 2, 0, 1])

    expected_loss, expected_dW, expected_db = reference_softmax_loss(W, b, X, y)
    loss, dW, db = _call_softmax(softmax_loss, W, b, X, y, "here")
    if np.isclose(loss, n * expected_loss, rtol=1e-6):
        raise CheckFailed(f"your loss {loss:.5g} is N = {n} times too large: average the "
                          "per-example cross-entropies instead of summing them.")
    if np.isclose(loss, -expected_loss, rtol=1e-6):
        raise CheckFailed("your loss is negative: the cross-entropy is -log(probability of the "
                          "true class), with a minus sign.")
    require(np.isclose(loss, expected_loss, rtol=1e-6, atol=1e-9),
            f"your loss is {loss:.6g}, expected {expected_loss:.6g} (mean over the examples of "
            "-log softmax(scores)[true class]).")

    # Finite differences of YOUR loss tell whether YOUR gradient is its derivative.
    for name, values, analytic, expected in [("dW", W, dW, expected_dW), ("db", b, db, expected_db)]:
        _require_finite_differences(lambda: _call_softmax(softmax_loss, W, b, X, y, "")[0],
                                    values, analytic, name,
                                    _gradient_hint(analytic, W, b, X, y, name))
        require_close(analytic, expected, name, rtol=1e-5, atol=1e-8)

    # Scores around 1000: exp(1000) overflows to inf unless the row maximum is subtracted.
    big_b = np.array([1000.0, 1001.0, 998.0])
    expected_loss, expected_dW, expected_db = reference_softmax_loss(W, big_b, X, y)
    loss, dW, db = _call_softmax(softmax_loss, W, big_b, X, y, "with scores near 1000")
    if not (np.isfinite(loss) and np.all(np.isfinite(dW)) and np.all(np.isfinite(db))):
        raise CheckFailed(
            "with scores near 1000 your loss or gradient is NaN or inf: np.exp(1000) overflows. "
            "Subtract each row's maximum score before exponentiating (softmax does not change "
            "when the same number is subtracted from all scores of an example)."
        )
    require(np.isclose(loss, expected_loss, rtol=1e-6),
            f"with scores near 1000 your loss is {loss:.6g}, expected {expected_loss:.6g}.")
    require_close(dW, expected_dW, "dW with scores near 1000", rtol=1e-5, atol=1e-8)
    require_close(db, expected_db, "db with scores near 1000", rtol=1e-5, atol=1e-8)


softmax_loss = exercise("Exercise 2.3 — softmax cross-entropy loss and gradient",
                        solution=reference_softmax_loss)(_check_softmax_loss)


# --------------------------------------------------------------------------- 2.4 L2 penalty


def _penalty_hint(penalty: float, W, b, n: int, reg: float) -> str | None:
    """Name the typical mistake behind a penalty (loss with reg minus loss without)."""
    squares = float(np.sum(W * W))
    candidates = [
        (0.0, "your loss does not change with reg: the penalty term is missing from the loss."),
        (0.5 * reg * squares, "your penalty is half of reg times the sum of the squared "
                              "weights. Both conventions exist; this course writes the penalty "
                              "without the factor 1/2, as in the text."),
        (reg * (squares + float(np.sum(b * b))), "you penalise the bias as well: only W is "
                                                 "regularised (a bias does not make the "
                                                 "classifier lean on any pixel)."),
        (reg * np.sqrt(squares), "your penalty is reg times the LENGTH of W; the L2 penalty uses "
                                 "the sum of the SQUARED weights."),
        (reg * float(np.sum(np.abs(W))), "your penalty adds up the absolute values of the weights "
                                         "(an L1 penalty); this exercise asks for their squares."),
        (reg * squares / n, f"your penalty is divided by the number of examples (N = {n}): it is "
                            "added once to the mean loss, whatever the batch size."),
    ]
    for value, hint in candidates:
        if np.isclose(penalty, value, rtol=1e-6, atol=1e-9):
            return hint
    return None


def _check_regularized_softmax_loss(regularized_softmax_loss) -> None:
    """Exercise 2.4: with reg = 0 the plain loss; the penalty and its gradient; finite differences."""
    rng = np.random.default_rng(4)
    n, d, c = 8, 5, 4
    W, b = rng.normal(size=(d, c)), 0.5 * rng.normal(size=c)
    X, y = rng.normal(size=(n, d)), np.array([0, 3, 1, 2, 2, 0, 1, 3])
    plain_loss, plain_dW, plain_db = reference_softmax_loss(W, b, X, y)

    loss, dW, db = _call_loss(regularized_softmax_loss, (W, b, X, y, 0.0), "with reg = 0")
    require(np.isclose(loss, plain_loss, rtol=1e-6, atol=1e-9),
            f"with reg = 0 your loss is {loss:.6g}, but without a penalty it must be the plain "
            f"mean cross-entropy, {plain_loss:.6g}. Check the softmax part first (Exercise 2.3).")
    require_close(dW, plain_dW, "dW with reg = 0", rtol=1e-5, atol=1e-8)
    require_close(db, plain_db, "db with reg = 0", rtol=1e-5, atol=1e-8)

    for reg in (0.3, 1.7):
        where = f"with reg = {reg}"
        loss, dW, db = _call_loss(regularized_softmax_loss, (W, b, X, y, reg), where)
        penalty, expected_penalty = loss - plain_loss, reg * float(np.sum(W * W))
        if not np.isclose(penalty, expected_penalty, rtol=1e-6, atol=1e-9):
            hint = _penalty_hint(penalty, W, b, n, reg) or (
                f"reg times the sum of the squared weights is {expected_penalty:.6g}.")
            raise CheckFailed(f"{where} your loss is {loss:.6g}, {penalty:.6g} more than the "
                              f"plain cross-entropy: {hint}")
        require_shape(db, b.shape, f"db {where}")
        require(np.allclose(db, plain_db, rtol=1e-5, atol=1e-8),
                f"db changes with reg ({where}): the penalty does not involve b, so its "
                "gradient must not change either.")
        require_shape(dW, W.shape, f"dW {where}")
        extra = dW - plain_dW
        hints = [
            (0.0 * W, "dW does not change with reg, although your loss does: the derivative of "
                      "the penalty is missing from dW."),
            (reg * W, "the penalty's share of dW is half the derivative of the penalty: "
                      "differentiate one squared weight again."),
            (2.0 * reg * W / n, f"the penalty's share of dW is divided by N = {n}, but the "
                                "penalty itself is not."),
            (-2.0 * reg * W, "the penalty's share of dW has the wrong sign: a larger weight "
                             "makes the penalty grow, so its derivative has the sign of the "
                             "weight."),
        ]
        for wrong_extra, hint in hints:
            if np.allclose(extra, wrong_extra, rtol=1e-6, atol=1e-9):
                raise CheckFailed(f"{where}: {hint}")
        _require_finite_differences(
            lambda reg=reg: _call_loss(regularized_softmax_loss, (W, b, X, y, reg), "")[0],
            W, dW, f"dW {where}")
        require_close(dW, plain_dW + 2.0 * reg * W, f"dW {where}", rtol=1e-5, atol=1e-8)


regularized_softmax_loss = exercise(
    "Exercise 2.4 — softmax loss with an L2 penalty",
    solution=reference_regularized_softmax_loss,
)(_check_regularized_softmax_loss)
