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


TINY_UNET = dict(in_channels=4, context_dim=16, base_channels=8, channel_mults=(1, 2),
                 attention_levels=(True, True), num_heads=2)


@pytest.fixture(scope="session")
def tiny_sd_parts():
    """A factory: ``tiny_sd_parts(**unet_kwargs)`` -> an untrained (clip, vae, unet) stack,
    small enough to sample in milliseconds (``TINY_UNET`` plus ``unet_kwargs``)."""
    return _tiny_sd_parts


def _tiny_sd_parts(seed: int = 0, **unet_kwargs):
    from diffusionlab.data.shapes import CAPTION_WORDS
    from diffusionlab.nn.text import TinyCLIP
    from diffusionlab.nn.unet import UNet
    from diffusionlab.nn.vae import VAE

    torch.manual_seed(seed)
    clip = TinyCLIP(CAPTION_WORDS, hidden_size=16, layers=1, heads=2, projection_dim=16)
    vae = VAE(base_channels=8)
    return clip, vae, UNet(**TINY_UNET, **unet_kwargs).eval()
