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

You may use ``diffusionlab.nn.embeddings.timestep_embedding`` (lesson 06's sinusoid), not the
library's own answers.

Grade it:  python -m diffusionlab grade 17      (or, in a notebook: check("17"))
"""
import torch
from torch import nn

from diffusionlab.nn.embeddings import timestep_embedding  # noqa: F401  (yours to use)


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
    raise NotImplementedError

def added_condition_embedding(pooled: torch.Tensor, time_ids: torch.Tensor,
                              dim: int) -> torch.Tensor:
    """(B, P) pooled text embedding and (B, 6) ids -> (B, P + 6 dim):
    ``[pooled, PE(c_1), ..., PE(c_6)]``, PE the sinusoidal embedding of size ``dim`` with the
    cos half first (``flip_sin_to_cos=True``, shift 0), one per number, pooled first.

    ``pooled`` must be 2-D, ``time_ids`` (B, 6) with the same B; else a ValueError naming them.

    Hint: ``timestep_embedding`` takes a 1-D tensor: flatten the ids to (6 B,), embed, then
    ``reshape(B, 6 * dim)`` (row b holds image b's six embeddings, in order).
    """
    raise NotImplementedError

def add_to_time_embedding(temb: torch.Tensor, added: torch.Tensor, linear_1: nn.Linear,
                          linear_2: nn.Linear) -> torch.Tensor:
    """The U-Net's side: ``emb = temb + linear_2(SiLU(linear_1(added)))`` (diffusers:
    ``aug_emb = self.add_embedding(add_embeds); emb = emb + aug_emb``). ``temb`` (B, D) is the
    time embedding after its own MLP, ``added`` (B, P + 6 d) what ``added_condition_embedding``
    returns; ``linear_1`` maps P + 6 d -> D, ``linear_2`` D -> D.

    Hint: ``torch.nn.functional.silu``; add, do not replace, and do not change ``temb`` in place.
    """
    raise NotImplementedError
