"""``course-grader``: grade a class of notebooks safely, in parallel, resumably.

Subcommands follow the instructor's workflow; run ``course-grader CMD --help``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

WORKFLOW = """\
workflow (course directory = the folder with nbgrader_config.py, e.g. assignments/):
  course-grader release  a2_facial_keypoints            # student version + gradebook entries
  course-grader collect  a2_facial_keypoints uploads/   # <student>_..._a2_facial_keypoints_submission.zip
  course-grader grade    a2_facial_keypoints --workers 4
  course-grader feedback a2_facial_keypoints            # HTML without hidden tests + a zip
  course-grader export   a2_facial_keypoints grades.csv --gradescope gradescope/
  course-grader leaderboard a2_facial_keypoints         # RMSE, lowest first

several machines (e.g. the Kubernetes Indexed Job in autograder/k8s/grading-job.yaml):
  course-grader grade a2_facial_keypoints --shard 0/4 --gradebook shards/shard-0.db
  ...
  course-grader merge shards/shard-*.db                 # into the course gradebook

Student code runs in a sandbox (bubblewrap: no network, read-only system, instructor files
hidden, memory/CPU/process limits). Hidden-test labels never enter it: the grader only
hands the model the hidden images and scores the predictions itself."""


def _course_dir(value: str) -> Path:
    path = Path(value).resolve()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: not a directory")
    return path


def build_parser() -> argparse.ArgumentParser:
    from autograder.config import Limits, Timeouts

    parser = argparse.ArgumentParser(
        prog="course-grader", description=__doc__.splitlines()[0], epilog=WORKFLOW,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", type=_course_dir, default=Path("."),
                        help="nbgrader course directory (default: current directory)")
    parser.add_argument("--verbose", action="store_true", help="show nbgrader's log messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help_text, epilog):
        return commands.add_parser(name, help=help_text, description=help_text, epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

    p = command("release", "nbgrader generate_assignment, then check the notebooks open on Colab",
                "example:\n  course-grader --course assignments release a1_cnn_classification")
    p.add_argument("assignment")

    p = command("collect", "unpack uploaded <assignment>_submission.zip archives into submitted/",
                "Archives are found recursively; the student id is taken from the path.\n"
                "example:\n  course-grader collect a1_cnn_classification ~/Downloads/a1/\n"
                "  course-grader collect a1 inbox/ --pattern '(?P<student_id>\\w+)-a1\\.zip$'")
    p.add_argument("assignment")
    p.add_argument("inbox", type=Path, help="folder with the uploaded archives")
    p.add_argument("--pattern", help="regex with (?P<student_id>...) matched against the "
                   "archive's path relative to INBOX")

    t, lim = Timeouts(), Limits()
    p = command("grade", "grade every collected submission in a sandbox",
                "Re-running skips submissions already graded whose files did not change.\n"
                "examples:\n  course-grader grade a2_facial_keypoints --workers 2\n"
                "  course-grader grade a2_facial_keypoints --gpus 0,1   # one submission per GPU\n"
                "  course-grader grade a2 --backend none   # Colab: no sandbox (recorded)\n"
                "  course-grader grade a2 --student alice --force --retrain")
    p.add_argument("assignment")
    p.add_argument("--backend", choices=["auto", "bwrap", "docker", "none"], default="auto",
                   help="isolation (auto = bwrap when it works here, else an error)")
    p.add_argument("--workers", type=int, default=1, help="submissions graded at once")
    p.add_argument("--gpus", default="", help="comma-separated GPU ids; one worker per GPU")
    p.add_argument("--force", action="store_true", help="regrade even unchanged submissions")
    p.add_argument("--retrain", action="store_true",
                   help="re-train instead of restoring the submitted weights")
    p.add_argument("--student", action="append", default=[], help="grade only this student "
                   "(repeatable)")
    p.add_argument("--shard", default="0/1", help="INDEX/COUNT: grade a deterministic part")
    p.add_argument("--gradebook", type=Path, help="gradebook file (a shard's own copy)")
    p.add_argument("--data", choices=["real", "synthetic"], help="COURSE_DATA for grading")
    p.add_argument("--quick", action="store_true", help="COURSE_QUICK=1 (hidden subset too)")
    p.add_argument("--hidden-loader", default="course.data:load_hidden",
                   help="MODULE:FUNCTION or FILE.py:FUNCTION returning (images, labels)")
    p.add_argument("--hidden-dir", type=Path, default=os.environ.get("COURSE_HIDDEN_DIR"),
                   help="held-back data folder, hidden from the sandbox (default $COURSE_HIDDEN_DIR)")
    p.add_argument("--timeout-test", type=float, default=t.test, help="s per test cell")
    p.add_argument("--timeout-training", type=float, default=t.training,
                   help="s per cell tagged 'training'")
    p.add_argument("--timeout-default", type=float, default=t.default, help="s per other cell")
    p.add_argument("--timeout-predict", type=float, default=t.predict,
                   help="s for the hidden-set predictions")
    p.add_argument("--memory", default=f"{lim.memory_bytes // 2**30}G",
                   help="address-space limit per submission (TensorFlow needs >= 1.5G)")
    p.add_argument("--cpu-seconds", type=int, default=lim.cpu_seconds)
    p.add_argument("--max-processes", type=int, default=lim.max_processes)
    p.add_argument("--max-output", type=int, default=lim.output_bytes_per_cell,
                   help="bytes of output kept per cell")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    p = command("feedback", "nbgrader generate_feedback, hidden tests removed and verified absent",
                "example:\n  course-grader feedback a1_cnn_classification  # feedback/<a>_feedback.zip")
    p.add_argument("assignment")
    p.add_argument("--gradebook", type=Path)

    p = command("export", "grades as CSV for an LMS (and Gradescope results.json files)",
                "example:\n  course-grader export a1 grades-a1.csv --gradescope gradescope/")
    p.add_argument("assignment")
    p.add_argument("csv", type=Path)
    p.add_argument("--gradescope", type=Path, help="folder for <student>/results.json")
    p.add_argument("--gradebook", type=Path)

    p = command("leaderboard", "rank submissions by their hidden-set metric",
                "Keypoint RMSE ranks lowest first; accuracy and mean IoU highest first.\n"
                "example:\n  course-grader leaderboard a2_facial_keypoints --csv board.csv")
    p.add_argument("assignment")
    p.add_argument("--grade-id", help="which metric question (default: the first)")
    p.add_argument("--csv", type=Path)

    p = command("merge", "merge shard gradebooks into the course gradebook",
                "example:\n  course-grader merge shards/shard-*.db")
    p.add_argument("shards", nargs="+", type=Path)
    p.add_argument("--into", type=Path, help="target gradebook (default: COURSE/gradebook.db)")
    return parser


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=False))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def summary(outcomes: list[dict]) -> str:
    rows = []
    for r in outcomes:
        score = (f"{r['score']:g}/{r['max_score']:g}" if r.get("status") == "graded" else "-")
        notes = r.get("reason") or "; ".join(r.get("problems", []) + r.get("structure_issues", []))
        status = r["status"] + (" (unchanged, skipped)" if r.get("skipped") else "")
        rows.append([r["student"], status, score, r.get("backend", ""), notes[:120]])
    graded = sum(r["status"] == "graded" for r in outcomes)
    return (table(rows, ["student", "status", "score", "isolation", "notes"])
            + f"\n{graded}/{len(outcomes)} graded, {len(outcomes) - graded} with a recorded reason")


def run_grade(args) -> int:
    from autograder import pipeline
    from autograder.config import GradeOptions, Limits, Timeouts, parse_memory, parse_shard

    gpus = tuple(g.strip() for g in args.gpus.split(",") if g.strip())
    options = GradeOptions(
        course_dir=args.course, assignment=args.assignment, backend=args.backend,
        workers=len(gpus) if gpus else args.workers, gpus=gpus, force=args.force,
        retrain=args.retrain, shard=parse_shard(args.shard),
        gradebook=args.gradebook.resolve() if args.gradebook else None,
        students=tuple(args.student),
        timeouts=Timeouts(args.timeout_test, args.timeout_training, args.timeout_default,
                          args.timeout_predict),
        limits=Limits(memory_bytes=parse_memory(args.memory), cpu_seconds=args.cpu_seconds,
                      max_processes=args.max_processes, output_bytes_per_cell=args.max_output),
        data_source=args.data, quick=True if args.quick else None,
        hidden_loader=args.hidden_loader,
        hidden_dir=Path(args.hidden_dir).resolve() if args.hidden_dir else None,
        progress=not args.no_progress,
    )
    if options.backend == "none":
        print("WARNING: --backend none runs student code WITHOUT isolation; recorded per "
              "submission.", file=sys.stderr)
    outcomes = pipeline.grade(options)
    print(summary(outcomes))
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    if not args.verbose:
        warnings.filterwarnings("ignore")  # nbgrader's SQLAlchemy warnings drown the summary
        logging.getLogger("traitlets").setLevel(logging.ERROR)
    course = args.course
    try:
        if args.command == "release":
            from autograder.release import release

            for path, problems in release(course, args.assignment).items():
                print(f"released {path}" + (f"  [Colab: {'; '.join(problems)}]" if problems else ""))
        elif args.command == "collect":
            from autograder import collect, gradebook

            notebook = gradebook.notebook_ids(course / "gradebook.db", args.assignment)[0]
            report = collect.collect(course, args.assignment, args.inbox, notebook, args.pattern)
            print(table([[r.student or "?", r.archive, ", ".join(r.files) or "-", r.error or "ok"]
                         for r in report], ["student", "archive", "files", "result"]))
            return 1 if any(r.error for r in report) else 0
        elif args.command == "grade":
            return run_grade(args)
        elif args.command == "feedback":
            from autograder.feedback import generate_feedback

            done = generate_feedback(course, args.assignment, args.gradebook)
            print(f"{len(done['files'])} feedback files, no hidden-test line in any; "
                  f"archive: {done['archive']}")
        elif args.command == "export":
            from autograder import export

            rows = export.rows(course, args.assignment, args.gradebook)
            export.write_csv(rows, args.csv)
            print(f"wrote {args.csv} ({len(rows)} students)")
            if args.gradescope:
                written = export.write_gradescope(course, args.assignment, args.gradescope,
                                                  args.gradebook)
                print(f"wrote {len(written)} Gradescope results.json files in {args.gradescope}")
        elif args.command == "leaderboard":
            from autograder import export

            ranked = export.leaderboard(course, args.assignment, args.grade_id)
            print(table([[e["rank"], e["student"], "-" if e["value"] is None else
                          f"{e['value']:.4f}"] for e in ranked],
                        ["rank", "student", ranked[0]["metric"]]))
            if args.csv:
                import csv

                with open(args.csv, "w", newline="") as handle:
                    writer = csv.DictWriter(handle, ["rank", "student", "grade_id", "metric",
                                                     "value"])
                    writer.writeheader()
                    writer.writerows(ranked)
        elif args.command == "merge":
            from autograder.shards import merge

            target = args.into or course / "gradebook.db"
            for assignment, students in merge(target, args.shards).items():
                print(f"merged {assignment}: {len(students)} submissions into {target}")
    except (RuntimeError, ValueError, FileNotFoundError) as err:
        print(f"course-grader {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
