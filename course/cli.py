"""`course`: the command behind the README's `make demo`.

    course demo            run the six units in quick mode, then grade the sample submissions
    course demo --units    only the units
    course demo --grading  only the grading demo
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from course import notebooks


def demo(args: argparse.Namespace) -> int:
    os.environ.update(notebooks.QUICK_ENV)  # offline and quick, for the grader's kernels too
    both = not (args.units or args.grading)
    status = 0
    if args.units or both:
        print("== Units: executing every notebook in quick mode on synthetic data ==")
        status |= notebooks.main(["run", "--out", str(args.out / "units")])
    if args.grading or both:
        from autograder import demo as grading_demo

        print("\n== Assignments: release, simulate students, collect, grade, feedback ==")
        status |= grading_demo.run(args.out / "grading")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("demo", help="the end-to-end offline demo")
    run.add_argument("--units", action="store_true", help="only execute the unit notebooks")
    run.add_argument("--grading", action="store_true", help="only run the grading demo")
    run.add_argument("--out", type=Path, default=Path("build") / "demo", help="output directory")
    args = parser.parse_args(argv)
    return demo(args)


if __name__ == "__main__":
    sys.exit(main())
