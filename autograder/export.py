"""``course-grader export`` and ``leaderboard``: grades out of the gradebook.

The CSV has one row per student with a submission or a recorded result:
score and maximum from the nbgrader gradebook, the grader's status and
reason, metric values, and the isolation that was used. ``--gradescope``
also writes ``<student>/results.json`` in Gradescope's autograder format.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from autograder import gradebook, results
from autograder.config import METRICS

CSV_FIELDS = ["student", "assignment", "status", "score", "max_score", "percent",
              "needs_manual_grade", "reason", "problems", "structure_issues", "metrics",
              "isolation"]


def rows(course_dir: Path, assignment: str, db_path: Path | None = None) -> list[dict]:
    db = db_path or Path(course_dir) / "gradebook.db"
    scores = gradebook.submission_scores(db, assignment)
    recorded = results.load_results(course_dir, assignment)
    out = []
    for student in sorted(set(scores) | set(recorded)):
        result = recorded.get(student, {})
        score = scores.get(student)
        status = result.get("status", "not graded by course-grader")
        graded = status == "graded" and score is not None
        out.append({
            "student": student,
            "assignment": assignment,
            "status": status,
            "score": round(score["score"], 4) if graded else "",
            "max_score": score["max_score"] if score else "",
            "percent": round(100 * score["score"] / score["max_score"], 2)
            if graded and score["max_score"] else "",
            "needs_manual_grade": bool(score and score["needs_manual_grade"]),
            "reason": result.get("reason") or "",
            "problems": "; ".join(result.get("problems", [])),
            "structure_issues": "; ".join(result.get("structure_issues", [])),
            "metrics": "; ".join(f"{m['grade_id']}={m['value']:.6g}" for m in
                                 result.get("metrics", []) if m.get("value") is not None),
            "isolation": result.get("backend", ""),
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
    recorded = results.load_results(course_dir, assignment)
    written = []
    for student, score in gradebook.submission_scores(db, assignment).items():
        result = recorded.get(student, {})
        comments = {m["grade_id"]: m["comment"] for m in result.get("metrics", [])}
        tests = [{"name": grade_id, "score": score["grades"].get(grade_id) or 0.0,
                  "max_score": points, "output": comments.get(grade_id, "")}
                 for grade_id, points in max_points.items()]
        payload = {"score": score["score"], "tests": tests,
                   "output": result.get("reason") or "; ".join(result.get("problems", []))}
        path = Path(out_dir) / student / "results.json"
        results.write_json_atomic(path, payload)
        written.append(path)
    return written


def leaderboard(course_dir: Path, assignment: str, grade_id: str | None = None) -> list[dict]:
    """Ranked metric values: lower first for keypoint RMSE, higher first otherwise.

    ``grade_id`` picks the metric question; by default the first one recorded.
    Submissions without a usable prediction come last, unranked.
    """
    recorded = results.load_results(course_dir, assignment)
    if grade_id is None:
        grade_id = next((m["grade_id"] for r in recorded.values() for m in r.get("metrics", [])),
                        None)
    entries = [{"student": student, "grade_id": m["grade_id"], "metric": m["metric"],
                "value": m["value"]}
               for student, r in recorded.items() for m in r.get("metrics", [])
               if m["grade_id"] == grade_id]
    if not entries:
        raise ValueError(f"no metric results for {assignment} ({grade_id}): grade it first")
    higher_is_better = METRICS[entries[0]["metric"]][1]

    def key(entry):
        value = entry["value"]
        if value is None or not math.isfinite(value):
            return (1, 0.0, entry["student"])
        return (0, -value if higher_is_better else value, entry["student"])

    ranked = sorted(entries, key=key)
    for rank, entry in enumerate(ranked, start=1):
        entry["rank"] = rank if key(entry)[0] == 0 else ""
    return ranked
