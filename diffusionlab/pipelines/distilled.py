"""``DistilledTextToImage``: the few-step student of the tiny Stable Diffusion (lesson 15).

A latent consistency model (Luo et al. 2023) distilled from ``TextToImage.pretrained()``
with classifier-free guidance baked in at the teacher's scale, so every step is *one*
U-Net pass (the teacher's guided step is two). Sampling is multistep consistency sampling
(``samplers.lcm_step``) on the timesteps of ``samplers.lcm_timesteps``: jump to the clean
estimate, re-noise to the next timestep, repeat.

    >>> pipe = DistilledTextToImage.pretrained()
    >>> pipe("a large red circle at the top left", num_inference_steps=4).images.shape
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from .._checks import check_int
from .base import TextToImageOutput
from .text_to_image import TextToImage

DISTILLATION_FILE = "distillation.json"


class DistilledTextToImage(TextToImage):
    """``TextToImage`` for a consistency-distilled U-Net: one pass per step, 1 to
    ``max_steps`` steps, guidance fixed at the scale it was distilled with."""

    guidance_scale: float = 3.0        # the teacher's scale baked into the student
    distilled_steps: tuple = (1, 2, 4)
    max_steps: int = 8
    origin_steps: int = 50

    @classmethod
    def pretrained(cls, device: str | torch.device = "cpu") -> "DistilledTextToImage":
        """The student shipped with the course (``weights/text2img_distilled``)."""
        from ..checkpoints import weights_path

        return cls.from_directory(weights_path("text2img_distilled"), device=device)

    @classmethod
    def from_directory(cls, directory, device: str | torch.device = "cpu", vae=None, clip=None):
        pipe = super().from_directory(directory, device=device, vae=vae, clip=clip)
        path = Path(directory) / DISTILLATION_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{directory} has no {DISTILLATION_FILE}: it is not a "
                                    f"distilled model (load it with TextToImage.from_directory)")
        info = json.loads(path.read_text())
        pipe.guidance_scale = float(info["guidance_scale"])
        pipe.distilled_steps = tuple(info["distilled_steps"])
        pipe.max_steps = int(info["max_steps"])
        pipe.origin_steps = int(info["origin_steps"])
        return pipe

    def timesteps(self, num_inference_steps: int) -> torch.Tensor:
        """The consistency sampler's timesteps: every (origin_steps // n)-th of the skeleton
        the student was distilled on, from T - 1 down (``samplers.lcm_timesteps``)."""
        from ..samplers import lcm_timesteps

        return lcm_timesteps(num_inference_steps, self.schedule.num_timesteps, self.origin_steps)

    @torch.no_grad()
    def __call__(self, prompt, num_inference_steps: int = 4, seed: int | None = 0,
                 num_images_per_prompt: int = 1, height: int = 32, width: int = 32,
                 return_latents: bool = False, progress: bool = True,
                 latents: torch.Tensor | None = None, return_trajectory: bool = False,
                 callback_on_step_end=None, guidance_scale: float | None = None,
                 negative_prompt=None) -> TextToImageOutput:
        """Generate images for ``prompt`` in ``num_inference_steps`` (1 to ``max_steps``)
        single-pass steps. The other arguments are ``TextToImage.__call__``'s.

        ``guidance_scale`` may only be None or the distilled scale (the student has no
        guidance knob: it *is* the guided teacher), and ``negative_prompt`` must be None
        (the unconditional branch it would replace was distilled away)."""
        steps = check_int("num_inference_steps", num_inference_steps, minimum=1)
        if steps > self.max_steps:
            raise ValueError(
                f"num_inference_steps must be at most {self.max_steps} for this distilled "
                f"student (distilled for {list(self.distilled_steps)} steps), got {steps}; a "
                f"consistency model re-noises at every step, so more steps do not approach "
                f"the teacher's ODE solution: for 20+ steps use the teacher, "
                f"TextToImage.pretrained()")
        if guidance_scale is not None and float(guidance_scale) != self.guidance_scale:
            raise ValueError(f"guidance_scale is distilled into this student at "
                             f"{self.guidance_scale:g}; pass None (or {self.guidance_scale:g}), "
                             f"got {guidance_scale!r}. For another scale use the teacher, "
                             f"TextToImage.pretrained()")
        if negative_prompt is not None:
            raise ValueError("negative_prompt must be None for a guidance-distilled student (it "
                             "has no unconditional branch to replace); use the teacher, "
                             "TextToImage.pretrained(), for negative prompts")
        args = self.check_call(prompt, None, 1.0, steps, seed, 0.0, 0.0, num_images_per_prompt,
                               height, width, return_latents, progress, latents, "ddim",
                               return_trajectory, callback_on_step_end)
        return self.generate(dataclasses.replace(args, sampler="lcm"))
