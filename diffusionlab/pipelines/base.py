"""What every pipeline shares: the three frozen parts of Stable Diffusion (text encoder,
U-Net, VAE) with the scheduler settings the U-Net was trained with, prompt encoding,
decoding, timesteps, image and mask checks, and the call's argument checks.

A pipeline subclass adds what its task needs on top: a ControlNet's residuals, a known
region to keep, a starting image to noise. Checks happen here, once, at the public edge;
the networks below trust what they get.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import torch

from .._checks import check_choice, check_int, check_number, check_tensor
from ..samplers import SchedulerConfig
from ..schedules import NoiseSchedule
from .lora import LoRALoaderMixin

# Chosen by measurement (diffusionlab/weights/text2img/manifest.json): the smallest scale
# at which the shipped model draws what the prompt says, before saturation sets in.
# Stable Diffusion's 7.5 is a default for *its* model, not a law.
DEFAULT_GUIDANCE_SCALE = 3.0
SCHEDULER_CONFIG = SchedulerConfig.FILENAME
SAMPLERS = ("ddim", "ddpm", "dpmsolver++")


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
             guess of z_0 at each step} (recorded by a step callback, as diffusers'
             ``callback_on_step_end`` would); decode any of them with ``pipe.decode``
    """

    images: torch.Tensor
    latents: torch.Tensor
    prompts: list = field(default_factory=list)
    trajectory: dict | None = None


@dataclass
class CallArgs:
    """A pipeline call's arguments after checking (``DiffusionPipeline.check_call``)."""

    prompts: list
    negatives: list | None
    guidance_scale: float
    num_inference_steps: int
    seed: int | None
    eta: float
    guidance_rescale: float
    num_images_per_prompt: int
    height: int
    width: int
    sampler: str
    latents: torch.Tensor | None
    return_latents: bool
    progress: bool
    return_trajectory: bool
    callback_on_step_end: object

    @property
    def batch_size(self) -> int:
        return len(self.prompts) * self.num_images_per_prompt


def check_prompts(name: str, prompts, allow_none: bool = False) -> list[str] | None:
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


def check_images(name: str, images, height: int | None = None, width: int | None = None,
                 channels: int = 3) -> torch.Tensor:
    """(B, channels, H, W) floats in [-1, 1] (a pipeline's input images)."""
    check_tensor(name, images, ndim=4)
    if images.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channels (B, {channels}, H, W), got "
                         f"shape {tuple(images.shape)}")
    if height is not None and tuple(images.shape[-2:]) != (height, width):
        raise ValueError(f"{name} must be {height}x{width} (the call's height and width), "
                         f"got {tuple(images.shape[-2:])}")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1.0 - 1e-6 or hi > 1.0 + 1e-6:
        raise ValueError(f"{name} must hold values in [-1, 1], got min {lo:.3g}, max {hi:.3g} "
                         f"(images in [0, 1]? use 2 x - 1)")
    return images


def check_maps(name: str, maps, batch: int, height: int, width: int,
               channels: int = 1) -> torch.Tensor:
    """(1, B or B', channels, H, W) maps in [0, 1] (control maps, masks), returned as (B, ...).

    One map serves every image; ``batch // k`` maps (one per prompt) are repeated for the
    ``k`` images of each prompt; ``batch`` maps are used as they are."""
    check_tensor(name, maps, ndim=4)
    got = tuple(maps.shape)
    if got[1:] != (channels, height, width):
        raise ValueError(f"{name} must have shape (B, {channels}, {height}, {width}) (one "
                         f"{channels}-channel map per image, at image resolution), got {got}")
    lo, hi = float(maps.min()), float(maps.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name} must hold values in [0, 1], got min {lo:.3g}, max {hi:.3g}")
    return match_batch(name, maps, batch)


def broadcast_prompt(prompt, n: int):
    """A single str prompt with ``n`` > 1 input images (or maps) is used for each of them
    (diffusers raises instead); anything else is returned as it is."""
    return [prompt] * n if isinstance(prompt, str) and n > 1 else prompt


def match_batch(name: str, x: torch.Tensor, batch: int) -> torch.Tensor:
    """One tensor for every image, one per prompt (repeated for that prompt's images) or
    one per image, returned as ``batch`` rows."""
    n = x.shape[0]
    if n == batch:
        return x
    if n == 1:
        return x.expand(batch, *x.shape[1:])
    if batch % n == 0:
        return x.repeat_interleave(batch // n, dim=0)
    raise ValueError(f"{name} has {n} entries for {batch} images: give 1, one per prompt or "
                     f"one per image")


class DiffusionPipeline(LoRALoaderMixin):
    """Tokenizer + text encoder, U-Net, noise schedule with its sampler, VAE.

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
        from ..parameterization import PREDICTION_TYPES
        from ..samplers import SPACINGS

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
    @staticmethod
    def load_parts(directory, device="cpu", vae=None, clip=None):
        """(unet, vae, clip, SchedulerConfig) from a U-Net checkpoint folder and the shipped
        VAE and text encoder (or those given)."""
        from ..checkpoints import load_checkpoint
        from ..nn.text import TinyCLIP
        from ..nn.unet import UNet
        from ..nn.vae import VAE

        config = SchedulerConfig.load(directory)
        unet = load_checkpoint(UNet, directory, device=device)
        vae = VAE.pretrained(device=device) if vae is None else vae
        clip = TinyCLIP.pretrained(device=device) if clip is None else clip
        return unet, vae, clip, config

    @classmethod
    def from_directory(cls, directory, device: str | torch.device = "cpu", vae=None,
                       clip=None):
        """A pipeline around the U-Net checkpoint in ``directory`` (config.json,
        model.safetensors, scheduler_config.json) with the shipped VAE and text encoder
        (or the ``vae`` / ``clip`` given)."""
        from pathlib import Path

        unet, vae, clip, config = cls.load_parts(directory, device, vae, clip)
        pipe = cls(unet, vae, clip, config.make_schedule(), config.prediction_type,
                   config.timestep_spacing, config.steps_offset)
        pipe.name_or_path = Path(directory).name      # checked against a LoRA adapter's base
        return pipe

    @property
    def scheduler_config(self) -> SchedulerConfig:
        """The sampler settings as a ``SchedulerConfig`` (what ``save`` writes)."""
        base = self.schedule.name.replace("+zero_snr", "")
        return SchedulerConfig(base, self.schedule.num_timesteps,
                               self.schedule.name.endswith("+zero_snr"), self.prediction_type,
                               self.timestep_spacing, self.steps_offset)

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def to(self, device):
        for part in self._parts():
            part.to(device)
        self._states_cache.clear()
        return self

    def _parts(self) -> list:
        return [self.unet, self.vae, self.clip]

    def num_parameters(self) -> dict:
        """Parameters of each part: {"text_encoder", "unet", "vae"} (the text encoder is
        CLIP's text half only, the part Stable Diffusion keeps)."""
        def count(m):
            return sum(p.numel() for p in m.parameters())

        return {"text_encoder": count(self.clip.model.text_model), "unet": count(self.unet),
                "vae": count(self.vae)}

    # ------------------------------------------------------------------ pieces
    @torch.no_grad()
    def encode_prompt(self, prompts) -> torch.Tensor:
        """(B, L, context_dim) token states of the text encoder's last layer for every
        padded token (SD's context), cached per distinct prompt."""
        prompts = check_prompts("prompt", prompts)
        missing = [p for p in dict.fromkeys(prompts) if p not in self._states_cache]
        if missing:
            self._warn_unknown(missing)
            states = self.clip.token_states(missing)
            for p, s in zip(missing, states):
                self._states_cache[p] = s
        return torch.stack([self._states_cache[p] for p in prompts]).to(self.device)

    def _warn_unknown(self, prompts) -> None:
        from ..nn.text import unknown_words

        tok = self.clip.tokenizer
        for p in prompts:
            unknown = unknown_words(tok, p)
            if unknown:
                warnings.warn(f"the tiny text encoder does not know {unknown} in prompt {p!r}; "
                              f"they become <unk> (it knows the shapes world's words)",
                              stacklevel=4)
            n_words = len(tok(p, add_special_tokens=False)["input_ids"])
            if n_words + 2 > self.clip.max_length:
                warnings.warn(f"prompt {p!r} has {n_words} words; only the first "
                              f"{self.clip.max_length - 2} fit and the rest is cut, as CLIP "
                              f"cuts prompts past 77 tokens", stacklevel=4)

    def timesteps(self, num_inference_steps: int) -> torch.Tensor:
        """The decreasing timesteps the sampler visits for ``num_inference_steps``."""
        from ..samplers import make_timesteps

        return make_timesteps(num_inference_steps, self.schedule.num_timesteps,
                              self.timestep_spacing, self.steps_offset)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Images in [-1, 1] from scaled latents (the VAE decoder, in chunks)."""
        return torch.cat([self.vae.decode_latents(latents[i:i + batch_size])
                          for i in range(0, latents.shape[0], batch_size)])

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Scaled latents (the VAE posterior's mean) of images in [-1, 1]."""
        images = images.to(self.device)
        return torch.cat([self.vae.encode_latents(images[i:i + batch_size])
                          for i in range(0, images.shape[0], batch_size)])

    # ------------------------------------------------------------------ the call
    def check_call(self, prompt, negative_prompt=None,
                   guidance_scale: float = DEFAULT_GUIDANCE_SCALE, num_inference_steps: int = 20,
                   seed: int | None = 0, eta: float = 0.0, guidance_rescale: float = 0.0,
                   num_images_per_prompt: int = 1, height: int = 32, width: int = 32,
                   return_latents: bool = False, progress: bool = True,
                   latents: torch.Tensor | None = None, sampler: str = "ddim",
                   return_trajectory: bool = False, callback_on_step_end=None) -> CallArgs:
        """Check the arguments every pipeline call takes (``TextToImage.__call__`` documents
        them) and return them as ``CallArgs``."""
        prompts = check_prompts("prompt", prompt)
        negatives = check_prompts("negative_prompt", negative_prompt, allow_none=True)
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
        if callback_on_step_end is not None and not callable(callback_on_step_end):
            raise TypeError("callback_on_step_end must be callable as f(i, t, t_prev, step), "
                            f"got {type(callback_on_step_end).__name__}")
        args = CallArgs(prompts, negatives, scale, num_inference_steps, seed, eta, rescale, n,
                        height, width, sampler, latents, bool(return_latents), bool(progress),
                        bool(return_trajectory), callback_on_step_end)
        if latents is not None and tuple(latents.shape) != self.latent_shape(args):
            raise ValueError(f"latents must have shape {self.latent_shape(args)}, "
                             f"got {tuple(latents.shape)}")
        return args

    def latent_shape(self, args: CallArgs) -> tuple:
        C, f = self.vae.latent_channels, self.vae.downscale
        return (args.batch_size, C, args.height // f, args.width // f)

    @torch.no_grad()
    def generate(self, args: CallArgs, unet=None, x_T: torch.Tensor | None = None,
                 timesteps: torch.Tensor | None = None, callback=None,
                 resample: int = 1, cond=None, uncond=None, t_final: int = -1) -> TextToImageOutput:
        """Encode the prompts, wrap ``unet`` (default: ``self.unet``) in classifier-free
        guidance, run the sampler from ``x_T`` (default: ``args.latents`` or fresh noise) down
        ``timesteps`` (default: all of them), decode. ``callback(i, t, t_prev, step)`` runs
        after each step, before the caller's ``callback_on_step_end``; ``resample`` > 1 is
        RePaint's resampling (``samplers.sample``). ``cond``/``uncond``: the conditioning
        already encoded (a tensor or a dict of keyword tensors, see ``guidance.guided``);
        ``t_final``: stop at that timestep (``samplers.sample``)."""
        from ..guidance import guided
        from ..samplers import sample

        n = args.num_images_per_prompt
        prompts = [p for p in args.prompts for _ in range(n)]
        negatives = None if args.negatives is None else [p for p in args.negatives
                                                         for _ in range(n)]
        if cond is None:
            cond = self.encode_prompt(prompts)
            uncond = self.encode_prompt(negatives if negatives is not None
                                        else [""] * len(prompts))
        model = guided(self.unet if unet is None else unet, cond, uncond, args.guidance_scale,
                       args.guidance_rescale)
        timesteps = self.timesteps(args.num_inference_steps) if timesteps is None else timesteps
        trajectory = None
        callbacks = [c for c in (callback, args.callback_on_step_end) if c is not None]
        if args.return_trajectory:
            trajectory = {"timesteps": timesteps.clone(), "latents": [], "pred_latents": []}
            callbacks.append(_recorder(trajectory))

        def on_step(i, t, t_prev, step):
            state = None
            for c in callbacks:
                replaced = c(i, t, t_prev, step)
                if replaced is not None:
                    step.prev_sample = state = replaced
            return state

        generator = None if args.seed is None else torch.Generator().manual_seed(int(args.seed))
        if x_T is None:
            x_T = args.latents if args.latents is not None else torch.randn(
                self.latent_shape(args), generator=generator)
        z0 = sample(model, self.schedule, tuple(x_T.shape), sampler=args.sampler, eta=args.eta,
                    prediction_type=self.prediction_type, timesteps=timesteps, x_T=x_T,
                    generator=generator, progress=args.progress, device=self.device,
                    callback=on_step if callbacks else None, resample=resample, t_final=t_final)
        if trajectory is not None:
            trajectory["latents"] = torch.stack([x_T.to(z0.device)] + trajectory["latents"])
            trajectory["pred_latents"] = torch.stack(trajectory["pred_latents"])
        images = None if args.return_latents else self.decode(z0)
        return TextToImageOutput(images=images, latents=z0, prompts=prompts,
                                 trajectory=trajectory)


def _recorder(trajectory: dict):
    """A step callback that appends each step's latents and predicted z_0 to ``trajectory``."""

    def record(i, t, t_prev, step):
        trajectory["latents"].append(step.prev_sample.clone())
        trajectory["pred_latents"].append(step.pred_original_sample.clone())

    return record
