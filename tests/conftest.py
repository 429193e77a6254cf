"""Shared test set-up: no hub access, no progress bars, deterministic torch."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def pytest_addoption(parser):
    # Used by tests/exercises/ (see its conftest.py): which folder of exNN_*.py files to grade.
    parser.addoption("--exercises", default=None, metavar="DIR",
                     help="folder with the exNN_<topic>.py files that tests/exercises/ grades "
                          "(default: $DIFFUSIONLAB_EXERCISES, else the repo's solutions/)")
