"""Recipe: a few-step student of the tiny Stable Diffusion, with classifier-free guidance
distilled in (``weights/text2img_distilled``, ``DistilledTextToImage.pretrained()``):
latent consistency distillation (LCM, Luo et al. 2023, Algorithm 1).

Why LCM and not progressive distillation: progressive distillation (Salimans & Ho 2022;
guided, Meng et al. 2023) trains a chain of students, each matching *two* steps of the
previous one with one step (N -> N/2 -> ... -> 4 -> 2 -> 1), and the student of round r
is only good at its own step count: shipping 1, 2 and 4 steps means several rounds and
several 4.3 MB U-Nets. LCM trains *one* network in *one* stage that samples in any of
1, 2, 4, 8 steps, which fits the 15-minute and 4 MB budgets.

What is matched (the seed's "mimicking the teacher's trajectory", made precise):
    * progressive distillation matches the teacher's *sampler output*: one student DDIM
      step from x_t lands where two teacher DDIM steps land (eq. 8 of Salimans & Ho);
    * consistency distillation matches the student *to itself along the teacher's ODE*:
      f(x_{t_{n+k}}, t_{n+k}) = f_target(x_hat_{t_n}, t_n), where x_hat_{t_n} is one CFG
      DDIM step of the teacher from x_{t_{n+k}}. The teacher only supplies the direction
      of the trajectory (one solver step); the boundary f(x, 0) = x anchors the end, and
      f learns to map every point of a trajectory to its start x_0;
    * consistency *training* (Song et al. 2023, section 5) needs no teacher at all: x_hat
      is the same data point x_0 noised with the same noise to the neighbouring level.

Training step (LCM Algorithm 1, skipping step k, guidance scale s baked in):
    z_0, c          a batch of real latents and their captions' token states (no dropout:
                    the student is always conditional; the teacher's CFG needs "" too)
    n ~ U{0..N-1},  t = skeleton[n] = (n + 1) k - 1,  t' = t - k  (-1 means clean)
    z_t             = sqrt(abar_t) z_0 + sqrt(1 - abar_t) eps                   (q(z_t | z_0))
    eps_teacher     = eps(z_t, "") + s (eps(z_t, c) - eps(z_t, ""))             (CFG)
    z_hat_t'        = DDIM step of the teacher from t to t' (eq. 12, eta = 0)
    target          = f_target(z_hat_t', t')  (= z_hat_t' itself when t' = -1: the boundary)
    loss            = pseudo-Huber(f_student(z_t, t) - target)   (Song & Dhariwal 2023)
    f(z, t)         = c_skip(t) z + c_out(t) z0_hat(z, t)  (``samplers.consistency_scalings``)
    target weights  = EMA of the student's (decay ``TARGET_EMA``), no gradient

The student starts as a copy of the teacher (the shipped ``text2img`` U-Net, 1.08 M
parameters, same architecture), so its first job is already half done.

Scores (``score``): prompt accuracy on the course's fresh prompts and the course's FID
for 1, 2, 4 and 8 student steps, against the teacher's DDIM at 4 and 20 steps (same
prompts, same seeds). ``write_sweep`` adds DDPM, DDIM and DPM-Solver++ at 1..50 steps
(``sweep.json``, which lesson 15 plots).
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import torch

from ..checkpoints import save_checkpoint, weights_path
from ..pipelines import DEFAULT_GUIDANCE_SCALE
from ..distillation import (consistency_function, consistency_target, guided_ddim_solver_step,
                            pseudo_huber)
from ..samplers import LCM_ORIGIN_STEPS, SchedulerConfig
from . import text2img

DEFAULT_STEPS = 1200
N_TRAIN = 20_000
BATCH_SIZE = 64
LR = 2e-4
WARMUP = 100
TARGET_EMA = 0.95              # LCM's target network decay
EMA_DECAY = 0.99               # the EMA of the student that is saved
GUIDANCE_SCALE = DEFAULT_GUIDANCE_SCALE    # the teacher's CFG scale, distilled in
ORIGIN_STEPS = LCM_ORIGIN_STEPS            # skeleton of N = 50 teacher steps: k = T / N = 20
MAX_STEPS = 8                  # the most steps the pipeline accepts (distilled for 1-4)
HUBER_C = 0.00054 * (4 * 8 * 8) ** 0.5     # Song & Dhariwal 2023: c = 0.00054 sqrt(d)
STUDENT_STEPS = (1, 2, 4, 8)
KNOBS = {"batch_size": f"{__name__}:BATCH_SIZE"}
DISTILLATION_FILE = "distillation.json"


def make_loss_fn(teacher, schedule, data: dict, batch_size: int = BATCH_SIZE,
                 guidance_scale: float = GUIDANCE_SCALE, origin_steps: int = ORIGIN_STEPS,
                 target_ema: float = TARGET_EMA, seed: int = 0):
    """``loss_fn(student, step)`` for ``fit``: one step of latent consistency distillation
    (see the module docstring). The target network (an EMA of the student) lives inside."""
    gen = torch.Generator().manual_seed(seed)
    latents, states, cap = data["latents"], data["states"], data["caption_index"]
    T = schedule.num_timesteps
    k = T // origin_steps
    state = {"target": None}
    teacher = teacher.eval().requires_grad_(False)

    def loss_fn(student, step):
        if state["target"] is None:
            state["target"] = copy.deepcopy(student).eval().requires_grad_(False)
        else:   # theta_target <- mu theta_target + (1 - mu) theta (after each optimizer step)
            with torch.no_grad():
                for p_t, p in zip(state["target"].parameters(), student.parameters()):
                    p_t.lerp_(p.detach(), 1.0 - target_ema)
        idx = torch.randint(0, latents.shape[0], (batch_size,), generator=gen)
        z0 = latents[idx]
        cond = states[cap[idx]]
        uncond = states[torch.zeros_like(cap[idx])]
        n = torch.randint(0, origin_steps, (batch_size,), generator=gen)
        t = (n + 1) * k - 1                       # skeleton timestep t_{n+k}
        t_prev = t - k                            # t_n (-1: the clean end)
        noise = torch.randn(z0.shape, generator=gen)
        abar = schedule.alphas_cumprod.float()
        a_t = abar[t].view(-1, 1, 1, 1)
        z_t = a_t.sqrt() * z0 + (1 - a_t).sqrt() * noise
        with torch.no_grad():
            out = teacher(torch.cat([z_t, z_t]), torch.cat([t, t]), torch.cat([uncond, cond]))
            e_u, e_c = out.chunk(2)
            z_prev = guided_ddim_solver_step(schedule, e_u, e_c, guidance_scale, z_t, t, t_prev)
            target = consistency_target(
                lambda z, tt: consistency_function(state["target"], schedule, z, tt, cond),
                z_prev, t_prev)
        pred = consistency_function(student, schedule, z_t, t, cond)
        return pseudo_huber(pred, target, HUBER_C)

    return loss_fn


# ----------------------------------------------------------------------------- scoring
@torch.no_grad()
def score(directory: Path, n: int = text2img.EVAL_PROMPTS, fid_images: int = text2img.FID_IMAGES,
          teacher_steps=(4, 20)) -> dict:
    from ..metrics.evaluator import ShapesEvaluator
    from ..pipelines import DistilledTextToImage, TextToImage

    evaluator = ShapesEvaluator.pretrained()
    student = DistilledTextToImage.from_directory(directory)
    teacher = TextToImage.pretrained()
    scores = {}
    # the student accepts only its distilled scale (one U-Net pass per step)
    runs = [("student", student, s) for s in STUDENT_STEPS]
    runs += [("teacher_ddim", teacher, s) for s in teacher_steps]
    for name, pipe, steps in runs:
        acc = text2img.prompt_accuracy_by_scale(pipe, evaluator, (GUIDANCE_SCALE,), n=n,
                                                num_inference_steps=steps)[GUIDANCE_SCALE]
        fid, floor = text2img.fid_against_real(pipe, evaluator, GUIDANCE_SCALE,
                                               n=fid_images, num_inference_steps=steps)
        scores[f"{name}_{steps}_prompt_accuracy"] = acc
        scores[f"{name}_{steps}_fid"] = fid
    scores["fid_floor"] = floor
    return {k: round(v, 4) for k, v in scores.items()}


SWEEP_FILE = "sweep.json"
# (sampler, timestep spacing, steps): DDIM and DDPM with the shipped "leading" spacing;
# DPM-Solver++ with "trailing" (leading starts far from T at few steps: lesson 15, section 4)
SWEEP_TEACHER_PLAN = (("ddim", "leading", (1, 2, 4, 8, 20, 50)),
                      ("dpmsolver++", "trailing", (1, 2, 4, 8, 20)),
                      ("ddpm", "leading", (1, 2, 4, 8, 20)))


@torch.no_grad()
def quality_point(pipe, evaluator, steps: int, sampler: str = "ddim", n: int = 256,
                  fid_images: int = text2img.FID_IMAGES, guidance_scale: float = GUIDANCE_SCALE,
                  seed: int = 0) -> dict:
    """Prompt accuracy (``n`` fresh full-caption prompts), the course's FID (``fid_images``
    images against real scenes) and seconds per image (the prompt-accuracy batch, timed)
    of ``pipe`` at ``steps`` steps; the same prompts and noise for every pipe and sampler."""
    kwargs = {"num_inference_steps": steps} | ({} if sampler == "lcm" else {"sampler": sampler})
    prompts = text2img.eval_prompts(n)
    text2img.generate(pipe, prompts[:8], guidance_scale, seed=seed, **kwargs)   # warm-up
    start = time.perf_counter()
    images = text2img.generate(pipe, prompts, guidance_scale, seed=seed, **kwargs)
    seconds = (time.perf_counter() - start) / n
    # the FID of ``score`` (the manifest): fid_against_real's own real scenes and default noise
    fid, floor = text2img.fid_against_real(pipe, evaluator, guidance_scale, n=fid_images, **kwargs)
    passes = steps * (1 if sampler == "lcm" or guidance_scale == 1.0 else 2)
    return {"sampler": sampler, "steps": steps, "unet_passes": passes,
            "prompt_accuracy": evaluator.prompt_accuracy(images, prompts), "fid": fid,
            "fid_floor": floor, "seconds_per_image": seconds}


def _rounded(rows: list) -> list:
    return [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]


@torch.no_grad()
def teacher_sweep(plan=SWEEP_TEACHER_PLAN, n: int = 256,
                  fid_images: int = text2img.FID_IMAGES) -> list:
    """Quality against U-Net passes for the teacher, per (sampler, spacing, steps) of ``plan``
    (guidance 3: two passes per step). Time it alone on the machine."""
    from ..metrics.evaluator import ShapesEvaluator
    from ..pipelines import TextToImage

    evaluator, teacher = ShapesEvaluator.pretrained(), TextToImage.pretrained()
    rows = []
    for sampler, spacing, steps in plan:
        pipe = teacher
        if spacing != teacher.timestep_spacing:
            pipe = copy.copy(teacher)
            pipe.timestep_spacing, pipe.steps_offset = spacing, 0
        rows += [dict(quality_point(pipe, evaluator, k, sampler, n, fid_images), spacing=spacing)
                 for k in steps]
    return _rounded(rows)


@torch.no_grad()
def student_sweep(student_dir, steps=STUDENT_STEPS, n: int = 256,
                  fid_images: int = text2img.FID_IMAGES) -> list:
    """The same for the student at ``steps`` steps (one pass per step)."""
    from ..metrics.evaluator import ShapesEvaluator
    from ..pipelines import DistilledTextToImage

    evaluator = ShapesEvaluator.pretrained()
    student = DistilledTextToImage.from_directory(student_dir)
    return _rounded([quality_point(student, evaluator, k, "lcm", n, fid_images) for k in steps])


def write_sweep(student_dir, teacher_rows: list | None = None) -> Path:
    """Student and teacher sweeps into ``student_dir/sweep.json`` (what lesson 15 plots);
    ``teacher_rows``: a ``teacher_sweep`` computed earlier (it does not depend on the student)."""
    rows = [dict(r, spacing="student") for r in student_sweep(student_dir)]
    rows += teacher_sweep() if teacher_rows is None else teacher_rows
    note = ("every row by quality_point: the same 256 prompts and seeds, and the FID of the "
            "manifest's score (500 images against fid_against_real's real scenes)")
    path = Path(student_dir) / SWEEP_FILE
    path.write_text(json.dumps({"note": note, "threads": torch.get_num_threads(), "rows": rows},
                               indent=2) + "\n")
    return path


# ----------------------------------------------------------------------------- training
def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0, n_train: int = N_TRAIN,
          do_score: bool = True) -> dict:
    from ..nn.text import TinyCLIP
    from ..nn.unet import UNet
    from ..nn.vae import VAE
    from ..checkpoints import load_checkpoint
    from ..training import fit

    out = Path(out)
    torch.manual_seed(seed)
    teacher_dir = weights_path("text2img")
    config = SchedulerConfig.load(teacher_dir)
    schedule = config.make_schedule()
    teacher = load_checkpoint(UNet, teacher_dir)
    student = copy.deepcopy(teacher).train().requires_grad_(True)
    vae, clip = VAE.pretrained(), TinyCLIP.pretrained()
    start = time.perf_counter()
    data = text2img.encode_dataset(vae, clip, n_train, seed=2_000 + seed)
    encode_seconds = time.perf_counter() - start
    loss_fn = make_loss_fn(teacher, schedule, data, BATCH_SIZE, seed=seed)
    result = fit(student, loss_fn, steps, lr=LR, warmup=WARMUP, ema_decay=EMA_DECAY,
                 desc="text2img_distilled")
    save_checkpoint(result.ema.model, out)
    config.save(out)
    distillation = {"method": "latent consistency distillation (Luo et al. 2023)",
                    "teacher": "text2img", "guidance_scale": GUIDANCE_SCALE,
                    "origin_steps": ORIGIN_STEPS, "distilled_steps": [1, 2, 4],
                    "max_steps": MAX_STEPS}
    (out / DISTILLATION_FILE).write_text(json.dumps(distillation, indent=2) + "\n")
    tail = result.losses[-100:]
    info = {"method": distillation["method"], "guidance_scale": GUIDANCE_SCALE,
            "origin_steps": ORIGIN_STEPS, "skipping_step": config.num_train_timesteps // ORIGIN_STEPS,
            "batch_size": BATCH_SIZE, "lr": LR, "target_ema": TARGET_EMA, "ema_decay": EMA_DECAY,
            "huber_c": round(HUBER_C, 5), "n_train_scenes": n_train,
            "parameters": sum(p.numel() for p in student.parameters()),
            "encode_seconds": round(encode_seconds, 1), "train_seconds": round(result.seconds, 1),
            "loss_first_100": round(sum(result.losses[:100]) / min(100, len(result.losses)), 5),
            "loss_last_100": round(sum(tail) / len(tail), 5)}
    if do_score:
        info["scores"] = score(out)
    return info
