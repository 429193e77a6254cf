"""The networks, one module each: blocks (ResBlock, up/downsampling, the group-norm rule),
embeddings, mlp (2-D toy denoiser), attention, unet, text (tiny CLIP), vae, controlnet.
Import them by module, e.g. ``from diffusionlab.nn.unet import UNet``."""
