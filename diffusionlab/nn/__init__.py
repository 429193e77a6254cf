"""The networks, one module each: embeddings, mlp (2-D toy denoiser), attention, unet, text
(tiny CLIP), vae, controlnet, lora. Import them by module, e.g.
``from diffusionlab.nn.unet import UNet``."""
