"""Execute the course notebooks and print wall time and headline figures.

    python bench/notebooks.py                 # quick mode, synthetic data (what CI runs)
    python bench/notebooks.py --full          # full mode, real data (Colab / a GPU machine)
    python bench/notebooks.py units/04*.ipynb --json bench/results/full.json

Headline figures are what each notebook reports through ``course.runtime.record``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

from course.notebooks import QUICK_ENV, ROOT, course_notebooks, execute

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # this process imports TensorFlow too


def machine() -> str:
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return f"{platform.node()} ({platform.processor() or platform.machine()}, GPU: {gpus or 'none'})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--full", action="store_true", help="real data, full epochs")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per notebook")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    paths = [p.resolve() for p in args.paths] or course_notebooks()
    env = {"COURSE_DATA": "real", "COURSE_QUICK": "0"} if args.full else dict(QUICK_ENV)
    timeout = args.timeout or (7200 if args.full else 600)
    rows = []
    for path in paths:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / path.name
            work.write_bytes(path.read_bytes())
            results_file = Path(tmp) / "results.json"
            result = execute(work, timeout=timeout, cell_timeout=timeout,
                             env={**env, "COURSE_RESULTS": str(results_file)})
            figures = json.loads(results_file.read_text()) if results_file.exists() else {}
        rows.append({"notebook": path.relative_to(ROOT).as_posix(), "seconds": round(result.seconds, 1),
                     "ok": result.ok, "figures": figures})
        status = "ok" if result.ok else "FAILED"
        shown = ", ".join(f"{k}={v:.4g}" for k, v in figures.items())
        print(f"{rows[-1]['notebook']:<62} {result.seconds:7.1f} s  {status}  {shown}", flush=True)
    mode = "full (real data)" if args.full else "quick (synthetic data)"
    print(f"mode: {mode}; machine: {machine()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"mode": mode, "machine": machine(), "notebooks": rows},
                                        indent=2))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
