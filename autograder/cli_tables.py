"""Plain-text tables for the terminal: the collect report and the grade summary."""

from __future__ import annotations

from autograder.records import SubmissionResult


def table(rows: list[list], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]

    def line(row):
        return "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False))

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def summary(outcomes: list[SubmissionResult]) -> str:
    """One line per student, then the counts, the grader's own failures named apart."""
    rows = []
    for r in outcomes:
        score = f"{r.score:g}/{r.max_score:g}" if r.graded else "-"
        notes = r.reason or "; ".join(r.problems + r.structure_issues)
        if r.late_penalty:
            notes = f"late: -{r.late_penalty:g}; " + notes
        status = r.status + (" (unchanged, skipped)" if r.skipped else "")
        rows.append([r.student, status, score, r.backend or "", notes[:120]])
    graded = sum(r.graded for r in outcomes)
    ours = [r.student for r in outcomes if r.fault == "grader"]
    text = (table(rows, ["student", "status", "score", "isolation", "notes"])
            + f"\n{graded}/{len(outcomes)} graded, {len(outcomes) - graded} with a recorded reason")
    if ours:
        text += (f"\n{len(ours)} failed through the GRADER's fault, not the student's: "
                 f"{', '.join(ours)}. Fix the cause named above and run grade again: only "
                 "these are retried.")
    return text
