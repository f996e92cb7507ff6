"""``course-grader export`` and ``leaderboard``: grades out of the gradebook.

The CSV has one row per student with a submission or a recorded result:
score (after the late penalty) and maximum from the nbgrader gradebook, the
grader's status and reason, metric values, lateness, and the isolation used.
Every grade a person changed in formgrader is listed beside the grader's own
value (``overrides`` column, and :func:`overrides`): nbgrader records the new
score but not who set it. ``--gradescope`` also writes
``<student>/results.json`` in Gradescope's autograder format.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from autograder import gradebook
from autograder.metrics import direction
from autograder.records import load_results, write_json_atomic

CSV_FIELDS = ["student", "assignment", "status", "score", "max_score", "percent",
              "late_penalty", "seconds_late", "submitted_at", "needs_manual_grade", "reason",
              "problems", "structure_issues", "metrics", "overrides", "isolation"]


@dataclass(frozen=True)
class Override:
    """A grade the trusted grader decided and a person then changed in formgrader."""

    student: str
    grade_id: str
    grader_score: float
    manual_score: float

    def describe(self) -> str:
        return (f"{self.student}: {self.grade_id} {self.grader_score:g} -> {self.manual_score:g} "
                "(set in formgrader; nbgrader does not record by whom)")


def overrides(course_dir: Path, assignment: str, db_path: Path | None = None) -> list[Override]:
    """Every autograded grade whose formgrader score differs from the grader's result."""
    db = db_path or Path(course_dir) / "gradebook.db"
    recorded = load_results(course_dir, assignment)
    found = []
    for student, score in sorted(gradebook.submission_scores(db, assignment).items()):
        result = recorded.get(student)
        if result is None or not result.graded:
            continue
        trusted = {q["grade_id"]: q["points"] for q in result.questions}
        trusted.update({m["grade_id"]: m["points"] for m in result.metrics})
        for grade_id, (_, manual) in score["manual"].items():
            if grade_id in trusted and not math.isclose(manual, trusted[grade_id]):
                found.append(Override(student, grade_id, trusted[grade_id], manual))
    return found


def rows(course_dir: Path, assignment: str, db_path: Path | None = None) -> list[dict]:
    db = db_path or Path(course_dir) / "gradebook.db"
    scores = gradebook.submission_scores(db, assignment)
    recorded = load_results(course_dir, assignment)
    changed: dict[str, list[str]] = {}
    for override in overrides(course_dir, assignment, db):
        changed.setdefault(override.student, []).append(
            f"{override.grade_id}: {override.grader_score:g} -> {override.manual_score:g}")
    out = []
    for student in sorted(set(scores) | set(recorded)):
        result = recorded.get(student)
        score = scores.get(student)
        graded = result is not None and result.graded and score is not None
        final = score["score"] - score["late_penalty"] if score else None
        out.append({
            "student": student,
            "assignment": assignment,
            "status": result.status if result else "not graded by course-grader",
            "score": round(final, 4) if graded else "",
            "max_score": score["max_score"] if score else "",
            "percent": round(100 * final / score["max_score"], 2)
            if graded and score["max_score"] else "",
            "late_penalty": round(score["late_penalty"], 4) if score else "",
            "seconds_late": round(score["seconds_late"]) if score else "",
            "submitted_at": score["timestamp"].isoformat() if score and score["timestamp"] else "",
            "needs_manual_grade": bool(score and score["needs_manual_grade"]),
            "reason": (result.reason or "") if result else "",
            "problems": "; ".join(result.problems) if result else "",
            "structure_issues": "; ".join(result.structure_issues) if result else "",
            "metrics": "; ".join(f"{m['grade_id']}={m['value']:.6g}" for m in
                                 (result.metrics if result else []) if m.get("value") is not None),
            "overrides": "; ".join(changed.get(student, [])),
            "isolation": (result.backend or "") if result else "",
        })
    return out


def write_csv(table: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(table)


def write_gradescope(course_dir: Path, assignment: str, out_dir: Path,
                     db_path: Path | None = None) -> list[Path]:
    """One Gradescope ``results.json`` per student (tests = nbgrader grade cells)."""
    db = db_path or Path(course_dir) / "gradebook.db"
    notebook = gradebook.notebook_ids(db, assignment)[0]
    max_points = {c.name: c.max_score for c in gradebook.source_cells(db, assignment, notebook)
                  if c.is_grade}
    recorded = load_results(course_dir, assignment)
    written = []
    for student, score in gradebook.submission_scores(db, assignment).items():
        result = recorded.get(student)
        notes = {}
        if result is not None:
            notes.update({m["grade_id"]: m["comment"] for m in result.metrics})
            notes.update({q["grade_id"]: _question_summary(q) for q in result.questions})
        tests = [{"name": grade_id, "score": score["grades"].get(grade_id) or 0.0,
                  "max_score": points, "output": notes.get(grade_id, "")}
                 for grade_id, points in max_points.items()]
        payload = {"score": score["score"] - score["late_penalty"], "tests": tests,
                   "output": (result.reason or "; ".join(result.problems)) if result else ""}
        path = Path(out_dir) / student / "results.json"
        write_json_atomic(path, payload)
        written.append(path)
    return written


def _question_summary(question: dict) -> str:
    failed = [f"{c['name']}: {c['problem']}" for c in question["cases"] if c["problem"]]
    return (f"{question['passed']} of {len(question['cases'])} cases passed"
            + ("".join(f"\n- {line}" for line in failed)))


def leaderboard(course_dir: Path, assignment: str, grade_id: str | None = None) -> list[dict]:
    """Ranked metric values: lower first for keypoint RMSE, higher first otherwise.

    ``grade_id`` picks the metric question; by default the first one recorded.
    Submissions without a usable prediction come last, unranked.
    """
    recorded = load_results(course_dir, assignment)
    if grade_id is None:
        grade_id = next((m["grade_id"] for r in recorded.values() for m in r.metrics), None)
    entries = [{"student": student, "grade_id": m["grade_id"], "metric": m["metric"],
                "value": m["value"]}
               for student, r in recorded.items() for m in r.metrics if m["grade_id"] == grade_id]
    if not entries:
        raise ValueError(f"no metric results for {assignment} ({grade_id}): grade it first")
    higher_is_better = direction(entries[0]["metric"])

    def key(entry):
        value = entry["value"]
        if value is None or not math.isfinite(value):
            return (1, 0.0, entry["student"])
        return (0, -value if higher_is_better else value, entry["student"])

    ranked = sorted(entries, key=key)
    for rank, entry in enumerate(ranked, start=1):
        entry["rank"] = rank if key(entry)[0] == 0 else ""
    return ranked
