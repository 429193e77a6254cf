"""What a learner's exercise file may contain, read from its source (the AST), never run.

An exercise is arithmetic on tensors: it needs torch, math, perhaps numpy, and the library's
helpers (``extract``, the modules of a U-Net). This check names, with a line number, what an
answer that tries to get the green light without the work would need instead:

- the library's own answer: the suite's ``REFERENCE`` names (``diffusionlab.forward.q_sample``
  for exercise 01), however imported (an alias, a re-export, ``from ... import *``), or the
  ``solutions`` folder;
- a module outside ``ALLOWED_MODULES`` (``os``, ``sys``, ``pytest``, ``gc``, ``ctypes``, ...),
  the grader itself, or a way around the list (``__import__``, ``eval``, ``getattr`` with a
  computed name, ``torch.sys``, a dunder such as ``__globals__``);
- changing a module (``torch.allclose = ...``) or a class whose objects could lie to the tests
  (a Tensor subclass, ``__eq__``, ``__del__``, ``__torch_function__``).

It is the first of two layers: ``sandbox.py`` watches the same things while the tests run.
"""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

ALLOWED_MODULES = ("torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.linalg",
                   "torch.fft", "torch.special", "torch.distributions", "math", "cmath", "numpy",
                   "typing", "__future__", "dataclasses", "functools", "itertools", "collections",
                   "operator", "numbers", "fractions", "statistics", "einops", "diffusionlab")
NOT_THE_GRADER = ("diffusionlab.grading", "diffusionlab.__main__", "diffusionlab.notebook_runner")
BANNED_CALLS = {"eval", "exec", "compile", "__import__", "globals", "locals", "vars", "setattr",
                "delattr", "open", "input", "breakpoint", "exit", "quit", "help", "memoryview"}
BANNED_ATTRIBUTES = {"sys", "os", "builtins", "subprocess", "ctypes", "gc", "inspect",
                     "importlib", "cpp_extension", "multiprocessing", "load", "hub", "pytest"}
ALLOWED_DUNDERS = {"__init__", "__name__", "__all__", "__doc__", "__post_init__", "__repr__",
                   "__str__", "__future__"}
_DUNDER = re.compile(r"^__\w+__$")


def _allowed_module(name: str) -> bool:
    if any(name == m or name.startswith(m + ".") for m in NOT_THE_GRADER):
        return False
    if name == "diffusionlab" or name.startswith("diffusionlab."):
        return True
    root = name.split(".")[0]
    return name in ALLOWED_MODULES or (root in ALLOWED_MODULES and root not in ("torch",))


def _resolve(qualname: str):
    """The library object a dotted ``diffusionlab...`` name stands for, or None.
    Imports only modules of the diffusionlab package (trusted code)."""
    if not qualname.startswith("diffusionlab"):
        return None
    parts = qualname.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


class _Reader(ast.NodeVisitor):
    def __init__(self, references: set[str]):
        self.problems: list[tuple[int, str]] = []
        self.aliases: dict[str, str] = {}             # local name -> dotted name it stands for
        self.references = references                  # dotted names of the library's answers
        self.ref_objects = {}
        for name in references:
            obj = _resolve(name)
            if obj is not None:
                self.ref_objects[id(obj)] = name

    def flag(self, node, message: str) -> None:
        self.problems.append((getattr(node, "lineno", 0), message))

    # --- names and what they stand for ---------------------------------------------------
    def _dotted(self, node) -> str | None:
        """``forward.q_sample`` -> "diffusionlab.forward.q_sample" when ``forward`` is an
        imported name; None for anything else."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self.aliases:
            return None
        return ".".join([self.aliases[node.id], *reversed(parts)])

    def _check_reference(self, node, dotted: str) -> bool:
        ref = dotted if dotted in self.references else None
        if ref is None:
            obj = _resolve(dotted)
            ref = self.ref_objects.get(id(obj)) if obj is not None else None
        if ref is not None:
            self.flag(node, f"uses {ref}, the library's answer: write it yourself")
            return True
        return False

    # --- imports --------------------------------------------------------------------------
    def visit_Import(self, node):
        for a in node.names:
            if not _allowed_module(a.name):
                self.flag(node, f"imports {a.name}: an exercise needs only torch, math, numpy "
                                f"and diffusionlab")
                continue
            if a.asname:
                self.aliases[a.asname] = a.name
            else:
                root = a.name.split(".")[0]
                self.aliases[root] = root
            self._check_reference(node, a.name)

    def visit_ImportFrom(self, node):
        module = "." * node.level + (node.module or "")
        if node.level or not _allowed_module(module):
            self.flag(node, f"imports from {module}: an exercise needs only torch, math, numpy "
                            f"and diffusionlab")
            return
        for a in node.names:
            dotted = f"{module}.{a.name}"
            if a.name == "*":
                held = [r for r in self.references if r.rsplit(".", 1)[0] == module]
                if held:
                    self.flag(node, f"imports * from {module}, which holds {held[0]}, the "
                                    f"library's answer: write it yourself")
                continue
            if not _allowed_module(dotted) and module == "diffusionlab":
                self.flag(node, f"imports {dotted}: an exercise needs only torch, math, numpy "
                                f"and diffusionlab")
                continue
            self.aliases[a.asname or a.name] = dotted
            self._check_reference(node, dotted)

    # --- expressions ----------------------------------------------------------------------
    def visit_Attribute(self, node):
        dotted = self._dotted(node)
        if dotted is not None and self._check_reference(node, dotted):
            return
        if _DUNDER.match(node.attr) and node.attr not in ALLOWED_DUNDERS:
            self.flag(node, f"uses .{node.attr}: an exercise needs no introspection")
        elif node.attr in BANNED_ATTRIBUTES:
            self.flag(node, f"uses .{node.attr}: an exercise needs only tensor arithmetic")
        self.generic_visit(node)

    def visit_Name(self, node):
        if _DUNDER.match(node.id) and node.id not in ALLOWED_DUNDERS:
            self.flag(node, f"uses {node.id}: an exercise needs no introspection")

    def visit_Expr(self, node):
        if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            self.generic_visit(node)                  # a docstring may mention anything

    def visit_Constant(self, node):
        if isinstance(node.value, str) and "solutions" in node.value.lower():
            self.flag(node, f"refers to the solutions ({node.value[:40]!r}): write it yourself")

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Name) and f.id in BANNED_CALLS and f.id not in self.aliases:
            self.flag(node, f"calls {f.id}(): an exercise needs only tensor arithmetic")
        if isinstance(f, ast.Name) and f.id == "getattr" and len(node.args) >= 2:
            name = node.args[1]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)) or \
                    _DUNDER.match(name.value) or name.value in BANNED_ATTRIBUTES:
                self.flag(node, "calls getattr() with a computed or hidden name: write the "
                                "attribute out")
        self.generic_visit(node)

    # --- changing what is not yours -------------------------------------------------------
    def _check_target(self, target) -> None:
        for t in ast.walk(target):
            if isinstance(t, (ast.Attribute, ast.Subscript)):
                base = t.value
                while isinstance(base, (ast.Attribute, ast.Subscript)):
                    base = base.value
                if isinstance(base, ast.Name) and base.id in self.aliases:
                    text = ast.unparse(t)
                    self.flag(t, f"changes {text}: an exercise must not change the library "
                                 f"or torch")
                    return

    def visit_Assign(self, node):
        for target in node.targets:
            self._check_target(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._check_target(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._check_target(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self._check_target(target)
        self.generic_visit(node)

    def visit_ClassDef(self, node):
        for base in node.bases:
            text = ast.unparse(base)
            if text.split(".")[-1] in ("Tensor", "Parameter"):
                self.flag(node, f"class {node.name} subclasses {text}: return plain tensors")
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    _DUNDER.match(item.name) and item.name not in ALLOWED_DUNDERS:
                self.flag(item, f"class {node.name} defines {item.name}: return plain tensors "
                                f"and numbers")
        self.generic_visit(node)


def read_references(test_file: Path) -> dict[str, tuple[str, ...]]:
    """The suite's ``REFERENCE = {"q_sample": "diffusionlab.forward.q_sample", ...}``: for each
    function of the exercise, the library functions that already compute it."""
    tree = ast.parse(Path(test_file).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "REFERENCE"
                                                for t in node.targets):
            value = ast.literal_eval(node.value)
            return {k: (v,) if isinstance(v, str) else tuple(v) for k, v in value.items()}
    return {}


def check_source(path: Path, references: dict[str, tuple[str, ...]]) -> list[str]:
    """Problems found in the learner's file, "line N: ...", first one first. A file that does
    not parse gives none here: importing it reports the SyntaxError with its line."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return []
    reader = _Reader({name for names in references.values() for name in names})
    reader.visit(tree)
    seen, out = set(), []
    for line, message in sorted(reader.problems):
        if (line, message) not in seen:
            seen.add((line, message))
            out.append(f"line {line}: {message}")
    return out
