"""Step 2 of grading a submission: student code runs, sandboxed, in two separate processes.

1. :func:`run_notebook`: the whole notebook, in its own kernel
   (:mod:`autograder.runner`), for the feedback and the hidden-set predictions.
2. :func:`run_cases`: a fresh sandbox per library profile, under another uid,
   in its own pid namespace and work dir, runs only the locked setup cells and
   the answer cells (:mod:`autograder.case_runner`); the grader sends each
   graded case over a pipe and judges the plain values that come back. Nothing
   the notebook run does (patched modules, files in its work dir, processes
   left behind) reaches this process, and for NumPy-only questions the blocked
   libraries are not even on its file system.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import sandbox, wire
from autograder.cases import Question, QuestionVerdict, Reply, judge
from autograder.records import JOB_DIR
from autograder.scoring import InvalidPredictions, read_untrusted_file
from autograder.setup import GradingSetup

MAX_NOTEBOOK_BYTES = 200 * 2**20
MAX_REPLY_BYTES = 256 * 2**20
MAX_SESSION_RESTARTS = 3
STARTUP_SECONDS = 60.0


@dataclass
class NotebookRun:
    run: sandbox.SandboxRun
    executed: nbformat.NotebookNode | None  # None: the runner wrote no readable notebook
    events: list[dict]
    failure: str | None  # why there is no executed notebook
    kernel_memory: dict[str, float] = field(default_factory=dict)


def slot_uids(slot: int) -> tuple[int, int]:
    """Host uids of a worker slot: one for the notebook run, another for its cases."""
    return sandbox.ROOT_MODE_UID_BASE + 2 * slot, sandbox.ROOT_MODE_UID_BASE + 2 * slot + 1


def run_notebook(setup: GradingSetup, work_dir: Path, slot: int, gpu: str | None) -> NotebookRun:
    spec = setup.spec(work_dir, gpu, slot_uids(slot)[0])
    argv = [sys.executable, "-m", "autograder.runner", str(work_dir)]
    run = sandbox.run_sandboxed(setup.backend, spec, argv, setup.wall_timeout())
    try:
        text = read_untrusted_file(work_dir / JOB_DIR / "executed.ipynb", MAX_NOTEBOOK_BYTES)
        executed = nbformat.reads(text.decode("utf-8"), as_version=4)
    except (InvalidPredictions, ValueError, UnicodeDecodeError) as err:
        why = "sandbox wall-clock limit" if run.timed_out else f"runner failed ({err})"
        return NotebookRun(run, None, [], f"{why}: {_last_line(run.stderr_tail)}")
    events, memory = _read_run(work_dir)
    return NotebookRun(run, executed, events, None, memory)


def _read_run(work_dir: Path) -> tuple[list[dict], dict[str, float]]:
    """The runner's per-cell events and the kernel's peak memory (as plain, checked data)."""
    try:
        data = json.loads(read_untrusted_file(work_dir / JOB_DIR / "run.json", 10 * 2**20))
        events = [e for e in data.get("cells", []) if isinstance(e, dict)][:10_000]
        memory = {k: float(v) for k, v in data.get("kernel_memory", {}).items()
                  if k in ("vm_peak_mib", "rss_peak_mib") and isinstance(v, int | float)}
        return events, memory
    except (InvalidPredictions, ValueError, AttributeError, TypeError):
        return [], {}


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


# --------------------------------------------------------------------------- graded cases

class CaseSession:
    """One case process in the sandbox, spoken to line by line with deadlines."""

    def __init__(self, setup: GradingSetup, work_dir: Path, uid: int, gpu: str | None,
                 blocked: tuple[str, ...]):
        work_dir.mkdir(parents=True)
        work_dir.chmod(0o777)  # the case runner writes its log here as an unprivileged uid
        spec = setup.spec(work_dir, gpu, uid, hidden=sandbox.module_dirs(blocked))
        argv = [sys.executable, "-m", "autograder.case_runner"]
        self.process = sandbox.SandboxProcess(setup.backend, spec, argv,
                                              work_dir.parent / f"{work_dir.name}.stderr")
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.process.stdout
        while True:
            line = stream.readline(MAX_REPLY_BYTES + 1)
            if not line or len(line) > MAX_REPLY_BYTES:
                self.lines.put(None)
                return
            self.lines.put(line)

    def ask(self, message: dict, timeout: float) -> dict | None:
        """Send ``message``; the reply, or None when the process is gone or too slow."""
        try:
            self.process.process.stdin.write(wire.dumps(message))
            self.process.process.stdin.flush()
        except OSError:
            return None
        return self.answer(timeout)

    def answer(self, timeout: float) -> dict | None:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if line is None:
            return None
        try:
            return wire.loads(line)
        except wire.WireError:
            return None

    def close(self) -> None:
        self.process.close()


def _reply(message: dict | None, fallback: str) -> Reply:
    if message is None:
        return Reply("crashed", error=fallback)
    status = message.get("status")
    if status == "ok":
        try:
            return Reply("ok", wire.decode(message.get("value")))
        except (wire.WireError, ValueError, TypeError) as err:
            return Reply("unsendable", error=str(err)[:200])
    if status in ("raised", "forbidden", "timeout", "missing", "unsendable"):
        exception = message.get("exception")
        return Reply(status, error=str(message.get("error", ""))[:500],
                     exception=exception if isinstance(exception, str) else None)
    return Reply("crashed", error="the case process sent a reply outside the protocol")


def run_cases(setup: GradingSetup, prepared_notebook: nbformat.NotebookNode, scratch: Path,
              slot: int, gpu: str | None) -> tuple[list[QuestionVerdict], list[str]]:
    """Every question's verdict, and the problems met (cells that failed or hung)."""
    cells = setup.case_cells(prepared_notebook)
    groups: dict[tuple, list[Question]] = {}
    for question in setup.questions:
        groups.setdefault(question.profile, []).append(question)
    verdicts, problems = [], []
    # A cell that ran past its limit (or hung its process) in one profile's session is left
    # out of the next sessions: the answer had its time once, and an endless loop would
    # otherwise burn a core for the whole limit in every session.
    skipped: set[str] = set()
    for number, (profile, questions) in enumerate(groups.items()):
        replies, found, refused_cells = _serve_profile(setup, cells, questions, profile,
                                                       scratch / f"cases-{number}", slot, gpu,
                                                       skipped)
        verdicts += [judge(question, replies[question.grade_id],
                           setup.max_points[question.grade_id]) for question in questions]
        # A session that takes libraries away also runs the cells that need them (a Keras
        # model's cell in a NumPy question's session). Their refusal only matters, and is only
        # reported, when it left a function of that session undefined.
        undefined = any(reply.status == "missing" for question in questions
                        for reply in replies[question.grade_id])
        problems += found + (refused_cells if undefined else [])
    return verdicts, problems


def _serve_profile(setup, cells, questions, profile, work_root: Path, slot, gpu,
                   skipped: set[str]):
    """One profile's cases in its own session; ``skipped`` (the cells that overran, shared
    with the other profiles' sessions) grows by the cells that overrun here."""
    blocked, forbidden = profile
    limit = setup.options.timeouts.test
    pending = [(q.grade_id, case) for q in questions for case in q.cases]
    replies: dict[str, list[Reply]] = {q.grade_id: [] for q in questions}
    problems, refused_cells = [], []
    for attempt in range(MAX_SESSION_RESTARTS + 1):
        if not pending:
            break
        session = CaseSession(setup, work_root.with_name(f"{work_root.name}-{attempt}"),
                              slot_uids(slot)[1], gpu, blocked)
        try:
            run = [c for c in cells if c["label"] not in skipped]
            report = session.ask({"cells": run, "blocked_modules": list(blocked),
                                  "blocked_functions": list(forbidden), "cell_timeout": limit},
                                 STARTUP_SECONDS + limit * (len(run) + 1))
            if report is None:
                # The process hung or died in a cell despite its time limit: the cell it
                # was running is the culprit; the next attempt leaves it out.
                culprit = _running_cell(session)
                problems.append("cases: the answer cells stopped the case process"
                                + (f" in {culprit}" if culprit else ""))
                if culprit is None or culprit in skipped:
                    break
                skipped.add(culprit)
                continue
            for cell in report.get("cells", []):
                if isinstance(cell, dict) and cell.get("status") in ("timeout", "forbidden"):
                    (problems if cell["status"] == "timeout" else refused_cells).append(
                        f"cases: cell {cell.get('label')}: {cell.get('error')}")
                    if cell["status"] == "timeout":
                        skipped.add(str(cell.get("label")))
            while pending:
                grade_id, case = pending[0]
                message = session.ask({"id": len(replies[grade_id]),
                                       "function": _function(questions, grade_id),
                                       "args": wire.encode(tuple(case.args)),
                                       "kwargs": wire.encode(dict(case.kwargs)),
                                       "probe": case.probe,
                                       "probe_args": wire.encode(dict(case.probe_args)),
                                       "timeout": case.timeout}, case.timeout + 5)
                replies[grade_id].append(_reply(message, "the process stopped answering"))
                pending.pop(0)
                if message is None:
                    break  # start a fresh process for the remaining cases
        finally:
            session.close()
    for grade_id, _ in pending:
        replies[grade_id].append(Reply("crashed", error="not run: the case process kept failing"))
    return replies, problems, refused_cells


def _running_cell(session: CaseSession) -> str | None:
    progress = session.process.spec.work_dir / "case-progress.txt"
    try:
        return progress.read_text()[:200].strip() or None
    except OSError:
        return None


def _function(questions: list[Question], grade_id: str) -> str:
    return next(q.function for q in questions if q.grade_id == grade_id)
