"""Isolation backends: how the trusted side starts :mod:`autograder.runner`.

``bwrap``  bubblewrap: no network (loopback only), read-only root, a non-root
           uid, instructor paths hidden under empty tmpfs mounts, the
           submission's work dir the only writable place besides /tmp.
           Started by root, bwrap gets no user namespace (inside it, uid 1000
           would still be host root for file permissions) and ``setpriv``
           drops to a real unprivileged uid; started by another user, a user
           namespace maps uid 1000 to that user.
``docker`` one ``docker run`` per submission (--network none, --user 1000,
           --cpus/--memory/--pids-limit, --gpus device=N).
``none``   no isolation (Colab, a laptop): only resource limits; recorded.

Every backend adds ``prlimit`` (address space, CPU seconds, processes) and,
where the host lets us create one, a pids cgroup that stops fork storms even
for a host-root sandbox (RLIMIT_NPROC does not apply to uid 0).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from autograder.config import Limits

SANDBOX_UID = 1000
ROOT_MODE_UID_BASE = 20000  # host uids for sandboxes started by root: one per worker slot
PIDS_CGROUP_ROOT = Path("/sys/fs/cgroup/pids")
DOCKER_IMAGE = "dl-vision-course/grader:latest"


@dataclass
class SandboxSpec:
    """What one sandboxed run needs: a work dir, what to hide, env, limits."""

    work_dir: Path
    hidden: list[Path]
    env: dict[str, str]
    limits: Limits
    gpu: str | None = None
    runtime_paths: list[Path] = field(default_factory=list)
    uid: int = SANDBOX_UID  # host uid when the grader runs as root (one per worker)


def project_root() -> Path:
    """The directory holding the ``autograder`` and ``course`` packages."""
    return Path(__file__).resolve().parent.parent


def package_dirs() -> list[Path]:
    """What the sandbox needs from :func:`project_root`: the two packages, nothing else."""
    return [project_root() / "autograder", project_root() / "course"]


def repository_root(path: Path) -> Path | None:
    """The git checkout holding ``path`` (its history holds solutions and hidden tests)."""
    for folder in [path.resolve(), *path.resolve().parents]:
        if folder != Path("/") and (folder / ".git").exists():
            return folder
    return None


def runner_argv(python: str, work_dir: Path) -> list[str]:
    return [python, "-m", "autograder.runner", str(work_dir)]


def prlimit_argv(limits: Limits) -> list[str]:
    return [
        shutil.which("prlimit") or "/usr/bin/prlimit",
        f"--as={limits.memory_bytes}",
        f"--cpu={limits.cpu_seconds}",
        f"--nproc={limits.max_processes}",
        "--",
    ]


def _inside(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def _traversable_parents(path: Path, covering: list[Path]) -> list[str]:
    """``--dir`` the parents of ``path`` that lie under a tmpfs we mounted, as 0755.

    bwrap would create them as 0700 root directories, which the unprivileged
    sandbox uid cannot traverse to reach ``path``.
    """
    args = []
    for parent in reversed(path.parents):
        if any(_inside(parent, c) and parent != c for c in covering):
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


class Backend:
    name = "base"
    isolation = ""

    def available(self) -> tuple[bool, str]:
        raise NotImplementedError

    def command(self, spec: SandboxSpec) -> list[str]:
        raise NotImplementedError


class NoSandbox(Backend):
    name = "none"
    isolation = "none: student code ran as the grader's user with network and file access"

    def available(self):
        return True, ""

    def command(self, spec):
        return prlimit_argv(spec.limits) + runner_argv(sys.executable, spec.work_dir)


class BwrapSandbox(Backend):
    name = "bwrap"
    isolation = ("bwrap: no network, read-only root, unprivileged uid, instructor files "
                 "hidden, limits on address space/CPU/processes")

    def __init__(self, executable: str | None = None):
        self.executable = executable or shutil.which("bwrap") or "bwrap"

    def available(self):
        if not shutil.which(self.executable):
            return False, "bwrap is not installed (apt-get install -y bubblewrap)"
        unshare = (["--unshare-net", "--unshare-pid"] if os.geteuid() == 0
                   else ["--unshare-all"])
        probe = [self.executable, *unshare, "--ro-bind", "/", "/", "--dev", "/dev",
                 "--proc", "/proc", "/bin/true"]
        result = subprocess.run(probe, capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            return False, f"bwrap cannot create namespaces here: {result.stderr.strip()}"
        return True, ""

    def mounts(self, spec: SandboxSpec, as_root: bool = False) -> list[str]:
        hidden = [p.resolve() for p in spec.hidden if p.exists()]
        if as_root:
            hidden.append(Path("/root"))  # root's home; a Python installed there comes back
        needed = [p.resolve() for p in spec.runtime_paths]
        args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        for path in hidden:
            args += ["--tmpfs", str(path)]
        # A runtime path (the Python install, the course package) inside a hidden
        # directory comes back read-only, then hidden paths inside it go again.
        for runtime in needed:
            covering = [h for h in hidden if _inside(runtime, h) and runtime != h]
            if covering:
                # bwrap would create the missing parents as 0700 root dirs, which an
                # unprivileged uid cannot traverse.
                args += _traversable_parents(runtime, covering)
                args += ["--ro-bind", str(runtime), str(runtime)]
                for path in hidden:
                    if _inside(path, runtime):
                        args += ["--tmpfs", str(path)]
        if spec.gpu is not None:
            for device in sorted(Path("/dev").glob("nvidia*")):
                args += ["--dev-bind", str(device), str(device)]
        work = spec.work_dir.resolve()
        args += _traversable_parents(work, [Path("/tmp"), *hidden])
        return args + ["--bind", str(work), str(work), "--chdir", str(work)]

    def command(self, spec, as_root: bool | None = None):
        as_root = os.geteuid() == 0 if as_root is None else as_root
        args = [self.executable, "--die-with-parent", "--new-session", "--hostname", "grader",
                "--clearenv"]
        if as_root:
            args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                     "--unshare-cgroup-try", "--cap-drop", "ALL",
                     "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            args += ["--unshare-all", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
                     "--cap-drop", "ALL"]
        args += self.mounts(spec, as_root)
        for key, value in sorted(spec.env.items()):
            args += ["--setenv", key, value]
        if as_root:
            args += [shutil.which("setpriv") or "/usr/bin/setpriv",
                     f"--reuid={spec.uid}", f"--regid={spec.uid}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        return args + prlimit_argv(spec.limits) + runner_argv(sys.executable, spec.work_dir)


class DockerSandbox(Backend):
    """One container per submission; the container is the sandbox."""

    name = "docker"
    isolation = "docker: --network none, --user 1000, read-only image, resource limits"

    def __init__(self, image: str = DOCKER_IMAGE):
        self.image = image

    def available(self):
        if not shutil.which("docker"):
            return False, "docker is not installed"
        return True, ""

    def command(self, spec):
        limits = spec.limits
        args = ["docker", "run", "--rm", "--network", "none",
                "--user", f"{SANDBOX_UID}:{SANDBOX_UID}", "--read-only",
                "--tmpfs", "/tmp:rw,size=1g", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges",
                "--cpus", f"{limits.cpus:g}", "--memory", str(limits.memory_bytes),
                "--pids-limit", str(limits.max_processes),
                "--mount", f"type=bind,source={spec.work_dir.resolve()},target=/work",
                "--workdir", "/work"]
        if spec.gpu is not None:
            args += ["--gpus", f"device={spec.gpu}"]
        for key, value in sorted(spec.env.items()):
            if key not in ("PATH", "HOME", "PYTHONPATH"):
                args += ["--env", f"{key}={value}"]
        args += ["--env", "HOME=/work", "--entrypoint", "python", self.image,
                 "-m", "autograder.runner", "/work"]
        return args


BACKENDS = {"bwrap": BwrapSandbox, "docker": DockerSandbox, "none": NoSandbox}


def choose_backend(name: str) -> Backend:
    """``auto`` picks bwrap when it works here; otherwise the named backend or an error."""
    if name == "auto":
        bwrap = BwrapSandbox()
        ok, _ = bwrap.available()
        if ok:
            return bwrap
        raise RuntimeError(
            "no sandbox available: install bubblewrap (apt-get install -y bubblewrap), or pass "
            "--backend none to grade WITHOUT isolation (recorded per submission), e.g. on Colab"
        )
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: choose one of {sorted(BACKENDS)} or auto")
    backend = BACKENDS[name]()
    ok, why = backend.available()
    if not ok:
        raise RuntimeError(f"backend {name!r} unavailable: {why}")
    return backend


class PidsCgroup:
    """A cgroup-v1 pids group capping processes for one sandbox, when the host allows it."""

    def __init__(self, max_processes: int):
        self.path: Path | None = PIDS_CGROUP_ROOT / f"course-grader-{uuid.uuid4().hex[:12]}"
        try:
            self.path.mkdir()
            (self.path / "pids.max").write_text(str(max_processes))
        except OSError:
            self.path = None

    def enter(self) -> None:
        """Called in the child before exec, so every descendant is counted."""
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def close(self) -> None:
        """Kill what is left in the group and remove it (killed processes take a moment
        to leave the group, and it can only be removed once empty)."""
        if self.path is None:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pids = (self.path / "cgroup.procs").read_text().split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if not pids:
                try:
                    self.path.rmdir()
                    return
                except OSError:
                    pass
            time.sleep(0.05)


@dataclass
class SandboxRun:
    returncode: int | None
    timed_out: bool
    stderr_tail: str
    limits_applied: list[str]


def run_sandboxed(backend: Backend, spec: SandboxSpec, wall_timeout: float) -> SandboxRun:
    """Run the runner under ``backend``; kill the whole process group at ``wall_timeout``."""
    command = backend.command(spec)
    env = spec.env if backend.name == "none" else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    cgroup = PidsCgroup(spec.limits.max_processes) if backend.name != "docker" else None
    applied = [f"address space {spec.limits.memory_bytes // 2**20} MiB",
               f"cpu {spec.limits.cpu_seconds} s"]
    if backend.name == "docker":
        applied.append(f"pids-limit {spec.limits.max_processes}")
    elif cgroup is not None and cgroup.path is not None:
        applied.append(f"pids cgroup {spec.limits.max_processes}")
    elif os.getuid() != 0:
        applied.append(f"nproc {spec.limits.max_processes}")
    log_path = spec.work_dir.parent / f"{spec.work_dir.name}.stderr"
    timed_out = False
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=cgroup.enter if cgroup else None,
        )
        try:
            process.wait(timeout=wall_timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
            if cgroup is not None:
                cgroup.close()
    with open(log_path, "rb") as log:
        log.seek(max(0, log_path.stat().st_size - 4000))
        tail = log.read().decode("utf-8", "replace")
    return SandboxRun(None if timed_out else process.returncode, timed_out, tail, applied)
