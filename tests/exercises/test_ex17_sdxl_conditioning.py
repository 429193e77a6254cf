"""Graded tests for exercises/ex17_sdxl_conditioning.py (see conftest.py for how the folder is chosen).

The expected values are written here from the course's ``timestep_embedding`` and diffusers'
conventions; ``tests/test_sdxl_conditioning.py`` checks the solution against diffusers itself
(``StableDiffusionXLPipeline._get_add_time_ids``, ``Timesteps(256, True, 0)``,
``TimestepEmbedding``), so importing diffusers never slows down grading.
"""
import pytest
import torch

from diffusionlab.grading import expect_close, expect_tensor
from diffusionlab.nn.embeddings import timestep_embedding

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "micro_conditioning_ids": "diffusionlab.nn.embeddings.micro_conditioning_ids",
    "added_condition_embedding": "diffusionlab.nn.embeddings.added_condition_embedding",
}

ORDER = "[orig_h, orig_w, crop_top, crop_left, target_h, target_w]"


def _added(pooled, ids, dim):
    """diffusers' add_embeds: text_embeds first, then Timesteps(dim, True, 0) of each id."""
    B = pooled.shape[0]
    return torch.cat([pooled, timestep_embedding(ids.flatten(), dim).reshape(B, 6 * dim)], -1)


def _expect_error(call, name, why):
    """``call()`` must raise a ValueError whose message names the argument ``name``."""
    try:
        call()
    except ValueError as err:
        assert name in str(err), f"the ValueError should name the argument {name}, got: {err}"
        return
    pytest.fail(f"expected a ValueError naming {name} ({why}); nothing was raised", pytrace=False)


def _ids(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_ids_order_is_original_crop_target(exercise):
    ex = exercise("ex17_sdxl_conditioning")
    got = ex.micro_conditioning_ids((24, 40), (3, 5), (32, 48))
    expect_close("micro_conditioning_ids((24, 40), (3, 5), (32, 48))",
                 expect_tensor("micro_conditioning_ids", got, (1, 6), torch.float32),
                 _ids([[24, 40, 3, 5, 32, 48]]),
                 f"{ORDER}: sizes as (height, width), the crop as (top, left)")


def test_ids_repeat_over_the_batch(exercise):
    ex = exercise("ex17_sdxl_conditioning")
    got = ex.micro_conditioning_ids((16, 20), (0, 7), (40, 24), batch_size=3)
    expect_close("micro_conditioning_ids(..., batch_size=3)",
                 expect_tensor("micro_conditioning_ids", got, (3, 6), torch.float32),
                 _ids([[16, 20, 0, 7, 40, 24]] * 3), "one row per image, the same six numbers")


def test_ids_accept_one_pair_per_image(exercise):
    ex = exercise("ex17_sdxl_conditioning")
    orig = torch.tensor([[16, 16], [32, 24], [64, 40]])
    crop = torch.tensor([[0, 0], [4, 2], [9, 1]])
    got = ex.micro_conditioning_ids(orig, crop, (32, 32), batch_size=3)
    want = _ids([[16, 16, 0, 0, 32, 32], [32, 24, 4, 2, 32, 32], [64, 40, 9, 1, 32, 32]])
    expect_close("micro_conditioning_ids with (3, 2) tensors",
                 expect_tensor("micro_conditioning_ids", got, (3, 6), torch.float32), want,
                 "row b from row b of every (B, 2) argument; pairs repeated to B rows")


def test_ids_reject_bad_sizes_and_offsets(exercise):
    ex = exercise("ex17_sdxl_conditioning")
    bad = [("original_size", ((0, 32), (0, 0), (32, 32)), "an original size of 0"),
           ("original_size", ((32, -4), (0, 0), (32, 32)), "a negative original size"),
           ("crops_coords_top_left", ((32, 32), (-1, 0), (32, 32)), "a negative crop offset"),
           ("crops_coords_top_left", ((32, 32), (0, -3), (32, 32)), "a negative crop offset"),
           ("target_size", ((32, 32), (0, 0), (0, 32)), "a target size of 0"),
           ("original_size", ((32, 32, 32), (0, 0), (32, 32)), "three numbers instead of a pair")]
    for name, args, why in bad:
        _expect_error(lambda: ex.micro_conditioning_ids(*args), name, f"{why}: {args}")


def test_added_embedding_matches_sdxl(exercise):
    ex = exercise("ex17_sdxl_conditioning")
    g = torch.Generator().manual_seed(0)
    pooled = torch.randn(3, 5, generator=g)
    ids = _ids([[16, 20, 0, 7, 40, 24], [32, 32, 4, 2, 32, 32], [64, 40, 9, 1, 24, 40]])
    for dim in (8, 6):
        got = ex.added_condition_embedding(pooled, ids, dim)
        expect_close(f"added_condition_embedding(dim={dim})",
                     expect_tensor("added_condition_embedding", got, (3, 5 + 6 * dim),
                                   torch.float32),
                     _added(pooled, ids, dim),
                     "[pooled, PE(c_1), ..., PE(c_6)]: pooled first, then each number's own "
                     "sinusoid (cos half first), image by image")


def test_added_embedding_keeps_the_pooled_text_in_front(exercise):
    ex = exercise("ex17_sdxl_conditioning")
    pooled = torch.arange(8.0).reshape(2, 4)
    got = ex.added_condition_embedding(pooled, _ids([[32, 32, 0, 0, 32, 32]] * 2), 4)
    assert got.shape == (2, 4 + 24), \
        f"added_condition_embedding: expected shape (2, 28) = (B, P + 6 dim), got {tuple(got.shape)}"
    assert torch.equal(got[:, :4], pooled), \
        "added_condition_embedding: the first P columns must be the pooled embedding itself " \
        "(diffusers concatenates text_embeds first)"


def test_each_number_has_its_own_embedding(exercise):
    ex = exercise("ex17_sdxl_conditioning")
    dim = 8
    ids = _ids([[32, 32, 0, 0, 32, 32], [16, 16, 0, 0, 32, 32]])
    got = ex.added_condition_embedding(torch.zeros(2, 3), ids, dim)[:, 3:].reshape(2, 6, dim)
    pe0 = timestep_embedding(torch.tensor([0.0]), dim)[0]
    assert torch.allclose(got[0, 2], pe0, atol=1e-6) and torch.allclose(got[0, 3], pe0, atol=1e-6), \
        "a crop offset of 0 must embed as PE(0) = [1, ..., 1, 0, ..., 0] (cos half first) in its " \
        "own slot: embed every number separately"
    assert torch.allclose(got[0, 4:], got[1, 4:], atol=1e-6) and \
        not torch.allclose(got[0, :2], got[1, :2], atol=1e-3), \
        "changing only original_size may change only the first two embeddings of that image"


def test_sdxl_base_sizes(exercise):
    ex = exercise("ex17_sdxl_conditioning")
    ids = ex.micro_conditioning_ids((1024, 1024), (0, 0), (1024, 1024), batch_size=2)
    got = ex.added_condition_embedding(torch.zeros(2, 1280), ids, 256)
    assert got.shape == (2, 2816), \
        f"SDXL base: 1280 pooled + 6 x 256 = 2816 numbers per image, got {tuple(got.shape)}"


def test_added_embedding_rejects_bad_shapes(exercise):
    ex = exercise("ex17_sdxl_conditioning")
    ids = _ids([[32, 32, 0, 0, 32, 32]] * 2)
    for name, pooled, time_ids, why in (
            ("pooled", torch.zeros(2, 3, 1), ids, "pooled (2, 3, 1) is not (B, P)"),
            ("time_ids", torch.zeros(2, 3), ids[:, :5], "time_ids (2, 5) is not (B, 6)"),
            ("time_ids", torch.zeros(2, 3), ids.flatten(), "time_ids (12,) is not (B, 6)"),
            ("time_ids", torch.zeros(3, 3), ids, "3 pooled rows but 2 rows of ids")):
        _expect_error(lambda: ex.added_condition_embedding(pooled, time_ids, 4), name, why)


def _mlp(p, d, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(p, d), torch.nn.Linear(d, d)


def test_added_condition_is_added_to_the_time_embedding(exercise):
    ex = exercise("ex17_sdxl_conditioning")
    linear_1, linear_2 = _mlp(11, 7)
    g = torch.Generator().manual_seed(3)
    temb, added = torch.randn(2, 7, generator=g), torch.randn(2, 11, generator=g)
    with torch.no_grad():
        got = ex.add_to_time_embedding(temb, added, linear_1, linear_2)
        want = temb + linear_2(torch.nn.functional.silu(linear_1(added)))
    expect_close("add_to_time_embedding",
                 expect_tensor("add_to_time_embedding", got, (2, 7), torch.float32), want,
                 "temb + linear_2(SiLU(linear_1(added))) (diffusers: emb = emb + aug_emb)")


def test_added_condition_end_to_end(exercise):
    ex = exercise("ex17_sdxl_conditioning")
    dim, P, D = 4, 3, 6
    linear_1, linear_2 = _mlp(P + 6 * dim, D, seed=1)
    temb = torch.randn(2, D, generator=torch.Generator().manual_seed(4))
    pooled = torch.randn(2, P, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        small = ex.add_to_time_embedding(temb, ex.added_condition_embedding(
            pooled, ex.micro_conditioning_ids((8, 8), (0, 0), (32, 32), 2), dim), linear_1, linear_2)
        large = ex.add_to_time_embedding(temb, ex.added_condition_embedding(
            pooled, ex.micro_conditioning_ids((64, 64), (0, 0), (32, 32), 2), dim), linear_1, linear_2)
        want = temb + linear_2(torch.nn.functional.silu(linear_1(
            _added(pooled, _ids([[64, 64, 0, 0, 32, 32]] * 2), dim))))
    expect_close("the U-Net's time embedding for original_size (64, 64)", large, want,
                 "ids -> [pooled, PE(ids)] -> temb + MLP(...)")
    assert (small - large).abs().max() > 1e-3, \
        "asking for another original_size must change the time embedding"
