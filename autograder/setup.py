"""What every submission of one grading run shares, loaded and checked once.

:class:`GradingSetup` reads the assignment (gradebook cells, released notebook,
grading TOML, graded cases), checks that they agree, loads the grading split
of each metric question and measures its zero point, and chooses the sandbox.
Anything wrong here is the grader's configuration, not a student's work: it
raises :class:`GraderMisconfigured` once, before any submission is touched.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import nbformat
import numpy as np

from autograder import gradebook, sandbox
from autograder.cases import CasesError, Question, load_questions
from autograder.config import (
    GradeOptions,
    GradingConfigError,
    MetricQuestion,
    SubmissionPolicy,
    Tiers,
    grading_toml_path,
    parse_grading_toml,
    parse_submission_policy,
)
from autograder.scoring import ZeroPoint, load_module, zero_point
from autograder.shards import clear_submissions
from course.data import DatasetNotFound
from course.runtime import cache_dir, data_source
from course.runtime import quick as quick_mode

CASE_SETUP_TAG = "case-setup"  # locked cells the graded cases need (imports, constants)


class GraderMisconfigured(RuntimeError):
    """The grading machine or its settings are at fault; nothing was graded."""


@dataclass
class HiddenSet:
    question: MetricQuestion
    tiers: Tiers
    images_path: Path  # in the scratch folder; copied into each work dir
    labels: np.ndarray  # never leaves this process
    description: str
    zero: ZeroPoint
    max_points: float


def ensure_shard_gradebook(options: GradeOptions) -> None:
    """A shard's own gradebook starts as a copy of the course gradebook."""
    main_db = options.course_dir / "gradebook.db"
    if options.db_path != main_db and not options.db_path.exists():
        if not main_db.exists():
            raise GraderMisconfigured(f"{main_db} does not exist: run `course-grader release` first")
        options.db_path.parent.mkdir(parents=True, exist_ok=True)
        staging = options.db_path.with_name(options.db_path.name + ".tmp")
        shutil.copy2(main_db, staging)
        clear_submissions(staging, options.assignment)
        staging.replace(options.db_path)
    if not options.db_path.exists():
        raise GraderMisconfigured(f"{options.db_path} does not exist: run `course-grader release`")


class GradingSetup:
    def __init__(self, options: GradeOptions):
        self.options = options
        try:
            self._load()
        except (GradingConfigError, CasesError, DatasetNotFound, ValueError,
                FileNotFoundError) as err:
            raise GraderMisconfigured(str(err)) from err

    def _load(self) -> None:
        opts = self.options
        ensure_shard_gradebook(opts)
        notebooks = gradebook.notebook_ids(opts.db_path, opts.assignment)
        if len(notebooks) != 1:
            raise GraderMisconfigured(f"{opts.assignment}: expected one notebook, found {notebooks}")
        self.notebook = notebooks[0]
        self.source_cells = gradebook.source_cells(opts.db_path, opts.assignment, self.notebook)
        self.max_points = {c.name: c.max_score for c in self.source_cells if c.is_grade}
        release = opts.course_dir / "release" / opts.assignment / f"{self.notebook}.ipynb"
        self.release_nb = nbformat.read(release, as_version=4) if release.exists() else None
        toml = grading_toml_path(opts.course_dir, opts.assignment)
        self.metric_questions = parse_grading_toml(toml)
        self.policy: SubmissionPolicy = parse_submission_policy(toml)
        self.questions: list[Question] = load_questions(opts.course_dir, opts.assignment)
        self.source = data_source(opts.data_source)
        self.quick = opts.quick if opts.quick is not None else quick_mode()
        self._check_coverage(toml)
        self.backend = sandbox.choose_backend(opts.backend, opts.image or sandbox.DOCKER_IMAGE)
        hidden = opts.hidden_dir.resolve() if opts.hidden_dir else None
        for folder in opts.readable:
            folder = folder.resolve()
            if hidden and (folder == hidden or hidden in folder.parents or folder in hidden.parents):
                raise GraderMisconfigured(f"--read-only {folder} overlaps the hidden folder "
                                          f"{hidden}: the sandbox would see the grading labels")
        self.scratch = Path(tempfile.mkdtemp(prefix="course-grader-", dir=opts.scratch_dir))
        # Sandboxed uids reach their own work dir below it without listing the others
        # (the user backend shows them the host's file system as it is).
        self.scratch.chmod(0o711)
        self.hidden = self._load_hidden_sets()
        if self.policy.due is not None:
            gradebook.set_due_date(opts.db_path, opts.assignment, self.policy.due)

    def _check_coverage(self, toml: Path) -> None:
        """Every autograded test cell is decided by a graded case or a metric, and only those."""
        tests = {c.name for c in self.source_cells if c.is_grade and c.name not in
                 {s.name for s in self.source_cells if s.is_solution}}
        metrics = {q.grade_id for q in self.metric_questions}
        for question in self.metric_questions:
            if self.source not in question.tiers:
                raise GraderMisconfigured(f"{toml}: {question.grade_id} has no "
                                          f"[metric.{self.source}] tiers for COURSE_DATA={self.source}")
        cases = {q.grade_id for q in self.questions}
        stray = sorted((metrics | cases) - tests)
        if stray:
            raise GraderMisconfigured(
                f"{self.options.assignment}: {stray} are not autograded test cells of the notebook "
                f"(test cells: {sorted(tests)})")
        both = sorted(metrics & cases)
        if both:
            raise GraderMisconfigured(f"{self.options.assignment}: {both} are scored both by "
                                      "cases and by a metric")
        undecided = sorted(tests - metrics - cases)
        if undecided:
            raise GraderMisconfigured(
                f"{self.options.assignment}: the test cells {undecided} have no graded cases "
                f"(grading/{self.options.assignment}.py) and no metric ({toml.name}), so "
                "nothing outside the student's kernel could decide their points")

    def _load_hidden_sets(self) -> list[HiddenSet]:
        if not self.metric_questions:
            return []
        splits = load_module(self.options.splits)
        sets = []
        for question in self.metric_questions:
            limit = question.limit_quick if self.quick else None
            split = splits.load_grading_split(question.dataset, source=self.source, limit=limit,
                                              hidden_dir=self.options.hidden_dir)
            targets = splits.training_targets(question.dataset, source=self.source, limit=limit)
            tiers = question.tiers[self.source]
            path = self.scratch / f"hidden-{question.grade_id}.npy"
            np.save(path, np.asarray(split.images), allow_pickle=False)
            sets.append(HiddenSet(question, tiers, path, np.asarray(split.labels),
                                  split.description,
                                  zero_point(question, targets, np.asarray(split.labels), tiers),
                                  self.max_points[question.grade_id]))
        return sets

    # ---- what the sandboxes get -------------------------------------------------
    def data_mounts(self) -> tuple[dict[str, str], list[Path]]:
        """The dataset caches (course, Keras, the published held-back list), read-only, so
        notebooks load the public training data without network; never the hidden folder."""
        keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").resolve()
        dirs = {"COURSE_CACHE": cache_dir().resolve(), "KERAS_HOME": keras_home}
        if os.environ.get("COURSE_HELDOUT_DIR"):
            dirs["COURSE_HELDOUT_DIR"] = Path(os.environ["COURSE_HELDOUT_DIR"]).resolve()
        hidden = self.options.hidden_dir.resolve() if self.options.hidden_dir else None
        exposed = {}
        for name, path in dirs.items():
            if not path.exists():
                continue
            if hidden and (path == hidden or hidden in path.parents or path in hidden.parents):
                raise GraderMisconfigured(
                    f"{name}={path} and the hidden folder {hidden} overlap: the sandbox would "
                    "see the grading labels. Keep the hidden folder outside every dataset cache.")
            exposed[name] = path
        return {k: str(v) for k, v in exposed.items()}, list(exposed.values())

    def keras_home(self, work_dir: Path) -> Path | None:
        """A writable KERAS_HOME in the work dir whose files link to the read-only cache.

        Keras only looks in a KERAS_HOME it can write to (otherwise in /tmp/.keras), so
        the read-only one is presented through links: datasets and weights are found
        as they are, and nothing is written to the shared cache.
        """
        data_env, _ = self.data_mounts()
        shared = data_env.get("KERAS_HOME")
        if shared is None:
            return None
        home = work_dir / ".keras"
        for folder in ("datasets", "models"):
            (home / folder).mkdir(parents=True, exist_ok=True)
            source = Path(shared) / folder
            if source.is_dir():
                for entry in source.iterdir():
                    (home / folder / entry.name).symlink_to(entry)
        return home

    def environment(self, work_dir: Path, gpu: str | None) -> dict[str, str]:
        data_env, _ = self.data_mounts()
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
            "HOME": str(work_dir),
            "IPYTHONDIR": str(work_dir / ".ipython"),
            **data_env,
        }
        if (work_dir / ".keras").is_dir():
            env["KERAS_HOME"] = str(work_dir / ".keras")
        # Workers share the CPU cores instead of each TensorFlow taking all of them.
        threads = str(max(1, (os.cpu_count() or 1) // max(1, self.options.workers)))
        for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            env[name] = threads
        env.update(dict(self.options.sandbox_env))
        return env

    @cached_property
    def font_cache(self) -> Path:
        """matplotlib's font list, built once in this process for every sandbox to copy."""
        from matplotlib import font_manager

        path = self.scratch / f"fontlist-v{font_manager.FontManager.__version__}.json"
        font_manager.json_dump(font_manager.fontManager, path)
        path.chmod(0o644)
        return path

    def matplotlib_dir(self, work_dir: Path) -> Path:
        """A writable MPLCONFIGDIR holding a copy of the font list. Each sandbox has a fresh
        home, where matplotlib (which Keras imports) would otherwise build that list
        again: 1-2 s of every notebook run and case session."""
        folder = work_dir / ".matplotlib"
        folder.mkdir(mode=0o777, exist_ok=True)
        folder.chmod(0o777)  # the sandbox's uid writes matplotlib's lock files here
        shutil.copy(self.font_cache, folder / self.font_cache.name)
        return folder

    def spec(self, work_dir: Path, gpu: str | None, uid: int,
             hidden: list[Path] | None = None) -> sandbox.SandboxSpec:
        _, data_dirs = self.data_mounts()
        env = {"MPLCONFIGDIR": str(self.matplotlib_dir(work_dir)),
               **self.environment(work_dir, gpu)}
        return sandbox.SandboxSpec(
            work_dir=work_dir, env=env, limits=self.options.limits,
            readable=[*sandbox.python_paths(), *sandbox.package_dirs(), *data_dirs,
                      *self.options.readable],
            hidden=list(hidden or []), gpu=gpu, uid=uid)

    def case_cells(self, nb: nbformat.NotebookNode) -> list[dict]:
        """The cells a case process runs: the locked setup cells (chosen by the release, not
        by the submission's own tags) and the student's answers, in notebook order."""
        setup_ids = {c.metadata["nbgrader"]["grade_id"] for c in
                     (self.release_nb.cells if self.release_nb else [])
                     if CASE_SETUP_TAG in c.metadata.get("tags", [])
                     and c.metadata.get("nbgrader", {}).get("locked")}
        solution_ids = {c.name for c in self.source_cells if c.is_solution}
        cells = []
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.cell_type == "code" and (grade_id in setup_ids or grade_id in solution_ids):
                cells.append({"label": grade_id, "source": cell.source})
        return cells

    def wall_timeout(self) -> float:
        """Deadline of one notebook run: every cell at its limit, three restarts, predictions."""
        code_cells = sum(1 for c in self.source_cells if c.cell_type == "code") + 10
        t = self.options.timeouts
        per_pass = t.training * 2 + t.default * code_cells
        return per_pass * 2 + t.predict * max(1, len(self.hidden)) + 120

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)
