"""``course-grader merge``: shard gradebooks back into the course gradebook.

Each shard (``grade --shard i/n --gradebook shard-i.db``) starts from a copy
of the course gradebook without this assignment's submissions, so a shard
file holds exactly the submissions it graded. Merging copies students,
submissions (with timestamps), scores and comments through nbgrader's API;
a submission found in two shards is an error, not a silent overwrite.
"""

from __future__ import annotations

from pathlib import Path

from nbgrader.api import Gradebook

from autograder.gradebook import db_url

GRADE_FIELDS = ("auto_score", "manual_score", "extra_credit", "needs_manual_grade")
COMMENT_FIELDS = ("auto_comment", "manual_comment")


def clear_submissions(db_path: Path, assignment: str) -> None:
    with Gradebook(db_url(db_path)) as gb:
        for submission in list(gb.find_assignment(assignment).submissions):
            gb.remove_submission(assignment, submission.student_id)


def merge(target: Path, shards: list[Path]) -> dict[str, list[str]]:
    """Copy every submission of every shard into ``target``; returns {assignment: students}."""
    seen: dict[tuple[str, str], Path] = {}
    merged: dict[str, list[str]] = {}
    for shard in shards:
        with Gradebook(db_url(shard)) as src:
            for assignment in src.assignments:
                for submission in assignment.submissions:
                    key = (assignment.name, submission.student_id)
                    if key in seen:
                        raise ValueError(f"{key[1]}'s {key[0]} is in both {seen[key]} and {shard}")
                    seen[key] = shard
    with Gradebook(db_url(target)) as dst:
        for shard in shards:
            with Gradebook(db_url(shard)) as src:
                for assignment in src.assignments:
                    dst.find_assignment(assignment.name)  # the target must know the assignment
                    for submission in assignment.submissions:
                        _copy_submission(src, dst, assignment.name, submission)
                        merged.setdefault(assignment.name, []).append(submission.student_id)
    return {name: sorted(students) for name, students in merged.items()}


def _copy_submission(src, dst, assignment: str, submission) -> None:
    student = submission.student
    dst.update_or_create_student(student.id, first_name=student.first_name,
                                 last_name=student.last_name, email=student.email)
    dst.update_or_create_submission(assignment, student.id, timestamp=submission.timestamp)
    for notebook in submission.notebooks:
        for grade in notebook.grades:
            target = dst.find_grade(grade.name, notebook.name, assignment, student.id)
            for field in GRADE_FIELDS:
                setattr(target, field, getattr(grade, field))
        for comment in notebook.comments:
            target = dst.find_comment(comment.name, notebook.name, assignment, student.id)
            for field in COMMENT_FIELDS:
                setattr(target, field, getattr(comment, field))
    dst.db.commit()
