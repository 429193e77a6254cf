"""``python -m diffusionlab grade``, ``check("NN")`` in a notebook, and ``grade --class DIR``
for teachers.

    $ python -m diffusionlab grade
    Grading exercises/ (time limit 60 s per exercise)
    01 forward          passed (8/8)
    02 schedules        failing (4/5): test_cosine_betas - cosine_betas: should be ...
    03 noise_prediction not started

    $ python -m diffusionlab grade --class class2025/      # one folder per student
    student   01   02   03  ...  passed
    alice     pass pass pass ...  9/9
    bob       pass FAIL ---- ...  1/9
    First failing test: ...
    Wrote class2025/grades.csv (one row per student and exercise).
"""
from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

from .runner import (EXERCISES_DIR, Grader, GradingError, Result, _shown, find_exercises)

CELL = {"passed": "pass", "failing": "FAIL", "not started": "----", "missing": "miss"}


def _line(r: Result, width: int) -> str:
    e = r.exercise
    head = f"{e.number} {e.topic:<{width}} "
    if r.status == "passed":
        return head + f"passed ({r.passed}/{r.total})"
    if r.status in ("not started", "missing"):
        return head + r.status + (f" ({r.detail})" if r.detail else "")
    counts = f" ({r.passed}/{r.total})" if r.total else ""
    detail = r.detail if len(r.detail) <= 300 else r.detail[:297] + "..."
    return head + f"failing{counts}: {detail}"


def _check_timeout(timeout) -> None:
    if not timeout or timeout <= 0:
        raise GradingError(f"the time limit must be a positive number of seconds, got {timeout}")


def main(numbers=(), exercises=None, timeout: float = 60.0, *, summary: bool = True,
         **options) -> int:
    """Grade the exercises (all, or ``numbers``) in ``exercises`` (default: the repo's exercises/).

    Prints one line per exercise (with a header and a summary unless ``summary=False``) and
    returns 0 only when every one of them passed (2: a bad request).
    """
    try:
        chosen = find_exercises(numbers)
        folder = Path(exercises).expanduser().resolve() if exercises else EXERCISES_DIR
        if not folder.is_dir():
            raise GradingError(f"no folder {exercises}")
        _check_timeout(timeout)
    except GradingError as err:
        print(f"grade: {err}")
        return 2
    if summary:
        print(f"Grading {_shown(folder)}/ (time limit {timeout:g} s per exercise)", flush=True)
    width = max((len(e.topic) for e in chosen), default=0)
    try:
        with Grader(chosen, timeout, **options) as grader:
            results = grader.grade(folder, emit=lambda r: print(_line(r, width), flush=True))
    except GradingError as err:
        print(f"grade: {err}")
        return 2
    except KeyboardInterrupt:
        print("grade: interrupted")
        return 130
    except Exception as err:            # a bug of the grader itself: still one line, no traceback
        print(f"grade: internal error: {type(err).__name__}: {err}")
        return 3
    n_ok = sum(r.ok for r in results)
    if summary:
        print(f"{n_ok} of {len(results)} passed.")
    bad = [r for r in results if r.status == "failing"]
    if bad and summary:
        test = _shown(bad[0].exercise.test_file)
        print(f"Details: pytest {test} --exercises {_shown(folder)}")
    return 0 if n_ok == len(results) else 1


def check(number, exercises=None) -> None:
    """Grade one exercise from a notebook: ``check("01")`` prints its line of the table."""
    main([number], exercises=exercises, summary=False)


# --------------------------------------------------------------------------------------------
# A class
# --------------------------------------------------------------------------------------------

def _student_folder(d: Path) -> Path:
    """A student's folder is a copy of exercises/, or holds one."""
    inner = d / "exercises"
    return inner if inner.is_dir() and not any(d.glob("ex[0-9][0-9]_*.py")) else d


def grade_class(class_dir, numbers=(), timeout: float = 60.0, csv_path=None, jobs: int = 1,
                **options) -> int:
    """Grade every student folder in ``class_dir``, each exercise in its own process with its
    own time limit; print a student x exercise table and write a CSV (one row per student
    and exercise). Returns 0 when the class was graded, 2 on a bad request."""
    try:
        chosen = find_exercises(numbers)
        root = Path(class_dir).expanduser().resolve()
        if not root.is_dir():
            raise GradingError(f"no folder {class_dir}")
        _check_timeout(timeout)
        if int(jobs) < 1:
            raise GradingError(f"--jobs must be at least 1, got {jobs}")
        students = [(d.name, _student_folder(d)) for d in sorted(root.iterdir())
                    if d.is_dir() and not d.name.startswith((".", "_"))]
        if not students:
            raise GradingError(f"no student folders in {class_dir}")
    except GradingError as err:
        print(f"grade: {err}")
        return 2
    out = Path(csv_path).expanduser() if csv_path else root / "grades.csv"
    width = max(len("student"), *(len(name) for name, _ in students))
    print(f"Grading {len(students)} students in {_shown(root)}/, {len(chosen)} exercises "
          f"(time limit {timeout:g} s per exercise, {jobs} at a time)", flush=True)
    graded: dict[str, list[Result]] = {}
    todo = list(students)
    lock = threading.Lock()
    errors: list[str] = []

    def work():
        try:
            with Grader(chosen, timeout, **options) as grader:
                while True:
                    with lock:
                        if not todo:
                            return
                        name, folder = todo.pop(0)
                    start = time.monotonic()
                    results = grader.grade(folder)
                    with lock:
                        graded[name] = results
                        print(f"{name:<{width}} {sum(r.ok for r in results)}/{len(results)} "
                              f"passed ({time.monotonic() - start:.0f} s)", flush=True)
        except GradingError as err:
            errors.append(str(err))

    start = time.monotonic()
    try:
        threads = [threading.Thread(target=work, daemon=True) for _ in range(int(jobs))]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        print("grade: interrupted")
        return 130
    if errors:
        print(f"grade: {errors[0]}")
        return 2
    print(f"Graded in {time.monotonic() - start:.0f} s.\n")
    print(_table(students, graded, chosen, width))
    _write_csv(out, students, graded)
    print(f"\nWrote {_shown(out)} (one row per student and exercise).")
    return 0


def _table(students, graded, chosen, width) -> str:
    head = f"{'student':<{width}} " + " ".join(f"{e.number:<4}" for e in chosen) + "  passed"
    lines = [head]
    firsts = []
    for name, _ in students:
        results = graded[name]
        lines.append(f"{name:<{width}} " + " ".join(CELL[r.status] for r in results)
                     + f"  {sum(r.ok for r in results)}/{len(results)}")
        bad = next((r for r in results if r.status == "failing"), None)
        if bad:
            detail = bad.detail if len(bad.detail) <= 160 else bad.detail[:157] + "..."
            firsts.append(f"  {name:<{width}} {bad.exercise.number} {bad.exercise.topic}: "
                          f"{detail}")
    lines.append("(pass: passed, FAIL: failing, ----: not started, miss: no file)")
    if firsts:
        lines += ["", "First failing test:", *firsts]
    return "\n".join(lines)


def _write_csv(path: Path, students, graded) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "exercise", "topic", "status", "passed", "total",
                    "first_failing_test", "detail", "seconds"])
        for name, _ in students:
            for r in graded[name]:
                w.writerow([name, r.exercise.number, r.exercise.topic, r.status, r.passed,
                            r.total, r.first_failing, r.detail, f"{r.seconds:.2f}"])
