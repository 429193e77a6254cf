"""The networks, one module each: blocks (ResBlock, up/downsampling, the group-norm rule),
embeddings, mlp (2-D toy denoiser), attention, unet, text (tiny CLIP), vae, controlnet,
text_xl (the tiny SDXL's two text encoders), sdxl (its encoders + U-Net with added conditioning).
Import them by module, e.g. ``from diffusionlab.nn.unet import UNet``."""
