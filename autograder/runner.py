"""Execute one prepared submission notebook; runs INSIDE the sandbox.

``python -m autograder.runner WORK_DIR`` reads ``WORK_DIR/.grader/job.json``
(a :class:`~autograder.records.NotebookJob`), executes the notebook cell by
cell with nbclient and writes ``.grader/executed.ipynb`` and ``.grader/run.json``.
Its outputs feed the student's feedback and the hidden-set predictions of the
metric questions; no point depends on them otherwise (the graded cases run
later, in a fresh process).

- Each cell gets the timeout of its role (docs/contracts.md): nbgrader test
  cells, cells tagged ``training``, the rest; metadata ``course.timeout`` wins.
- A cell that runs past its limit or kills its kernel (``os._exit``, out of
  memory) gets an error output, and the kernel is replaced by a fresh one on
  which the cells that had run are replayed (their outputs kept from the first
  run); then the following cells run for real. A fresh client each time: after
  an interrupted cell, nbclient's listener of the old cell can swallow the
  next cell's output. After ``max_restarts`` the remaining cells are marked as
  not run.
- Output beyond a byte budget per cell is dropped with one notice.
- For each metric question the runner then asks the student's model for
  predictions on the hidden images (no labels are ever in here), in chunks of
  about 32 MB that Keras splits into batches, reduced to labels where the metric
  needs labels, and saves them with ``numpy.save``; the trusted side validates
  and scores them.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from autograder.records import JOB_DIR, NotebookJob, PredictionRequest

FAILED = ("timeout", "kernel_died")


def cell_role(cell: NotebookNode) -> str:
    meta = cell.metadata.get("nbgrader", {})
    if meta.get("grade") and not meta.get("solution"):
        return "test"
    if "training" in cell.metadata.get("tags", []):
        return "training"
    return "default"


def cell_timeout(cell: NotebookNode, timeouts: dict) -> float:
    override = cell.metadata.get("course", {}).get("timeout")
    if isinstance(override, int | float) and not isinstance(override, bool) and override > 0:
        return float(override)
    return float(timeouts[cell_role(cell)])


def error_output(ename: str, evalue: str) -> NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                  traceback=[f"{ename}: {evalue}"])


class GradingClient(NotebookClient):
    """nbclient with a per-cell output budget."""

    output_budget = 1_000_000

    def output(self, outs, msg, display_id, cell_index):
        used = self._used.get(cell_index, 0)
        size = len(json.dumps(msg.get("content", {})))
        if used > self.output_budget:
            return None
        self._used[cell_index] = used + size
        if used + size > self.output_budget:
            notice = nbformat.v4.new_output(
                "stream", name="stderr",
                text=f"\n[grader] output of this cell exceeded {self.output_budget} bytes; "
                     "the rest was dropped.\n")
            outs.append(notice)
            return notice
        return super().output(outs, msg, display_id, cell_index)


# Keras's predict costs about 0.1 s per call (it builds a data pipeline each time), so the
# hidden images go to it in chunks of about this many bytes (as float32), which Keras then
# splits into batches; the chunk's images and outputs are what the prediction adds to memory.
PREDICT_CHUNK_BYTES = 32 * 2**20


def predict_source(request: PredictionRequest) -> str:
    """The cell the grader runs in the student's kernel; fresh names so that a student's
    variables cannot shadow the grader's. Chunks, batches and label reduction keep the
    memory of a large hidden set small (a mask's class fits in one byte)."""
    reduce = ("__grader_out = __grader_np.asarray(__grader_out).argmax(axis=-1)"
              ".astype(__grader_np.uint8)" if request.reduce == "argmax" else
              "__grader_out = __grader_np.asarray(__grader_out, dtype=__grader_np.float32)")
    return (
        "import numpy as __grader_np\n"
        f"__grader_images = __grader_np.load({request.images!r}, mmap_mode='r')\n"
        f"__grader_step = max({request.batch_size}, {PREDICT_CHUNK_BYTES}\n"
        "                    // max(1, 4 * int(__grader_np.prod(__grader_images.shape[1:]))))\n"
        "__grader_parts = []\n"
        "for __grader_start in range(0, len(__grader_images), __grader_step):\n"
        "    __grader_batch = __grader_np.array(\n"
        "        __grader_images[__grader_start:__grader_start + __grader_step])\n"
        "    try:\n"
        f"        __grader_out = {request.model}.predict(__grader_batch, "
        f"batch_size={request.batch_size}, verbose=0)\n"
        "    except TypeError:\n"
        f"        __grader_out = {request.model}.predict(__grader_batch)\n"
        f"    {reduce}\n"
        "    __grader_parts.append(__grader_out)\n"
        f"__grader_np.save({request.predictions!r}, __grader_np.concatenate(__grader_parts),\n"
        "                 allow_pickle=False)\n"
        "del __grader_images, __grader_parts, __grader_batch, __grader_out\n"
    )


class Runner:
    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.job = NotebookJob.read(work_dir / JOB_DIR / "job.json")
        self.nb = nbformat.read(work_dir / self.job.notebook, as_version=4)
        self.events: list[dict] = []
        self.memory: dict[str, float] = {}
        self.client: GradingClient | None = None

    def _new_client(self) -> GradingClient:
        client = GradingClient(
            self.nb, kernel_name="python3", allow_errors=True, interrupt_on_timeout=False,
            resources={"metadata": {"path": str(self.work_dir)}}, record_timing=True,
            shutdown_kernel="immediate")  # nothing of the kernel's is needed after its run
        client.output_budget = self.job.output_bytes_per_cell
        client._used = {}
        return client

    def execute(self, cell: NotebookNode, index: int, timeout: float) -> str:
        """Run one cell on the live kernel; "ok", "error", "timeout" or "kernel_died"."""
        self.client.timeout = int(max(1, timeout))
        try:
            self.client.execute_cell(cell, index)
        except CellTimeoutError:
            cell.outputs.append(error_output(
                "CellTimeoutError", f"[grader] this cell ran past its {timeout:g} s limit; "
                "the kernel was replaced and the cells after it ran on a fresh one"))
            return "timeout"
        except DeadKernelError:
            cell.outputs.append(error_output(
                "DeadKernelError", "[grader] the kernel died in this cell (os._exit, crash or "
                "memory limit); it was replaced and the cells after it ran on a fresh one"))
            return "kernel_died"
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return "error"
        return "ok"

    def replay(self, indices: list[int]) -> bool:
        """Rebuild a fresh kernel's state from the cells that ran; their first outputs stay."""
        for index in indices:
            cell = copy.deepcopy(self.nb.cells[index])
            self.nb.cells.append(cell)  # nbclient writes the executed cell back by index
            try:
                status = self.execute(cell, len(self.nb.cells) - 1,
                                      cell_timeout(cell, self.job.timeouts))
            finally:
                self.nb.cells.pop()
            if status in FAILED:
                return False
        return True

    def label(self, index: int) -> str:
        return self.nb.cells[index].metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")

    def run(self) -> None:
        code = [i for i, c in enumerate(self.nb.cells) if c.cell_type == "code"]
        position, ran, restarts = 0, [], 0
        while True:
            self.client = self._new_client()
            try:
                with self.client.setup_kernel():
                    if ran and not self.replay(ran):
                        self.events.append({"cell": None, "label": "replay", "status": "timeout",
                                            "seconds": 0.0})
                        break
                    while position < len(code):
                        index = code[position]
                        position += 1
                        cell = self.nb.cells[index]
                        started = time.monotonic()
                        status = self.execute(cell, index, cell_timeout(cell, self.job.timeouts))
                        self.events.append({"cell": index, "label": self.label(index),
                                            "status": status,
                                            "seconds": round(time.monotonic() - started, 3)})
                        if status in FAILED:
                            break
                        ran.append(index)
                    else:
                        self._write_notebook()
                        self.predict()
                        self.kernel_memory()
                        break
            except RuntimeError as err:
                # nbclient's "Kernel died before replying to kernel_info": a kernel that did
                # not start (a loaded machine, or a module in the work dir that breaks it)
                # counts as a restart; the cells it did not run are marked below.
                if "kernel" not in str(err).lower():
                    raise
                self.events.append({"cell": None, "label": "kernel start",
                                    "status": "kernel_died", "seconds": 0.0})
            restarts += 1
            if restarts > self.job.max_restarts:
                break
        stop_leftover_processes()
        for index in code[position:]:
            self.nb.cells[index].outputs = [error_output(
                "NotRun", f"[grader] not run: the kernel was replaced {self.job.max_restarts} "
                "times already")]
            self.events.append({"cell": index, "label": self.label(index), "status": "not_run",
                                "seconds": 0.0})
        self._write_notebook()
        self._write_run()

    def kernel_memory(self) -> None:
        """The kernel's peak address space (what --memory caps) and peak resident set, in MiB."""
        process = getattr(getattr(self.client.km, "provisioner", None), "process", None)
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except (AttributeError, OSError):
            return
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        self.memory = {name: round(int(fields[key].split()[0]) / 1024, 1)
                       for name, key in (("vm_peak_mib", "VmPeak"), ("rss_peak_mib", "VmHWM"))
                       if key in fields}

    def predict(self) -> None:
        for request in self.job.predictions:
            probe = nbformat.v4.new_code_cell(predict_source(request))
            # nbclient stores the executed cell back into the notebook by index; the
            # probe is appended after the student's notebook was saved, then dropped.
            self.nb.cells.append(probe)
            started = time.monotonic()
            try:
                status = self.execute(probe, len(self.nb.cells) - 1,
                                      self.job.timeouts["predict"])
            finally:
                self.nb.cells.pop()
            errors = [o for o in probe.outputs if o.get("output_type") == "error"]
            self.events.append({
                "cell": None, "label": f"predict:{request.grade_id}", "status": status,
                "seconds": round(time.monotonic() - started, 3),
                "error": f"{errors[0]['ename']}: {errors[0]['evalue']}"[:500] if errors else None})
            if status in FAILED:
                return

    def _write_notebook(self) -> None:
        nbformat.write(self.nb, self.work_dir / JOB_DIR / "executed.ipynb")

    def _write_run(self) -> None:
        (self.work_dir / JOB_DIR / "run.json").write_text(
            json.dumps({"cells": self.events, "kernel_memory": self.memory}))


def stop_leftover_processes() -> None:
    """Kill every other process of this run (a student's background job could otherwise
    rewrite the records below), where the sandbox gave the run its own pid namespace."""
    if os.environ.get("COURSE_SANDBOX_PID_NAMESPACE") == "1":
        try:
            os.kill(-1, signal.SIGKILL)  # every process this uid may signal, except this one
        except ProcessLookupError:
            pass


def protect_this_process() -> None:
    """Make this process non-dumpable: the student's kernel runs as the same uid, and could
    otherwise write into the runner's memory through /proc/<pid>/mem."""
    import ctypes

    pr_set_dumpable = 4
    ctypes.CDLL(None).prctl(pr_set_dumpable, 0, 0, 0, 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m autograder.runner WORK_DIR", file=sys.stderr)
        return 2
    protect_this_process()
    Runner(Path(argv[0]).resolve()).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
