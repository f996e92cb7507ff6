"""Execute one prepared submission notebook; runs INSIDE the sandbox.

``python -m autograder.runner WORK_DIR`` reads ``WORK_DIR/.grader/job.json``
(written by the trusted side), executes the notebook cell by cell with
nbclient and writes ``.grader/executed.ipynb`` and ``.grader/run.json``.

- Each cell gets the timeout of its role (docs/contracts.md): nbgrader test
  cells, cells tagged ``training``, the rest; metadata ``course.timeout`` wins.
- A cell that times out is interrupted; a kernel that will not come back, or
  that died (``os._exit``, out of memory), is restarted and the following
  cells run on: only the cells that failed (and cells needing their state)
  lose points.
- Output beyond a byte budget per cell is dropped with one notice.
- For each metric question the runner then asks the student's model for
  predictions on the hidden images (no labels are ever in here) and saves
  them with ``numpy.save``; the trusted side validates and scores them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

# jsonschema (under nbformat) builds a large grammar for its optional "iri" format
# check when imported: 1-3 s per process, and this process starts once per
# submission. Notebook validation never uses that check.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

JOB_DIR = ".grader"


def cell_role(cell: NotebookNode) -> str:
    if cell.metadata.get("nbgrader", {}).get("grade") and not cell.metadata["nbgrader"].get(
        "solution"
    ):
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


def predict_source(model: str, images: str, predictions: str) -> str:
    # Fresh names so a student's variables cannot shadow the grader's.
    return (
        "import numpy as __grader_np\n"
        f"__grader_images = __grader_np.load({images!r}, allow_pickle=False)\n"
        "try:\n"
        f"    __grader_pred = {model}.predict(__grader_images, verbose=0)\n"
        "except TypeError:\n"
        f"    __grader_pred = {model}.predict(__grader_images)\n"
        f"__grader_np.save({predictions!r}, __grader_np.asarray(__grader_pred), allow_pickle=False)\n"
    )


class Runner:
    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.job = json.loads((work_dir / JOB_DIR / "job.json").read_text())
        self.nb = nbformat.read(work_dir / self.job["notebook"], as_version=4)
        self.events: list[dict] = []
        self.client = GradingClient(
            self.nb, kernel_name="python3", allow_errors=True, interrupt_on_timeout=False,
            resources={"metadata": {"path": str(work_dir)}}, record_timing=True,
        )
        self.client.output_budget = int(self.job["output_bytes_per_cell"])
        self.client._used = {}

    def _kernel_responsive(self) -> bool:
        """After an interrupt: does the kernel run a trivial cell within 10 s?"""
        probe = nbformat.v4.new_code_cell("pass")
        self.nb.cells.append(probe)  # nbclient writes the executed cell back by index
        self.client.timeout = 10
        try:
            self.client.execute_cell(probe, len(self.nb.cells) - 1)
            return True
        except (CellTimeoutError, DeadKernelError):
            return False
        finally:
            self.nb.cells.pop()

    def _restart(self) -> None:
        self.client._cleanup_kernel()
        self.client.km = None
        self.client.kc = None
        self.client.km = self.client.create_kernel_manager()
        self.client.start_new_kernel()
        self.client.start_new_kernel_client()

    def run_cell(self, cell: NotebookNode, index: int, timeout: float, label: str) -> str:
        self.client.timeout = int(max(1, timeout))
        started = time.monotonic()
        status = "ok"
        try:
            self.client.execute_cell(cell, index)
            if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                status = "error"
        except CellTimeoutError:
            status = "timeout"
            cell.outputs.append(error_output(
                "CellTimeoutError", f"[grader] this cell ran past its {timeout:g} s limit"))
            run_sync(self.client.km.interrupt_kernel)()
            if not self._kernel_responsive():
                status = "timeout+restart"
                self._restart()
        except DeadKernelError:
            status = "kernel_died"
            cell.outputs.append(error_output(
                "DeadKernelError", "[grader] the kernel died in this cell (os._exit, crash or "
                "memory limit); it was restarted and grading went on"))
            self._restart()
        self.events.append({"cell": index, "label": label, "status": status,
                            "seconds": round(time.monotonic() - started, 3)})
        return status

    def run(self) -> None:
        timeouts = self.job["timeouts"]
        with self.client.setup_kernel():
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code":
                    continue
                label = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
                self.run_cell(cell, index, cell_timeout(cell, timeouts), label)
            self._write_notebook()
            for question in self.job["metrics"]:
                probe = nbformat.v4.new_code_cell(predict_source(
                    question["model"], question["images"], question["predictions"]))
                # nbclient stores the executed cell back into the notebook by index; the
                # probe is appended after the student's notebook was saved, then dropped.
                self.nb.cells.append(probe)
                status = self.run_cell(probe, len(self.nb.cells) - 1, timeouts["predict"],
                                       f"predict:{question['grade_id']}")
                self.nb.cells.pop()
                errors = [o for o in probe.outputs if o.get("output_type") == "error"]
                self.events[-1]["error"] = (
                    f"{errors[0]['ename']}: {errors[0]['evalue']}"[:500] if errors else None)
                self.events[-1]["status"] = status
        self._write_run()

    def _write_notebook(self) -> None:
        path = self.work_dir / JOB_DIR / "executed.ipynb"
        nbformat.write(self.nb, path)

    def _write_run(self) -> None:
        (self.work_dir / JOB_DIR / "run.json").write_text(json.dumps({"cells": self.events}))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m autograder.runner WORK_DIR", file=sys.stderr)
        return 2
    Runner(Path(argv[0]).resolve()).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
