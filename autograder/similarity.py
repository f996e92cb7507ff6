"""``course-grader similarity ASSIGNMENT``: submissions that look copied, for a person to judge.

Three kinds of evidence, from the collected files in ``submitted/``:

* identical weight files (the same bytes: the same trained model);
* identical notebooks (the same text in every cell), leaving out notebooks that
  are still the blank release;
* near-identical answer cells: for each answer cell, the token 5-grams of two
  students' code after every name is replaced by its order of first use (so
  renaming variables changes nothing), compared by Jaccard similarity; pairs at
  or above 0.8 are listed. Left out, as MOSS does: 5-grams the released
  skeleton already holds, and 5-grams common to many submissions (more than
  :data:`COMMON_SHARE` of them: the obvious way to write a line is no sign of
  copying). Cells with fewer than :data:`MIN_SHINGLES` 5-grams of the
  student's own are too short to tell anything.

A listed pair is a reason to look, not a verdict.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import keyword
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import nbformat

NGRAM = 5
THRESHOLD = 0.8
MIN_SHINGLES = 12
COMMON_SHARE = 0.1
MIN_COMMON = 3  # in a small class, a 5-gram shared by 3 students is already common
NOTEBOOK_SUFFIX = ".ipynb"


@dataclass(frozen=True)
class Finding:
    kind: str  # "identical weights" | "identical notebook" | "near-identical answer"
    students: tuple[str, ...]
    detail: str  # the file, or the cell and its similarity
    similarity: float = 1.0


def normalized_tokens(source: str) -> list[str]:
    """Python tokens with names replaced by their order of first use (v0, v1, ...),
    numbers and strings kept, comments and layout dropped. Text that is not Python
    (a markdown answer) falls back to lowercase words."""
    names: dict[str, str] = {}
    out = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.NAME and not keyword.iskeyword(token.string):
                out.append(names.setdefault(token.string, f"v{len(names)}"))
            elif token.type in (tokenize.OP, tokenize.NUMBER, tokenize.STRING) or (
                    token.type == tokenize.NAME):
                out.append(token.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return re.findall(r"[a-z0-9]+", source.lower())
    return out


def shingles(tokens: list[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def _answers(nb: nbformat.NotebookNode) -> dict[str, str]:
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def _notebook_text(nb: nbformat.NotebookNode) -> str:
    return "\n\x00".join(c.source for c in nb.cells)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _without_common(by_student: dict[str, set]) -> dict[str, set]:
    """Each student's 5-grams less those many others share; too short answers dropped."""
    counts: dict[tuple, int] = {}
    for grams in by_student.values():
        for gram in grams:
            counts[gram] = counts.get(gram, 0) + 1
    limit = max(MIN_COMMON, COMMON_SHARE * len(by_student))
    kept = {student: {g for g in grams if counts[g] < limit}
            for student, grams in by_student.items()}
    return {student: grams for student, grams in kept.items() if len(grams) >= MIN_SHINGLES}


def similarity_report(course_dir: Path, assignment: str,
                      threshold: float = THRESHOLD) -> list[Finding]:
    course_dir = Path(course_dir)
    release_dir = course_dir / "release" / assignment
    released = {p.name: nbformat.read(p, as_version=4) for p in release_dir.glob("*.ipynb")}
    skeleton = {grade_id: shingles(normalized_tokens(source))
                for nb in released.values() for grade_id, source in _answers(nb).items()}
    blank_texts = {_notebook_text(nb) for nb in released.values()}
    weights: dict[str, list[str]] = {}
    notebooks: dict[str, list[str]] = {}
    cells: dict[str, dict[str, set]] = {}
    for folder in sorted((course_dir / "submitted").glob(f"*/{assignment}")):
        student = folder.parent.name
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.name == "timestamp.txt":
                continue
            if path.suffix != NOTEBOOK_SUFFIX:
                key = f"{path.name} {_digest(path.read_bytes())}"
                weights.setdefault(key, []).append(student)
                continue
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception:  # an unreadable notebook has no cells to compare
                continue
            text = _notebook_text(nb)
            if text not in blank_texts:
                notebooks.setdefault(_digest(text.encode()), []).append(student)
            for grade_id, source in _answers(nb).items():
                own = shingles(normalized_tokens(source)) - skeleton.get(grade_id, set())
                cells.setdefault(grade_id, {})[student] = own
    findings = [Finding("identical weights", tuple(group), key.split()[0])
                for key, group in sorted(weights.items()) if len(group) > 1]
    findings += [Finding("identical notebook", tuple(group), "every cell")
                 for group in notebooks.values() if len(group) > 1]
    for grade_id, by_student in sorted(cells.items()):
        by_student = _without_common(by_student)
        for (a, sa), (b, sb) in itertools.combinations(sorted(by_student.items()), 2):
            score = jaccard(sa, sb)
            if score >= threshold:
                findings.append(Finding("near-identical answer", (a, b), grade_id, round(score, 3)))
    return findings
