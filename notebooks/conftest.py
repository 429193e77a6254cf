"""Notebooks run under pytest (--nbval) in the same environment as
``python -m diffusionlab notebooks``: progress bars off, hub offline."""
import os

import pytest

from diffusionlab.notebook_runner import NOTEBOOK_ENV

os.environ.update(NOTEBOOK_ENV)


def pytest_collection_modifyitems(config, items):
    """Every notebook cell is slow (``pytest -m "not slow"`` runs the library tests only)."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
