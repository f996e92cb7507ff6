"""Run the grader's cases against a student's functions; runs INSIDE the sandbox.

``python -m autograder.case_runner`` is started fresh for each submission,
after the notebook's own run is over, and speaks newline-delimited JSON
(:mod:`autograder.wire`) with the trusted grader over its stdin and stdout:

1. the grader sends the session: the cells to run (the locked setup cells and
   the student's answer cells), the libraries to block and the time limit of
   a cell;
2. the runner executes the cells as Python (lines of IPython syntax, such as
   ``%pip``, are first translated by IPython), each under that limit, and
   reports how each went;
3. the grader sends cases, one at a time (a function name, its arguments, a
   time limit); the runner calls the function and sends back what it returned
   or raised.

It judges nothing: whether a returned value is right is decided by the
grader, outside the sandbox. Student output goes to a log file, never to the
protocol stream. Blocked libraries are missing from the sandbox's file system
(the grader hides their folders); stand-ins registered here make every use of
them raise :class:`ForbiddenLibrary`, so a delegating answer is recognised as
such instead of failing with a confusing ``ImportError``.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import signal
import sys
import types

from autograder import probes, wire


class ForbiddenLibrary(RuntimeError):
    """Student code used a library (or function) that the exercise does not allow."""


class TimeLimit(BaseException):
    """A cell or a case ran past its time limit (a BaseException: ``except Exception`` in
    student code does not swallow it)."""


class _Forbidden:
    """Stands in for any attribute of a blocked library; using it raises."""

    def __init__(self, path: str):
        object.__setattr__(self, "_path", path)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Forbidden(f"{self._path}.{name}")

    def _refuse(self, *args, **kwargs):
        raise ForbiddenLibrary(f"{self._path} is not available in this exercise")

    __call__ = __iter__ = __getitem__ = __bool__ = __len__ = _refuse
    __add__ = __radd__ = __mul__ = __rmul__ = __sub__ = __rsub__ = __matmul__ = _refuse
    __truediv__ = __array__ = __float__ = __int__ = __index__ = _refuse

    def __mro_entries__(self, bases):
        raise ForbiddenLibrary(f"{self._path} is not available in this exercise")


class _ForbiddenModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Forbidden(f"{self.__name__}.{name}")


class _BlockedImports(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Every ``import`` of a blocked library (or its submodules) yields a stand-in."""

    def __init__(self, roots: list[str]):
        self.roots = set(roots)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _ForbiddenModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def block(modules: list[str], functions: list[str]) -> None:
    """Install the stand-ins before any student code runs."""
    if modules:
        finder = _BlockedImports(modules)
        sys.meta_path.insert(0, finder)
        for name in list(sys.modules):
            if name.split(".")[0] in finder.roots:
                del sys.modules[name]
    for dotted in functions:
        owner_name, _, attribute = dotted.rpartition(".")
        owner = importlib.import_module(owner_name)
        setattr(owner, attribute, _Forbidden(dotted))


def _alarm(_signum, _frame):
    raise TimeLimit()


def _timed(seconds: float, function, *args, **kwargs):
    signal.setitimer(signal.ITIMER_REAL, max(0.01, float(seconds)))
    try:
        return function(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _compiled(source: str, label: str):
    """A cell's code; IPython translates it only when it is not plain Python (``%pip``)."""
    try:
        return compile(source, f"<cell {label}>", "exec")
    except SyntaxError:
        from IPython.core.inputtransformer2 import TransformerManager

        return compile(TransformerManager().transform_cell(source), f"<cell {label}>", "exec")


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]


def _forbidden_use(error: BaseException | None) -> bool:
    """ForbiddenLibrary anywhere in the chain, or an import of a hidden library."""
    seen = 0
    while error is not None and seen < 20:
        if isinstance(error, ForbiddenLibrary):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


class CaseRunner:
    def __init__(self, protocol_in, protocol_out):
        self.protocol_in = protocol_in
        self.protocol_out = protocol_out

    def send(self, message: dict) -> None:
        self.protocol_out.write(wire.dumps(message))
        self.protocol_out.flush()

    def receive(self) -> dict | None:
        line = self.protocol_in.readline()
        return wire.loads(line) if line else None

    def run_cells(self, cells: list[dict], limit: float) -> list[dict]:
        # Jupyter gives every cell a display(); here its output would go nowhere anyway.
        self.namespace: dict = {"__name__": "__main__", "display": lambda *a, **k: None}
        report = []
        for cell in cells:
            status, error = "ok", None
            # Read by the grader if this process hangs beyond recovery: the next
            # attempt leaves this cell out.
            with open("case-progress.txt", "w") as progress:
                progress.write(cell["label"])
            try:
                _timed(limit, exec, _compiled(cell["source"], cell["label"]), self.namespace)
            except TimeLimit:
                status, error = "timeout", f"the cell ran past its {limit:g} s limit"
            except BaseException as failure:  # noqa: BLE001 - a cell may raise anything
                status = "forbidden" if _forbidden_use(failure) else "error"
                error = _describe(failure)
            report.append({"label": cell["label"], "status": status, "error": error})
        return report

    def call(self, request: dict) -> dict:
        reply = {"id": request.get("id")}
        function = self.namespace.get(str(request.get("function")))
        if not callable(function):
            return {**reply, "status": "missing",
                    "error": f"{request.get('function')} is not defined (or not a function)"}
        try:
            args = wire.decode(request.get("args", []))
            kwargs = wire.decode(request.get("kwargs", {"__dict__": {}}))
            value = _timed(float(request.get("timeout", 10)), function, *args, **kwargs)
            probe = request.get("probe")
            if probe:
                value = _timed(float(request.get("timeout", 10)), probes.PROBES[probe], value,
                               **wire.decode(request.get("probe_args", {"__dict__": {}})))
            return {**reply, "status": "ok", "value": wire.encode(value)}
        except TimeLimit:
            return {**reply, "status": "timeout",
                    "error": f"ran past its {request.get('timeout', 10)} s limit"}
        except wire.WireError as err:
            return {**reply, "status": "unsendable", "error": str(err)}
        except BaseException as err:  # noqa: BLE001 - a case reports whatever the student raised
            status = "forbidden" if _forbidden_use(err) else "raised"
            return {**reply, "status": status, "error": _describe(err),
                    "exception": type(err).__name__}

    def serve(self) -> int:
        session = self.receive()
        if session is None:
            return 2
        block(session.get("blocked_modules", []), session.get("blocked_functions", []))
        self.send({"cells": self.run_cells(session["cells"], float(session["cell_timeout"]))})
        while (request := self.receive()) is not None:
            self.send(self.call(request))
        return 0


def _private_streams():
    """The protocol keeps private copies of stdin and stdout; fd 0 becomes /dev/null and
    fd 1 and 2 a log file, so nothing the student's code prints can reach the grader."""
    protocol_in = os.fdopen(os.dup(0), "rb")
    protocol_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    log = os.open("case-output.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own streams
    sys.stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
    return protocol_in, protocol_out


def main() -> int:
    signal.signal(signal.SIGALRM, _alarm)
    protocol_in, protocol_out = _private_streams()
    return CaseRunner(protocol_in, protocol_out).serve()


if __name__ == "__main__":
    sys.exit(main())
