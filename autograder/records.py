"""The typed records the grading steps exchange.

* :class:`NotebookJob`: what the trusted side asks of :mod:`autograder.runner`
  in the sandbox (``.grader/job.json``).
* :class:`SubmissionResult`: what grading one submission ended with, written
  atomically to ``grader_results/<assignment>/<student>.json`` and read by the
  CLI's summary, ``export``, ``leaderboard``, ``similarity`` and resumed runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

RESULTS_DIR = "grader_results"
JOB_DIR = ".grader"


@dataclass(frozen=True)
class PredictionRequest:
    """Ask the student's model for predictions on the hidden images of one metric question."""

    grade_id: str
    model: str  # the notebook variable holding the model
    images: str  # .npy file in the work dir, relative to it
    predictions: str  # where the runner saves what the model predicts
    reduce: str  # "argmax" (labels, uint8) or "none" (the raw output, float32)
    batch_size: int = 64


@dataclass(frozen=True)
class NotebookJob:
    """Everything :mod:`autograder.runner` needs; it reads nothing else from the grader."""

    notebook: str
    timeouts: dict[str, float]  # by cell role: test, training, default, predict
    output_bytes_per_cell: int
    predictions: tuple[PredictionRequest, ...] = ()
    max_restarts: int = 3

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def read(cls, path: Path) -> NotebookJob:
        data = json.loads(path.read_text())
        data["predictions"] = tuple(PredictionRequest(**p) for p in data["predictions"])
        return cls(**data)


@dataclass
class SubmissionResult:
    """How one submission was graded, or the reason it could not be."""

    student: str
    assignment: str
    status: str  # "graded" or "failed"
    digest: str
    reason: str | None = None
    # Whose fault a failure is: "submission" (its files; a re-run skips it until they
    # change), "grader" (the grading machine or its settings; grade exits non-zero).
    fault: str | None = None
    score: float | None = None
    max_score: float | None = None
    questions: list[dict] = field(default_factory=list)  # QuestionVerdict.as_dict()
    metrics: list[dict] = field(default_factory=list)  # MetricScore.as_dict()
    problems: list[str] = field(default_factory=list)
    structure_issues: list[str] = field(default_factory=list)
    cells: list[dict] = field(default_factory=list)  # the runner's per-cell events
    submitted_at: str | None = None
    seconds_late: float = 0.0
    late_penalty: float = 0.0
    backend: str | None = None
    isolation: str | None = None
    limits: list[str] = field(default_factory=list)
    seconds: float | None = None
    kernel_memory: dict[str, float] = field(default_factory=dict)  # vm_peak_mib, rss_peak_mib
    phase_seconds: dict[str, float] = field(default_factory=dict)  # prepare, notebook, cases,
    # record: where the grading time of this submission went
    skipped: bool = False  # unchanged since the last run: not graded again

    @property
    def graded(self) -> bool:
        return self.status == "graded"

    @property
    def settled(self) -> bool:
        """Nothing to do until the files change: graded, or the submission is at fault."""
        return self.graded or self.fault == "submission"

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data.pop("skipped")
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionResult:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def results_dir(course_dir: Path, assignment: str) -> Path:
    return Path(course_dir) / RESULTS_DIR / assignment


def result_path(course_dir: Path, assignment: str, student: str) -> Path:
    return results_dir(course_dir, assignment) / f"{student}.json"


def submission_digest(folder: Path) -> str:
    """SHA-256 over the relative names and bytes of every submitted file."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: Path, data: dict) -> None:
    """tmp + rename in the same folder: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_result(course_dir: Path, result: SubmissionResult) -> SubmissionResult:
    write_json_atomic(result_path(course_dir, result.assignment, result.student),
                      result.as_dict())
    return result


def load_result(course_dir: Path, assignment: str, student: str) -> SubmissionResult | None:
    path = result_path(course_dir, assignment, student)
    return SubmissionResult.from_dict(json.loads(path.read_text())) if path.exists() else None


def load_results(course_dir: Path, assignment: str) -> dict[str, SubmissionResult]:
    folder = results_dir(course_dir, assignment)
    return {p.stem: SubmissionResult.from_dict(json.loads(p.read_text()))
            for p in sorted(folder.glob("*.json"))}
