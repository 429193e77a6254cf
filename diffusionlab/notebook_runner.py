"""Re-execute lesson notebooks in place, the way their stored outputs were made.

``python -m diffusionlab notebooks [NN ...]`` runs each ``notebooks/NN_*.ipynb``
top to bottom with nbclient (``record_timing=False``, so no timestamps land in
the file), progress bars off and the hub offline, then writes it back. Cells
tagged ``skip-execution`` are left as they are.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"

# The environment every notebook is executed in, here and under pytest (see notebooks/conftest.py).
NOTEBOOK_ENV = {"TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "PYTHONHASHSEED": "0", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}


def find_notebooks(numbers=()) -> list[Path]:
    found = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if numbers:
        wanted = {str(n).zfill(2) for n in numbers}
        unknown = wanted - {p.name[:2] for p in found}
        if unknown:
            raise ValueError(f"no notebook numbered {sorted(unknown)} in {NOTEBOOK_DIR}")
        found = [p for p in found if p.name[:2] in wanted]
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
