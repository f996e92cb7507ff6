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
a term (course directory = the folder with nbgrader_config.py, e.g. assignments/):
  course-grader holdout  facial_keypoints training.csv --hidden-dir ~/hidden   # once per term
  course-grader release  a2_facial_keypoints            # student version + gradebook entries
  course-grader collect  a2_facial_keypoints uploads/ --times lms-times.csv
  course-grader grade    a2_facial_keypoints --workers 4 --hidden-dir ~/hidden
  course-grader feedback a2_facial_keypoints            # HTML without hidden tests + a zip
  course-grader export   a2_facial_keypoints grades.csv --gradescope gradescope/
  course-grader leaderboard a2_facial_keypoints         # RMSE, lowest first
  course-grader similarity a2_facial_keypoints          # copied weights, notebooks, answers
  course-grader publish ../public                       # the students' repository (no solutions)

several machines (e.g. the Kubernetes Indexed Job in autograder/k8s/grading-job.yaml):
  course-grader grade a2_facial_keypoints --shard 0/4 --gradebook shards/shard-0.db
  ...
  course-grader merge shards/shard-*.db                 # into the course gradebook

Student code runs in a sandbox (bubblewrap: an allow-list file system, no network,
unprivileged uid, memory/CPU/process limits). Points are decided outside it: graded cases
call the student's functions in a fresh sandboxed process and judge the values that come
back; model scores are computed from predictions on hidden images whose labels never
enter the sandbox."""


def _course_dir(value: str) -> Path:
    path = Path(value).resolve()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: not a directory")
    return path


def _env_pair(value: str) -> tuple[str, str]:
    name, sep, setting = value.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"{value!r}: write NAME=VALUE")
    return name, setting


# --------------------------------------------------------------------------- subcommands

def cmd_release(args) -> int:
    from autograder.release import release

    for path, problems in release(args.course, args.assignment).items():
        print(f"released {path}" + (f"  [Colab: {'; '.join(problems)}]" if problems else ""))
    return 0


def cmd_collect(args) -> int:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from autograder import collect, gradebook
    from autograder.cli_tables import table
    from autograder.config import grading_toml_path, parse_submission_policy

    notebook = gradebook.notebook_ids(args.course / "gradebook.db", args.assignment)[0]
    policy = parse_submission_policy(grading_toml_path(args.course, args.assignment))
    zone = ZoneInfo(args.times_zone) if args.times_zone else dt.UTC
    times = collect.read_times(args.times, zone) if args.times else None
    report = collect.collect(args.course, args.assignment, args.inbox, notebook, args.pattern,
                             times, policy.due)
    print(table([[r.student or "?", r.archive, ", ".join(r.files) or "-", r.time_source,
                  r.error or "ok"] for r in report],
                ["student", "archive", "files", "submission time", "result"]))
    if policy.due is not None and times is None:
        print("WARNING: the assignment has a due date but no --times file was given: only "
              "Canvas's LATE marker can tell late work apart.", file=sys.stderr)
    return 1 if any(r.error for r in report) else 0


def cmd_grade(args) -> int:
    from autograder import pipeline
    from autograder.cli_tables import summary
    from autograder.config import GradeOptions, Limits, Timeouts, parse_memory, parse_shard

    gpus = tuple(g.strip() for g in args.gpus.split(",") if g.strip())
    hidden = args.hidden_dir or os.environ.get("COURSE_HIDDEN_DIR")
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
        data_source=args.data, quick=True if args.quick else None, splits=args.splits,
        hidden_dir=Path(hidden).resolve() if hidden else None,
        progress=not args.no_progress, image=args.image, sandbox_env=tuple(args.env),
        readable=tuple(p.resolve() for p in args.read_only),
    )
    if options.backend == "none":
        print("WARNING: --backend none runs student code WITHOUT isolation; recorded per "
              "submission.", file=sys.stderr)
    outcomes = pipeline.grade(options)
    print(summary(outcomes))
    return 1 if any(r.fault == "grader" for r in outcomes) else 0


def cmd_feedback(args) -> int:
    from autograder.feedback import generate_feedback

    done = generate_feedback(args.course, args.assignment, args.gradebook)
    print(f"{len(done['files'])} feedback files, no hidden-test line in any; "
          f"archive: {done['archive']}")
    return 0


def cmd_export(args) -> int:
    from autograder import export

    rows = export.rows(args.course, args.assignment, args.gradebook)
    export.write_csv(rows, args.csv)
    print(f"wrote {args.csv} ({len(rows)} students)")
    changed = export.overrides(args.course, args.assignment, args.gradebook)
    if changed:
        print(f"{len(changed)} grades were changed by hand after grading:")
        for override in changed:
            print("  " + override.describe())
    if args.gradescope:
        written = export.write_gradescope(args.course, args.assignment, args.gradescope,
                                          args.gradebook)
        print(f"wrote {len(written)} Gradescope results.json files in {args.gradescope}")
    return 0


def cmd_leaderboard(args) -> int:
    import csv

    from autograder import export
    from autograder.cli_tables import table

    ranked = export.leaderboard(args.course, args.assignment, args.grade_id)
    print(table([[e["rank"], e["student"], "-" if e["value"] is None else f"{e['value']:.4f}"]
                 for e in ranked], ["rank", "student", ranked[0]["metric"]]))
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, ["rank", "student", "grade_id", "metric", "value"])
            writer.writeheader()
            writer.writerows(ranked)
    return 0


def cmd_merge(args) -> int:
    from autograder.shards import merge

    target = args.into or args.course / "gradebook.db"
    for assignment, students in merge(target, args.shards).items():
        print(f"merged {assignment}: {len(students)} submissions into {target}")
    return 0


def cmd_holdout(args) -> int:
    from autograder.splits import draw_keypoint_holdout

    drawn = draw_keypoint_holdout(args.csv, args.hidden_dir, args.count)
    print(f"held back {args.count} faces: {drawn.hidden_file} (grading machine only)\n"
          f"their image hashes: {drawn.heldout_list} (commit and publish with the course "
          "package; the student loader leaves these faces out)\n"
          f"for a mirror: {drawn.mirror_csv} (SHA-256 {drawn.mirror_sha256})")
    return 0


def cmd_similarity(args) -> int:
    import csv

    from autograder.cli_tables import table
    from autograder.similarity import similarity_report

    findings = similarity_report(args.course, args.assignment, args.threshold)
    rows = [[f.kind, ", ".join(f.students), f.detail, f"{f.similarity:.2f}"] for f in findings]
    print(table(rows, ["evidence", "students", "where", "similarity"]) if rows else
          "no identical files and no near-identical answers")
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["evidence", "students", "where", "similarity"])
            writer.writerows(rows)
    return 0


def cmd_publish(args) -> int:
    from autograder.publish import publish
    from course.runtime import REPO_URL

    done = publish(args.repo, args.folder, args.course)
    print(f"published {done.files} files into {done.folder} (one commit, tag {done.tag}); no "
          f"solution, hidden-test or case line in any.\nPush it to {REPO_URL}:\n"
          f"  git -C {done.folder} remote add origin {REPO_URL}.git\n"
          f"  git -C {done.folder} push --force origin main {done.tag}")
    return 0


# --------------------------------------------------------------------------- the parser

def build_parser() -> argparse.ArgumentParser:
    from autograder.config import Limits, Timeouts

    parser = argparse.ArgumentParser(
        prog="course-grader", description=__doc__.splitlines()[0], epilog=WORKFLOW,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", type=_course_dir, default=Path("."),
                        help="nbgrader course directory (default: current directory)")
    parser.add_argument("--verbose", action="store_true", help="show nbgrader's log messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, handler, help_text, epilog):
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=epilog,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.set_defaults(handler=handler)
        return sub

    p = command("holdout", cmd_holdout,
                "hold back complete faces of Kaggle's training.csv for grading (once per term)",
                "example:\n  course-grader holdout facial_keypoints training.csv --hidden-dir "
                "~/grading/hidden")
    p.add_argument("dataset", choices=["facial_keypoints"])
    p.add_argument("csv", type=Path, help="Kaggle's training.csv (or its zip)")
    p.add_argument("--hidden-dir", type=Path, required=True,
                   help="where the grading faces go (keep it on the grading machine)")
    p.add_argument("--count", type=int, default=500, help="faces to hold back")

    p = command("release", cmd_release,
                "nbgrader generate_assignment, then check the notebooks open on Colab",
                "example:\n  course-grader --course assignments release a1_cnn_classification")
    p.add_argument("assignment")

    p = command("collect", cmd_collect,
                "unpack uploaded <assignment>_submission.zip archives into submitted/",
                "Archives are found recursively; the student id is taken from the path.\n"
                "example:\n  course-grader collect a1_cnn_classification ~/Downloads/a1/\n"
                "  course-grader collect a1 inbox/ --pattern '(?P<student_id>\\w+)-a1\\.zip$'\n"
                "  course-grader collect a1 canvas-download/ --times canvas-times.csv")
    p.add_argument("assignment")
    p.add_argument("inbox", type=Path, help="folder with the uploaded archives")
    p.add_argument("--pattern", help="regex with (?P<student_id>...) matched against the "
                   "archive's path relative to INBOX")
    p.add_argument("--times", type=Path, help="CSV from the LMS: student id and submission "
                   "time per row (docs/instructors.md)")
    p.add_argument("--times-zone", help="time zone of times written without one, e.g. "
                   "Europe/Berlin (default UTC)")

    t, lim = Timeouts(), Limits()
    p = command("grade", cmd_grade, "grade every collected submission in a sandbox",
                "Re-running skips submissions already graded whose files did not change.\n"
                "Exit status 1 when a submission failed through the grader's fault, 2 when\n"
                "the grader is misconfigured (nothing graded).\n"
                "examples:\n  course-grader grade a2_facial_keypoints --workers 2\n"
                "  course-grader grade a2_facial_keypoints --gpus 0,1   # one submission per GPU\n"
                "  course-grader grade a2 --student alice --force --retrain")
    p.add_argument("assignment")
    p.add_argument("--backend", choices=["auto", "bwrap", "docker", "user", "none"],
                   default="auto", help="isolation (auto = bwrap when it works here, else an "
                   "error; see docs/autograder.md for what each one protects)")
    p.add_argument("--image", help="docker image for --backend docker")
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
    p.add_argument("--splits", default="autograder.splits",
                   help="MODULE or FILE.py with load_grading_split() and training_targets()")
    p.add_argument("--hidden-dir", type=Path,
                   help="held-back data folder, never shown to the sandbox "
                        "(default $COURSE_HIDDEN_DIR)")
    p.add_argument("--env", action="append", default=[], type=_env_pair, metavar="NAME=VALUE",
                   help="an extra environment variable for the student's kernel (repeatable)")
    p.add_argument("--read-only", action="append", default=[], type=Path, metavar="FOLDER",
                   help="an extra folder the student's code may read, e.g. a shared dataset "
                        "(repeatable; never the hidden data)")
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

    p = command("feedback", cmd_feedback,
                "nbgrader generate_feedback, hidden tests removed and verified absent",
                "example:\n  course-grader feedback a1_cnn_classification  # feedback/<a>_feedback.zip")
    p.add_argument("assignment")
    p.add_argument("--gradebook", type=Path)

    p = command("export", cmd_export,
                "grades as CSV for an LMS (and Gradescope results.json files)",
                "Grades changed by hand in formgrader after grading are listed.\n"
                "example:\n  course-grader export a1 grades-a1.csv --gradescope gradescope/")
    p.add_argument("assignment")
    p.add_argument("csv", type=Path)
    p.add_argument("--gradescope", type=Path, help="folder for <student>/results.json")
    p.add_argument("--gradebook", type=Path)

    p = command("leaderboard", cmd_leaderboard, "rank submissions by their hidden-set metric",
                "Keypoint RMSE ranks lowest first; accuracy and mean IoU highest first.\n"
                "example:\n  course-grader leaderboard a2_facial_keypoints --csv board.csv")
    p.add_argument("assignment")
    p.add_argument("--grade-id", help="which metric question (default: the first)")
    p.add_argument("--csv", type=Path)

    p = command("similarity", cmd_similarity,
                "list submissions that look copied: identical weights or notebooks, "
                "near-identical answers",
                "Answers are compared as token 5-grams after renaming every variable by its\n"
                "order of use, so a copy with renamed variables is found.\n"
                "example:\n  course-grader similarity a1_cnn_classification --csv similar.csv")
    p.add_argument("assignment")
    p.add_argument("--threshold", type=float, default=0.8, help="Jaccard similarity to list")
    p.add_argument("--csv", type=Path)

    p = command("publish", cmd_publish,
                "write the public student repository: units, released assignments, package",
                "No source notebook, graded case or grading setting is copied, and every\n"
                "published file is checked for solution lines. The folder gets a fresh git\n"
                "history with the tag v<version> that setup cells install.\n"
                "example:\n  course-grader --course assignments publish ../dl-vision-course-public")
    p.add_argument("folder", type=Path, help="a new or empty folder")
    p.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent,
                   help="the instructor repository (default: the one this grader runs from)")

    p = command("merge", cmd_merge, "merge shard gradebooks into the course gradebook",
                "example:\n  course-grader merge shards/shard-*.db")
    p.add_argument("shards", nargs="+", type=Path)
    p.add_argument("--into", type=Path, help="target gradebook (default: COURSE/gradebook.db)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from autograder.setup import GraderMisconfigured

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    if not args.verbose:
        warnings.filterwarnings("ignore")  # nbgrader's SQLAlchemy warnings drown the summary
        logging.getLogger("traitlets").setLevel(logging.ERROR)
    try:
        return args.handler(args)
    except GraderMisconfigured as err:
        print(f"course-grader {args.command}: the grader is misconfigured, nothing was graded: "
              f"{err}", file=sys.stderr)
        return 2
    except (RuntimeError, ValueError, FileNotFoundError) as err:
        print(f"course-grader {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
