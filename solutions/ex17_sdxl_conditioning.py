"""Exercise 17: SDXL's micro-conditioning, size and crop added to the time embedding.
Lesson: notebooks/17_sdxl.ipynb

SDXL (Podell et al. 2023, section 2.2) tells its U-Net three things about each training image
besides the caption: the size the image had before it was rescaled (``original_size``), where
the training crop started (``crops_coords_top_left``) and the size it is generating
(``target_size``). At sampling time you then *ask* for a large, uncropped image. The six
numbers, in diffusers' ``_get_add_time_ids`` order

    c = [h_orig, w_orig, c_top, c_left, h_target, w_target]

are each embedded with the sinusoidal timestep embedding (its own Fourier features per
number: diffusers' ``add_time_proj = Timesteps(256, flip_sin_to_cos=True,
downscale_freq_shift=0)``, cos half first), concatenated *after* the pooled text embedding,
mapped by an MLP and added to the time embedding (diffusers' ``UNet2DConditionModel`` with
``addition_embed_type="text_time"``):

    e_add = [pooled, PE(c_1), ..., PE(c_6)]                    (B, P + 6 d)
    emb   = MLP_t(PE(t)) + MLP_add(e_add)                      MLP = Linear, SiLU, Linear

SDXL base: P = 1280 (the pooled OpenCLIP bigG embedding), d = 256, so e_add has 2816 numbers.

Reference: diffusionlab/nn/embeddings.py (micro_conditioning_ids, added_condition_embedding).
"""
import torch
from torch import nn

from diffusionlab.nn.embeddings import timestep_embedding


def _pair(name, value, minimum):
    """A (h, w) / (top, left) pair, or a (B, 2) tensor of them, as float32 (rows, 2)."""
    rows = torch.as_tensor(value).to(torch.float32)
    if rows.ndim == 1:
        rows = rows.unsqueeze(0)
    if rows.ndim != 2 or rows.shape[1] != 2:
        raise ValueError(f"{name} must be a pair of ints or a (B, 2) tensor, got shape "
                         f"{tuple(rows.shape)}")
    if bool((rows < minimum).any()):
        raise ValueError(f"{name} must be >= {minimum} everywhere, got {rows.tolist()}")
    return rows


def micro_conditioning_ids(original_size, crops_coords_top_left, target_size,
                           batch_size: int = 1) -> torch.Tensor:
    """The six micro-conditioning numbers per image, (B, 6) float32, in diffusers' order:
    ``[orig_h, orig_w, crop_top, crop_left, target_h, target_w]``.

    Each argument is a (h, w) / (top, left) pair of ints (the same for the whole batch) or a
    (B, 2) tensor (one pair per image). B is ``batch_size``, or the rows of a tensor argument
    (then ``batch_size`` must be 1 or B). An ``original_size`` or ``target_size`` below 1, or
    a negative crop offset, is a ValueError naming the argument.

    Hint: ``torch.as_tensor(x).to(torch.float32)``, make every argument (rows, 2), ``expand``
    the one-row ones to B rows, ``torch.cat`` along dim 1 (SDXL: original_size +
    crops_coords_top_left + target_size, as tuples).
    """
    orig = _pair("original_size", original_size, minimum=1)
    crop = _pair("crops_coords_top_left", crops_coords_top_left, minimum=0)
    target = _pair("target_size", target_size, minimum=1)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    B = max(batch_size, orig.shape[0], crop.shape[0], target.shape[0])
    for name, rows in (("batch_size", [batch_size]), ("original_size", orig),
                       ("crops_coords_top_left", crop), ("target_size", target)):
        if len(rows) not in (1, B):
            raise ValueError(f"{name} gives {len(rows)} rows, but the batch has {B}")
    orig, crop, target = (r.expand(B, 2) for r in (orig, crop, target))
    return torch.cat([orig, crop, target], dim=1)     # original_size + crops + target_size


def added_condition_embedding(pooled: torch.Tensor, time_ids: torch.Tensor,
                              dim: int) -> torch.Tensor:
    """(B, P) pooled text embedding and (B, 6) ids -> (B, P + 6 dim):
    ``[pooled, PE(c_1), ..., PE(c_6)]``, PE the sinusoidal embedding of size ``dim`` with the
    cos half first (``flip_sin_to_cos=True``, shift 0), one per number, pooled first.

    ``pooled`` must be 2-D, ``time_ids`` (B, 6) with the same B; else a ValueError naming them.

    Hint: ``timestep_embedding`` takes a 1-D tensor: flatten the ids to (6 B,), embed, then
    ``reshape(B, 6 * dim)`` (row b holds image b's six embeddings, in order).
    """
    if not isinstance(pooled, torch.Tensor) or pooled.ndim != 2:
        raise ValueError(f"pooled must be a (B, P) tensor, got "
                         f"{tuple(pooled.shape) if isinstance(pooled, torch.Tensor) else pooled!r}")
    if not isinstance(time_ids, torch.Tensor) or time_ids.ndim != 2 or time_ids.shape[1] != 6:
        raise ValueError(f"time_ids must be a (B, 6) tensor, got "
                         f"{tuple(time_ids.shape) if isinstance(time_ids, torch.Tensor) else time_ids!r}")
    B = pooled.shape[0]
    if time_ids.shape[0] != B:
        raise ValueError(f"pooled has {B} rows but time_ids has {time_ids.shape[0]}")
    time_embeds = timestep_embedding(time_ids.flatten(), dim)          # (6 B, dim), cos first
    return torch.cat([pooled, time_embeds.reshape(B, 6 * dim)], dim=-1)  # text_embeds first


def add_to_time_embedding(temb: torch.Tensor, added: torch.Tensor, linear_1: nn.Linear,
                          linear_2: nn.Linear) -> torch.Tensor:
    """The U-Net's side: ``emb = temb + linear_2(SiLU(linear_1(added)))`` (diffusers:
    ``aug_emb = self.add_embedding(add_embeds); emb = emb + aug_emb``). ``temb`` (B, D) is the
    time embedding after its own MLP, ``added`` (B, P + 6 d) what ``added_condition_embedding``
    returns; ``linear_1`` maps P + 6 d -> D, ``linear_2`` D -> D.

    Hint: ``torch.nn.functional.silu``; add, do not replace, and do not change ``temb`` in place.
    """
    if added.ndim != 2 or added.shape[1] != linear_1.in_features:
        raise ValueError(f"added must be (B, {linear_1.in_features}) for linear_1, got "
                         f"{tuple(added.shape)}")
    if temb.shape != (added.shape[0], linear_2.out_features):
        raise ValueError(f"temb must be (B, {linear_2.out_features}) with B = {added.shape[0]}, "
                         f"got {tuple(temb.shape)}")
    aug = linear_2(torch.nn.functional.silu(linear_1(added)))
    return temb + aug
