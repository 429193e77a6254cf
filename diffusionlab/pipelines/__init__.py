"""Pipelines: the pieces of Stable Diffusion wired together, as diffusers does it
(``StableDiffusionPipeline``), at toy scale (D31-Q4, D31-Q5, D31-Q10, D31-Q15).

Text to image (Rombach et al. 2022, "High-Resolution Image Synthesis with Latent
Diffusion Models", section 3.3 and Figure 3):

    prompt --tokenizer--> ids --CLIP text encoder--> token states c  (B, L, 64)       lesson 08
    z_T ~ N(0, I)  (B, 4, H/4, W/4)                                                 lessons 01, 10
    for t in the sampler's timesteps (DDIM by default):                             lessons 04, 05
        out_uncond, out_cond = U-Net([z_t, z_t], t, [c_neg, c])   one batched pass   lessons 06, 08
        out = out_uncond + s (out_cond - out_uncond)              CFG (Ho & Salimans) lesson 09
        z_{t_prev} = ddim_step(out, t, z_t)                       Song et al. eq. 12 lesson 05
    image = VAE.decode(z_0 / scaling_factor)                                          lesson 10

``c_neg`` is the empty prompt's token states, or a negative prompt's: the negative
prompt *replaces* the empty prompt in the unconditional branch, so guidance pushes
away from it (D31-Q15). ``guidance_scale`` s follows diffusers: s = 1 is plain
conditional sampling (one U-Net pass per step, the unconditional branch is skipped),
s = 0 is unconditional; the CFG paper's w is s - 1 (``guidance.paper_w_to_scale``).

``TextToImage.pretrained()`` loads the tiny Stable Diffusion trained here: the shipped
TinyCLIP (``weights/clip``), VAE (``weights/vae``) and latent U-Net with
cross-attention (``weights/text2img``, trained by ``diffusionlab/recipes/text2img.py``;
its noise schedule and prediction type are in that folder's ``scheduler_config.json``,
as diffusers keeps them in ``scheduler/scheduler_config.json``).

    >>> pipe = TextToImage.pretrained()
    >>> out = pipe("a large red circle at the top left", num_images_per_prompt=4, seed=0)
    >>> out.images.shape                        # (4, 3, 32, 32), in [-1, 1]

The package holds one module per pipeline, all built on ``base.DiffusionPipeline`` (prompt
checks, ``encode_prompt``, ``decode``, ``timesteps``, the call's checks and the sampling
loop with its step callbacks):

    text_to_image   TextToImage        prompt -> image                          lessons 00, 09
    controlnet      ControlNetPipeline prompt + control map -> image            lesson 11
    img2img         ImageToImage       prompt + image -> edited image (SDEdit)  lesson 14
    inpaint         InpaintPipeline    prompt + image + mask -> filled image    lesson 14
    distilled       DistilledTextToImage  prompt -> image in 1-4 one-pass steps  lesson 15
    text_to_image_xl  TextToImageXL, TextToImageXLRefiner  the tiny SDXL       lessons 16, 17
"""
from .base import (DEFAULT_GUIDANCE_SCALE, SAMPLERS, SCHEDULER_CONFIG, CallArgs,  # noqa: F401
                   DiffusionPipeline, TextToImageOutput)
from .text_to_image import CrossAttentionMaps, TextToImage  # noqa: F401
from .controlnet import ControlNetPipeline  # noqa: F401, E402
from .img2img import ImageToImage  # noqa: F401, E402
from .inpaint import InpaintPipeline  # noqa: F401, E402
from .distilled import DistilledTextToImage  # noqa: F401, E402
from .text_to_image_xl import TextToImageXL, TextToImageXLRefiner  # noqa: F401, E402
