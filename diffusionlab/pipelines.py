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
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ._checks import check_choice, check_int, check_number
from .guidance import guided
from .parameterization import PREDICTION_TYPES
from .samplers import SPACINGS, make_timesteps, sample
from .schedules import NoiseSchedule, make_schedule

# Chosen by measurement (diffusionlab/weights/text2img/manifest.json): the smallest scale
# at which the shipped model draws what the prompt says, before saturation sets in.
# Stable Diffusion's 7.5 is a default for *its* model, not a law.
DEFAULT_GUIDANCE_SCALE = 3.0
SCHEDULER_CONFIG = "scheduler_config.json"
SAMPLERS = ("ddim", "ddpm")


@dataclass
class TextToImageOutput:
    """What a pipeline call returns (diffusers' ``StableDiffusionPipelineOutput``, plus the
    latents and the prompts that made each image).

    images   (B, 3, H, W) in [-1, 1], B = len(prompts) * num_images_per_prompt,
             grouped by prompt: the copies of prompt 0 first
    latents  (B, 4, H/4, W/4): the final latents z_0 (what the VAE decoded)
    prompts  the prompt behind each image (length B)
    trajectory  with ``return_trajectory=True``: {"timesteps": (n,), "latents": (n+1, B, 4,
             h, w) = z_T and z after each step, "pred_latents": (n, B, 4, h, w) = the model's
             guess of z_0 at each step} (what diffusers exposes through
             ``callback_on_step_end``); decode any of them with ``pipe.decode``
    """

    images: torch.Tensor
    latents: torch.Tensor
    prompts: list = field(default_factory=list)
    trajectory: dict | None = None


@dataclass
class CrossAttentionMaps:
    """Where each prompt token is looked at: the U-Net's cross-attention weights for one
    prompt, averaged over heads, layers (resized to the latent grid) and sampling steps.

    tokens  the padded token strings, e.g. ["<|startoftext|>", "a", "red", ..., "<pad>"]
    maps    (L, h, w): maps[j] is how much the image tokens attend to token j (each pixel's
            weights sum to 1 over j)
    image   (3, H, W) the image generated while recording
    """

    tokens: list
    maps: torch.Tensor
    image: torch.Tensor


def _check_prompts(name: str, prompts, allow_none: bool = False) -> list[str] | None:
    if prompts is None and allow_none:
        return None
    if isinstance(prompts, str):
        return [prompts]
    if not isinstance(prompts, (list, tuple)) or len(prompts) == 0:
        kind = "a str, a non-empty list of str or None" if allow_none else \
            "a str or a non-empty list of str"
        raise TypeError(f"{name} must be {kind}, got {type(prompts).__name__} {prompts!r}"[:200])
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(p).__name__}")
    return list(prompts)


class TextToImage:
    """A text-to-image latent diffusion pipeline: tokenizer + text encoder, U-Net, noise
    schedule with its sampler, VAE decoder (see the module docstring).

    Args:
        unet: a ``UNet`` with ``in_channels`` = the VAE's latent channels and
            ``context_dim`` = the text encoder's width; called as ``unet(z, t, context)``.
        vae: a ``VAE`` (``decode_latents`` turns scaled latents into images).
        clip: a ``TinyCLIP`` (``token_states`` gives the context; ``tokenizer``).
        schedule: the ``NoiseSchedule`` the U-Net was trained with.
        prediction_type: what the U-Net predicts: "epsilon", "sample" or "v_prediction".
        timestep_spacing, steps_offset: how the sampler picks its timesteps
            (``samplers.make_timesteps``; SD 1.x: "leading" with offset 1).
    """

    def __init__(self, unet, vae, clip, schedule: NoiseSchedule, prediction_type: str = "epsilon",
                 timestep_spacing: str = "leading", steps_offset: int = 0):
        if not isinstance(schedule, NoiseSchedule):
            raise TypeError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")
        check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
        check_choice("timestep_spacing", timestep_spacing, SPACINGS)
        self.steps_offset = check_int("steps_offset", steps_offset, minimum=0)
        for name, obj, attr in (("unet", unet, "forward"), ("vae", vae, "decode_latents"),
                                ("clip", clip, "token_states")):
            if not hasattr(obj, attr):
                raise TypeError(f"{name} must have a `{attr}` method, got {type(obj).__name__}")
        if getattr(unet, "context_dim", None) != clip.context_dim:
            raise ValueError(f"the U-Net cross-attends to context_dim="
                             f"{getattr(unet, 'context_dim', None)} but the text encoder's "
                             f"states are {clip.context_dim} wide")
        if unet.in_channels != vae.latent_channels:
            raise ValueError(f"the U-Net takes {unet.in_channels} channels but the VAE's latents "
                             f"have {vae.latent_channels}")
        self.unet, self.vae, self.clip = unet.eval(), vae.eval(), clip.eval()
        self.schedule = schedule
        self.prediction_type = prediction_type
        self.timestep_spacing = timestep_spacing
        self._states_cache: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_directory(cls, directory, device: str | torch.device = "cpu", vae=None,
                       clip=None) -> "TextToImage":
        """A pipeline around the U-Net checkpoint in ``directory`` (config.json,
        model.safetensors, scheduler_config.json) with the shipped VAE and text encoder
        (or the ``vae`` / ``clip`` given)."""
        from .checkpoints import load_checkpoint
        from .nn.text import TinyCLIP
        from .nn.unet import UNet
        from .nn.vae import VAE

        directory = Path(directory)
        path = directory / SCHEDULER_CONFIG
        if not path.is_file():
            raise FileNotFoundError(f"{directory} has no {SCHEDULER_CONFIG} (the schedule and "
                                    f"prediction type the U-Net was trained with)")
        sched = json.loads(path.read_text())
        unet = load_checkpoint(UNet, directory, device=device)
        vae = VAE.pretrained(device=device) if vae is None else vae
        clip = TinyCLIP.pretrained(device=device) if clip is None else clip
        schedule = make_schedule(sched["schedule"], sched.get("num_train_timesteps", 1000),
                                 zero_terminal_snr=sched.get("zero_terminal_snr", False))
        return cls(unet, vae, clip, schedule, sched["prediction_type"],
                   sched.get("timestep_spacing", "leading"), sched.get("steps_offset", 0))

    @classmethod
    def pretrained(cls, device: str | torch.device = "cpu") -> "TextToImage":
        """The tiny Stable Diffusion shipped with the course (``weights/text2img`` + the
        shipped ``clip`` and ``vae``)."""
        from .checkpoints import weights_path

        return cls.from_directory(weights_path("text2img"), device=device)

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def to(self, device) -> "TextToImage":
        self.unet.to(device)
        self.vae.to(device)
        self.clip.to(device)
        self._states_cache.clear()
        return self

    def num_parameters(self) -> dict:
        """Parameters of each part: {"text_encoder", "unet", "vae"} (the text encoder is
        CLIP's text half only, the part Stable Diffusion keeps)."""
        count = (lambda m: sum(p.numel() for p in m.parameters()))
        return {"text_encoder": count(self.clip.model.text_model), "unet": count(self.unet),
                "vae": count(self.vae)}

    # ------------------------------------------------------------------ pieces
    @torch.no_grad()
    def encode_prompt(self, prompts) -> torch.Tensor:
        """(B, L, context_dim) token states of the text encoder's last layer for every
        padded token (SD's context), cached per distinct prompt."""
        prompts = _check_prompts("prompt", prompts)
        missing = [p for p in dict.fromkeys(prompts) if p not in self._states_cache]
        if missing:
            self._warn_unknown(missing)
            states = self.clip.token_states(missing)
            for p, s in zip(missing, states):
                self._states_cache[p] = s
        return torch.stack([self._states_cache[p] for p in prompts]).to(self.device)

    def _warn_unknown(self, prompts) -> None:
        from .nn.text import unknown_words

        tok = self.clip.tokenizer
        for p in prompts:
            unknown = unknown_words(tok, p)
            if unknown:
                warnings.warn(f"the tiny text encoder does not know {unknown} in prompt {p!r}; "
                              f"they become <unk> (it knows the shapes world's words)",
                              stacklevel=3)
            n_words = len(tok(p, add_special_tokens=False)["input_ids"])
            if n_words + 2 > self.clip.max_length:
                warnings.warn(f"prompt {p!r} has {n_words} words; only the first "
                              f"{self.clip.max_length - 2} fit and the rest is cut, as CLIP "
                              f"cuts prompts past 77 tokens", stacklevel=3)

    def timesteps(self, num_inference_steps: int) -> torch.Tensor:
        """The decreasing timesteps the sampler visits for ``num_inference_steps``."""
        return make_timesteps(num_inference_steps, self.schedule.num_timesteps,
                              self.timestep_spacing, self.steps_offset)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Images in [-1, 1] from scaled latents (the VAE decoder, in chunks)."""
        return torch.cat([self.vae.decode_latents(latents[i:i + batch_size])
                          for i in range(0, latents.shape[0], batch_size)])

    # ------------------------------------------------------------------ the call
    def _check_call(self, prompt, negative_prompt, guidance_scale, num_inference_steps, seed,
                    eta, guidance_rescale, num_images_per_prompt, height, width, sampler):
        prompts = _check_prompts("prompt", prompt)
        negatives = _check_prompts("negative_prompt", negative_prompt, allow_none=True)
        if negatives is not None and len(negatives) != len(prompts):
            if len(negatives) == 1:
                negatives = negatives * len(prompts)
            else:
                raise ValueError(f"negative_prompt must be one str or a list as long as prompt "
                                 f"({len(prompts)}), got a list of {len(negatives)}")
        scale = check_number("guidance_scale", guidance_scale, minimum=0.0)
        if not math.isfinite(scale):
            raise ValueError(f"guidance_scale must be finite, got {scale}")
        check_int("num_inference_steps", num_inference_steps, minimum=1,
                  maximum=self.schedule.num_timesteps)
        if seed is not None:
            check_int("seed", seed, minimum=0)
        eta = check_number("eta", eta, minimum=0.0)
        rescale = check_number("guidance_rescale", guidance_rescale, minimum=0.0, maximum=1.0)
        n = check_int("num_images_per_prompt", num_images_per_prompt, minimum=1)
        factor = self.vae.downscale * self.unet.downscale
        for name, v in (("height", height), ("width", width)):
            check_int(name, v, minimum=factor)
            if v % factor:
                raise ValueError(f"{name} must be a multiple of {factor} (the VAE downsamples "
                                 f"by {self.vae.downscale}, the U-Net by {self.unet.downscale}), "
                                 f"got {v}")
        check_choice("sampler", sampler, SAMPLERS)
        return prompts, negatives, scale, eta, rescale, n

    @torch.no_grad()
    def __call__(self, prompt, negative_prompt=None, guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
                 num_inference_steps: int = 20, seed: int | None = 0, eta: float = 0.0,
                 guidance_rescale: float = 0.0, num_images_per_prompt: int = 1, height: int = 32,
                 width: int = 32, return_latents: bool = False, progress: bool = True,
                 latents: torch.Tensor | None = None, sampler: str = "ddim",
                 return_trajectory: bool = False) -> TextToImageOutput:
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
            sampler: "ddim" (default) or "ddpm" (ancestral).
            return_trajectory: also return every step's latents and predicted z_0
                (``.trajectory``), to watch the image form.
        """
        prompts, negatives, scale, eta, rescale, n = self._check_call(
            prompt, negative_prompt, guidance_scale, num_inference_steps, seed, eta,
            guidance_rescale, num_images_per_prompt, height, width, sampler)
        prompts = [p for p in prompts for _ in range(n)]
        if negatives is not None:
            negatives = [p for p in negatives for _ in range(n)]
        cond = self.encode_prompt(prompts)
        uncond = self.encode_prompt(negatives if negatives is not None else [""] * len(prompts))
        model = guided(self.unet, cond, uncond, scale, rescale)

        C, h, w = self.vae.latent_channels, height // self.vae.downscale, width // self.vae.downscale
        shape = (len(prompts), C, h, w)
        if latents is not None and tuple(latents.shape) != shape:
            raise ValueError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
        generator = None if seed is None else torch.Generator().manual_seed(int(seed))
        z0 = sample(model, self.schedule, shape, sampler=sampler, eta=eta,
                    prediction_type=self.prediction_type,
                    timesteps=self.timesteps(num_inference_steps), x_T=latents,
                    generator=generator, progress=progress, device=self.device,
                    return_trajectory=bool(return_trajectory))
        trajectory = None
        if return_trajectory:
            z0, traj = z0
            trajectory = {"timesteps": traj["timesteps"], "latents": traj["x"],
                          "pred_latents": traj["x0_pred"]}
        images = None if return_latents else self.decode(z0)
        return TextToImageOutput(images=images, latents=z0, prompts=prompts,
                                 trajectory=trajectory)

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
        layers = [m for name, m in self.unet.named_modules()
                  if name.endswith("attn2") and getattr(m, "is_cross", False)]
        if not layers:
            raise ValueError("this U-Net has no cross-attention layers (context_dim=None)")
        h, w = 32 // self.vae.downscale, 32 // self.vae.downscale
        L = self.clip.max_length
        total = torch.zeros(L, h, w)
        count = [0]
        guided_pass = float(guidance_scale) != 1.0

        def hook(module, args, output):
            a = module.last_attn                                    # (B', heads, N, L)
            if guided_pass:
                a = a[a.shape[0] // 2:]                             # the conditional half
            a = a[0].mean(0)                                        # (N, L) over heads
            side = int(round(math.sqrt(a.shape[0])))
            a = a.T.reshape(L, 1, side, side)
            total.add_(F.interpolate(a.float().cpu(), size=(h, w), mode="nearest")[:, 0])
            count[0] += 1

        handles = []
        try:
            for m in layers:
                m.store_attn = True
                handles.append(m.register_forward_hook(hook))
            out = self(prompt, negative_prompt=negative_prompt, guidance_scale=guidance_scale,
                       num_inference_steps=num_inference_steps, seed=seed, progress=False)
        finally:
            for m in layers:
                m.store_attn = False
                m.last_attn = None
            for hd in handles:
                hd.remove()
        ids = self.clip.tokenize(prompt)["input_ids"][0].tolist()
        tokens = self.clip.tokenizer.convert_ids_to_tokens(ids)
        return CrossAttentionMaps(tokens=tokens, maps=total / max(count[0], 1),
                                  image=out.images[0])
