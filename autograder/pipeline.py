"""``course-grader grade``: prepare (serial) -> execute (parallel, sandboxed) -> record (serial).

1. Prepare, in this process: check the notebook's structure, run nbgrader's
   Autograde sanitize pass (restores locked/test cells, re-adds deleted grade
   cells), copy the sanitized notebook and the submitted files (weights) into
   a fresh work dir, with the hidden IMAGES of each metric question.
2. Execute, in a pool of ``--workers`` threads each waiting on one sandboxed
   ``autograder.runner`` (one GPU per worker when GPUs are given).
3. Record, back in this process, one submission at a time (so SQLite has a
   single writer): nbgrader's Autograde converter with ``Execute`` replaced by
   :class:`~autograder.replay.ReplaySandboxOutputs`, then the metric scores
   as ``manual_score``, then the result JSON (atomic).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
from tqdm import tqdm
from traitlets.config import Config

from autograder import gradebook, results, sandbox, scoring
from autograder.config import GradeOptions, MetricQuestion, grading_toml_path, parse_grading_toml
from autograder.replay import autograde_preprocessors
from autograder.runner import JOB_DIR
from autograder.shards import clear_submissions
from autograder.structure import (
    InvalidNotebook,
    read_submission,
    sanitize_preprocessors,
    structure_issues,
)
from course.runtime import cache_dir, data_source
from course.runtime import quick as quick_mode

MAX_NOTEBOOK_BYTES = 200 * 2**20
MAX_PREDICTION_BYTES = 2 * 2**30
STATUS_REASONS = {  # runner's cell status -> reason shown to the instructor
    "timeout": "timeout (interrupted)",
    "timeout+restart": "timeout (kernel restarted)",
    "kernel_died": "kernel died (restarted)",
}
OUTPUT_REASONS = {  # exception name in a cell's output -> reason
    "MissingWeights": "missing weights",
    "MemoryError": "memory limit",
}


@dataclass
class HiddenSet:
    question: MetricQuestion
    images_path: Path
    labels: np.ndarray


@dataclass
class Job:
    student: str
    notebook: str
    digest: str
    work_dir: Path
    issues: list[str]
    started: float = field(default_factory=time.monotonic)


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


def ensure_shard_gradebook(options: GradeOptions) -> None:
    """A shard's own gradebook starts as a copy of the course gradebook."""
    main_db = options.course_dir / "gradebook.db"
    if options.db_path != main_db and not options.db_path.exists():
        if not main_db.exists():
            raise FileNotFoundError(f"{main_db} does not exist: run `course-grader release` first")
        options.db_path.parent.mkdir(parents=True, exist_ok=True)
        staging = options.db_path.with_name(options.db_path.name + ".tmp")
        shutil.copy2(main_db, staging)
        clear_submissions(staging, options.assignment)
        staging.replace(options.db_path)
    if not options.db_path.exists():
        raise FileNotFoundError(f"{options.db_path} does not exist: run `course-grader release`")


class Grader:
    def __init__(self, options: GradeOptions):
        self.options = options
        ensure_shard_gradebook(options)
        notebooks = gradebook.notebook_ids(options.db_path, options.assignment)
        if len(notebooks) != 1:
            raise ValueError(f"{options.assignment}: expected one notebook, found {notebooks}")
        self.notebook = notebooks[0]
        self.source_cells = gradebook.source_cells(options.db_path, options.assignment,
                                                   self.notebook)
        release = options.course_dir / "release" / options.assignment / f"{self.notebook}.ipynb"
        self.release_nb = nbformat.read(release, as_version=4) if release.exists() else None
        self.backend = sandbox.choose_backend(options.backend)
        self.source = data_source(options.data_source)
        self.quick = options.quick if options.quick is not None else quick_mode()
        questions = self._metric_questions()
        self.scratch = Path(tempfile.mkdtemp(prefix="course-grader-", dir=options.scratch_dir))
        self.hidden = self._load_hidden_sets(questions)
        # One slot per worker: its GPU (if any) and its own sandbox uid, so that one
        # submission's processes never count against another's process limit.
        self.slots: queue.Queue = queue.Queue()
        for index, gpu in enumerate(options.gpus or (None,) * max(1, options.workers)):
            self.slots.put((index, gpu))

    # ---- trusted preparation -------------------------------------------------
    def _metric_questions(self) -> list[MetricQuestion]:
        path = grading_toml_path(self.options.course_dir, self.options.assignment)
        questions = parse_grading_toml(path)
        graded_ids = {c.name for c in self.source_cells if c.is_grade}
        for question in questions:
            if self.source not in question.tiers:
                raise ValueError(f"{path}: {question.grade_id} has no [metric.{self.source}] "
                                 f"tiers for COURSE_DATA={self.source}")
            if question.grade_id not in graded_ids:
                raise ValueError(f"{path}: {question.grade_id} is not a grade cell of "
                                 f"{self.options.assignment} ({sorted(graded_ids)})")
        return questions

    def _load_hidden_sets(self, questions: list[MetricQuestion]) -> list[HiddenSet]:
        if not questions:
            return []
        loader = scoring.load_callable(self.options.hidden_loader)
        sets = []
        for question in questions:
            limit = question.limit_quick if self.quick else None
            images, labels = loader(question.dataset, source=self.source, limit=limit)
            path = self.scratch / f"hidden-{question.grade_id}.npy"
            np.save(path, np.asarray(images), allow_pickle=False)
            sets.append(HiddenSet(question, path, np.asarray(labels)))
        return sets

    def _api(self, extra: Config):
        extra.OverwriteCells.add_missing_cells = True
        extra.Autograde.sanitize_preprocessors = sanitize_preprocessors()
        return gradebook.make_api(self.options.course_dir, self.options.db_path, extra)

    def _env(self, gpu: str | None) -> dict[str, str]:
        env = {
            "COURSE_GRADING": "1",
            "COURSE_GRADING_RETRAIN": "1" if self.options.retrain else "0",
            "COURSE_DATA": self.source,
            "COURSE_QUICK": "1" if self.quick else "0",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "MPLBACKEND": "Agg",
            "PYTHONPATH": str(sandbox.project_root()),
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "CUDA_VISIBLE_DEVICES": gpu if gpu is not None else "",
        }
        # Workers share the CPU cores instead of each TensorFlow taking all of them.
        threads = str(max(1, (os.cpu_count() or 1) // max(1, self.options.workers)))
        for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            env[name] = threads
        return env

    def prepare(self, student: str, digest: str) -> Job | dict:
        """Sanitize with nbgrader and build the work dir; a dict means 'failed, here is why'."""
        opts = self.options
        submitted = opts.course_dir / "submitted" / student / opts.assignment
        notebook_path = submitted / f"{self.notebook}.ipynb"
        if not notebook_path.exists():
            return self._failure(student, digest, f"invalid submission: no {notebook_path.name}",
                                 final=True)
        try:
            issues = structure_issues(read_submission(notebook_path), self.source_cells,
                                      self.release_nb)
        except InvalidNotebook as err:
            return self._failure(student, digest, f"invalid notebook: {err}", final=True)
        config = Config()
        config.Autograde.autograde_preprocessors = []  # sanitize only; execution comes later
        outcome = self._api(config).autograde(opts.assignment, student, force=True, create=True)
        if not outcome["success"]:
            return self._failure(student, digest, "nbgrader could not sanitize the notebook: "
                                 + _last_line(outcome.get("error", "")), issues)
        autograded = opts.course_dir / "autograded" / student / opts.assignment
        work = self.scratch / student
        shutil.copytree(autograded, work, symlinks=False)
        # The course's CourseDirectory.ignore keeps *.weights.h5 out of nbgrader's copy;
        # the sandbox needs the submitted weights, so copy what nbgrader left behind.
        for path in submitted.iterdir():
            if path.is_file() and not path.is_symlink() and not (work / path.name).exists():
                shutil.copy(path, work / path.name)
        for path in work.rglob("*"):
            path.chmod(0o777 if path.is_dir() else 0o666)
        work.chmod(0o777)
        job_dir = work / JOB_DIR
        job_dir.mkdir(mode=0o777)
        job_dir.chmod(0o777)  # the runner writes its results here as an unprivileged uid
        metrics = []
        for hidden in self.hidden:
            images = f"{JOB_DIR}/{hidden.question.grade_id}-images.npy"
            shutil.copy(hidden.images_path, work / images)
            metrics.append({"grade_id": hidden.question.grade_id, "model": hidden.question.model,
                            "images": images,
                            "predictions": f"{JOB_DIR}/{hidden.question.grade_id}-predictions.npy"})
        timeouts = self.options.timeouts
        (job_dir / "job.json").write_text(json.dumps({
            "notebook": f"{self.notebook}.ipynb",
            "timeouts": {"test": timeouts.test, "training": timeouts.training,
                         "default": timeouts.default, "predict": timeouts.predict},
            "output_bytes_per_cell": self.options.limits.output_bytes_per_cell,
            "metrics": metrics,
        }))
        return Job(student, self.notebook, digest, work, issues)

    # ---- sandboxed execution (worker threads) -----------------------------------
    def wall_timeout(self) -> float:
        code_cells = sum(1 for c in self.source_cells if c.cell_type == "code") + 10
        t = self.options.timeouts
        return t.training * 2 + t.default * code_cells + t.predict * max(1, len(self.hidden)) + 60

    def execute(self, job: Job) -> sandbox.SandboxRun:
        index, gpu = self.slots.get()
        try:
            data_env, data_dirs = self._public_data()
            spec = sandbox.SandboxSpec(
                work_dir=job.work_dir,
                # The course repository (and a source checkout of this project) goes too:
                # its .git history holds the solutions and hidden tests.
                hidden=[p for p in (self.options.course_dir, self.options.hidden_dir,
                                    self.options.db_path.parent,
                                    sandbox.repository_root(self.options.course_dir),
                                    sandbox.repository_root(sandbox.project_root()))
                        if p is not None],
                env={**self._env(gpu), **data_env, "HOME": str(job.work_dir)},
                limits=self.options.limits,
                gpu=gpu, uid=sandbox.ROOT_MODE_UID_BASE + index,
                runtime_paths=[*sandbox.package_dirs(), Path(sys.prefix),
                               Path(sys.base_prefix), *data_dirs],
            )
            return sandbox.run_sandboxed(self.backend, spec, self.wall_timeout())
        finally:
            self.slots.put((index, gpu))

    def _public_data(self) -> tuple[dict[str, str], list[Path]]:
        """The dataset caches (course and Keras), read-only, so notebooks can load the
        public training data without network; never the hidden directory."""
        keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").resolve()
        dirs = {"COURSE_CACHE": cache_dir().resolve(), "KERAS_HOME": keras_home}
        hidden = self.options.hidden_dir.resolve() if self.options.hidden_dir else None
        exposed = {name: path for name, path in dirs.items()
                   if path.exists() and not (hidden and (path == hidden or hidden in path.parents
                                                          or path in hidden.parents))}
        return ({name: str(path) for name, path in exposed.items()}, list(exposed.values()))

    # ---- trusted recording ------------------------------------------------------
    def record(self, job: Job, run: sandbox.SandboxRun) -> dict:
        opts = self.options
        base = {"isolation": self.backend.isolation, "backend": self.backend.name,
                "limits": run.limits_applied, "structure_issues": job.issues}
        executed = job.work_dir / JOB_DIR / "executed.ipynb"
        try:
            text = scoring.read_untrusted_file(executed, MAX_NOTEBOOK_BYTES).decode("utf-8")
            executed_nb = nbformat.reads(text, as_version=4)
        except (scoring.InvalidPredictions, ValueError, UnicodeDecodeError) as err:
            why = "sandbox wall-clock limit" if run.timed_out else f"runner failed ({err})"
            return self._failure(job.student, job.digest, f"{why}: {_last_line(run.stderr_tail)}",
                                 job.issues, base)
        trusted_copy = self.scratch / f"{job.student}.executed.ipynb"
        nbformat.write(executed_nb, trusted_copy)
        events = self._read_events(job)
        scores = [self._score(job, hidden) for hidden in self.hidden]
        config = Config()
        config.Autograde.autograde_preprocessors = autograde_preprocessors()
        config.ReplaySandboxOutputs.executed_notebook = str(trusted_copy)
        config.ReplaySandboxOutputs.notes = {s.grade_id: s.comment for s in scores}
        outcome = self._api(config).autograde(opts.assignment, job.student, force=True,
                                              create=True)
        if not outcome["success"]:
            return self._failure(job.student, job.digest, "nbgrader could not record the grades: "
                                 + _last_line(outcome.get("error", "")), job.issues, base)
        for s in scores:
            gradebook.set_metric_score(opts.db_path, opts.assignment, job.notebook, job.student,
                                       s.grade_id, s.points, s.comment)
        totals = gradebook.submission_scores(opts.db_path, opts.assignment)[job.student]
        result = {
            **base, "student": job.student, "assignment": opts.assignment,
            "status": "graded", "digest": job.digest,
            "score": totals["score"], "max_score": totals["max_score"],
            "problems": problems(executed_nb, events), "cells": events,
            "metrics": [s.as_dict() for s in scores],
            "seconds": round(time.monotonic() - job.started, 2),
        }
        results.write_json_atomic(results.result_path(opts.course_dir, opts.assignment,
                                                      job.student), result)
        return result

    def _read_events(self, job: Job) -> list[dict]:
        try:
            data = json.loads(scoring.read_untrusted_file(job.work_dir / JOB_DIR / "run.json",
                                                          10 * 2**20))
            return [e for e in data.get("cells", []) if isinstance(e, dict)][:10_000]
        except (scoring.InvalidPredictions, ValueError, AttributeError):
            return []

    def _score(self, job: Job, hidden: HiddenSet) -> scoring.MetricScore:
        max_points = next(c.max_score for c in self.source_cells
                          if c.name == hidden.question.grade_id)
        path = job.work_dir / JOB_DIR / f"{hidden.question.grade_id}-predictions.npy"
        return scoring.score(hidden.question, path, hidden.labels, self.source, max_points,
                             MAX_PREDICTION_BYTES)

    def _failure(self, student, digest, reason, issues=(), extra=None, final=False) -> dict:
        """Record a submission without a grade. ``final``: the files themselves are at fault
        (a re-run skips them until they change); otherwise a re-run tries again."""
        result = {**(extra or {}), "student": student, "assignment": self.options.assignment,
                  "status": "failed", "reason": reason, "digest": digest, "final": final,
                  "structure_issues": list(issues), "score": None, "max_score": None}
        results.write_json_atomic(results.result_path(self.options.course_dir,
                                                      self.options.assignment, student), result)
        return result

    # ---- the whole batch --------------------------------------------------------
    def run(self, students: list[str]) -> list[dict]:
        todo, outcomes = [], []
        for student in students:
            digest = results.submission_digest(
                self.options.course_dir / "submitted" / student / self.options.assignment)
            previous = results.load_result(self.options.course_dir, self.options.assignment,
                                           student)
            settled = previous and (previous["status"] == "graded" or previous.get("final"))
            if settled and previous.get("digest") == digest and not self.options.force:
                outcomes.append({**previous, "skipped": True})
            else:
                todo.append((student, digest))
        try:
            outcomes += self._grade(todo)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
        return sorted(outcomes, key=lambda r: r["student"])

    def _grade(self, todo: list[tuple[str, str]]) -> list[dict]:
        show = self.options.progress
        jobs, outcomes = [], []
        for student, digest in tqdm(todo, desc="prepare", unit="sub", disable=not show):
            try:
                prepared = self.prepare(student, digest)
            except Exception as err:  # noqa: BLE001 - one submission never stops the batch
                prepared = self._failure(student, digest,
                                         f"grader error: {type(err).__name__}: {err}")
            (jobs if isinstance(prepared, Job) else outcomes).append(prepared)
        with ThreadPoolExecutor(max_workers=max(1, self.options.workers)) as pool:
            futures = {pool.submit(self.execute, job): job for job in jobs}
            for future in tqdm(as_completed(futures), total=len(futures), desc="grade",
                               unit="sub", disable=not show):
                job = futures[future]
                try:
                    outcomes.append(self.record(job, future.result()))
                except Exception as err:  # noqa: BLE001 - one submission never stops the batch
                    outcomes.append(self._failure(job.student, job.digest,
                                                  f"grader error: {type(err).__name__}: {err}",
                                                  job.issues))
                finally:
                    shutil.rmtree(job.work_dir, ignore_errors=True)
        return outcomes


def problems(executed_nb, events: list[dict]) -> list[str]:
    """Reasons some cells lost points: timeouts, kernel deaths, memory, missing weights."""
    found = []
    for event in events:
        if event.get("status") in STATUS_REASONS:
            found.append(f"{event.get('label')}: {STATUS_REASONS[event['status']]}")
        if str(event.get("label", "")).startswith("predict:") and event.get("error"):
            found.append(f"{event['label']}: {event['error']}")
    for cell in executed_nb.cells:
        for output in cell.get("outputs", []):
            reason = OUTPUT_REASONS.get(output.get("ename", ""))
            if output.get("output_type") == "error" and reason:
                label = cell.metadata.get("nbgrader", {}).get("grade_id", "a cell")
                found.append(f"{label}: {reason}")
    return found


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


def grade(options: GradeOptions) -> list[dict]:
    grader = Grader(options)
    return grader.run(list_students(options))
