"""``ImageToImage``: SDEdit (Meng et al. 2022), called like diffusers'
``StableDiffusionImg2ImgPipeline``:

    pipe = ImageToImage.pretrained()
    out = pipe("a blue square", image=images, strength=0.6)

z_0 = VAE.encode(image); z = q_sample(z_0, t_start, eps) at the timestep ``strength`` picks
(``inpainting.img2img_start``); the sampler runs the remaining steps from there. Low
strength keeps the input's layout and colours; high strength follows the prompt.
"""
from __future__ import annotations

import torch

from .._checks import check_number
from ..forward import q_sample
from ..inpainting import img2img_start
from .base import TextToImageOutput, broadcast_prompt, check_images, match_batch
from .text_to_image import TextToImage


class ImageToImage(TextToImage):
    """A ``TextToImage`` that starts from noised input images (module docstring)."""

    @torch.no_grad()
    def __call__(self, prompt, image: torch.Tensor | None = None, strength: float = 0.6,
                 **kwargs) -> TextToImageOutput:
        """Edit ``image`` ((B, 3, H, W) in [-1, 1]: one, one per prompt or one per image)
        toward ``prompt``; ``strength`` in [0, 1] is how much of the reverse process runs.
        Every other argument is ``TextToImage.__call__``'s (``latents`` excepted)."""
        if image is None:
            raise ValueError("image is required: the images to edit, (B, 3, H, W) in [-1, 1]")
        strength = check_number("strength", strength, minimum=0.0, maximum=1.0)
        if kwargs.get("latents") is not None:
            raise ValueError("latents cannot be given to ImageToImage: the start is the "
                             "noised image")
        if isinstance(image, torch.Tensor) and image.ndim == 4:
            prompt = broadcast_prompt(prompt, image.shape[0])
        args = self.check_call(prompt, **kwargs)
        images = match_batch("image", check_images("image", image, args.height, args.width),
                             args.batch_size)
        z0 = self.encode_images(images)
        timesteps = self.timesteps(args.num_inference_steps)
        start = img2img_start(args.num_inference_steps, strength)
        if start == len(timesteps):             # strength 0: nothing to denoise
            return TextToImageOutput(images=None if args.return_latents else self.decode(z0),
                                     latents=z0, prompts=[p for p in args.prompts for _ in
                                                          range(args.num_images_per_prompt)])
        gen = torch.Generator().manual_seed(int(args.seed)) if args.seed is not None else None
        noise = torch.randn(z0.shape, generator=gen).to(z0.device)
        t = torch.full((z0.shape[0],), int(timesteps[start]), dtype=torch.long)
        x = q_sample(self.schedule, z0, t, noise)                     # closed form, eq. 4
        return self.generate(args, x_T=x, timesteps=timesteps[start:])
