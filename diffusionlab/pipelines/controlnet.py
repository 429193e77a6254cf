"""``ControlNetPipeline``: text to image with a spatial condition (Zhang et al. 2023), called
like diffusers' ``StableDiffusionControlNetPipeline``:

    pipe = ControlNetPipeline.pretrained("edges")            # or "masks"
    out = pipe("a red shape", image=edge_maps, controlnet_conditioning_scale=1.0)

At every sampler step the ControlNet reads (z_t, t, prompt, map) and its zero-convolution
outputs are added to the frozen U-Net's skips and middle block (``nn.controlnet``); with
classifier-free guidance both branches get the same map. Everything else is
``TextToImage``.
"""
from __future__ import annotations

import torch

from .._checks import check_number
from ..nn.controlnet import ControlledUNet, ControlNet
from .base import TextToImageOutput, broadcast_prompt, check_maps
from .text_to_image import TextToImage

SHIPPED = ("edges", "masks")


class ControlNetPipeline(TextToImage):
    """A ``TextToImage`` plus a ``ControlNet`` (``from_pipeline`` wraps any pair)."""

    def __init__(self, unet, vae, clip, schedule, controlnet: ControlNet, **kwargs):
        super().__init__(unet, vae, clip, schedule, **kwargs)
        if not isinstance(controlnet, ControlNet):
            raise TypeError(f"controlnet must be a ControlNet, got {type(controlnet).__name__}")
        if controlnet.skip_channels != unet.skip_channels:
            raise ValueError(f"the ControlNet was built for skips of {controlnet.skip_channels} "
                             f"channels but the U-Net has {unet.skip_channels}")
        self.controlnet = controlnet.eval()

    @classmethod
    def from_pipeline(cls, pipe: TextToImage, controlnet: ControlNet) -> "ControlNetPipeline":
        """Wrap the parts of ``pipe`` (shared, not copied) with ``controlnet``."""
        if not isinstance(pipe, TextToImage):
            raise TypeError(f"pipe must be a TextToImage, got {type(pipe).__name__}")
        return cls(pipe.unet, pipe.vae, pipe.clip, pipe.schedule, controlnet,
                   prediction_type=pipe.prediction_type, timestep_spacing=pipe.timestep_spacing,
                   steps_offset=pipe.steps_offset)

    @classmethod
    def pretrained(cls, kind: str = "edges", device: str | torch.device = "cpu"):
        """The shipped tiny SD with the ControlNet trained on ``kind`` maps ("edges" or
        "masks"; ``weights/controlnet_<kind>``)."""
        from .._checks import check_choice
        from ..checkpoints import load_checkpoint, weights_path

        check_choice("kind", kind, SHIPPED)
        controlnet = load_checkpoint(ControlNet, weights_path(f"controlnet_{kind}"), device)
        return cls.from_pipeline(TextToImage.pretrained(device), controlnet)

    def _parts(self) -> list:
        return super()._parts() + [self.controlnet]

    @torch.no_grad()
    def __call__(self, prompt, image: torch.Tensor | None = None,
                 controlnet_conditioning_scale: float = 1.0, **kwargs) -> TextToImageOutput:
        """Generate images for ``prompt`` that follow the control maps ``image``.

        Args:
            image: control maps (B, 1, H, W) in [0, 1] at image resolution, as
                ``make_shapes`` / ``make_free_shapes`` return ``edges`` and ``masks``: one
                map for every image, one per prompt, or one per image.
            controlnet_conditioning_scale: s multiplies every residual; 0 is the base
                model exactly, 1 is what the ControlNet was trained with.
            **kwargs: every argument ``TextToImage.__call__`` takes.
        """
        if image is None:
            raise ValueError("image is required: the control maps (B, 1, H, W) in [0, 1]")
        scale = check_number("controlnet_conditioning_scale", controlnet_conditioning_scale)
        if isinstance(image, torch.Tensor) and image.ndim == 4:
            prompt = broadcast_prompt(prompt, image.shape[0])
        args = self.check_call(prompt, **kwargs)
        maps = check_maps("image", image, args.batch_size, args.height, args.width,
                          self.controlnet.conditioning_channels)
        unet = ControlledUNet(self.unet, self.controlnet, maps.to(self.device), scale)
        return self.generate(args, unet=unet)
