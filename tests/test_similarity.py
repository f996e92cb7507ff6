"""``course-grader similarity``: copies are listed, independent solutions are not."""

from __future__ import annotations

import nbformat

from autograder import cli
from autograder.similarity import normalized_tokens, similarity_report

SKELETON = '''def conv2d(image, kernel):
    """Valid cross-correlation of a 2-D image with a 2-D kernel."""
    # YOUR CODE HERE
    raise NotImplementedError()'''

ORIGINAL = '''def conv2d(image, kernel):
    """Valid cross-correlation of a 2-D image with a 2-D kernel."""
    rows = image.shape[0] - kernel.shape[0] + 1
    cols = image.shape[1] - kernel.shape[1] + 1
    out = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            window = image[i:i + kernel.shape[0], j:j + kernel.shape[1]]
            out[i, j] = np.sum(window * kernel)
    return out'''

RENAMED_COPY = '''def conv2d(image, kernel):
    """Valid cross-correlation of a 2-D image with a 2-D kernel."""
    h = image.shape[0] - kernel.shape[0] + 1
    w = image.shape[1] - kernel.shape[1] + 1
    result = np.zeros((h, w))
    for r in range(h):
        for c in range(w):
            patch = image[r:r + kernel.shape[0], c:c + kernel.shape[1]]
            result[r, c] = np.sum(patch * kernel)  # same thing
    return result'''

INDEPENDENT = '''def conv2d(image, kernel):
    """Valid cross-correlation of a 2-D image with a 2-D kernel."""
    kh, kw = kernel.shape
    windows = np.lib.stride_tricks.sliding_window_view(image, (kh, kw))
    return np.einsum("ijkl,kl->ij", windows, kernel)'''

ANOTHER = '''def conv2d(image, kernel):
    """Valid cross-correlation of a 2-D image with a 2-D kernel."""
    height, width = image.shape
    kh, kw = kernel.shape
    total = np.zeros((height - kh + 1, width - kw + 1))
    for dy in range(kh):
        for dx in range(kw):
            total += kernel[dy, dx] * image[dy:dy + height - kh + 1, dx:dx + width - kw + 1]
    return total'''


def notebook(answer: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A1"),
                nbformat.v4.new_code_cell(answer, metadata={"nbgrader": {
                    "grade_id": "conv2d", "solution": True, "grade": False, "locked": False}})]
    return nb


def course_with(tmp_path, answers: dict[str, str], weights: dict[str, bytes] | None = None):
    weights = weights or {}
    course = tmp_path / "course"
    (course / "release" / "a1").mkdir(parents=True)
    nbformat.write(notebook(SKELETON), course / "release" / "a1" / "a1.ipynb")
    for student, answer in answers.items():
        folder = course / "submitted" / student / "a1"
        folder.mkdir(parents=True)
        nbformat.write(notebook(answer), folder / "a1.ipynb")
        if student in weights:
            (folder / "a1_model.weights.h5").write_bytes(weights[student])
    return course


def test_renaming_variables_does_not_change_the_tokens():
    assert normalized_tokens(ORIGINAL) == normalized_tokens(RENAMED_COPY)
    assert normalized_tokens(ORIGINAL) != normalized_tokens(INDEPENDENT)


def test_a_copy_with_renamed_variables_is_listed_independent_solutions_are_not(tmp_path):
    course = course_with(tmp_path, {"ann": ORIGINAL, "bob": RENAMED_COPY, "cid": INDEPENDENT,
                                    "dee": ANOTHER, "eve": SKELETON})
    findings = similarity_report(course, "a1")
    pairs = [(f.kind, f.students) for f in findings]
    assert pairs == [("near-identical answer", ("ann", "bob"))]
    assert findings[0].similarity == 1.0 and findings[0].detail == "conv2d"


def test_the_obvious_answer_many_students_share_is_no_sign_of_copying(tmp_path):
    answers = {f"s{i:02d}": ORIGINAL.replace("window", f"window{i}") for i in range(30)}
    answers.update({"x1": INDEPENDENT, "x2": INDEPENDENT.replace("kh, kw", "a, b")})
    findings = similarity_report(course_with(tmp_path, answers), "a1")
    assert [f.students for f in findings] == [("x1", "x2")]  # 30 alike: common, not copied


def test_identical_weights_and_notebooks_are_listed(tmp_path, capsys):
    course = course_with(tmp_path, {"ann": ORIGINAL, "bob": ORIGINAL, "cid": INDEPENDENT,
                                    "dee": SKELETON, "eve": SKELETON},
                         weights={"ann": b"w1", "cid": b"w1", "bob": b"w2"})
    kinds = {(f.kind, f.students) for f in similarity_report(course, "a1")}
    assert ("identical weights", ("ann", "cid")) in kinds
    assert ("identical notebook", ("ann", "bob")) in kinds
    assert not any("dee" in students for _, students in kinds)  # blank notebooks are no copies
    assert cli.main(["--course", str(course), "similarity", "a1", "--csv",
                     str(tmp_path / "s.csv")]) == 0
    assert "identical weights" in capsys.readouterr().out
    assert (tmp_path / "s.csv").read_text().count("\n") == len(kinds) + 1
