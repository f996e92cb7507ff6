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


@pytest.mark.parametrize("answer", [right_distances, broadcast_distances])
def test_l2_distances_accepts_right_answers(answer):
    assert check.l2_distances(answer) is True


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (squared_distances, "SQUARED distances"),
        (lambda q, r: right_distances(q, r).T, "transposed"),
        (lambda q, r: np.sqrt(squared_distances(q, r) - 1e-3), "NaN"),
        (lambda q, r: np.sqrt(right_distances(q, r)), "root twice"),
        (lambda q, r: right_distances(q, r) + 1.0, "differs from the expected"),
        (double_loop_distances, "loops in Python"),
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
        (make_wrong_softmax(divide=False), "N times too large: divide the gradient by N"),
        (make_wrong_softmax(subtract_one_hot=False), "forgot to subtract the one-hot"),
        (make_wrong_softmax(mean_loss=False), "average the per-example"),
        (lambda W, b, X, y: right_softmax(W, b, X, y)[:2], "three things"),
        (lambda W, b, X, y: (-right_softmax(W, b, X, y)[0], *right_softmax(W, b, X, y)[1:]),
         "negative"),
    ],
)
def test_softmax_loss_explains_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check.softmax_loss(wrong)


def test_softmax_loss_names_the_entries_that_disagree():
    def wrong_bias_gradient(W, b, X, y):
        loss, dW, db = right_softmax(W, b, X, y)
        db = db.copy()
        db[1] += 0.5
        return loss, dW, db

    with pytest.raises(CheckFailed, match=r"1 of 3 entries of db disagree.*db\[1\]: yours"):
        check.softmax_loss(wrong_bias_gradient)


