"""Settings of a grading run and the strict parser of ``grading/<assignment>.toml``.

The TOML schema is fixed in docs/contracts.md. Any unknown key, missing key
or wrong type is an error naming the file and the entry, because a typo in a
grading file would otherwise silently change hundreds of grades.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from autograder.metrics import METRICS

DATA_SOURCES = ("real", "synthetic")


class GradingConfigError(ValueError):
    """A grading TOML file breaks the schema of docs/contracts.md."""


@dataclass(frozen=True)
class Tiers:
    """``(threshold, fraction)`` from the best tier down; below the last one the credit
    falls linearly to 0 at the score of the trivial model, which the grader measures."""

    tiers: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class MetricQuestion:
    """One ``[[metric]]`` entry: a grade cell scored from hidden-set predictions."""

    grade_id: str
    dataset: str
    metric: str
    model: str
    weights: str | None
    limit_quick: int | None
    tiers: dict[str, Tiers]

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.metric].higher_is_better


@dataclass(frozen=True)
class SubmissionPolicy:
    """``[submission]``: the due date and the late penalty, applied by nbgrader."""

    due: dt.datetime | None = None  # timezone-aware
    late_penalty_per_day: float = 0.0  # fraction of the score taken per started day late
    late_days_max: int | None = None  # later than this many days: the score is 0

    def describe(self) -> str:
        """The policy in one sentence, as the assignment notebooks state it."""
        if self.due is None:
            return "No due date is set."
        text = f"Due {self.due.strftime('%Y-%m-%d %H:%M %Z').strip()}."
        if self.late_penalty_per_day:
            text += (f" Late work loses {self.late_penalty_per_day:.0%} of its score per "
                     "started day")
            text += (f" and earns nothing after {self.late_days_max} days." if
                     self.late_days_max is not None else ".")
        else:
            text += " Late work earns nothing." if self.late_days_max == 0 else ""
        return text


@dataclass(frozen=True)
class Timeouts:
    """Seconds per cell by role (docs/contracts.md): nbgrader test cells, cells
    tagged ``training``, everything else; ``predict`` for the grader's own cell."""

    test: float = 60.0
    training: float = 1800.0
    default: float = 300.0
    predict: float = 600.0


@dataclass(frozen=True)
class Limits:
    """Resources one sandboxed submission may use."""

    memory_bytes: int = 6 * 2**30  # TensorFlow needs >= 1.5 GiB of address space to import
    cpu_seconds: int = 4 * 3600
    max_processes: int = 256
    output_bytes_per_cell: int = 1_000_000
    cpus: float = 2.0  # docker --cpus


@dataclass
class GradeOptions:
    """Everything ``course-grader grade`` decides, in one object the pipeline reads."""

    course_dir: Path
    assignment: str
    backend: str = "auto"
    workers: int = 1
    gpus: tuple[str, ...] = ()
    force: bool = False
    retrain: bool = False
    shard: tuple[int, int] = (0, 1)
    gradebook: Path | None = None
    students: tuple[str, ...] = ()
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)
    data_source: str | None = None
    quick: bool | None = None
    splits: str = "autograder.splits"  # module with load_grading_split and training_targets
    hidden_dir: Path | None = None
    scratch_dir: Path | None = None
    progress: bool = True
    image: str | None = None  # docker image (default: the Dockerfile's tag)
    sandbox_env: tuple[tuple[str, str], ...] = ()  # extra variables for the student's kernel
    readable: tuple[Path, ...] = ()  # extra folders the sandbox may read (shared datasets)

    @property
    def db_path(self) -> Path:
        return self.gradebook or self.course_dir / "gradebook.db"


def _fail(path: Path, where: str, message: str) -> GradingConfigError:
    return GradingConfigError(f"{path}: {where}: {message}")


def _require_keys(path, where, table, required, optional):
    if not isinstance(table, dict):
        raise _fail(path, where, f"expected a table, got {type(table).__name__}")
    unknown = sorted(set(table) - set(required) - set(optional))
    if unknown:
        raise _fail(path, where, f"unknown key(s) {unknown}; allowed: {sorted(required + optional)}")
    missing = [k for k in required if k not in table]
    if missing:
        raise _fail(path, where, f"missing key(s) {missing}")


def _string(path, where, value):
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, where, f"expected a non-empty string, got {value!r}")
    return value


def _number(path, where, value):
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(path, where, f"expected a finite number, got {value!r}")
    return float(value)


def _parse_tiers(path, where, table, higher_is_better) -> Tiers:
    if isinstance(table, dict) and "zero_at" in table:
        raise _fail(path, where, "zero_at is measured by the grader on the grading split (the "
                    "score of the trivial model): remove it")
    _require_keys(path, where, table, ["tiers"], [])
    raw = table["tiers"]
    if not isinstance(raw, list) or not raw:
        raise _fail(path, f"{where}.tiers", "expected a non-empty list of [threshold, fraction]")
    tiers = []
    for i, pair in enumerate(raw):
        if not isinstance(pair, list) or len(pair) != 2:
            raise _fail(path, f"{where}.tiers[{i}]", f"expected [threshold, fraction], got {pair!r}")
        threshold = _number(path, f"{where}.tiers[{i}][0]", pair[0])
        fraction = _number(path, f"{where}.tiers[{i}][1]", pair[1])
        if not 0.0 <= fraction <= 1.0:
            raise _fail(path, f"{where}.tiers[{i}]", f"fraction {fraction} is not in [0, 1]")
        tiers.append((threshold, fraction))
    sign = 1.0 if higher_is_better else -1.0
    thresholds = [t for t, _ in tiers]
    if any(sign * (a - b) <= 0 for a, b in zip(thresholds, thresholds[1:], strict=False)):
        order = "decrease" if higher_is_better else "increase"
        raise _fail(path, where, f"thresholds must strictly {order} (best tier first)")
    fractions = [f for _, f in tiers]
    if any(a < b for a, b in zip(fractions, fractions[1:], strict=False)):
        raise _fail(path, where, "fractions must not increase from one tier to the next")
    return Tiers(tuple(tiers))


def _parse_policy(path, table) -> SubmissionPolicy:
    _require_keys(path, "submission", table, [], ["due", "late_penalty_per_day", "late_days_max"])
    due = table.get("due")
    if due is not None and (not isinstance(due, dt.datetime) or due.tzinfo is None):
        raise _fail(path, "submission.due", "write a date and time with its zone, e.g. "
                    "2027-02-14T23:59:00Z or 2027-02-14T23:59:00+01:00")
    penalty = _number(path, "submission.late_penalty_per_day",
                      table.get("late_penalty_per_day", 0.0))
    if not 0.0 <= penalty <= 1.0:
        raise _fail(path, "submission.late_penalty_per_day", "expected a fraction in [0, 1]")
    days = table.get("late_days_max")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 0):
        raise _fail(path, "submission.late_days_max", "expected a whole number of days >= 0")
    return SubmissionPolicy(due, penalty, days)


def parse_submission_policy(path: Path) -> SubmissionPolicy:
    """The ``[submission]`` table of a grading TOML (an absent file or table: no due date)."""
    path = Path(path)
    if not path.exists():
        return SubmissionPolicy()
    data = _load_toml(path)
    return _parse_policy(path, data["submission"]) if "submission" in data else SubmissionPolicy()


def _load_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise GradingConfigError(f"{path}: not valid TOML: {err}") from err


def parse_grading_toml(path: Path) -> list[MetricQuestion]:
    """Read ``grading/<assignment>.toml``; an absent file means no metric question."""
    path = Path(path)
    if not path.exists():
        return []
    data = _load_toml(path)
    _require_keys(path, "top level", data, [], ["metric", "submission"])
    entries = data.get("metric", [])
    if not isinstance(entries, list):
        raise _fail(path, "metric", "write each question as a [[metric]] table")
    questions, seen = [], set()
    for i, entry in enumerate(entries):
        where = f"metric[{i}]"
        _require_keys(path, where, entry, ["grade_id", "dataset", "metric"],
                      ["model", "weights", "limit_quick", "real", "synthetic"])
        grade_id = _string(path, f"{where}.grade_id", entry["grade_id"])
        if grade_id in seen:
            raise _fail(path, where, f"grade_id {grade_id!r} appears twice")
        seen.add(grade_id)
        metric = _string(path, f"{where}.metric", entry["metric"])
        if metric not in METRICS:
            raise _fail(path, f"{where}.metric", f"{metric!r} is not one of {sorted(METRICS)}")
        model = _string(path, f"{where}.model", entry.get("model", "final_model"))
        if not model.isidentifier():
            raise _fail(path, f"{where}.model", f"{model!r} is not a Python variable name")
        weights = entry.get("weights")
        if weights is not None:
            weights = _string(path, f"{where}.weights", weights)
            if "/" in weights or weights.startswith("."):
                raise _fail(path, f"{where}.weights", "give a bare file name, no directories")
        limit_quick = entry.get("limit_quick")
        if limit_quick is not None and (
            isinstance(limit_quick, bool) or not isinstance(limit_quick, int) or limit_quick < 1
        ):
            raise _fail(path, f"{where}.limit_quick", f"expected a positive integer, got {limit_quick!r}")
        tiers = {
            source: _parse_tiers(path, f"{where}.{source}", entry[source],
                                 METRICS[metric].higher_is_better)
            for source in DATA_SOURCES
            if source in entry
        }
        if not tiers:
            raise _fail(path, where, "give the tiers for [metric.real] and/or [metric.synthetic]")
        questions.append(MetricQuestion(
            grade_id=grade_id, dataset=_string(path, f"{where}.dataset", entry["dataset"]),
            metric=metric, model=model, weights=weights, limit_quick=limit_quick, tiers=tiers,
        ))
    return questions


def grading_toml_path(course_dir: Path, assignment: str) -> Path:
    return Path(course_dir) / "grading" / f"{assignment}.toml"


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> (i, n) with 0 <= i < n."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError as err:
        raise ValueError(f"--shard {text!r}: write it as INDEX/COUNT, e.g. 0/4") from err
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {text!r}: need 0 <= INDEX < COUNT")
    return index, count


def parse_memory(text: str) -> int:
    """``"6G"``, ``"512M"`` or a byte count -> bytes."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError as err:
        raise ValueError(f"memory size {text!r}: write e.g. 6G, 512M or a byte count") from err
