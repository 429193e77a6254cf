"""Notebooks run under pytest (--nbval) in the same environment as
``python -m diffusionlab notebooks``: progress bars off, hub offline."""
import os

from diffusionlab.notebook_runner import NOTEBOOK_ENV

os.environ.update(NOTEBOOK_ENV)
