"""The Unit 2 self-checks accept right answers and explain typical wrong ones."""

import numpy as np
import pytest

from course.checks import CheckFailed
from course.checks import unit2 as check

# --------------------------------------------------------------------------- 2.1 distances


def squared_distances(queries, references):
    return (
        np.sum(queries**2, axis=1)[:, None]
        + np.sum(references**2, axis=1)[None, :]
        - 2 * queries @ references.T
    )


def right_distances(queries, references):
    return np.sqrt(np.maximum(squared_distances(queries, references), 0))


def broadcast_distances(queries, references):
    # Memory-hungry but loop-free and exact: also a right answer.
    return np.sqrt(((queries[:, None, :] - references[None, :, :]) ** 2).sum(axis=-1))


def double_loop_distances(queries, references):
    out = np.zeros((len(queries), len(references)))
    for i, query in enumerate(queries):
        for j, reference in enumerate(references):
            out[i, j] = np.sqrt(np.sum((query - reference) ** 2))
    return out


def one_loop_distances(queries, references):
    # Vectorised over the references, so it is fast on small inputs: a timer let it pass.
    out = np.zeros((len(queries), len(references)))
    for i in range(len(queries)):
        out[i] = np.sqrt(np.sum((references - queries[i]) ** 2, axis=1))
    return out


def comprehension_distances(queries, references):
    return np.array([np.sqrt(np.sum((references - query) ** 2, axis=1)) for query in queries])


def while_loop_distances(queries, references):
    rows, i = [], 0
    while i < len(queries):
        rows.append(np.linalg.norm(references - queries[i], axis=1))
        i += 1
    return np.array(rows)


@pytest.mark.parametrize("answer", [right_distances, broadcast_distances])
def test_l2_distances_accepts_right_answers(answer):
    assert check.l2_distances(answer) is True


@pytest.mark.parametrize(
    ("looping", "construct"),
    [
        (double_loop_distances, r"for loop \(line 3\), for loop \(line 4\)"),
        (one_loop_distances, r"for loop \(line 4\)"),
        (comprehension_distances, r"list comprehension \(line 2\)"),
        (while_loop_distances, r"while loop \(line 3\)"),
    ],
)
def test_l2_distances_rejects_python_loops_from_the_code(looping, construct):
    # The values are right, so only the code itself can tell: no timer is involved.
    queries, references = np.eye(3), np.ones((2, 3))
    np.testing.assert_allclose(looping(queries, references), right_distances(queries, references))
    with pytest.raises(CheckFailed, match=rf"still loops in Python \({construct}\)\. The values "
                                          r"are right.*single matrix product"):
        check.l2_distances(looping)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (squared_distances, "SQUARED distances"),
        (lambda q, r: right_distances(q, r).T, "transposed"),
        (lambda q, r: np.sqrt(squared_distances(q, r) - 1e-3), "NaN.*Clip the squared distances"),
        (lambda q, r: np.sqrt(right_distances(q, r)), "root twice"),
        (lambda q, r: right_distances(q, r) + 1.0, "differs from the expected"),
    ],
)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the NaN case takes sqrt of negatives
def test_l2_distances_explains_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.l2_distances(wrong)


def test_reference_distances_have_no_nan_for_identical_points():
    points = np.random.default_rng(3).uniform(0, 255, size=(50, 784)).astype(np.float32)
    distances = check.reference_l2_distances(points, points)
    assert np.all(np.isfinite(distances))
    np.testing.assert_allclose(np.diag(distances), 0.0, atol=1e-3)


# --------------------------------------------------------------------------- 2.2 k-NN


def right_knn(distances, train_labels, k):
    nearest = np.argsort(distances, axis=1)[:, :k]
    return np.array([np.bincount(train_labels[row]).argmax() for row in nearest])


def knn_ties_to_larger(distances, train_labels, k):
    nearest = np.argsort(distances, axis=1)[:, :k]
    predictions = []
    for row in nearest:
        counts = np.bincount(train_labels[row])
        predictions.append(np.flatnonzero(counts == counts.max()).max())
    return np.array(predictions)


def test_knn_predict_accepts_right_answer():
    assert check.knn_predict(right_knn) is True


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda d, labels, k: labels[np.argmin(d, axis=1)], "single nearest neighbour"),
        (lambda d, labels, k: right_knn(-d, labels, k), "FARTHEST"),
        (knn_ties_to_larger, "SMALLER label; yours went to the larger"),
        (lambda d, labels, k: right_knn(d, labels, k + 1), "one neighbour too many"),
        (lambda d, labels, k: right_knn(d, labels, max(k - 1, 1)), "one neighbour too few"),
        (lambda d, labels, k: right_knn(d, labels, k)[:, None], "1-D array"),
        (lambda d, labels, k: (right_knn(d, labels, k) + 1) % 5, "nearest references have labels"),
    ],
)
def test_knn_predict_explains_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.knn_predict(wrong)


def test_knn_predict_explains_ties_broken_by_the_nearest_neighbour():
    def nearest_wins_ties(distances, train_labels, k):
        predictions = []
        for row in np.argsort(distances, axis=1)[:, :k]:
            votes = train_labels[row]
            counts = np.bincount(votes)
            predictions.append(next(v for v in votes if counts[v] == counts.max()))
        return np.array(predictions)

    with pytest.raises(CheckFailed, match="in favour of the nearest neighbour"):
        check.knn_predict(nearest_wins_ties)


# --------------------------------------------------------------------------- 2.3 softmax


def softmax_parts(W, b, X, y, stable=True):
    scores = X @ W + b
    if stable:
        scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    probs = exp / exp.sum(axis=1, keepdims=True)
    one_hot = np.eye(W.shape[1])[y]
    return probs, one_hot


def right_softmax(W, b, X, y):
    probs, one_hot = softmax_parts(W, b, X, y)
    n = len(y)
    loss = -np.mean(np.log(probs[np.arange(n), y]))
    dscores = (probs - one_hot) / n
    return loss, X.T @ dscores, dscores.sum(axis=0)


def make_wrong_softmax(stable=True, divide=True, subtract_one_hot=True, mean_loss=True):
    def softmax(W, b, X, y):
        probs, one_hot = softmax_parts(W, b, X, y, stable=stable)
        n = len(y)
        per_example = -np.log(probs[np.arange(n), y])
        loss = per_example.mean() if mean_loss else per_example.sum()
        dscores = probs - one_hot if subtract_one_hot else probs.copy()
        if divide:
            dscores = dscores / n
        return loss, X.T @ dscores, dscores.sum(axis=0)

    return softmax


def test_softmax_loss_accepts_right_answer():
    assert check.softmax_loss(right_softmax) is True
    assert check.softmax_loss(check.reference_softmax_loss) is True


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (make_wrong_softmax(stable=False), "overflows"),
        (make_wrong_softmax(divide=False), "N times too large: the loss is a MEAN"),
        (make_wrong_softmax(subtract_one_hot=False), "does not depend on the true labels"),
        (make_wrong_softmax(mean_loss=False), "average the per-example"),
        (lambda W, b, X, y: right_softmax(W, b, X, y)[:2], "three things"),
        (lambda W, b, X, y: (-right_softmax(W, b, X, y)[0], *right_softmax(W, b, X, y)[1:]),
         "negative"),
    ],
)
def test_softmax_loss_explains_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.softmax_loss(wrong)


def test_softmax_loss_explains_a_gradient_with_the_wrong_sign():
    def wrong_sign(W, b, X, y):
        loss, dW, db = right_softmax(W, b, X, y)
        return loss, -dW, -db

    with pytest.raises(CheckFailed, match="wrong sign: a step against it would make the loss grow"):
        check.softmax_loss(wrong_sign)


def test_softmax_loss_names_the_entries_that_disagree():
    def wrong_bias_gradient(W, b, X, y):
        loss, dW, db = right_softmax(W, b, X, y)
        db = db.copy()
        db[1] += 0.5
        return loss, dW, db

    with pytest.raises(CheckFailed, match=r"1 of 3 entries of db disagree.*db\[1\]: yours"):
        check.softmax_loss(wrong_bias_gradient)


# --------------------------------------------------------------------------- 2.4 L2 penalty


def make_regularized(penalty=lambda W, b, reg: reg * np.sum(W * W),
                     penalty_gradient=lambda W, reg: 2 * reg * W, bias_gradient=None):
    def regularized(W, b, X, y, reg):
        loss, dW, db = right_softmax(W, b, X, y)
        if bias_gradient is not None:
            db = db + bias_gradient(b, reg)
        return loss + penalty(W, b, reg), dW + penalty_gradient(W, reg), db

    return regularized


def test_regularized_softmax_loss_accepts_right_answers():
    assert check.regularized_softmax_loss(make_regularized()) is True
    assert check.regularized_softmax_loss(check.reference_regularized_softmax_loss) is True

    def with_the_norm(W, b, X, y, reg):
        loss, dW, db = right_softmax(W, b, X, y)
        return loss + reg * np.linalg.norm(W) ** 2, dW + 2 * reg * W, db

    assert check.regularized_softmax_loss(with_the_norm) is True


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (make_regularized(penalty=lambda W, b, reg: 0.0), "does not change with reg"),
        (make_regularized(penalty=lambda W, b, reg: 0.5 * reg * np.sum(W * W),
                          penalty_gradient=lambda W, reg: reg * W), "without the factor 1/2"),
        (make_regularized(penalty=lambda W, b, reg: reg * (np.sum(W * W) + np.sum(b * b)),
                          bias_gradient=lambda b, reg: 2 * reg * b), "penalise the bias"),
        (make_regularized(penalty=lambda W, b, reg: reg * np.linalg.norm(W)), "LENGTH of W"),
        (make_regularized(penalty=lambda W, b, reg: reg * np.sum(np.abs(W))), "L1 penalty"),
        (make_regularized(penalty=lambda W, b, reg: reg * np.sum(W * W) / 8),
         "divided by the number of examples"),
        (make_regularized(bias_gradient=lambda b, reg: 2 * reg * b), "db changes with reg"),
        (make_regularized(penalty_gradient=lambda W, reg: 0 * W), "missing from dW"),
        (make_regularized(penalty_gradient=lambda W, reg: reg * W), "half the derivative"),
        (make_regularized(penalty_gradient=lambda W, reg: 2 * reg * W / 8), "divided by N = 8"),
        (make_regularized(penalty_gradient=lambda W, reg: -2 * reg * W), "wrong sign"),
        (make_regularized(penalty_gradient=lambda W, reg: 2 * reg * np.sign(W)),
         r"entries of dW with reg = 0.3 disagree with the numerical gradient"),
        (make_regularized(penalty=lambda W, b, reg: reg**2 * np.sum(W * W),
                          penalty_gradient=lambda W, reg: 2 * reg**2 * W),
         "reg times the sum of the squared weights is"),
        (lambda W, b, X, y, reg: make_regularized()(W, b, X, y, reg)[:2], "three things"),
        (lambda W, b, X, y, reg: (make_regularized()(W, b, X, y, reg)[0] + 1.0,
                                  *make_regularized()(W, b, X, y, reg)[1:]),
         "with reg = 0 your loss is"),
    ],
)
def test_regularized_softmax_loss_explains_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.regularized_softmax_loss(wrong)


def test_use_hands_the_students_function_to_later_cells(capsys):
    students = make_regularized()
    assert check.regularized_softmax_loss.use(students) is students
    assert check.l2_distances.use(right_distances) is right_distances
    assert capsys.readouterr().out == ""
    fallback = check.l2_distances.use(one_loop_distances)
    assert fallback is check.reference_l2_distances
    assert "still loops in Python" in capsys.readouterr().out


# --------------------------------------------------------------------------- messages teach

WRONG_ANSWERS = [
    (check.l2_distances, squared_distances),
    (check.l2_distances, lambda q, r: np.sqrt(squared_distances(q, r) - 1e-3)),
    (check.l2_distances, one_loop_distances),
    (check.knn_predict, lambda d, labels, k: labels[np.argmin(d, axis=1)]),
    (check.knn_predict, lambda d, labels, k: right_knn(-d, labels, k)),
    (check.knn_predict, knn_ties_to_larger),
    (check.knn_predict, lambda d, labels, k: right_knn(d, labels, k + 1)),
    (check.softmax_loss, make_wrong_softmax(subtract_one_hot=False)),
    (check.softmax_loss, make_wrong_softmax(divide=False)),
    (check.regularized_softmax_loss, make_regularized(penalty_gradient=lambda W, reg: reg * W)),
    (check.regularized_softmax_loss, make_regularized(penalty_gradient=lambda W, reg: 0 * W)),
]


@pytest.mark.parametrize(("exercise", "wrong"), WRONG_ANSWERS)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_messages_do_not_give_the_code_away(exercise, wrong):
    with pytest.raises(CheckFailed) as failure:
        exercise(wrong)
    message = str(failure.value)
    for piece in ["np.", "argsort", "bincount", "[:, :k]", "one_hot(", "dscores =", "2 * reg",
                  "X.T", "@"]:
        assert piece not in message, f"{piece!r} gives the code away in: {message}"
