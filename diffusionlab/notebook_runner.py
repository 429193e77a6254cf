"""Re-execute lesson notebooks in place, the way their stored outputs were made.

``python -m diffusionlab notebooks [NN ...]`` runs each ``notebooks/NN_*.ipynb``
top to bottom with nbclient (``record_timing=False``, so no timestamps land in
the file), progress bars off and the hub offline, then writes it back. Cells
tagged ``skip-execution`` are left as they are.
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"

# The environment every notebook is executed in, here and under pytest (see notebooks/conftest.py).
NOTEBOOK_ENV = {"TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "PYTHONHASHSEED": "0", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}


_NUMBER = re.compile(r"(\d{1,2})([a-z]?)")


def notebook_number(path: Path) -> str:
    """``04_reverse_process_ddpm.ipynb`` -> "04"; ``04b_real_digits.ipynb`` -> "04b"."""
    return Path(path).name.split("_", 1)[0]


def normalize_number(number) -> str:
    """4, "4", "04" -> "04"; "4b", "04b" -> "04b" (a lesson between 04 and 05)."""
    match = _NUMBER.fullmatch(str(number).strip().lower())
    if match is None:
        raise ValueError(f"a notebook number must look like 4, 04 or 04b, got {number!r}")
    return f"{int(match.group(1)):02d}{match.group(2)}"


def find_notebooks(numbers=(), directory: Path | None = None) -> list[Path]:
    """Lessons ``NN_*.ipynb`` and ``NNx_*.ipynb`` (04b sits between 04 and 05), in course
    order; ``numbers`` picks some of them (4, "04", "04b")."""
    directory = NOTEBOOK_DIR if directory is None else Path(directory)
    found = sorted((p for p in directory.glob("[0-9][0-9]*_*.ipynb")
                    if _NUMBER.fullmatch(notebook_number(p))), key=lambda p: p.name)
    if numbers:
        wanted = {normalize_number(n) for n in numbers}
        unknown = wanted - {notebook_number(p) for p in found}
        if unknown:
            raise ValueError(f"no notebook numbered {sorted(unknown)} in {directory}")
        found = [p for p in found if notebook_number(p) in wanted]
    return found


def execute(path: Path, timeout: int = 600) -> float:
    import nbformat
    from nbclient import NotebookClient

    os.environ.update(NOTEBOOK_ENV)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, path)
    return seconds


def main(numbers=(), timeout: int = 600) -> int:
    paths = find_notebooks(numbers)
    total = 0.0
    for path in paths:
        seconds = execute(path, timeout=timeout)
        total += seconds
        print(f"{path.name:45s} {seconds:6.1f} s")
    print(f"{len(paths)} notebooks in {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
