"""``TextToImageXL`` and ``TextToImageXLRefiner``: the tiny SDXL (Podell et al. 2023) on the
wider world, called like diffusers' ``StableDiffusionXLPipeline`` and
``StableDiffusionXLImg2ImgPipeline``.

    pipe = TextToImageXL.pretrained()
    out = pipe("the word CAT in blue", height=24, width=40)            # a landscape bucket
    base = pipe(prompts, denoising_end=0.8, return_latents=True)       # ensemble of experts:
    refined = TextToImageXLRefiner.pretrained()(prompts, latents=base.latents,
                                                denoising_start=0.8)  # the refiner finishes

What differs from ``TextToImage`` (SD 1.x):

* two text encoders (``nn.text_xl.DualTextEncoder``): per-token states concatenated, the
  char encoder's pooled embedding in the added conditioning; ``text_encoders`` picks which
  of them the U-Net sees ("both", "word", "char", "pooled": the modes trained by dropout);
* six micro-conditioning numbers (``nn.embeddings.micro_conditioning_ids``):
  ``original_size`` and ``target_size`` default to (height, width), ``crops_coords_top_left``
  to (0, 0): "a sharp, uncropped image of this size", SDXL's defaults;
* ``denoising_end`` (in (0, 1]): stop after that fraction of the noise schedule, at the
  first sampler timestep below T (1 - denoising_end), and return those still-noisy latents
  (diffusers' discrete cut-off); the refiner's ``denoising_start`` continues from the same
  timestep with the same ``num_inference_steps``.

The refiner (SDXL section 2.5) is a second latent U-Net in the same latent space, trained
only on the low-noise timesteps t < ``REFINER_T_MAX`` (SDXL: 200 of 1000), conditioned on the
char encoder only (SDXL's refiner uses only OpenCLIP bigG). Given ``latents`` from the base
it continues them as they are; given an ``image`` it encodes it and noises it to the start
timestep first (SDEdit, Meng et al. 2022), so it also touches up any image.
"""
from __future__ import annotations

import torch
from torch import nn

from .._checks import check_choice, check_number
from ..forward import q_sample
from ..nn.embeddings import micro_conditioning_ids
from ..nn.text_xl import MODES
from .base import (DEFAULT_GUIDANCE_SCALE, DiffusionPipeline, TextToImageOutput, broadcast_prompt,
                   check_images, match_batch)


class _Conditioner(nn.Module):
    """The text side of a ``TinySDXL`` as ``DiffusionPipeline`` expects its ``clip``
    (``token_states``, ``context_dim``, ``tokenizer``)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.context_dim = model.unet.context_dim
        self.tokenizer = model.text_encoder.tokenizer
        self.max_length = model.text_encoder.max_length

    def encode(self, captions, mode: str = "both"):
        """(context, pooled, context_mask) of ``captions`` in conditioning mode ``mode``."""
        te = self.model.text_encoder
        tok = te.tokenize(captions)
        ids, chars = tok["input_ids"].to(te.device), tok["char_ids"].to(te.device)
        context, pooled = self.model.condition(ids, chars, mode)
        return context, pooled, self.model.context_mask(ids, chars)

    def token_states(self, captions) -> torch.Tensor:
        return self.encode(captions)[0]


def _cutoff(num_timesteps: int, fraction: float) -> int:
    """diffusers' discrete cut-off: round(T - fraction * T)."""
    return int(round(num_timesteps - fraction * num_timesteps))


class TextToImageXL(DiffusionPipeline):
    """The tiny SDXL base (module docstring). Build with ``pretrained`` or
    ``from_model(TinySDXL, vae, SchedulerConfig)``."""

    default_weights = "text2img_xl"

    def __init__(self, model, vae, schedule, prediction_type: str = "epsilon",
                 timestep_spacing: str = "leading", steps_offset: int = 0):
        super().__init__(model.unet, vae, _Conditioner(model), schedule, prediction_type,
                         timestep_spacing, steps_offset)
        self.model = model.eval()
        self.text_encoders = model.text_encoder
        self.tokenizer = model.text_encoder.tokenizer
        self.vae_scale_factor = vae.downscale

    @classmethod
    def from_directory(cls, directory, device="cpu", vae=None):
        from pathlib import Path

        from ..checkpoints import load_checkpoint, weights_path
        from ..nn.sdxl import TinySDXL
        from ..nn.vae import VAE
        from ..samplers import SchedulerConfig

        model = load_checkpoint(TinySDXL, directory, device=device)
        config = SchedulerConfig.load(directory)
        vae = load_checkpoint(VAE, weights_path("vae_scenes"), device=device) if vae is None else vae
        pipe = cls(model, vae, config.make_schedule(), config.prediction_type,
                   config.timestep_spacing, config.steps_offset)
        pipe.name_or_path = Path(directory).name
        return pipe

    @classmethod
    def pretrained(cls, name: str | None = None, device="cpu"):
        from ..checkpoints import weights_path

        return cls.from_directory(weights_path(name or cls.default_weights), device=device)

    def num_parameters(self) -> dict:
        def count(m):
            return sum(p.numel() for p in m.parameters())

        te = self.model.text_encoder
        return {"word_encoder": count(te.word_encoder), "char_encoder": count(te.char_encoder),
                "unet": count(self.unet), "vae": count(self.vae)}

    def _parts(self) -> list:
        return [self.model, self.vae]

    def conditioning(self, prompts, time_ids: torch.Tensor, mode: str = "both") -> dict:
        """The U-Net's keyword inputs for ``prompts``: context, context_mask (the padding is
        masked out of cross-attention, as in training), text_embeds (pooled), time_ids."""
        context, pooled, mask = self.clip.encode(prompts, mode)
        return {"context": context, "context_mask": mask, "text_embeds": pooled,
                "time_ids": time_ids.to(self.device)}

    def _conditions(self, args, time_ids, mode):
        n = args.num_images_per_prompt
        prompts = [p for p in args.prompts for _ in range(n)]
        negatives = ([""] * len(prompts) if args.negatives is None
                     else [p for p in args.negatives for _ in range(n)])
        return self.conditioning(prompts, time_ids, mode), self.conditioning(negatives, time_ids, mode)

    @torch.no_grad()
    def __call__(self, prompt, negative_prompt=None, guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
                 num_inference_steps: int = 20, seed: int | None = 0, height: int = 32,
                 width: int = 32, original_size=None, crops_coords_top_left=(0, 0),
                 target_size=None, denoising_end: float | None = None,
                 text_encoders: str = "both", num_images_per_prompt: int = 1,
                 progress: bool = True, return_latents: bool = False,
                 latents: torch.Tensor | None = None, sampler: str = "ddim") -> TextToImageOutput:
        """Generate images for ``prompt`` (module docstring; the other arguments are
        ``TextToImage.__call__``'s). ``.images`` is None with ``return_latents``."""
        args = self.check_call(prompt, negative_prompt, guidance_scale, num_inference_steps,
                               seed, 0.0, 0.0, num_images_per_prompt, height, width,
                               return_latents, progress, latents, sampler)
        mode = check_choice("text_encoders", text_encoders, MODES)
        B = args.batch_size
        time_ids = micro_conditioning_ids(
            (height, width) if original_size is None else original_size, crops_coords_top_left,
            (height, width) if target_size is None else target_size, batch_size=B)
        timesteps = self.timesteps(num_inference_steps)
        t_final = -1
        if denoising_end is not None:
            end = check_number("denoising_end", denoising_end, minimum=0.0, maximum=1.0)
            if end <= 0:
                raise ValueError(f"denoising_end must be in (0, 1], got {denoising_end}")
            cut = _cutoff(self.schedule.num_timesteps, end)
            keep, rest = timesteps[timesteps >= cut], timesteps[timesteps < cut]
            if len(keep) == 0:
                raise ValueError(f"denoising_end={denoising_end} leaves no sampler step of "
                                 f"{num_inference_steps}; raise it or the number of steps")
            timesteps, t_final = keep, (int(rest[0]) if len(rest) else -1)
        cond, uncond = self._conditions(args, time_ids, mode)
        return self.generate(args, timesteps=timesteps, cond=cond, uncond=uncond, t_final=t_final)


class TextToImageXLRefiner(TextToImageXL):
    """SDXL's refiner at toy scale (module docstring): a low-noise expert."""

    default_weights = "text2img_xl_refiner"

    @torch.no_grad()
    def __call__(self, prompt, image: torch.Tensor | None = None,
                 latents: torch.Tensor | None = None, denoising_start: float = 0.8,
                 num_inference_steps: int = 20, seed: int | None = 0,
                 guidance_scale: float = DEFAULT_GUIDANCE_SCALE, negative_prompt=None,
                 progress: bool = True) -> TextToImageOutput:
        """Finish ``latents`` (the base's, from ``denoising_end=denoising_start``,
        ``return_latents=True``) or refine ``image`` ((B, 3, H, W) in [-1, 1]) from
        the timestep ``denoising_start`` picks; one prompt per image or one for all."""
        if (image is None) == (latents is None):
            raise ValueError("give exactly one of image= (B, 3, H, W) in [-1, 1] or latents= "
                             "(the base's return_latents output)")
        start = check_number("denoising_start", denoising_start, minimum=0.0, maximum=1.0)
        if start <= 0 or start >= 1:
            raise ValueError(f"denoising_start must be in (0, 1), got {denoising_start}")
        f = self.vae.downscale
        if latents is not None:
            if not isinstance(latents, torch.Tensor) or latents.ndim != 4 \
                    or latents.shape[1] != self.vae.latent_channels:
                raise ValueError(f"latents must be a (B, {self.vae.latent_channels}, h, w) "
                                 f"tensor, got {getattr(latents, 'shape', type(latents).__name__)}")
            B, (H, W) = latents.shape[0], (latents.shape[2] * f, latents.shape[3] * f)
        else:
            image = check_images("image", image)
            B, H, W = image.shape[0], image.shape[2], image.shape[3]
        prompts = broadcast_prompt(prompt, B)
        args = self.check_call(prompts, negative_prompt, guidance_scale, num_inference_steps,
                               seed, 0.0, 0.0, 1, H, W, False, progress, None, "ddim")
        if args.batch_size != B:
            raise ValueError(f"prompt must be one str or one per image ({B}), "
                             f"got {args.batch_size}")
        timesteps = self.timesteps(num_inference_steps)
        timesteps = timesteps[timesteps < _cutoff(self.schedule.num_timesteps, start)]
        if len(timesteps) == 0:
            raise ValueError(f"denoising_start={denoising_start} leaves no sampler step")
        if latents is None:
            images = match_batch("image", image, B)
            z0 = self.encode_images(images)
            gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
            noise = torch.randn(z0.shape, generator=gen).to(z0.device)
            t = torch.full((B,), int(timesteps[0]), dtype=torch.long)
            latents = q_sample(self.schedule, z0, t, noise)               # SDEdit start
        time_ids = micro_conditioning_ids((H, W), (0, 0), (H, W), batch_size=B)
        cond, uncond = self._conditions(args, time_ids, "char")
        return self.generate(args, x_T=latents.to(self.device), timesteps=timesteps, cond=cond,
                             uncond=uncond)
