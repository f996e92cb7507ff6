"""``course-grader grade``: the whole batch, as small steps exchanging typed records.

    GradingSetup (once) -> preflight (once)
    per submission:  prepare -> run_notebook -> run_cases -> record -> SubmissionResult

Preparing and recording run in this process, one submission at a time
(SQLite has a single writer); the two sandboxed runs of each submission go to
a pool of ``--workers`` threads (one GPU per worker with ``--gpus``). Every
submission ends with a result: graded, or failed with a reason and whose fault
it is. One bad submission never stops the batch; a misconfigured grader stops
before the first one (:class:`~autograder.setup.GraderMisconfigured`).
"""

from __future__ import annotations

import hashlib
import queue
import shutil
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from tqdm import tqdm

from autograder import gradebook
from autograder.config import GradeOptions
from autograder.execute import run_cases, run_notebook
from autograder.preflight import preflight
from autograder.prepare import PreparedSubmission, SubmissionRejected, prepare
from autograder.record import RecordingFailed, record
from autograder.records import SubmissionResult, load_result, save_result, submission_digest
from autograder.setup import GradingSetup


def shard_of(student: str, count: int) -> int:
    """Deterministic on every machine (unlike ``hash()``, which is salted per process)."""
    return int(hashlib.sha256(student.encode()).hexdigest(), 16) % count


def list_students(options: GradeOptions) -> list[str]:
    submitted = options.course_dir / "submitted"
    students = sorted(p.parent.name for p in submitted.glob(f"*/{options.assignment}") if p.is_dir())
    if options.students:
        unknown = sorted(set(options.students) - set(students))
        if unknown:
            raise ValueError(f"no submission of {options.assignment} for: {', '.join(unknown)}")
        students = [s for s in students if s in options.students]
    index, count = options.shard
    return [gradebook.check_student_id(s) for s in students if shard_of(s, count) == index]


class Batch:
    def __init__(self, setup: GradingSetup):
        self.setup = setup
        self.options = setup.options
        # One slot per worker: its GPU (if any) and its own sandbox uids, so that one
        # submission's processes never count against another's process limit.
        self.slots: queue.Queue = queue.Queue()
        for index, gpu in enumerate(self.options.gpus or (None,) * max(1, self.options.workers)):
            self.slots.put((index, gpu))
        self.phases: dict[str, dict[str, float]] = {}

    def failure(self, student: str, digest: str, reason: str, fault: str,
                issues=()) -> SubmissionResult:
        result = SubmissionResult(student=student, assignment=self.options.assignment,
                                  status="failed", digest=digest, reason=reason, fault=fault,
                                  structure_issues=list(issues), backend=self.setup.backend.name,
                                  isolation=self.setup.backend.isolation)
        return save_result(self.options.course_dir, result)

    def sandboxed(self, prepared: PreparedSubmission):
        """Both sandboxed runs of one submission, side by side, in a worker thread.

        They share nothing: other uids, pid namespaces, work dirs and temporary
        folders, so the notebook run cannot reach the case process while it runs.
        """
        slot, gpu = self.slots.get()
        phases = self.phases[prepared.student]

        def cases():
            started = time.monotonic()
            found = run_cases(self.setup, prepared.notebook,
                              prepared.work_dir.parent / f"{prepared.student}-cases", slot, gpu)
            phases["cases"] = round(time.monotonic() - started, 3)
            return found

        try:
            with ThreadPoolExecutor(max_workers=1) as side:
                case_run = side.submit(cases)
                started = time.monotonic()
                notebook = run_notebook(self.setup, prepared.work_dir, slot, gpu)
                phases["notebook"] = round(time.monotonic() - started, 3)
                verdicts, problems = case_run.result()
            return notebook, verdicts, problems
        finally:
            self.slots.put((slot, gpu))

    def run(self, students: list[str]) -> list[SubmissionResult]:
        todo, outcomes = [], []
        for student in students:
            digest = submission_digest(
                self.options.course_dir / "submitted" / student / self.options.assignment)
            previous = load_result(self.options.course_dir, self.options.assignment, student)
            if previous and previous.settled and previous.digest == digest and not self.options.force:
                previous.skipped = True
                outcomes.append(previous)
            else:
                todo.append((student, digest))
        return sorted(outcomes + self._grade(todo), key=lambda r: r.student)

    def _grade(self, todo: list[tuple[str, str]]) -> list[SubmissionResult]:
        show = self.options.progress
        prepared, outcomes, started = [], [], {}
        for student, digest in tqdm(todo, desc="prepare", unit="sub", disable=not show):
            started[student] = time.monotonic()
            try:
                prepared.append(prepare(self.setup, student, digest))
                self.phases[student] = {"prepare": round(time.monotonic() - started[student], 3)}
            except SubmissionRejected as err:
                outcomes.append(self.failure(student, digest, str(err), "submission"))
            except Exception as err:  # noqa: BLE001 - one submission never stops the batch
                outcomes.append(self.failure(student, digest,
                                             f"grader error: {type(err).__name__}: {err}", "grader"))
        with ThreadPoolExecutor(max_workers=max(1, self.options.workers)) as pool:
            futures = {pool.submit(self.sandboxed, p): p for p in prepared}
            for future in tqdm(as_completed(futures), total=len(futures), desc="grade",
                               unit="sub", disable=not show):
                sub = futures[future]
                try:
                    notebook, verdicts, problems = future.result()
                    if notebook.executed is None:
                        outcome = self.failure(sub.student, sub.digest, notebook.failure,
                                               "submission", sub.structure_issues)
                    else:
                        begun = time.monotonic()
                        outcome = record(self.setup, sub, notebook, verdicts, problems,
                                         started[sub.student])
                        self.phases[sub.student]["record"] = round(time.monotonic() - begun, 3)
                        outcome.phase_seconds = self.phases[sub.student]
                        save_result(self.options.course_dir, outcome)
                except RecordingFailed as err:
                    outcome = self.failure(sub.student, sub.digest, str(err), "grader",
                                           sub.structure_issues)
                except Exception as err:  # noqa: BLE001 - one submission never stops the batch
                    outcome = self.failure(sub.student, sub.digest,
                                           f"grader error: {type(err).__name__}: {err}", "grader",
                                           sub.structure_issues)
                finally:
                    shutil.rmtree(sub.work_dir, ignore_errors=True)
                outcomes.append(outcome)
        return outcomes


def grade(options: GradeOptions) -> list[SubmissionResult]:
    """Grade every collected submission of the assignment (or the chosen ones)."""
    students = list_students(options)
    setup = GradingSetup(options)
    try:
        preflight(setup)
        return Batch(setup).run(students)
    finally:
        setup.close()
