"""Exercise 17's answer against diffusers itself (the graded suite writes its expected values
from the course's ``timestep_embedding``; this proves that those are SDXL's):
``StableDiffusionXLPipeline._get_add_time_ids`` for the order of the six numbers,
``Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)`` (SDXL's ``add_time_proj``)
for their Fourier features, ``UNet2DConditionModel``'s ``text_time`` branch for the
concatenation, and ``TimestepEmbedding`` for the MLP added to the time embedding."""
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers.models.embeddings import TimestepEmbedding, Timesteps  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _solution():
    spec = importlib.util.spec_from_file_location(
        "_ex17_solution", ROOT / "solutions" / "ex17_sdxl_conditioning.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _diffusers_time_ids(original_size, crops, target, dim=256, pooled_dim=1280):
    """The pipeline's own method on a stand-in ``self`` that carries only the config it reads."""
    from diffusers import StableDiffusionXLPipeline

    fake = SimpleNamespace(unet=SimpleNamespace(
        config=SimpleNamespace(addition_time_embed_dim=dim),
        add_embedding=SimpleNamespace(linear_1=SimpleNamespace(in_features=6 * dim + pooled_dim))))
    return StableDiffusionXLPipeline._get_add_time_ids(
        fake, tuple(original_size), tuple(crops), tuple(target), torch.float32,
        text_encoder_projection_dim=pooled_dim)


@pytest.mark.parametrize("orig,crop,target", [((1024, 1024), (0, 0), (1024, 1024)),
                                              ((24, 40), (3, 5), (32, 48)),
                                              ((512, 768), (64, 0), (896, 1152))])
def test_time_ids_match_diffusers(orig, crop, target):
    ex = _solution()
    want = _diffusers_time_ids(orig, crop, target)
    got = ex.micro_conditioning_ids(orig, crop, target)
    assert got.dtype == want.dtype and torch.equal(got, want)


def test_added_embedding_matches_diffusers_text_time():
    ex = _solution()
    g = torch.Generator().manual_seed(0)
    pooled = torch.randn(3, 1280, generator=g)
    ids = torch.cat([_diffusers_time_ids(o, c, t) for o, c, t in
                     (((1024, 1024), (0, 0), (1024, 1024)), ((256, 512), (40, 8), (768, 1344)),
                      ((2048, 1536), (0, 100), (1024, 1024)))])
    add_time_proj = Timesteps(256, True, 0)                       # SDXL's config
    time_embeds = add_time_proj(ids.flatten()).reshape(3, -1)     # UNet2DConditionModel, text_time
    want = torch.concat([pooled, time_embeds], dim=-1)
    got = ex.added_condition_embedding(pooled, ids, 256)
    assert got.shape == (3, 2816)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_add_to_time_embedding_matches_diffusers_add_embedding():
    ex = _solution()
    torch.manual_seed(0)
    add_embedding = TimestepEmbedding(40, 16)                    # in_channels = P + 6 d
    temb = torch.randn(2, 16)
    added = torch.randn(2, 40)
    with torch.no_grad():
        want = temb + add_embedding(added)                        # emb = emb + aug_emb
        got = ex.add_to_time_embedding(temb, added, add_embedding.linear_1, add_embedding.linear_2)
    torch.testing.assert_close(got, want)


def test_library_answers_equal_the_solution():
    """The library's ``nn.embeddings`` (what the pipelines use) and exercise 17's solution agree."""
    from diffusionlab.nn.embeddings import added_condition_embedding, micro_conditioning_ids

    ex = _solution()
    orig = torch.tensor([[16, 16], [32, 24], [40, 40]])
    crop = torch.tensor([[0, 0], [4, 2], [8, 1]])
    for args in (((24, 40), (3, 5), (32, 48), 1), ((16, 16), (0, 0), (32, 32), 4),
                 (orig, crop, (32, 32), 3)):
        assert torch.equal(micro_conditioning_ids(*args), ex.micro_conditioning_ids(*args))
    ids = ex.micro_conditioning_ids(orig, crop, (32, 32), 3)
    pooled = torch.randn(3, 7, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(added_condition_embedding(pooled, ids, 16),
                               ex.added_condition_embedding(pooled, ids, 16))
    for bad in (((0, 32), (0, 0), (32, 32)), ((32, 32), (-1, 0), (32, 32))):
        for fn in (micro_conditioning_ids, ex.micro_conditioning_ids):
            with pytest.raises(ValueError):
                fn(*bad)
