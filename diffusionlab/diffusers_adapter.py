"""Drive the course's U-Nets with any Hugging Face diffusers scheduler (lesson 15).

The course's samplers (``samplers.py``) and diffusers' schedulers compute the same steps;
this adapter lets a learner try a scheduler the course does not have (UniPC, Euler, Heun,
DEIS...) on the course's models, the way their next library works:

    >>> from diffusers import UniPCMultistepScheduler
    >>> pipe = TextToImage.pretrained()
    >>> sched = make_scheduler(UniPCMultistepScheduler, pipe.scheduler_config)
    >>> out = generate_with_scheduler(pipe, "a red circle", sched, num_inference_steps=8)

diffusers is a *reference* here (installed with the course, never needed by the library):
it is imported only inside these functions.

The loop is diffusers' own (``StableDiffusionPipeline.__call__``, stripped):

    scheduler.set_timesteps(n);  z = z_T * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        out = guided_unet(scheduler.scale_model_input(z, t), t)
        z = scheduler.step(out, t, z).prev_sample
"""
from __future__ import annotations

import inspect

import torch

from .samplers import SchedulerConfig

# the course's schedule names -> diffusers' beta_schedule and (beta_start, beta_end)
_BETAS = {"linear": ("linear", 1e-4, 0.02), "scaled_linear": ("scaled_linear", 0.00085, 0.012),
          "cosine": ("squaredcos_cap_v2", None, None), "sigmoid": ("sigmoid", None, None)}


def make_scheduler(scheduler_class, config: SchedulerConfig, **overrides):
    """A diffusers scheduler of ``scheduler_class`` with the betas, prediction type and
    timestep spacing the course's model was trained with (``config``: a pipeline's
    ``scheduler_config``). Keyword ``overrides`` go to the scheduler as they are.
    ``set_alpha_to_one=True`` where the class has it: the course's last step goes to
    abar = 1, the clean image (diffusers' SD config says False, which stops at abar_0)."""
    if not isinstance(config, SchedulerConfig):
        raise TypeError(f"config must be a SchedulerConfig (pipe.scheduler_config), "
                        f"got {type(config).__name__}")
    if not inspect.isclass(scheduler_class) or not hasattr(scheduler_class, "step"):
        raise TypeError(f"scheduler_class must be a diffusers scheduler class (with a `step` "
                        f"method), got {scheduler_class!r}")
    name, start, end = _BETAS[config.schedule]
    kwargs = dict(num_train_timesteps=config.num_train_timesteps, beta_schedule=name,
                  prediction_type=config.prediction_type,
                  timestep_spacing=config.timestep_spacing, steps_offset=config.steps_offset,
                  rescale_betas_zero_snr=config.zero_terminal_snr, set_alpha_to_one=True,
                  clip_sample=False)
    if start is not None:
        kwargs.update(beta_start=start, beta_end=end)
    accepted = inspect.signature(scheduler_class.__init__).parameters
    kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    if config.zero_terminal_snr and "rescale_betas_zero_snr" not in kwargs:
        raise ValueError(f"{scheduler_class.__name__} cannot rescale to zero terminal SNR, "
                         f"which this model was trained with")
    kwargs.update(overrides)
    return scheduler_class(**kwargs)


@torch.no_grad()
def sample_with_scheduler(model, scheduler, x_T: torch.Tensor, num_inference_steps: int,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """Run ``scheduler`` (a diffusers scheduler) from ``x_T`` with ``model(x, t)`` (t a (B,)
    LongTensor), diffusers' denoising loop. Returns the final sample."""
    from ._checks import check_int, check_tensor

    check_tensor("x_T", x_T, min_ndim=1)
    check_int("num_inference_steps", num_inference_steps, minimum=1)
    scheduler.set_timesteps(num_inference_steps)
    x = x_T * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        t_batch = torch.full((x.shape[0],), int(t), dtype=torch.long, device=x.device)
        out = model(scheduler.scale_model_input(x, t), t_batch)
        kwargs = {"generator": generator} if "generator" in inspect.signature(
            scheduler.step).parameters else {}
        x = scheduler.step(out, t, x, **kwargs).prev_sample
    return x


@torch.no_grad()
def generate_with_scheduler(pipe, prompt, scheduler, num_inference_steps: int = 20,
                            guidance_scale: float | None = None, seed: int = 0):
    """Images for ``prompt`` from a course pipeline (``TextToImage``) whose sampling loop is
    replaced by ``scheduler``'s; the same noise as ``pipe(prompt, seed=seed)`` (CFG as the
    pipeline does it). Returns (images, timesteps the scheduler visited)."""
    from .guidance import guided
    from .pipelines import DEFAULT_GUIDANCE_SCALE

    scale = DEFAULT_GUIDANCE_SCALE if guidance_scale is None else guidance_scale
    args = pipe.check_call(prompt, guidance_scale=scale, num_inference_steps=num_inference_steps,
                           seed=seed, progress=False)
    cond = pipe.encode_prompt(args.prompts)
    uncond = pipe.encode_prompt([""] * len(args.prompts))
    model = guided(pipe.unet, cond, uncond, args.guidance_scale)
    generator = torch.Generator().manual_seed(int(seed))
    x_T = torch.randn(pipe.latent_shape(args), generator=generator)
    z0 = sample_with_scheduler(model, scheduler, x_T, num_inference_steps, generator)
    return pipe.decode(z0), torch.as_tensor(scheduler.timesteps).clone()
