"""Isolation backends: how the trusted side starts student code.

``bwrap``  bubblewrap with an allow-list: the sandbox's root starts empty and
           only the system's programs and libraries (``/usr``), a few files of
           ``/etc``, the grader's Python environment, the ``course`` and
           ``autograder`` packages, the read-only dataset caches and the
           submission's work directory are mounted in (plus the GPU's device
           nodes with ``--gpus``). No network (loopback only), a non-root uid,
           a fresh pid namespace. Started by root, bwrap gets no user namespace
           (inside one, uid 1000 would still be host root for file permissions)
           and ``setpriv`` drops to a real unprivileged uid; started by another
           user, a user namespace maps uid 1000 to that user.
``docker`` one named container per run (``--network none``, ``--user 1000``,
           read-only image, limits, ``--gpus device=N``), killed by name at
           the deadline. The image holds only what grading needs.
``user``   where bubblewrap cannot run (some hosted notebooks): a fresh network
           namespace (``unshare --net``: loopback only) and a real unprivileged
           uid (``setpriv``), but the host's file system as it is: only file
           permissions protect it, so the grader's private folders must be
           readable by root alone (checked before grading). Needs root.
``none``   no isolation (a laptop): only resource limits; recorded per result.

Every backend adds ``prlimit`` (address space, CPU seconds, processes) and,
where the host lets us create one, a pids cgroup (v1 or v2) that stops fork
storms even for a sandbox started by host root (RLIMIT_NPROC does not apply
to uid 0).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import site
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from autograder.config import Limits
from course import __version__

SANDBOX_UID = 1000
ROOT_MODE_UID_BASE = 20000  # host uids for sandboxes started by root: two per worker slot
DOCKER_IMAGE = f"dl-vision-course/grader:{__version__}"  # autograder/Dockerfile's and k8s's tag
CGROUP_ROOT = Path("/sys/fs/cgroup")
# What a Python program needs of /etc: the dynamic linker's cache, user and host
# names, time zone. Nothing else of the host's configuration is shown.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf",
             "hosts", "localtime", "alternatives", "mime.types")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
GPU_DRIVER_DIRS = ("/usr/local/nvidia", "/usr/local/cuda")


@dataclass
class SandboxSpec:
    """One sandboxed run: its work dir, what it may read, its environment and limits."""

    work_dir: Path
    env: dict[str, str]
    limits: Limits
    readable: list[Path] = field(default_factory=list)  # mounted read-only, as they are
    hidden: list[Path] = field(default_factory=list)  # covered even inside a readable path
    gpu: str | None = None
    uid: int = SANDBOX_UID  # host uid when the grader runs as root


def project_root() -> Path:
    """The directory holding the ``autograder`` and ``course`` packages."""
    return Path(__file__).resolve().parent.parent


def package_dirs() -> list[Path]:
    """What the sandbox needs from :func:`project_root`: the two packages, nothing else."""
    return [project_root() / "autograder", project_root() / "course"]


def python_paths() -> list[Path]:
    """The grader's Python environment: its prefixes, site-packages and ``.pth`` folders.

    A virtual environment anywhere (even under ``/tmp``, which the sandbox
    replaces) comes along, as does the interpreter it was made from. Folders
    that a ``.pth`` file adds are included, except the root of a git checkout
    (its history carries solutions; an editable install of this project
    reaches the two packages through :func:`package_dirs` instead).
    """
    paths = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    site_dirs = [Path(p) for p in site.getsitepackages()]
    paths.update(site_dirs)
    for folder in site_dirs:
        for pth in folder.glob("*.pth"):
            for line in pth.read_text(errors="replace").splitlines():
                entry = Path(line.strip())
                if (line.strip() and not line.startswith(("#", "import")) and entry.is_absolute()
                        and entry.is_dir() and not (entry / ".git").exists()):
                    paths.add(entry)
    return sorted(p.resolve() for p in paths if p.exists())


def repository_root(path: Path) -> Path | None:
    """The git checkout holding ``path`` (its history holds solutions and hidden tests)."""
    for folder in [path.resolve(), *path.resolve().parents]:
        if folder != Path("/") and (folder / ".git").exists():
            return folder
    return None


def module_dirs(names: list[str] | tuple[str, ...]) -> list[Path]:
    """Where the named top-level modules live in the grader's environment (to hide them)."""
    import importlib.util

    found = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        for location in spec.submodule_search_locations or ([spec.origin] if spec.origin else []):
            found.append(Path(location).resolve())
    return found


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


class Backend:
    name = "base"
    isolation = ""

    def available(self) -> tuple[bool, str]:
        raise NotImplementedError

    def command(self, spec: SandboxSpec, argv: list[str]) -> list[str]:
        """The command line that runs ``argv`` (a Python module, usually) under this backend."""
        raise NotImplementedError

    def kill(self, spec: SandboxSpec) -> None:
        """Stop what a run left behind (the process group is killed by the caller)."""


class NoSandbox(Backend):
    name = "none"
    isolation = "none: student code ran as the grader's user with network and file access"

    def available(self):
        return True, ""

    def command(self, spec, argv):
        return prlimit_argv(spec.limits) + argv


class BwrapSandbox(Backend):
    name = "bwrap"
    isolation = ("bwrap: allow-list file system (Python, course package, work dir, read-only "
                 "data), no network, unprivileged uid, limits on address space/CPU/processes")

    def __init__(self, executable: str | None = None):
        self.executable = executable or shutil.which("bwrap") or "bwrap"

    def available(self):
        if not shutil.which(self.executable):
            return False, "bwrap is not installed (apt-get install -y bubblewrap)"
        unshare = ["--unshare-net", "--unshare-pid"] if os.geteuid() == 0 else ["--unshare-all"]
        probe = [self.executable, *unshare, *self.system_mounts(), "--dev", "/dev",
                 "--proc", "/proc", "/bin/true"]
        result = subprocess.run(probe, capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            return False, f"bwrap cannot create namespaces here: {result.stderr.strip()}"
        return True, ""

    @staticmethod
    def system_mounts() -> list[str]:
        args = []
        for path in SYSTEM_DIRS:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        args += ["--perms", "0755", "--dir", "/etc"]  # bwrap's own default would be 0700
        for name in ETC_FILES:
            path = Path("/etc") / name
            if path.exists():
                args += ["--ro-bind", str(path), str(path)]
        return args

    def mounts(self, spec: SandboxSpec) -> list[str]:
        args = [*self.system_mounts(), "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
                "--tmpfs", "/dev/shm"]
        made = {Path("/"), Path("/tmp"), Path("/dev"), Path("/proc"), Path("/etc")}
        made.update(Path(p) for p in SYSTEM_DIRS)

        bound: set[Path] = set()

        def parents(path: Path) -> list[str]:
            # bwrap would create missing parents as 0700 root folders, which the
            # unprivileged uid cannot traverse.
            out = []
            for parent in reversed(path.parents):
                if parent in made or any(_inside(parent, b) for b in bound):
                    continue
                out += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
            return out

        for path in sorted({p.resolve() for p in spec.readable if p.exists()}):
            if any(_inside(path, b) for b in bound):
                continue  # already visible through a folder above it
            args += parents(path) + ["--ro-bind", str(path), str(path)]
            bound.add(path)
        for path in sorted({p.resolve() for p in spec.hidden}):
            if any(_inside(path, b) for b in bound):
                args += ["--tmpfs", str(path)]
        if spec.gpu is not None:
            for device in sorted(Path("/dev").glob("nvidia*")):
                args += ["--dev-bind", str(device), str(device)]
            for folder in GPU_DRIVER_DIRS:
                if Path(folder).is_dir() and not any(_inside(Path(folder), b) for b in bound):
                    args += ["--ro-bind", folder, folder]
        work = spec.work_dir.resolve()
        args += parents(work)
        return args + ["--bind", str(work), str(work), "--chdir", str(work)]

    def command(self, spec, argv, as_root: bool | None = None):
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
        args += self.mounts(spec)
        for key, value in sorted({**spec.env, "COURSE_SANDBOX_PID_NAMESPACE": "1"}.items()):
            args += ["--setenv", key, value]
        if as_root:
            args += [shutil.which("setpriv") or "/usr/bin/setpriv",
                     f"--reuid={spec.uid}", f"--regid={spec.uid}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        return args + prlimit_argv(spec.limits) + argv


class DockerSandbox(Backend):
    """One named container per run; the container is the sandbox."""

    name = "docker"
    isolation = "docker: --network none, --user 1000, read-only image, resource limits"

    def __init__(self, image: str = DOCKER_IMAGE, executable: str = "docker"):
        self.image = image
        self.executable = executable
        self._names: dict[Path, str] = {}

    def available(self):
        if not shutil.which(self.executable):
            return False, "docker is not installed"
        return True, ""

    def container_name(self, spec: SandboxSpec) -> str:
        if spec.work_dir not in self._names:
            safe = re.sub(r"[^a-zA-Z0-9_.-]", "-", spec.work_dir.name)[:40]
            self._names[spec.work_dir] = f"course-grader-{safe}-{uuid.uuid4().hex[:8]}"
        return self._names[spec.work_dir]

    def command(self, spec, argv):
        limits = spec.limits
        work = spec.work_dir.resolve()
        args = [self.executable, "run", "--rm", "-i", "--name", self.container_name(spec),
                "--network", "none", "--user", f"{SANDBOX_UID}:{SANDBOX_UID}", "--read-only",
                "--tmpfs", "/tmp:rw,size=1g", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges",
                "--cpus", f"{limits.cpus:g}", "--memory", str(limits.memory_bytes),
                "--pids-limit", str(limits.max_processes),
                "--mount", f"type=bind,source={work},target=/work", "--workdir", "/work"]
        for path in sorted({p.resolve() for p in spec.readable if p.exists()}):
            if not any(_inside(path, p) for p in (*package_dirs(), *python_paths())):
                args += ["--mount", f"type=bind,source={path},target={path},readonly"]
        for path in spec.hidden:
            args += ["--mount", f"type=tmpfs,destination={path}"]
        if spec.gpu is not None:
            args += ["--gpus", f"device={spec.gpu}"]
        def in_container(value: str) -> str:
            """The work dir and folders in it (IPYTHONDIR, MPLCONFIGDIR) by their container name."""
            inside = value == str(work) or value.startswith(f"{work}/")
            return "/work" + value[len(str(work)):] if inside else value

        for key, value in sorted({**spec.env, "COURSE_SANDBOX_PID_NAMESPACE": "1"}.items()):
            if key not in ("PATH", "HOME", "PYTHONPATH"):
                args += ["--env", f"{key}={in_container(value)}"]
        program = [in_container(a) for a in argv]
        return args + ["--env", "HOME=/work", "--entrypoint", program[0], self.image, *program[1:]]

    def kill(self, spec):
        name = self._names.pop(spec.work_dir, None)
        if name:
            subprocess.run([self.executable, "kill", name], capture_output=True, timeout=60)


class UserSandbox(Backend):
    """No mount namespace: a new network namespace and an unprivileged uid, as root."""

    name = "user"
    isolation = ("user: no network, unprivileged uid, limits on address space/CPU/processes; "
                 "the file system is the host's, protected by permissions only")

    def available(self):
        if os.geteuid() != 0:
            return False, "the user backend must be started as root (to drop to another uid)"
        for tool in ("unshare", "setpriv", "prlimit"):
            if not shutil.which(tool):
                return False, f"{tool} is not installed (util-linux)"
        probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True)
        if probe.returncode != 0:
            return False, f"cannot create a network namespace here: {probe.stderr.strip()}"
        return True, ""

    def command(self, spec, argv):
        return ["unshare", "--net", "--", shutil.which("setpriv") or "/usr/bin/setpriv",
                f"--reuid={spec.uid}", f"--regid={spec.uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
                *prlimit_argv(spec.limits), *argv]


BACKENDS = {"bwrap": BwrapSandbox, "docker": DockerSandbox, "user": UserSandbox,
            "none": NoSandbox}


def choose_backend(name: str, image: str = DOCKER_IMAGE) -> Backend:
    """``auto`` picks bwrap when it works here; otherwise the named backend or an error."""
    if name == "auto":
        bwrap = BwrapSandbox()
        ok, why = bwrap.available()
        if ok:
            return bwrap
        raise RuntimeError(
            f"no sandbox available ({why}): install bubblewrap (apt-get install -y "
            "bubblewrap), or pass --backend docker, or --backend none to grade WITHOUT "
            "isolation (recorded per submission)")
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: choose one of {sorted(BACKENDS)} or auto")
    backend = DockerSandbox(image) if name == "docker" else BACKENDS[name]()
    ok, why = backend.available()
    if not ok:
        raise RuntimeError(f"backend {name!r} unavailable: {why}")
    return backend


# --------------------------------------------------------------------------- pids cgroup

class PidsCgroup:
    """A pids cgroup capping the processes of one sandbox, when the host allows one.

    cgroup v1: a group in the ``pids`` hierarchy. cgroup v2 (unified): a child
    of the grader's own group, which needs the ``pids`` controller enabled in
    that group's ``cgroup.subtree_control`` (a delegated group; as root the
    grader enables it where the kernel lets it). Where neither works the
    sandbox still has prlimit's process limit (which binds unless the uid is 0).
    """

    def __init__(self, max_processes: int, root: Path = CGROUP_ROOT,
                 self_cgroup: Path = Path("/proc/self/cgroup")):
        self.path: Path | None = None
        self.version: int | None = None
        name = f"course-grader-{uuid.uuid4().hex[:12]}"
        for version, parent in self._candidates(root, self_cgroup):
            try:
                if version == 2:
                    self._enable_v2_pids(parent)
                path = parent / name
                path.mkdir()
                (path / "pids.max").write_text(str(max_processes))
            except OSError:
                continue
            self.path, self.version = path, version
            return

    @staticmethod
    def _candidates(root: Path, self_cgroup: Path) -> list[tuple[int, Path]]:
        out = []
        if (root / "pids" / "cgroup.procs").exists():
            out.append((1, root / "pids"))
        unified = root if (root / "cgroup.controllers").exists() else root / "unified"
        if (unified / "cgroup.controllers").exists():
            own = "/"
            try:
                for line in self_cgroup.read_text().splitlines():
                    if line.startswith("0::"):
                        own = line[3:].strip() or "/"
            except OSError:
                pass
            out.append((2, unified / own.lstrip("/")))
        return out

    @staticmethod
    def _enable_v2_pids(parent: Path) -> None:
        if "pids" not in (parent / "cgroup.controllers").read_text().split():
            raise OSError("the pids controller is not available in this cgroup")
        control = parent / "cgroup.subtree_control"
        if "pids" not in control.read_text().split():
            control.write_text("+pids")

    def enter(self) -> None:
        """Called in the child before exec, so every descendant is counted."""
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def close(self) -> None:
        """Kill what is left in the group and remove it (killed processes take a moment
        to leave the group, and it can only be removed once empty)."""
        if self.path is None:
            return
        kill_all = self.path / "cgroup.kill"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                pids = (self.path / "cgroup.procs").read_text().split()
            except OSError:
                return
            if pids and self.version == 2 and kill_all.exists():
                kill_all.write_text("1")
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            if not pids:
                try:
                    self.path.rmdir()
                    return
                except OSError:
                    pass
            time.sleep(0.05)


# --------------------------------------------------------------------------- running

@dataclass
class SandboxRun:
    returncode: int | None
    timed_out: bool
    stderr_tail: str
    limits_applied: list[str]


def limits_applied(backend: Backend, limits: Limits, cgroup: PidsCgroup | None) -> list[str]:
    applied = [f"address space {limits.memory_bytes // 2**20} MiB", f"cpu {limits.cpu_seconds} s"]
    if backend.name == "docker":
        applied.append(f"pids-limit {limits.max_processes}")
    elif cgroup is not None and cgroup.path is not None:
        applied.append(f"pids cgroup v{cgroup.version} {limits.max_processes}")
    elif os.getuid() != 0:
        applied.append(f"nproc {limits.max_processes}")
    return applied


def host_env(backend: Backend, spec: SandboxSpec) -> dict[str, str]:
    """The environment of the sandbox launcher itself (bwrap sets the inside's own)."""
    if backend.name in ("none", "user"):
        return spec.env
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


class SandboxProcess:
    """A sandboxed process with pipes, for a conversation (:mod:`autograder.case_runner`)."""

    def __init__(self, backend: Backend, spec: SandboxSpec, argv: list[str], log_path: Path):
        self.backend, self.spec = backend, spec
        self.cgroup = PidsCgroup(spec.limits.max_processes) if backend.name != "docker" else None
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            backend.command(spec, argv), env=host_env(backend, spec), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.log, start_new_session=True, cwd=spec.work_dir,
            preexec_fn=self.cgroup.enter if self.cgroup else None)

    def close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.backend.kill(self.spec)
        if self.cgroup is not None:
            self.cgroup.close()
        self.log.close()


def run_sandboxed(backend: Backend, spec: SandboxSpec, argv: list[str],
                  wall_timeout: float) -> SandboxRun:
    """Run ``argv`` under ``backend``; kill the whole process group at ``wall_timeout``."""
    cgroup = PidsCgroup(spec.limits.max_processes) if backend.name != "docker" else None
    applied = limits_applied(backend, spec.limits, cgroup)
    log_path = spec.work_dir.parent / f"{spec.work_dir.name}.stderr"
    timed_out = False
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            backend.command(spec, argv), env=host_env(backend, spec), stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            cwd=spec.work_dir,
            preexec_fn=cgroup.enter if cgroup else None)
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
            backend.kill(spec)
            if cgroup is not None:
                cgroup.close()
    with open(log_path, "rb") as log:
        log.seek(max(0, log_path.stat().st_size - 4000))
        tail = log.read().decode("utf-8", "replace")
    return SandboxRun(None if timed_out else process.returncode, timed_out, tail, applied)
