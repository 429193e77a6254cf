"""Guards inside the test process, installed after the tests are collected and before the
learner's file is imported (the ``exercise`` fixture imports it inside the first test).

Python has no walls inside a process, so these guards watch rather than wall off; each
violation is reported at once over the result channel (``child.py``), and an exercise with a
violation is not passed, whatever its tests say afterwards.

- ``Frames``: tells the learner's code (files in the graded folder) from the grader's (this
  package and ``tests/exercises/``) on the call stack.
- ``watch_references``: the library's answers (the suite's ``REFERENCE``) are wrapped; a call
  made from inside the learner's function of that name is a violation ("your
  ex01_forward.q_sample calls diffusionlab.forward.q_sample: write it yourself").
- ``Snapshot``: the attributes of torch, the library, the tests and builtins; one
  replaced during a test (``torch.allclose = lambda *a: True``) is a violation.
- ``install_audit_hook``: ``sys.addaudithook`` (which cannot be removed) sees the operations
  one would need to reach the verdict: frames and tracebacks, ``gc``, ``ctypes``, processes,
  signals, files other than library sources. Started by the learner's code, they are vetoed
  and reported. "Started by" means: walking out from the innermost frame, a frame of the
  learner's file comes before any of the grader's; for ``exec``, ``compile``,
  ``sys._getframe`` and attribute events other than ``*_frame`` it means the learner's code is
  the immediate caller, since libraries use them on their own behalf (dataclasses,
  namedtuple, functools). Imports of library modules (their files, directories, bytecode)
  are allowed.
"""
from __future__ import annotations

import builtins
import functools
import importlib
import os
import sys
import sysconfig
import threading
from pathlib import Path

GRADER_DIR = str(Path(__file__).resolve().parent)

# audit events the learner's code may cause: harmless ones, and those the import system causes
QUIET = {"import", "time.sleep", "builtins.id", "sys._getframemodulename", "os.putenv",
         "os.unsetenv", "locale.setlocale"}
IMPORT_EVENTS = {"os.listdir", "os.scandir", "marshal.loads", "compile", "exec", "import"}
DIRECT_ONLY = {"exec", "compile", "sys._getframe",      # libraries use them on their own
               "object.__setattr__", "object.__delattr__"}   # behalf (dataclasses, namedtuple)
_IMPORT_FILES = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")


class Violation(PermissionError):
    """Raised where the learner's code did what a graded answer may not do."""


class Frames:
    """Who wrote the code of a frame: "learner", "grader" or "other" (libraries, pytest)."""

    def __init__(self, learner_dir: Path, grader_dirs):
        self.learner = os.path.normcase(str(Path(learner_dir).resolve()))
        self.grader = tuple(os.path.normcase(str(Path(d).resolve())) + os.sep
                            for d in grader_dirs)
        self._kinds: dict[str, str] = {}

    def kind(self, filename: str) -> str:
        found = self._kinds.get(filename)
        if found is None:
            path = os.path.normcase(os.path.abspath(filename)) \
                if not filename.startswith("<") else filename
            if os.path.dirname(path) == self.learner:
                found = "learner"
            elif path.startswith(self.grader):
                found = "grader"
            elif filename in _IMPORT_FILES:
                found = "import"
            else:
                found = "other"
            self._kinds[filename] = found
        return found

    def learner_functions(self, frame) -> list[str]:
        """Walking out from ``frame``: the learner's functions met before the grader's code."""
        names = []
        while frame is not None:
            k = self.kind(frame.f_code.co_filename)
            if k == "grader":
                break
            if k == "learner":
                names.append(frame.f_code.co_name)
            frame = frame.f_back
        return names

    def started_by_learner(self, frame, direct: bool = False) -> tuple[bool, bool, str]:
        """(started by the learner's code, inside the import system, "line N").
        ``direct``: only when the learner's code is the immediate caller."""
        importing = frame is not None and self.kind(frame.f_code.co_filename) == "import"
        while frame is not None:
            k = self.kind(frame.f_code.co_filename)
            if k == "learner":
                return True, importing, f"line {frame.f_lineno}"
            if k == "grader" or direct:
                break
            frame = frame.f_back
        return False, importing, ""


def _locate(dotted: str):
    """(owner, attribute, object) for "package.module.Class.method" or "package.module.func"."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:-1]:
            owner = getattr(owner, attr)
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ImportError(f"cannot import {dotted}")


def watch_references(references: dict[str, tuple[str, ...]], frames: Frames, module: str,
                     report) -> None:
    """Wrap each library answer named in ``references`` ({learner function: library names}).
    A call from inside the learner's function of that name is reported and fails."""
    forbidden: dict[str, set[str]] = {}
    for function, names in references.items():
        for name in names:
            forbidden.setdefault(name, set()).add(function)
    for dotted, functions in forbidden.items():
        owner, attr, obj = _locate(dotted)
        raw = owner.__dict__.get(attr, obj) if isinstance(owner, type) else obj

        def check(dotted=dotted, functions=functions):
            caller = [n for n in frames.learner_functions(sys._getframe(2)) if n in functions]
            if caller:
                message = f"your {module}.{caller[0]} calls {dotted}: write it yourself"
                report(message)
                raise Violation(message)

        if isinstance(raw, property):
            getter = raw.fget

            @functools.wraps(getter)
            def watched_get(self, _get=getter, _check=check):
                _check()
                return _get(self)

            setattr(owner, attr, property(watched_get, raw.fset, raw.fdel, raw.__doc__))
            continue

        @functools.wraps(obj)
        def watched(*args, _obj=obj, _check=check, **kwargs):
            _check()
            return _obj(*args, **kwargs)

        if isinstance(owner, type):
            setattr(owner, attr, watched)
            continue
        setattr(owner, attr, watched)
        for name, mod in list(sys.modules.items()):    # re-exports: `from .forward import q_sample`
            if name.startswith("diffusionlab") and mod is not None:
                for key, value in list(vars(mod).items()):
                    if value is obj:
                        setattr(mod, key, watched)


class Snapshot:
    """The attributes of the modules and classes the tests rely on, to notice a replacement."""

    def __init__(self, tests_dir: Path):
        tests = os.path.normcase(str(Path(tests_dir).resolve()))
        modules = []
        for name, mod in list(sys.modules.items()):
            file = getattr(mod, "__file__", None) or ""
            if name in ("builtins", "math", "torch", "torch.nn.functional") or \
                    name.startswith("diffusionlab") or os.path.normcase(file).startswith(tests):
                modules.append((name, mod))
        import torch
        classes = [torch.Tensor, torch.nn.Module, torch.nn.Parameter]
        for name, mod in modules:
            for value in list(vars(mod).values()):
                if isinstance(value, type) and getattr(value, "__module__", "") == name:
                    classes.append(value)
        self.builtins = set(vars(builtins))
        self.modules = [(name, mod, vars(mod), dict(vars(mod))) for name, mod in modules]
        self.classes = [(cls, dict(vars(cls))) for cls in dict.fromkeys(classes)]
        self.threads = threading.active_count()

    def changed(self) -> str | None:
        """The first attribute replaced, removed or (for classes) added since the snapshot,
        as "torch.allclose"; a module's new name matters only when it hides a builtin."""
        missing = object()
        for name, mod, live, saved in self.modules:
            if sys.modules.get(name) is not mod:
                return f"sys.modules[{name!r}]"
            if len(live) != len(saved) or any(live.get(k, missing) is not v
                                               for k, v in saved.items()):
                for k, v in saved.items():
                    if live.get(k, missing) is not v:
                        return f"{name}.{k}"
                for k in live.keys() - saved.keys():
                    if k in self.builtins:
                        return f"{name}.{k}"
        for cls, saved in self.classes:
            live = vars(cls)
            if len(live) != len(saved) or any(live.get(k, missing) is not v
                                               for k, v in saved.items()):
                changed = [k for k in saved if live.get(k, missing) is not saved[k]] or \
                    sorted(live.keys() - saved.keys())
                return f"{cls.__module__}.{cls.__qualname__}.{changed[0]}"
        if threading.active_count() > self.threads:
            return "threading (a thread was left running)"
        return None


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    roots.add(str(Path(GRADER_DIR).parent))                   # the diffusionlab package
    return tuple(os.path.normcase(os.path.realpath(r)) + os.sep for r in roots)


def install_audit_hook(frames: Frames, report, own_file: Path) -> None:
    """Veto and report the audited operations the learner's code starts (see module doc)."""
    roots = _library_roots()
    own = os.path.normcase(os.path.realpath(own_file))
    local = threading.local()

    def readable(args) -> bool:
        path, mode = args[0], args[1] if len(args) > 1 else "r"
        if not isinstance(path, (str, bytes, os.PathLike)) or \
                (mode is not None and any(c in str(mode) for c in "wax+")):
            return False
        if isinstance(args[-1], int) and len(args) > 2 and args[-1] & (os.O_WRONLY | os.O_RDWR):
            return False
        real = os.path.normcase(os.path.realpath(os.fsdecode(path)))
        return real == own or real.startswith(roots)

    def hook(event, args):
        if event in QUIET or getattr(local, "busy", False):
            return
        local.busy = True
        try:
            direct = event in DIRECT_ONLY or (event == "object.__getattr__" and
                                              not str(args[1]).endswith("_frame"))
            by_learner, importing, where = frames.started_by_learner(sys._getframe(1), direct)
            if (importing and event in IMPORT_EVENTS) or (event == "open" and readable(args)):
                return
            if by_learner:
                what = event if event != "object.__getattr__" else f"the attribute {args[1]}"
                if event == "open":
                    what = f"open({os.fsdecode(args[0]) if args[0] is not None else ''!s})"
                message = f"your code uses {what} ({where}): graded answers may only compute"
                report(message)
                raise Violation(message)
        finally:
            local.busy = False

    sys.addaudithook(hook)
