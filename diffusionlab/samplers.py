"""Reverse process: DDPM ancestral steps and DDIM steps (D31-Q6, Q7).

A sampler walks a decreasing list of timesteps t_0 > t_1 > ... > t_{n-1}
(``make_timesteps``); at each one the network's output is turned into
(x_0, eps) predictions and a step goes from x_t to x_{t_prev}. ``t_prev = -1``
means "the clean image": abar_{-1} = 1 (diffusers' ``set_alpha_to_one``).

DDPM step (Ho et al. 2020, eqs. 6-7, and diffusers' ``DDPMScheduler.step``,
which allows skipping from t to any t_prev):

    alpha_t'   = abar_t / abar_prev,  beta_t' = 1 - alpha_t'
    mean       = sqrt(abar_prev) beta_t' / (1 - abar_t) x_0 + sqrt(alpha_t') (1 - abar_prev) / (1 - abar_t) x_t
    x_prev     = mean + sqrt((1 - abar_prev) / (1 - abar_t) beta_t') z          (z only when t > 0)

DDIM step (Song et al. 2021, eq. 12):

    x_prev = sqrt(abar_prev) x_0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z
    sigma  = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev)   (eq. 16)

eta = 0 is deterministic (the "implicit" model); eta = 1 has the DDPM
posterior variance.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from ._checks import check_choice, check_int, check_number, check_tensor, check_timesteps
from .parameterization import PREDICTION_TYPES, split_prediction
from .schedules import SCHEDULES, NoiseSchedule, make_schedule

SPACINGS = ("leading", "trailing", "linspace")
SAMPLER_NAMES = ("ddim", "ddpm", "dpmsolver++", "lcm")


@dataclass(frozen=True)
class SchedulerConfig:
    """Everything a sampler needs to know about how a model was trained, in one place
    (diffusers keeps the same in ``scheduler/scheduler_config.json``). A recipe writes it
    beside the weights with ``save``; a pipeline reads it back with ``load``.

    schedule, num_train_timesteps, zero_terminal_snr   the betas (``make_schedule``)
    prediction_type     what the network predicts: "epsilon", "sample" or "v_prediction"
    timestep_spacing, steps_offset   how ``make_timesteps`` picks the sampler's timesteps
    """

    schedule: str = "scaled_linear"
    num_train_timesteps: int = 1000
    zero_terminal_snr: bool = False
    prediction_type: str = "epsilon"
    timestep_spacing: str = "leading"
    steps_offset: int = 0

    FILENAME = "scheduler_config.json"

    def __post_init__(self):
        check_choice("schedule", self.schedule, SCHEDULES)
        check_int("num_train_timesteps", self.num_train_timesteps, minimum=2)
        if not isinstance(self.zero_terminal_snr, bool):
            raise TypeError(f"zero_terminal_snr must be a bool, got "
                            f"{type(self.zero_terminal_snr).__name__}")
        check_choice("prediction_type", self.prediction_type, PREDICTION_TYPES)
        check_choice("timestep_spacing", self.timestep_spacing, SPACINGS)
        check_int("steps_offset", self.steps_offset, minimum=0)

    def make_schedule(self) -> NoiseSchedule:
        return make_schedule(self.schedule, self.num_train_timesteps, self.zero_terminal_snr)

    def timesteps(self, num_inference_steps: int) -> torch.Tensor:
        return make_timesteps(num_inference_steps, self.num_train_timesteps,
                              self.timestep_spacing, self.steps_offset)

    def save(self, directory) -> Path:
        path = Path(directory) / self.FILENAME
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory) -> "SchedulerConfig":
        path = Path(directory) / cls.FILENAME
        if not path.is_file():
            raise FileNotFoundError(f"{directory} has no {cls.FILENAME} (the schedule and "
                                    f"prediction type the model was trained with)")
        values = json.loads(path.read_text())
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"{path} has unknown keys {unknown}; expected some of "
                             f"{sorted(cls.__dataclass_fields__)}")
        return cls(**values)


@dataclass
class StepOutput:
    """What one reverse step returns (the names diffusers' schedulers use)."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


def make_timesteps(num_inference_steps: int, num_train_timesteps: int = 1000,
                   spacing: str = "leading", steps_offset: int = 0) -> torch.Tensor:
    """The decreasing timesteps a sampler visits, as in diffusers' ``set_timesteps``.

    - leading:  arange(0, n) * (T // n), reversed, plus ``steps_offset`` (DDIM paper, SD 1.x)
    - trailing: round(T - k T / n) - 1 for k = 0..n-1 (Lin et al. 2023, Table 2: always starts
      at T-1). diffusers writes it round(arange(T, 0, -T / n)) - 1, which for some n (61, say)
      returns n + 1 values because a float arange can overshoot by one element; counting k
      avoids that and otherwise gives exactly diffusers' timesteps.
    - linspace: round(linspace(0, T - 1, n)), reversed
    """
    T = check_int("num_train_timesteps", num_train_timesteps, minimum=1)
    n = check_int("num_inference_steps", num_inference_steps, minimum=1)
    if n > T:
        raise ValueError(f"num_inference_steps ({n}) cannot exceed num_train_timesteps ({T})")
    check_choice("spacing", spacing, SPACINGS)
    offset = check_int("steps_offset", steps_offset, minimum=0)
    if spacing == "leading":
        ts = torch.arange(0, n, dtype=torch.float64) * (T // n)
        ts = ts.round().flip(0) + offset
    elif spacing == "trailing":
        # numpy's arange(T, 0, -T/n) computes T + k * delta with delta = (T - T/n) - T;
        # we do the same for k < n only, so rounding ties break as in diffusers
        delta = (T - T / n) - T
        ts = (T + torch.arange(n, dtype=torch.float64) * delta).round() - 1
    else:
        ts = torch.linspace(0, T - 1, n, dtype=torch.float64).round().flip(0)
    ts = ts.long()
    if int(ts.max()) >= T:
        raise ValueError(f"steps_offset={offset} pushes the first timestep to {int(ts.max())}, "
                         f"past the last training step {T - 1}")
    return ts


def _abars(schedule: NoiseSchedule, t: int, t_prev: int, like: torch.Tensor):
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")
    t_all = check_timesteps("t", t, schedule.num_timesteps)
    if t_all.numel() != 1:
        raise ValueError(f"t must be a single timestep for a sampler step, got {t_all.numel()} values")
    t = int(t_all[0])
    t_prev = check_int("t_prev", t_prev, minimum=-1)
    if t_prev >= t:
        raise ValueError(f"t_prev must come before t (t_prev < t), got t={t}, t_prev={t_prev}")
    abar = schedule.alphas_cumprod
    a_t = abar[t].to(like.dtype)
    a_prev = abar[t_prev].to(like.dtype) if t_prev >= 0 else torch.ones((), dtype=like.dtype)
    return t, a_t.to(like.device), a_prev.to(like.device)


def _check_step_inputs(model_output, x_t, noise, prediction_type):
    check_tensor("model_output", model_output, min_ndim=1)
    check_tensor("x_t", x_t, min_ndim=1)
    if model_output.shape != x_t.shape:
        raise ValueError(f"model_output and x_t must have the same shape, "
                         f"got {tuple(model_output.shape)} and {tuple(x_t.shape)}")
    if noise is not None:
        check_tensor("noise", noise)
        if noise.shape != x_t.shape:
            raise ValueError(f"noise must have the shape of x_t {tuple(x_t.shape)}, "
                             f"got {tuple(noise.shape)}")
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)


def _clip(x0: torch.Tensor, clip_sample: float | None) -> torch.Tensor:
    return x0 if clip_sample is None else x0.clamp(-clip_sample, clip_sample)


def ddpm_step(schedule: NoiseSchedule, model_output: torch.Tensor, t: int, t_prev: int,
              x_t: torch.Tensor, noise: torch.Tensor | None = None,
              prediction_type: str = "epsilon", clip_sample: float | None = None,
              generator: torch.Generator | None = None) -> StepOutput:
    """One ancestral step from x_t to x_{t_prev} with the posterior q(x_prev | x_t, x_0_hat)."""
    _check_step_inputs(model_output, x_t, noise, prediction_type)
    t, a_t, a_prev = _abars(schedule, t, t_prev, x_t)
    x0, _ = split_prediction(schedule, model_output, x_t, t, prediction_type)
    x0 = _clip(x0, clip_sample)
    alpha = a_t / a_prev                       # alpha_t' over the (possibly skipped) interval
    beta = 1.0 - alpha
    coef_x0 = a_prev.sqrt() * beta / (1.0 - a_t)            # DDPM eq. 7, first term
    coef_xt = alpha.sqrt() * (1.0 - a_prev) / (1.0 - a_t)   # DDPM eq. 7, second term
    mean = coef_x0 * x0 + coef_xt * x_t
    if t > 0:
        variance = ((1.0 - a_prev) / (1.0 - a_t) * beta).clamp(min=1e-20)   # beta_tilde, eq. 7
        if noise is None:
            noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype, device=x_t.device)
        mean = mean + variance.sqrt() * noise
    return StepOutput(prev_sample=mean, pred_original_sample=x0)


def ddim_step(schedule: NoiseSchedule, model_output: torch.Tensor, t: int, t_prev: int,
              x_t: torch.Tensor, eta: float = 0.0, noise: torch.Tensor | None = None,
              prediction_type: str = "epsilon", clip_sample: float | None = None,
              generator: torch.Generator | None = None) -> StepOutput:
    """One DDIM step (Song et al. 2021, eq. 12) from x_t to x_{t_prev}."""
    _check_step_inputs(model_output, x_t, noise, prediction_type)
    eta = check_number("eta", eta, minimum=0.0)
    t, a_t, a_prev = _abars(schedule, t, t_prev, x_t)
    x0, eps = split_prediction(schedule, model_output, x_t, t, prediction_type)
    if clip_sample is not None:     # re-derive eps from the clipped x_0, as diffusers does
        x0 = _clip(x0, clip_sample)
        eps = (x_t - a_t.sqrt() * x0) / (1.0 - a_t).sqrt()
    variance = (1.0 - a_prev) / (1.0 - a_t) * (1.0 - a_t / a_prev)   # eq. 16 without eta
    sigma = eta * variance.sqrt()
    direction = (1.0 - a_prev - sigma ** 2).clamp(min=0.0).sqrt() * eps   # "direction pointing to x_t"
    prev = a_prev.sqrt() * x0 + direction                                 # eq. 12
    if eta > 0:
        if noise is None:
            noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype, device=x_t.device)
        prev = prev + sigma * noise
    return StepOutput(prev_sample=prev, pred_original_sample=x0)


# ----------------------------------------------------------------------------- DPM-Solver++
DPM_SOLVER_ORDERS = (1, 2)


def _alpha_sigma_lambda(abar: torch.Tensor):
    """alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t) and the half log-SNR
    lambda_t = log(alpha_t / sigma_t) (Lu et al. 2022, section 2)."""
    alpha, sigma = abar.sqrt(), (1.0 - abar).sqrt()
    return alpha, sigma, torch.log(alpha) - torch.log(sigma)


def dpm_solver_pp_step(schedule: NoiseSchedule, model_output: torch.Tensor, t: int, t_prev: int,
                       x_t: torch.Tensor, prev_x0: torch.Tensor | None = None,
                       t_last: int | None = None, order: int = 2,
                       prediction_type: str = "epsilon") -> StepOutput:
    """One DPM-Solver++(2M) step (Lu et al. 2022, "DPM-Solver++", Algorithm 2) from x_t to
    x_{t_prev}: an exponential-integrator step of the diffusion ODE in the *data*
    prediction x0_hat, with h = lambda_prev - lambda_t:

        first order (= DDIM, eta = 0):   x_prev = sigma_prev / sigma_t x_t - alpha_prev (e^-h - 1) D
                                         D = x0_hat(x_t)
        second order, multistep (2M):    D = (1 + 1 / 2r) x0_hat(x_t) - 1 / 2r x0_hat(x_last)
                                         r = (lambda_t - lambda_last) / h

    ``prev_x0`` is the data prediction of the previous step, made at timestep ``t_last``
    (> t): the "multistep" memory that buys second order for one U-Net pass per step. The
    first step has none and is first order. The step to the clean image (``t_prev = -1``,
    sigma = 0) returns x0_hat itself, first order, as diffusers does with
    ``lower_order_final`` (a second-order extrapolation there is unstable at few steps).
    """
    _check_step_inputs(model_output, x_t, None, prediction_type)
    order = check_int("order", order)
    if order not in DPM_SOLVER_ORDERS:
        raise ValueError(f"order must be one of {DPM_SOLVER_ORDERS} (DPM-Solver++ 1 = DDIM, "
                         f"2 = 2M; this library has no third-order solver), got {order}")
    t, a_t, a_prev = _abars(schedule, t, t_prev, x_t)
    x0, _ = split_prediction(schedule, model_output, x_t, t, prediction_type)
    if t_prev < 0:                  # sigma_prev = 0, h = inf: x_prev = D = x0_hat
        return StepOutput(prev_sample=x0, pred_original_sample=x0)
    alpha_t, sigma_t, lam_t = _alpha_sigma_lambda(a_t)
    alpha_p, sigma_p, lam_p = _alpha_sigma_lambda(a_prev)
    h = lam_p - lam_t
    D = x0
    if order == 2 and prev_x0 is not None:
        check_tensor("prev_x0", prev_x0)
        if prev_x0.shape != x_t.shape:
            raise ValueError(f"prev_x0 must have the shape of x_t {tuple(x_t.shape)}, "
                             f"got {tuple(prev_x0.shape)}")
        t_last = check_int("t_last", t_last, minimum=t + 1, maximum=schedule.num_timesteps - 1)
        _, _, lam_last = _alpha_sigma_lambda(schedule.alphas_cumprod[t_last].to(x_t.dtype))
        r = (lam_t - lam_last) / h
        D = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * prev_x0          # Algorithm 2, line 5
    prev = sigma_p / sigma_t * x_t - alpha_p * torch.expm1(-h) * D    # DPM-Solver++ eq. 9
    return StepOutput(prev_sample=prev, pred_original_sample=x0)


# ----------------------------------------------------------------------------- consistency (LCM)
LCM_ORIGIN_STEPS = 50        # the teacher's DDIM skeleton a latent consistency model is distilled on
LCM_SIGMA_DATA = 0.5         # Luo et al. 2023 / Song et al. 2023: boundary scalings' sigma_data
LCM_TIMESTEP_SCALING = 10.0  # diffusers' LCMScheduler: c_skip, c_out of t * 10


def lcm_timesteps(num_inference_steps: int, num_train_timesteps: int = 1000,
                  origin_steps: int = LCM_ORIGIN_STEPS) -> torch.Tensor:
    """The timesteps a latent consistency model visits (diffusers' ``LCMScheduler``): the
    skeleton it was distilled on, (k + 1) T / origin_steps - 1 for k = 0..origin_steps-1
    (19, 39, ..., 999 for 50), reversed, then n of them evenly spaced by index:
    floor(i origin_steps / n) for i = 0..n-1 (999, 759, 499, 259 for n = 4)."""
    T = check_int("num_train_timesteps", num_train_timesteps, minimum=2)
    origin = check_int("origin_steps", origin_steps, minimum=1, maximum=T)
    n = check_int("num_inference_steps", num_inference_steps, minimum=1, maximum=origin)
    skeleton = torch.arange(1, origin + 1) * (T // origin) - 1
    index = (torch.arange(n, dtype=torch.float64) * origin / n).floor().long()
    return skeleton.flip(0)[index]


def consistency_scalings(t: torch.Tensor, sigma_data: float = LCM_SIGMA_DATA,
                         timestep_scaling: float = LCM_TIMESTEP_SCALING):
    """(c_skip, c_out) of the consistency function f(x_t, t) = c_skip(t) x_t + c_out(t) x0_hat
    (Song et al. 2023, eq. 3 with LCM's choice, Luo et al. 2023, eq. 9): c_skip(0) = 1 and
    c_out(0) = 0, so f(x, 0) = x exactly (the boundary condition); c_skip falls to ~0 by t = 1."""
    s = t.to(torch.float64) * timestep_scaling
    c_skip = sigma_data ** 2 / (s ** 2 + sigma_data ** 2)
    c_out = s / (s ** 2 + sigma_data ** 2).sqrt()
    return c_skip.float(), c_out.float()


def lcm_step(schedule: NoiseSchedule, model_output: torch.Tensor, t: int, t_prev: int,
             x_t: torch.Tensor, noise: torch.Tensor | None = None,
             prediction_type: str = "epsilon",
             generator: torch.Generator | None = None) -> StepOutput:
    """One step of multistep consistency sampling (Song et al. 2023, Algorithm 1; LCM,
    Luo et al. 2023, Algorithm 1): jump straight to the clean estimate, then re-noise it
    to the next timestep with *fresh* noise (so the path is not an ODE trajectory):

        x0     = c_skip(t) x_t + c_out(t) x0_hat(x_t, t)                      (LCM eq. 9)
        x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev) z,  z ~ N(0, I)      (q(x_prev | x0))

    and x_prev = x0 after the last step (t_prev = -1)."""
    _check_step_inputs(model_output, x_t, noise, prediction_type)
    t, a_t, a_prev = _abars(schedule, t, t_prev, x_t)
    x0_hat, _ = split_prediction(schedule, model_output, x_t, t, prediction_type)
    c_skip, c_out = consistency_scalings(torch.tensor(float(t)))
    x0 = c_skip * x_t + c_out * x0_hat                                       # LCM eq. 9
    if t_prev < 0:
        return StepOutput(prev_sample=x0, pred_original_sample=x0)
    if noise is None:
        noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype, device=x_t.device)
    prev = a_prev.sqrt() * x0 + (1.0 - a_prev).sqrt() * noise                # q(x_prev | x0)
    return StepOutput(prev_sample=prev, pred_original_sample=x0)


def progress_disabled() -> bool:
    """Progress bars are on for a learner and off under test (TQDM_DISABLE=1)."""
    return os.environ.get("TQDM_DISABLE", "") not in ("", "0", "false", "False")


def sample(model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], schedule: NoiseSchedule,
           shape: tuple[int, ...], num_inference_steps: int = 50, sampler: str = "ddim",
           eta: float = 0.0, prediction_type: str = "epsilon", spacing: str = "leading",
           timesteps: torch.Tensor | None = None, x_T: torch.Tensor | None = None,
           generator: torch.Generator | None = None, seed: int | None = None,
           clip_sample: float | None = None, return_trajectory: bool = False,
           progress: bool = True, device: str | torch.device = "cpu",
           callback: Callable | None = None, resample: int = 1, solver_order: int = 2,
           t_final: int = -1):
    """Run the reverse process from ``x_T`` (pure noise by default) down ``timesteps``.
    The last step goes to ``t_final`` (default -1: the clean sample); a timestep below the
    last one stops there instead, still noisy (SDXL's ``denoising_end``: the base hands
    its latents at that noise level to the refiner).

    ``model(x_t, t)`` gets a batch and a LongTensor of timesteps of shape (B,)
    and returns its prediction (of ``prediction_type``). With
    ``return_trajectory=True`` returns ``(x_0, trajectory)`` where trajectory
    is a dict with the visited ``timesteps`` and stacked ``x`` (n+1, *shape)
    and ``x0_pred`` (n, *shape).

    ``callback(i, t, t_prev, step)`` (diffusers' ``callback_on_step_end``) is called after
    step i (from t to t_prev; ``step`` is the ``StepOutput``) and may return a tensor that
    replaces ``step.prev_sample`` (inpainting by replacement does that), or None.

    ``resample`` = r > 1 repeats every step r times (RePaint, Lugmayr et al. 2022,
    Algorithm 1 with jump length 1): after steps 1..r-1 the result (after the callback)
    is noised back from t_prev to t with q(x_t | x_t_prev) and denoised again, which lets
    the model harmonize what a callback replaced.

    ``sampler``: "ddim" (with ``eta``), "ddpm" (ancestral), "dpmsolver++" (DPM-Solver++ of
    order ``solver_order``, 2 = 2M: one pass per step, remembers the last step's x0_hat) or
    "lcm" (multistep consistency sampling, for a consistency-distilled model).
    """
    check_choice("sampler", sampler, SAMPLER_NAMES)
    if not callable(model):
        raise TypeError(f"model must be callable as model(x_t, t), got {type(model).__name__}")
    if not isinstance(shape, (tuple, list, torch.Size)) or not all(
            isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f"shape must be a tuple of positive ints, got {shape!r}")
    if sampler == "dpmsolver++" and (isinstance(solver_order, bool) or
                                     solver_order not in DPM_SOLVER_ORDERS):
        raise ValueError(f"solver_order must be one of {DPM_SOLVER_ORDERS} for dpmsolver++, "
                         f"got {solver_order!r}")
    if timesteps is None:
        timesteps = make_timesteps(num_inference_steps, schedule.num_timesteps, spacing)
    else:
        timesteps = check_timesteps("timesteps", timesteps, schedule.num_timesteps)
        if not bool((timesteps[1:] < timesteps[:-1]).all()):
            raise ValueError("timesteps must be strictly decreasing")
    if generator is None and seed is not None:
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
    resample = check_int("resample", resample, minimum=1)
    t_final = check_int("t_final", t_final, minimum=-1)
    if t_final >= int(timesteps[-1]):
        raise ValueError(f"t_final must be below the last timestep ({int(timesteps[-1])}), "
                         f"got {t_final}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(i, t, t_prev, step), "
                        f"got {type(callback).__name__}")
    if x_T is None:
        x = torch.randn(tuple(shape), generator=generator).to(device)
    else:
        check_tensor("x_T", x_T)
        if tuple(x_T.shape) != tuple(shape):
            raise ValueError(f"x_T must have shape {tuple(shape)}, got {tuple(x_T.shape)}")
        x = x_T.to(device)
    xs, x0s = [x], []
    memory = (None, None)           # DPM-Solver++(2M): (x0_hat, t) of the previous step
    ts = [int(t) for t in timesteps]
    bar = tqdm(range(len(ts)), desc=f"{sampler} sampling", disable=not progress or progress_disabled(),
               leave=False)
    abar = schedule.alphas_cumprod
    for i in bar:
        t, t_prev = ts[i], (ts[i + 1] if i + 1 < len(ts) else t_final)
        t_batch = torch.full((shape[0],), t, dtype=torch.long, device=device)
        for r in range(resample):
            if r > 0:   # RePaint: back from t_prev to t, x_t = sqrt(a) x_prev + sqrt(1 - a) z
                a = (abar[t] / (abar[t_prev] if t_prev >= 0 else 1.0)).to(x.dtype)
                z = torch.randn(tuple(shape), generator=generator).to(device)
                x = a.sqrt() * x + (1 - a).sqrt() * z
            with torch.no_grad():
                out = model(x, t_batch)
            # noise is drawn on the CPU generator so a seed gives the same images on any device
            noise = torch.randn(tuple(shape), generator=generator).to(device)
            if sampler == "ddim":
                step = ddim_step(schedule, out, t, t_prev, x, eta=eta, noise=noise,
                                 prediction_type=prediction_type, clip_sample=clip_sample)
            elif sampler == "dpmsolver++":
                step = dpm_solver_pp_step(schedule, out, t, t_prev, x, prev_x0=memory[0],
                                          t_last=memory[1], order=solver_order,
                                          prediction_type=prediction_type)
                memory = (step.pred_original_sample, t)
            elif sampler == "lcm":
                step = lcm_step(schedule, out, t, t_prev, x, noise=noise,
                                prediction_type=prediction_type)
            else:
                step = ddpm_step(schedule, out, t, t_prev, x, noise=noise,
                                 prediction_type=prediction_type, clip_sample=clip_sample)
            x = step.prev_sample
            if callback is not None:
                replaced = callback(i, t, t_prev, step)
                if replaced is not None:
                    check_tensor("the callback's return value", replaced)
                    if replaced.shape != x.shape:
                        raise ValueError(f"callback must return a tensor of shape "
                                         f"{tuple(x.shape)} or None, got {tuple(replaced.shape)}")
                    x = replaced
            if t_prev < 0:
                break
        if return_trajectory:
            xs.append(x)
            x0s.append(step.pred_original_sample)
    if return_trajectory:
        return x, {"timesteps": torch.tensor(ts), "x": torch.stack(xs), "x0_pred": torch.stack(x0s)}
    return x


def ddim_invert(model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                schedule: NoiseSchedule, x0: torch.Tensor, num_inference_steps: int = 50,
                prediction_type: str = "epsilon", spacing: str = "leading",
                progress: bool = True) -> torch.Tensor:
    """DDIM inversion: run the deterministic (eta = 0) update of eq. 12 backwards in time,
    from x_0 up to the first sampling timestep, so that ``sample(..., x_T=result)`` returns
    (approximately) x0. The step from t to t_next reuses eps predicted at t:

        x_{t_next} = sqrt(abar_next) x0_hat(x_t) + sqrt(1 - abar_next) eps_hat(x_t)
    """
    check_tensor("x0", x0, min_ndim=1)
    ts = make_timesteps(num_inference_steps, schedule.num_timesteps, spacing).flip(0).tolist()
    abar = schedule.alphas_cumprod.to(x0.dtype)
    x, t = x0, -1
    for t_next in tqdm(ts, desc="ddim inversion", disable=not progress or progress_disabled(),
                       leave=False):
        if t < 0:   # from the clean image: x0_hat = x0 exactly, eps_hat from the model at t_next
            t_batch = torch.full((x.shape[0],), t_next, dtype=torch.long, device=x.device)
            with torch.no_grad():
                out = model(x, t_batch)
            _, eps = split_prediction(schedule, out, x, t_next, prediction_type)
            x0_hat = x0
        else:
            t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
            with torch.no_grad():
                out = model(x, t_batch)
            x0_hat, eps = split_prediction(schedule, out, x, t, prediction_type)
        a_next = abar[t_next]
        x = a_next.sqrt() * x0_hat + (1 - a_next).sqrt() * eps
        t = t_next
    return x
