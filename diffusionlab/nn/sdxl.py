"""The tiny SDXL's trainable half: the two text encoders and the latent U-Net with added
conditioning, in one module so that they train (and are saved, EMA'd) together.

    context, pooled = DualTextEncoder(ids, char_ids)            (B, L, 128), (B, 64)
    c_add = [pooled ; Fourier(time_ids)]                        added_condition_embedding
    eps = UNet(z_t, t, context, text_embeds=pooled, time_ids)   MLP(c_add) + temb in every block

(Podell et al. 2023, sections 2.1-2.3; ``nn.text_xl`` and ``nn.embeddings``.) The refiner
(``TinySDXL`` with ``text_encoders="char"``) is the same class: SDXL's refiner conditions on
the bigG encoder only, here the character-aware one.
"""
from __future__ import annotations

import torch
from torch import nn

from .._checks import check_choice
from .text_xl import DualTextEncoder
from .unet import UNet

TEXT_ENCODERS = ("both", "char")


class TinySDXL(nn.Module):
    """``text_encoder`` (``DualTextEncoder``) + ``unet`` (``UNet`` with added conditioning).

    ``unet``: UNet keyword arguments (in_channels = the VAE's latent channels, ...);
    ``text``: DualTextEncoder keyword arguments; ``addition_time_embed_dim``: the Fourier
    width of each micro-conditioning number. ``text_encoders="char"`` builds a U-Net that
    cross-attends to the char encoder's states only (the refiner).
    """

    def __init__(self, unet: dict, text: dict | None = None, addition_time_embed_dim: int = 16,
                 text_encoders: str = "both"):
        super().__init__()
        check_choice("text_encoders", text_encoders, TEXT_ENCODERS)
        text = dict(text or {})
        self.text_encoder = DualTextEncoder(**text)
        te = self.text_encoder
        context_dim = te.context_dim if text_encoders == "both" else te.char_width
        self.unet = UNet(**unet, context_dim=context_dim,
                         addition_time_embed_dim=addition_time_embed_dim,
                         projection_class_embeddings_input_dim=te.pooled_dim
                         + 6 * addition_time_embed_dim)
        self.text_encoders = text_encoders
        self.config = dict(unet=dict(unet), text=te.config,
                           addition_time_embed_dim=addition_time_embed_dim,
                           text_encoders=text_encoders)
        self.in_channels = self.unet.in_channels
        self.downscale = self.unet.downscale

    def condition(self, input_ids, char_ids, mode: str = "both", keep_word=None, keep_char=None,
                  keep_pooled=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(context, pooled) the U-Net sees for tokenized captions (``DualTextEncoder``)."""
        context, pooled = self.text_encoder(input_ids, char_ids, mode, keep_word, keep_char,
                                            keep_pooled)
        if self.text_encoders == "char":
            context = context[..., self.text_encoder.word_width:]
        return context, pooled

    def context_mask(self, input_ids: torch.Tensor, char_ids: torch.Tensor) -> torch.Tensor:
        """True at the context's real tokens (``DualTextEncoder.context_mask``): the U-Net's
        cross-attention ignores the padding."""
        return self.text_encoder.context_mask(input_ids, char_ids)

    def forward(self, x, t, input_ids, char_ids, time_ids, mode: str = "both", keep_word=None,
                keep_char=None, keep_pooled=None) -> torch.Tensor:
        """The U-Net's prediction for tokenized captions. The batch's tokens are cut after
        its longest caption (with character tokens, also after its longest word): padding is
        masked everywhere (text encoders and cross-attention), so this changes nothing but
        the cost. (The word-token char encoder's convolution reads padded letters: not cut.)"""
        te = self.text_encoder
        L = int((input_ids != te.tokenizer.pad_token_id).sum(1).max())
        C = int((char_ids != 0).sum(2).max()) if te.char_tokens == "char" else char_ids.shape[2]
        input_ids, char_ids = input_ids[:, :L], char_ids[:, :L, :C]
        mask = self.context_mask(input_ids, char_ids)
        context, pooled = self.condition(input_ids, char_ids, mode, keep_word, keep_char,
                                         keep_pooled)
        return self.unet(x, t, context, mask, text_embeds=pooled, time_ids=time_ids)
