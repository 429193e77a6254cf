"""``InpaintPipeline``: fill a masked region from a prompt, both ways the seeds name
(D31-Q13, D35-Q8; the equations are in ``diffusionlab.inpainting``), called like diffusers'
``StableDiffusionInpaintPipeline``:

    pipe = InpaintPipeline.pretrained()
    out = pipe("a red circle at the left", image=images, mask_image=masks, method="model")

method="replace"   the text-to-image U-Net; after every step the known region is replaced
                   by the input's latents noised to that step (``resample`` > 1: RePaint)
method="model"     the 9-channel inpainting U-Net (``weights/inpaint``), which sees the
                   mask and the masked image's latents at every step

Either way the result is pasted into the input: pixels more than 2 from the mask are the
input's own, exactly; within 2 pixels outside it the two are blended linearly
(``inpainting.composite``), which hides the VAE's softness at the seam.
"""
from __future__ import annotations

import torch

from .._checks import check_choice, check_int
from ..inpainting import composite, latent_mask, masked_image, replace_known
from ..nn.unet import ExtraInputUNet
from .base import TextToImageOutput, broadcast_prompt, check_images, check_maps, match_batch
from .text_to_image import TextToImage

METHODS = ("model", "replace")
BLEND_PIXELS = 2


class MaskConditionedUNet(ExtraInputUNet):
    """The 9-channel inpainting U-Net called as ``f(z_t, t, context)``: its input is
    [z_t, mask, masked-image latents] (SD's order; ``nn.unet.ExtraInputUNet`` does the
    concatenation and repeats the condition for classifier-free guidance's doubled batch)."""

    def __init__(self, unet, mask: torch.Tensor, masked_latents: torch.Tensor):
        super().__init__(unet, torch.cat([mask, masked_latents], dim=1))


class InpaintPipeline(TextToImage):
    """A ``TextToImage`` with an optional mask-conditioned U-Net (``inpaint_unet``, a ``UNet``
    with ``conditioning_channels`` = 1 + latent channels) for ``method="model"``."""

    def __init__(self, unet, vae, clip, schedule, inpaint_unet=None, **kwargs):
        super().__init__(unet, vae, clip, schedule, **kwargs)
        if inpaint_unet is not None:
            want = 1 + vae.latent_channels
            if getattr(inpaint_unet, "conditioning_channels", None) != want:
                raise ValueError(f"inpaint_unet must take {want} conditioning channels (mask + "
                                 f"masked-image latents), got "
                                 f"{getattr(inpaint_unet, 'conditioning_channels', None)}")
            inpaint_unet = inpaint_unet.eval()
        self.inpaint_unet = inpaint_unet

    @classmethod
    def pretrained(cls, device: str | torch.device = "cpu") -> "InpaintPipeline":
        """The shipped tiny SD with the shipped 9-channel inpainting U-Net (``weights/inpaint``)."""
        from ..checkpoints import load_checkpoint, weights_path
        from ..nn.unet import UNet

        base = TextToImage.pretrained(device)
        inpaint = load_checkpoint(UNet, weights_path("inpaint"), device=device)
        return cls(base.unet, base.vae, base.clip, base.schedule, inpaint,
                   prediction_type=base.prediction_type, timestep_spacing=base.timestep_spacing,
                   steps_offset=base.steps_offset)

    def _parts(self) -> list:
        return super()._parts() + ([self.inpaint_unet] if self.inpaint_unet is not None else [])

    @torch.no_grad()
    def __call__(self, prompt, image: torch.Tensor | None = None,
                 mask_image: torch.Tensor | None = None, method: str = "model",
                 resample: int = 1, **kwargs) -> TextToImageOutput:
        """Fill ``mask_image`` (1 = fill, 0 = keep; (B, 1, H, W) in [0, 1]) of ``image``
        ((B, 3, H, W) in [-1, 1]) with what ``prompt`` asks.

        Args:
            method: "model" (the 9-channel U-Net) or "replace" (the known region replaced
                after every step; training-free).
            resample: with "replace", RePaint's r: each step is redone r times, noising back
                in between (r = 1: plain replacement). Costs r times the U-Net passes.
            **kwargs: every argument ``TextToImage.__call__`` takes (``latents`` excepted).
        """
        check_choice("method", method, METHODS)
        resample = check_int("resample", resample, minimum=1)
        if method == "model" and resample > 1:
            raise ValueError("resample (RePaint) applies to method='replace' only")
        if method == "model" and self.inpaint_unet is None:
            raise ValueError("method='model' needs an inpaint_unet (InpaintPipeline.pretrained() "
                             "loads the shipped one); use method='replace' without one")
        if image is None or mask_image is None:
            raise ValueError("image and mask_image are both required")
        if kwargs.get("latents") is not None:
            raise ValueError("latents cannot be given to InpaintPipeline")
        if isinstance(image, torch.Tensor) and image.ndim == 4:
            prompt = broadcast_prompt(prompt, image.shape[0])
        args = self.check_call(prompt, **kwargs)
        images = match_batch("image", check_images("image", image, args.height, args.width),
                             args.batch_size)
        masks = check_maps("mask_image", mask_image, args.batch_size, args.height, args.width)
        masks = (masks > 0.5).to(images.dtype).to(self.device)
        m = latent_mask(masks, self.vae.downscale).to(self.device)
        if method == "model":
            unet = MaskConditionedUNet(self.inpaint_unet, m,
                                       self.encode_images(masked_image(images, masks)))
            out = self.generate(args, unet=unet)
        else:
            known = self.encode_images(images)
            gen = torch.Generator().manual_seed(int(args.seed) + 1 if args.seed is not None
                                                else int(torch.randint(2 ** 31, ())))

            def keep_known(i, t, t_prev, step):
                noise = torch.randn(known.shape, generator=gen).to(known.device)
                return replace_known(step.prev_sample, known, m, self.schedule, t_prev, noise)

            out = self.generate(args, callback=keep_known, resample=resample)
        if out.images is not None:
            out.images = composite(out.images, images.to(out.images.device), masks, BLEND_PIXELS)
        return out
