"""``TextToImage``: prompt to image, the tiny Stable Diffusion (see ``diffusionlab.pipelines``
for the whole pipeline in pseudo-code)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .base import DEFAULT_GUIDANCE_SCALE, DiffusionPipeline, TextToImageOutput


@dataclass
class CrossAttentionMaps:
    """Where each prompt token is looked at: the U-Net's cross-attention weights for one
    prompt, averaged over heads, layers (resized to the latent grid) and sampling steps.

    tokens  the padded token strings, e.g. ["<|startoftext|>", "a", "red", ..., "<pad>"]
    maps    (L, h, w): maps[j] is how much the image tokens attend to token j (each pixel's
            weights sum to 1 over j)
    image   (3, H, W) the image generated while recording
    layers  {layer name: (L, h, w)}: the same average for each cross-attention layer alone
            (``maps`` is their mean), e.g. to read only some resolutions, as prompt-to-prompt
            reads SD's 16 x 16 layers
    """

    tokens: list
    maps: torch.Tensor
    image: torch.Tensor
    layers: dict = field(default_factory=dict)


class TextToImage(DiffusionPipeline):
    """A text-to-image latent diffusion pipeline (diffusers' ``StableDiffusionPipeline``):
    tokenizer + text encoder, U-Net, noise schedule with its sampler, VAE decoder (see
    ``diffusionlab.pipelines``). Constructor arguments: ``DiffusionPipeline``'s.
    """

    @classmethod
    def pretrained(cls, device: str | torch.device = "cpu") -> "TextToImage":
        """The tiny Stable Diffusion shipped with the course (``weights/text2img`` + the
        shipped ``clip`` and ``vae``)."""
        from ..checkpoints import weights_path

        return cls.from_directory(weights_path("text2img"), device=device)

    # ------------------------------------------------------------------ the call
    @torch.no_grad()
    def __call__(self, prompt, negative_prompt=None, guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
                 num_inference_steps: int = 20, seed: int | None = 0, eta: float = 0.0,
                 guidance_rescale: float = 0.0, num_images_per_prompt: int = 1, height: int = 32,
                 width: int = 32, return_latents: bool = False, progress: bool = True,
                 latents: torch.Tensor | None = None, sampler: str = "ddim",
                 return_trajectory: bool = False, callback_on_step_end=None) -> TextToImageOutput:
        """Generate images for ``prompt`` (a str or a list of str).

        Args:
            negative_prompt: None (the empty prompt), a str (for every prompt) or a list as
                long as ``prompt``; used in the unconditional branch of CFG.
            guidance_scale: s in eps_uncond + s (eps_cond - eps_uncond); 1 = no guidance
                (one U-Net pass per step), 0 = unconditional.
            num_inference_steps: sampler steps (1 to T).
            seed: seeds the initial noise (and DDIM's noise when eta > 0): the same seed
                gives the same images. None draws from torch's global generator.
            eta: DDIM's eta (0 = deterministic, 1 = DDPM-like).
            guidance_rescale: phi of Lin et al. 2023 (eq. 16), in [0, 1].
            num_images_per_prompt: images per prompt (each from its own noise).
            height, width: image size in pixels, multiples of 8 (trained at 32).
            return_latents: skip the VAE decoder (``images`` is then None).
            progress: show a progress bar (always off when TQDM_DISABLE=1).
            latents: optional initial noise z_T of shape (B, 4, height/4, width/4).
            sampler: "ddim" (default), "ddpm" (ancestral) or "dpmsolver++" (DPM-Solver++(2M),
                Lu et al. 2022: second order for one U-Net pass per step).
            return_trajectory: also return every step's latents and predicted z_0
                (``.trajectory``), to watch the image form.
            callback_on_step_end: f(i, t, t_prev, step) called after every sampler step
                (``step.prev_sample``, ``step.pred_original_sample``); may return a tensor
                that replaces the latents (diffusers' ``callback_on_step_end``).
        """
        args = self.check_call(prompt, negative_prompt, guidance_scale, num_inference_steps, seed,
                               eta, guidance_rescale, num_images_per_prompt, height, width,
                               return_latents, progress, latents, sampler, return_trajectory,
                               callback_on_step_end)
        return self.generate(args)

    # ------------------------------------------------------------------ attention maps
    @torch.no_grad()
    def cross_attention_maps(self, prompt: str, guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
                             num_inference_steps: int = 20, seed: int = 0,
                             negative_prompt: str | None = None) -> CrossAttentionMaps:
        """Generate one image for ``prompt`` while recording every cross-attention layer
        (``attn2`` of each transformer block, ``store_attn=True``); return the weights of
        the conditional branch averaged over heads, layers and steps, on the latent grid
        (the "prompt-to-prompt" / DAAM picture of which pixels read which word)."""
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
        layers = {name: m for name, m in self.unet.named_modules()
                  if name.endswith("attn2") and getattr(m, "is_cross", False)}
        if not layers:
            raise ValueError("this U-Net has no cross-attention layers (context_dim=None)")
        h, w = 32 // self.vae.downscale, 32 // self.vae.downscale
        L = self.clip.max_length
        per_layer = {name: torch.zeros(L, h, w) for name in layers}
        calls = dict.fromkeys(layers, 0)                            # one per U-Net call
        guided_pass = float(guidance_scale) != 1.0

        def hook(name):
            def record(module, args, output):
                a = module.last_attn                                # (B', heads, N, L)
                if guided_pass:
                    a = a[a.shape[0] // 2:]                         # the conditional half
                a = a[0].mean(0)                                    # (N, L) over heads
                side = int(round(math.sqrt(a.shape[0])))
                a = a.T.reshape(L, 1, side, side)
                per_layer[name].add_(F.interpolate(a.float().cpu(), size=(h, w),
                                                   mode="nearest")[:, 0])
                calls[name] += 1
            return record

        handles = []
        try:
            for name, m in layers.items():
                m.store_attn = True
                handles.append(m.register_forward_hook(hook(name)))
            out = self(prompt, negative_prompt=negative_prompt, guidance_scale=guidance_scale,
                       num_inference_steps=num_inference_steps, seed=seed, progress=False)
        finally:
            for m in layers.values():
                m.store_attn = False
                m.last_attn = None
            for hd in handles:
                hd.remove()
        ids = self.clip.tokenize(prompt)["input_ids"][0].tolist()
        tokens = self.clip.tokenizer.convert_ids_to_tokens(ids)
        per_layer = {name: total / max(calls[name], 1) for name, total in per_layer.items()}
        return CrossAttentionMaps(tokens=tokens, maps=torch.stack(list(per_layer.values())).mean(0),
                                  image=out.images[0], layers=per_layer)
