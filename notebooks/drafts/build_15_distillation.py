"""DRAFT, NOT A FINISHED LESSON: builds notebooks/15_distillation.ipynb (unexecuted); run from the
repository root. Needs weights/text2img_distilled (``python -m diffusionlab train
text2img_distilled``) and its sweep.json (``make_sweep_15.py`` or ``text2img_distilled.write_sweep``),
then ``python -m diffusionlab notebooks 15`` and ``pytest --nbval notebooks/15_distillation.ipynb``.
Its cells up to the re-check of section 4 ran once against a placeholder student; the rest has not
been executed."""
import nbformat as nbf

cells = []
def md(s):
    cells.append(nbf.v4.new_markdown_cell(s.strip("\n")))


def code(s, **meta):
    cells.append(nbf.v4.new_code_cell(s.strip("\n"), metadata=meta))

md(r'''
# 15 · Fast sampling: better solvers, cheaper steps, distillation

**Runtime:** under a minute on 2 free CPU cores (a few hundred images from the shipped tiny Stable
Diffusion and its distilled student, a profile of one U-Net pass; nothing is trained here; the
expensive sweep was computed by the recipe and is re-checked in part). Other programs busy on
the same cores make it slower.

> **D31-Q18. What is "Distillation" in Diffusion?**
> *   Teaching a student model to generate in 1 or 4 steps by mimicking the teacher's multi-step trajectory.
> *   Examples: Consistency Models, LCM (Latent Consistency Models).

> **D31-Q6. Why is Diffusion slow?** (lesson 04 measured the problem; this lesson measures the remedies)
> *   It requires iterative refinement (e.g., 50 steps).
> *   The U-Net must be run 50 times to generate one image.
> *   GANs run only once.

Sampling time is **(number of U-Net evaluations) x (cost of one evaluation)**. This lesson
attacks both factors and measures each remedy on the shipped tiny Stable Diffusion:

1. **a better ODE solver**, no training: DPM-Solver++(2M) (Lu et al. 2022), and how to drive the
   course's U-Net with any scheduler of diffusers;
2. **a cheaper evaluation**: where the time of one U-Net pass goes on this machine, against what
   the machine can do;
3. **fewer evaluations by training**: a student distilled from the teacher, with classifier-free
   guidance baked in (one pass per step instead of two), by latent consistency distillation;
4. quality (prompt accuracy, the course's FID) against the number of U-Net evaluations for DDPM,
   DDIM, DPM-Solver++ and the student, on the same prompts and seeds.
''')

code(r'''
import copy
import json
import time

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display
from ipywidgets import IntSlider, interact

from diffusionlab import distillation, profiling
from diffusionlab.checkpoints import read_manifest, weights_path
from diffusionlab.metrics.evaluator import ShapesEvaluator
from diffusionlab.pipelines import DistilledTextToImage, TextToImage
from diffusionlab.recipes import text2img, text2img_distilled
from diffusionlab.samplers import dpm_solver_pp_step, lcm_step, sample
from diffusionlab.schedules import make_schedule
from diffusionlab.viz import show_images, show_source

torch.set_num_threads(2)
torch.manual_seed(0)

teacher = TextToImage.pretrained()
student = DistilledTextToImage.pretrained()
evaluator = ShapesEvaluator.pretrained()
student_dir = weights_path("text2img_distilled")
manifest = read_manifest(student_dir)
sweep = json.loads((student_dir / "sweep.json").read_text())["rows"]
S = teacher.schedule
print(f"teacher and student: the same U-Net, {manifest['parameters'] / 1e6:.2f} M parameters; "
      f"guidance scale distilled in: {student.guidance_scale:g}")
''')

md(r'''
## 1. A better solver: DPM-Solver++(2M)

Sampling with DDIM (eta = 0) is solving the probability-flow ODE. Lu et al. write it in the
*half log-SNR* $\lambda_t = \log(\alpha_t / \sigma_t)$, with $\alpha_t = \sqrt{\bar\alpha_t}$,
$\sigma_t = \sqrt{1-\bar\alpha_t}$ and the network's **data prediction**
$\hat x_0(x_t) = (x_t - \sigma_t \hat\epsilon)/\alpha_t$. The exact solution from $t$ to $t'$ is

$$x_{t'} = \frac{\sigma_{t'}}{\sigma_t} x_t + \sigma_{t'} \int_{\lambda_t}^{\lambda_{t'}} e^{\lambda}\, \hat x_0(x_\lambda)\, d\lambda ,$$

an integral of the *network* only: the linear part is solved exactly (an "exponential
integrator"). With $h = \lambda_{t'} - \lambda_t$:

* hold $\hat x_0$ constant over the step: $x_{t'} = \frac{\sigma_{t'}}{\sigma_t} x_t - \alpha_{t'}(e^{-h} - 1)\, \hat x_0$.
  This is **exactly DDIM** (first order);
* **2M** (multistep, second order) extrapolates $\hat x_0$ linearly from the *previous* step's
  prediction, made at $t_{\text{last}}$, which costs no extra U-Net pass:
  $D = (1 + \tfrac{1}{2r})\hat x_0(x_t) - \tfrac{1}{2r}\hat x_0(x_{t_\text{last}})$, $r = (\lambda_t - \lambda_{t_\text{last}})/h$.

Its first step has no memory (first order); the final step to the clean image is first order
too (diffusers' `lower_order_final`). So at 1 and 2 steps DPM-Solver++ *is* DDIM; it can only
differ from 3 steps on. The library's step (the tests check it against diffusers'
`DPMSolverMultistepScheduler`, `algorithm_type="dpmsolver++"`, `solver_order=2`):
''')

code(r'''
show_source(dpm_solver_pp_step)
''')

md(r'''
**Does second order buy accuracy?** On Gaussian data $\mathcal N(\mu, s^2)$ the exact
$\hat\epsilon$ is known in closed form and so is the ODE's solution (each sample keeps its
standardized value), so we can measure each solver's error after $n$ steps from $t = 999$ to
$t = 20$ (stopping before the final jump to $t = -1$, which both solvers take the same way):
''')

code(r'''
mu, sd = 1.5, 0.4
abar = S.alphas_cumprod.float()

def gaussian_eps(x, t):               # E[eps | x_t] for data N(mu, sd^2)
    a = abar[t].reshape(-1, 1)
    return (1 - a).sqrt() * (x - a.sqrt() * mu) / (a * sd ** 2 + 1 - a)

def std(a):
    return (a * sd ** 2 + 1 - a).sqrt()

x_T = torch.randn(4000, 1, generator=torch.Generator().manual_seed(0))
exact = abar[20].sqrt() * mu + std(abar[20]) * (x_T - abar[999].sqrt() * mu) / std(abar[999])
ode_err = {"ddim": [], "dpmsolver++": []}
ns = [4, 8, 16, 32]
for n in ns:
    ts = torch.linspace(999, 20, n + 1).round().long()
    for name in ode_err:
        _, traj = sample(gaussian_eps, S, (4000, 1), sampler=name, x_T=x_T, timesteps=ts,
                         return_trajectory=True, progress=False)
        ode_err[name].append((traj["x"][-2] - exact).abs().mean().item())
for i, n in enumerate(ns):
    print(f"{n:3d} steps: mean |error| DDIM {ode_err['ddim'][i]:.4f}, "
          f"DPM-Solver++(2M) {ode_err['dpmsolver++'][i]:.4f}")
slope = {k: (torch.tensor(v[1:]).log() - torch.tensor(v[:-1]).log()).mean().item() / -torch.log(torch.tensor(2.0)).item()
         for k, v in ode_err.items()}
print(f"empirical order (error ~ steps^-p): DDIM p = {slope['ddim']:.1f}, "
      f"DPM-Solver++ p = {slope['dpmsolver++']:.1f}")
assert 0.7 < slope["ddim"] < 1.4                  # first order
assert slope["dpmsolver++"] > slope["ddim"] + 0.3   # higher order
assert all(d < e for d, e in zip(ode_err["dpmsolver++"], ode_err["ddim"]))
''')

md(r'''
### Any diffusers scheduler on the course's U-Net

The course's samplers and diffusers' schedulers compute the same steps; the adapter
`diffusionlab.diffusers_adapter` runs diffusers' own denoising loop
(`set_timesteps`, `scale_model_input`, `step`) around the course's guided U-Net, so a learner can
try UniPC, Euler, Heun... on these models. diffusers is imported only inside the adapter (it is
installed with the course as a reference; the library never needs it). Same prompts, same
noise, same timesteps: the images must agree to float precision.
''')

code(r'''
import diffusers  # noqa: E402  (a reference library: only in this demonstration)
from diffusionlab.diffusers_adapter import generate_with_scheduler, make_scheduler

prompts = ["a large red circle at the top left", "a small blue square at the bottom right",
           "a large green triangle in the center", "a small yellow circle at the right"]
adapter_diff = {}
for cls, name in ((diffusers.DDIMScheduler, "ddim"), (diffusers.DPMSolverMultistepScheduler, "dpmsolver++")):
    sched = make_scheduler(cls, teacher.scheduler_config)
    theirs, ts = generate_with_scheduler(teacher, prompts, sched, num_inference_steps=8, seed=1)
    args = teacher.check_call(prompts, num_inference_steps=8, seed=1, progress=False, sampler=name)
    ours = teacher.generate(args, timesteps=ts.long()).images
    adapter_diff[name] = (ours - theirs).abs().max().item()
    print(f"diffusers {cls.__name__:28s} vs the course's {name:12s}: max |pixel difference| "
          f"{adapter_diff[name]:.0e} (timesteps {ts.tolist()})")
assert max(adapter_diff.values()) < 1e-3
''')

md(r'''
## 2. Cheaper steps: where the time of one U-Net pass goes

A guided sampling step runs the U-Net once on a batch of $2B$ latents (the conditional and the
unconditional branch together). How much arithmetic is that, and how fast does this machine do
it? `FlopCounterMode` counts the floating-point operations (2 per multiply-add in every matmul
and convolution); a large matmul shows what the same cores reach on the friendliest possible work.
''')

code(r'''
# NBVAL_IGNORE_OUTPUT
# (timings: they differ on every machine and every run)
unet = teacher.unet
z, t, c = profiling.unet_inputs(unet, 32)
gflop = profiling.count_flops(unet, z, t, c) / 1e9
sec = profiling.time_call(unet, z, t, c, repeat=7)
roof = profiling.matmul_gflops(1024)
print(f"one pass at batch 32 (16 guided images): {gflop:.2f} GFLOP, {sec * 1e3:.0f} ms here "
      f"-> {gflop / sec:.0f} GFLOP/s")
print(f"a 1024 x 1024 matmul on the same cores: {roof:.0f} GFLOP/s; the U-Net reaches "
      f"{gflop / sec / roof:.0%} of it")
assert 1.4 < gflop < 1.8                              # the arithmetic is the model's, not the machine's
''')

md(r'''
Less than the machine can do: a pass at batch 32 is many *small* operations (8 x 8 latents,
32 to 64 channels), each too short to keep the cores' vector units busy, plus memory traffic that
does no arithmetic. Where does the time go? Each leaf layer timed with forward hooks (wall time,
batch 32):
''')

code(r'''
# NBVAL_IGNORE_OUTPUT
# (timings: they differ on every machine and every run)
shares = profiling.time_by_layer_type(unet, z, t, c, repeat=3)
fig, ax = plt.subplots(figsize=(7, 2.8))
names = [k for k in shares if shares[k] >= 0.005]
ax.barh(names[::-1], [shares[k] for k in names][::-1], color="tab:blue")
ax.set_xlabel("share of one U-Net pass (wall time)")
ax.set_title("one pass of the tiny SD U-Net, batch 32, by layer type")
plt.tight_layout()
plt.show()
for k in names:
    print(f"{k:55s} {shares[k]:.0%}")
assert shares["Conv2d"] + shares["Linear"] > 0.4      # most of the time is the layers' arithmetic ...
''')

md(r'''
### What the standard tools buy on this machine

Each variant on its own copy of the model, at batch 32 and at batch 256 (CPU time of one
thread, which other programs on the machine disturb less than wall time; medians of 5 passes).
`torch.compile` is left out of the lesson: on 2 CPU cores compiling this U-Net takes minutes,
longer than this lesson may run, and it compiles again for every new batch shape; a learner's
session would spend more time compiling than sampling.
''')

code(r'''
# NBVAL_IGNORE_OUTPUT
# (timings: they differ on every machine and every run)
def cpu_seconds(fn, *args, repeat=5):
    with torch.no_grad():
        fn(*args)
        times = []
        for _ in range(repeat):
            start = time.process_time()
            fn(*args)
            times.append(time.process_time() - start)
    return sorted(times)[repeat // 2]

cl = copy.deepcopy(unet).to(memory_format=torch.channels_last)

def bf16(*args):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return unet(*args)

variants = {}
with profiling.threads(1):
    for b in (32, 256):
        zb, tb, cb = profiling.unet_inputs(unet, b)
        variants[b] = {"eager fp32": cpu_seconds(unet, zb, tb, cb),
                       "channels-last": cpu_seconds(cl, zb, tb, cb),
                       "bf16 autocast": cpu_seconds(bf16, zb, tb, cb)}
for b, vs in variants.items():
    base_s = vs["eager fp32"]
    print(f"batch {b:3d}: " + ", ".join(f"{k} {s / b * 1e3:.2f} ms/latent (x{base_s / s:.2f})"
                                      for k, s in vs.items()))
    print(f"           eager fp32 at this batch: {gflop * b / 32 / base_s:.0f} GFLOP/s on one thread")

with torch.no_grad():
    ref = unet(z, t, c)
    out_cl = cl(z.contiguous(memory_format=torch.channels_last), t, c)
    out_bf16 = bf16(z, t, c).float()
err_cl = (out_cl - ref).abs().max().item()
err_bf16 = (out_bf16 - ref).abs().max().item() / ref.abs().max().item()
print(f"\nchannels-last: max |difference| {err_cl:.0e} (the same arithmetic, another memory layout)")
print(f"bf16 autocast: max difference {err_bf16:.1%} of the output's range (8 bits of mantissa)")
assert err_cl < 1e-4
assert 1e-4 < err_bf16 < 0.2
per_latent = {b: vs["eager fp32"] / b for b, vs in variants.items()}
''')

md(r'''
What the library adopts, and what not (the conclusion below is rendered from the numbers above):
''')

code(r'''
# NBVAL_IGNORE_OUTPUT
# (timings: they differ on every machine and every run)
gain_bf16 = {b: variants[b]["eager fp32"] / variants[b]["bf16 autocast"] for b in variants}
gain_cl = {b: variants[b]["eager fp32"] / variants[b]["channels-last"] for b in variants}
def verdict(g):
    return "a real gain" if g > 1.1 else ("no measurable gain" if g > 0.95 else "a loss")
display(Markdown(
    f"* **Batching** is what the pipelines already do: the conditional and unconditional branches "
    f"of CFG share one pass, and `recipes.text2img.generate` sends 256 prompts per call. Here, "
    f"batch 256 costs {per_latent[256] / per_latent[32]:.2f} times batch 32's time per latent.\n"
    f"* **channels-last**: x{gain_cl[32]:.2f} at batch 32 ({verdict(gain_cl[32])}), "
    f"x{gain_cl[256]:.2f} at batch 256 ({verdict(gain_cl[256])}), with outputs equal up to "
    f"{err_cl:.0e} (the same arithmetic in another memory layout). The 8 x 8 latents make the "
    f"convolutions' default layout inefficient; bigger batches hide it.\n"
    f"* **bf16 autocast**: x{gain_bf16[32]:.2f} at batch 32 and x{gain_bf16[256]:.2f} at batch 256 "
    f"on this CPU, but every output moves by up to {err_bf16:.1%} of its range (8 bits of mantissa).\n"
    f"* **torch.compile**: minutes of compiling per batch shape on 2 cores.\n\n"
    f"What the library does with this: nothing is switched on by default. These are one-thread "
    f"CPU-time measurements of a single pass; the same variants measured earlier on a loaded machine "
    f"showed no gain, and every stored figure of the course would move (bf16 visibly, channels-last "
    f"in the last digits). A learner who wants the speed writes one line: "
    f"`pipe.unet.to(memory_format=torch.channels_last)`, or wraps the call in "
    f"`torch.autocast('cpu', dtype=torch.bfloat16)`. The lever that is safe everywhere is the "
    f"*number* of evaluations, which the rest of the lesson cuts."))
''')

md(r'''
## 3. Fewer evaluations by training: distillation

A solver can only follow the teacher's ODE more cleverly; below about 10 steps every solver's
error grows fast, because the trajectory bends more than a low-order polynomial can follow.
Distillation instead **trains a student to take the big steps**. Two families, and precisely what
each one matches (the seed's "mimicking the teacher's trajectory" fits the first only loosely
and the second not at all):

* **Progressive distillation** (Salimans & Ho 2022): the student's *one* DDIM step from $x_t$ must
  land where the teacher's *two* DDIM steps land (the target is the $\hat x_0$ that makes it so,
  their eq. 8). It matches the **teacher's sampler output over two steps**. Then the student
  becomes the teacher and the step count halves again: $N \to N/2 \to \dots \to 4 \to 2 \to 1$.
  Meng et al. 2023 ("On distillation of guided diffusion models") add a first stage that
  distils classifier-free guidance (a student with a guidance-scale input matches
  $\epsilon_u + s(\epsilon_c - \epsilon_u)$ in one pass), then halve progressively. Each round
  gives a model good at *its* step count only.
* **Consistency distillation** (Song et al. 2023; in latent space with guidance, **LCM**, Luo et
  al. 2023): the student $f(x_t, t)$ must give the **same output at neighbouring points of one
  teacher ODE trajectory**: $f_\theta(x_{t_{n+k}}, t_{n+k}) \approx f_{\theta^-}(\hat x_{t_n}, t_n)$, where
  $\hat x_{t_n}$ is *one* solver step of the guided teacher and $\theta^-$ is an EMA of $\theta$.
  The teacher only supplies the trajectory's *direction* at one point; the boundary condition
  $f(x, 0) = x$ anchors the end, so the one constant value $f$ can take along a trajectory is its
  clean end $x_0$. The student maps any point straight to $x_0$, and sampling in $n$ steps is
  "jump to $\hat x_0$, re-noise to the next timestep with fresh noise, jump again".
* **Consistency training** (Song et al. 2023, section 5) needs **no teacher at all**: the
  neighbouring point is the same data sample $x_0$ noised with the same $\epsilon$ to the
  adjacent level. So "consistency models" are not by definition distillation.

**Chosen here: LCM** (latent consistency distillation), because *one* training run gives *one*
U-Net that samples in 1, 2, 4 or 8 steps; progressive distillation would need a training round
and a 4.3 MB U-Net per step count, beyond this course's 15-minute and weight budgets. The guidance
scale the teacher uses by default is baked in: the student's step is one U-Net pass, the
teacher's guided step two. The student starts as a copy of the teacher. One training step, from
the library (`diffusionlab.distillation`) and the recipe:
''')

code(r'''
show_source(distillation.guided_ddim_solver_step)
show_source(distillation.consistency_target)
show_source(text2img_distilled.make_loss_fn)
''')

md(r'''
Sampling is multistep consistency sampling (Song et al. 2023, Algorithm 1; diffusers'
`LCMScheduler.step`), on timesteps taken from the 50-step skeleton the student was trained on:
''')

code(r'''
show_source(lcm_step)
print("timesteps the student visits:", {n: student.timesteps(n).tolist() for n in (1, 2, 4, 8)})
m = manifest
print(f"trained by `{m['command']}`: {m['steps']} steps of batch {m['batch_size']}, "
      f"{m['train_seconds'] / 60:.1f} min of training on {m['threads']} threads; "
      f"skipping step k = {m['skipping_step']}, guidance {m['guidance_scale']:g}, "
      f"target EMA {m['target_ema']}; consistency loss {m['loss_first_100']:.3f} (first 100 steps) "
      f"-> {m['loss_last_100']:.3f} (last 100)")
''')

md(r'''
The same prompts and the same initial noise, teacher (DDIM, guided: two passes per step) against
the student (one pass per step):
''')

code(r'''
grid_prompts = ["a large red circle at the top left", "a small blue square at the bottom right",
                "a large yellow triangle in the center", "a small green circle at the top",
                "a large purple square at the left", "a small red triangle at the bottom"]
rows = [("teacher DDIM, 4 steps (8 passes)", teacher(grid_prompts, num_inference_steps=4, seed=5, progress=False).images)]
for n in (1, 2, 4, 8):
    rows.append((f"student, {n} step{'s' if n > 1 else ''} ({n} pass{'es' if n > 1 else ''})",
                 student(grid_prompts, num_inference_steps=n, seed=5, progress=False).images))
rows.append(("teacher DDIM, 20 steps (40 passes)", teacher(grid_prompts, num_inference_steps=20, seed=5, progress=False).images))
fig, axes = plt.subplots(len(rows), len(grid_prompts), figsize=(1.5 * len(grid_prompts), 1.55 * len(rows)))
for r, (label, imgs) in enumerate(rows):
    for j in range(len(grid_prompts)):
        ax = axes[r, j]
        ax.imshow(((imgs[j].permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy())
        ax.set_xticks([]); ax.set_yticks([])
        if j == 0:
            ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        if r == 0:
            ax.set_title(grid_prompts[j].replace(" at the", "\nat the").replace(" in the", "\nin the"), fontsize=7)
plt.tight_layout()
plt.show()
''')
md(r'''
## 4. Quality against the number of U-Net evaluations

Computed once (`weights/text2img_distilled/sweep.json`, every row by `text2img_distilled.quality_point`
with the same protocol; the 4-step student row is re-checked live below): 256 fresh
full-caption prompts for prompt accuracy (the evaluator of lesson 09 judges every attribute the
prompt names) and 500 images against 500 real scenes for the course's FID (evaluator features,
lesson 09; its floor, real against real, is the dotted line), the same prompts and seeds for every
sampler. The teacher uses guidance 3 (two passes per step); the student one pass per step. DDIM and
DDPM use the shipped model's "leading" timestep spacing; DPM-Solver++ uses "trailing" spacing, without
which it fails at few steps (the next section shows why).
''')

code(r'''
by = {}
for r in sweep:
    by.setdefault(r["sampler"], []).append(r)
labels = {"ddpm": "teacher DDPM", "ddim": "teacher DDIM", "dpmsolver++": "teacher DPM-Solver++(2M), trailing",
          "lcm": "student (LCM)"}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for name, rs in by.items():
    x = [r["unet_passes"] for r in rs]
    axes[0].plot(x, [r["prompt_accuracy"] for r in rs], "o-", label=labels[name])
    axes[1].plot(x, [r["fid"] for r in rs], "o-", label=labels[name])
axes[1].axhline(sweep[0]["fid_floor"], color="gray", ls=":", label="FID floor (real vs real)")
for ax, yl in zip(axes, ("prompt accuracy", "FID (lower is better)")):
    ax.set_xscale("log"); ax.set_xlabel("U-Net evaluations per image"); ax.set_ylabel(yl)
axes[1].set_yscale("log")
axes[0].legend(fontsize=8); axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()
print(f"{'':26s} {'steps':>5s} {'passes':>6s} {'accuracy':>8s} {'FID':>7s}")
for name, rs in by.items():
    for r in rs:
        print(f"{labels[name]:26s} {r['steps']:5d} {r['unet_passes']:6d} {r['prompt_accuracy']:8.3f} "
              f"{r['fid']:7.1f}")
row = {(r["sampler"], r["steps"]): r for r in sweep}
''')

md(r'''
Why are the teacher's solvers poor at very few steps? Look at *where* they start and end. The
shipped model samples with Stable Diffusion 1.x's "leading" timestep spacing: at few steps the
first timestep is far from $T - 1$ (the sampler hands the U-Net pure noise and tells it that it is
a partly noisy latent), and the last one is $t = 1$, where the log-SNR $\lambda$ is huge, so the
step into it spans an enormous $h$ and DPM-Solver++'s second-order extrapolation overshoots.
"Trailing" timesteps (Lin et al. 2023, "Common diffusion noise schedules and sample steps are
flawed") start at $T - 1$ and end far from $0$, as the student's do. Same prompts, same noise:
''')

code(r'''
prompts_sp = text2img.eval_prompts(128)
trailing = copy.copy(teacher)
trailing.timestep_spacing, trailing.steps_offset = "trailing", 0
for n in (2, 4):
    print(f"{n}-step timesteps: leading {teacher.timesteps(n).tolist()}, trailing "
          f"{trailing.timesteps(n).tolist()}, student {student.timesteps(n).tolist()}")
spacing_acc = {}
for n in (2, 4):
    for name, pipe in (("leading", teacher), ("trailing", trailing)):
        for sampler in ("ddim", "dpmsolver++"):
            imgs = text2img.generate(pipe, prompts_sp, 3.0, num_inference_steps=n, sampler=sampler)
            spacing_acc[name, sampler, n] = evaluator.prompt_accuracy(imgs, prompts_sp)
            print(f"teacher {sampler:12s} {n} steps, {name:8s} spacing: prompt accuracy "
                  f"{spacing_acc[name, sampler, n]:.3f}")
assert spacing_acc["trailing", "ddim", 2] > spacing_acc["leading", "ddim", 2]
''')

md(r'''
Re-checked here, now, on the same prompts and seeds (prompt accuracy of the 4-step student and the
20-step DDIM teacher, FID of the student), and the wall time per image of both on this machine:
''')

code(r'''
prompts256 = text2img.eval_prompts(256)
imgs_s4 = text2img.generate(student, prompts256, 3.0, num_inference_steps=4)
acc_s4 = evaluator.prompt_accuracy(imgs_s4, prompts256)
fid_s4, floor = text2img.fid_against_real(student, evaluator, 3.0, num_inference_steps=4)
print(f"student, 4 steps: accuracy {acc_s4:.3f} (sweep {row[('lcm', 4)]['prompt_accuracy']:.3f}), "
      f"FID {fid_s4:.1f} (sweep {row[('lcm', 4)]['fid']:.1f})")
assert abs(acc_s4 - row[("lcm", 4)]["prompt_accuracy"]) <= 0.02      # the sweep still holds
assert abs(fid_s4 - row[("lcm", 4)]["fid"]) <= 0.05 * row[("lcm", 4)]["fid"]
''')

code(r'''
# NBVAL_IGNORE_OUTPUT
# (timings: they differ on every machine and every run)
timing = {}
for name, pipe, n in (("student, 4 steps", student, 4), ("teacher DDIM, 20 steps", teacher, 20)):
    pipe(prompts256[:8], num_inference_steps=n, progress=False)          # warm-up
    t0 = time.perf_counter()
    pipe(prompts256[:64], num_inference_steps=n, progress=False)
    timing[name] = (time.perf_counter() - t0) / 64
for name, sec in timing.items():
    print(f"{name:24s} {sec * 1e3:6.1f} ms per image (64 prompts in one call, here, now)")
ratio = timing["teacher DDIM, 20 steps"] / timing["student, 4 steps"]
print(f"the student is {ratio:.0f}x faster per image ({row[('ddim', 20)]['unet_passes']} U-Net passes "
      f"against {row[('lcm', 4)]['unet_passes']}, the teacher's on twice the batch)")
assert ratio > 3
''')

md(r'''
**A control: how much of this is the training?** The student *started* as a copy of the teacher,
and the consistency sampler alone (predict $\hat x_0$, re-noise, repeat; one unguided pass per
step) is already a few-step sampler. So the fair baseline for the distillation is the *untrained*
student: the teacher's U-Net in the student's pipeline, same prompts, same noise.
''')

code(r'''
untrained = copy.copy(student)
untrained.unet = teacher.unet                       # step 0 of the distillation
control = {}
for n in (1, 4):
    for name, pipe in (("untrained", untrained), ("student", student)):
        imgs = text2img.generate(pipe, prompts256, 3.0, num_inference_steps=n)
        fid_n, _ = text2img.fid_against_real(pipe, evaluator, 3.0, num_inference_steps=n)
        control[name, n] = (evaluator.prompt_accuracy(imgs, prompts256), fid_n)
for (name, n), (acc, fid_n) in control.items():
    print(f"{name:9s} {n} step{'s' if n > 1 else ' '}: prompt accuracy {acc:.3f}, FID {fid_n:.1f}")
gain1 = control["untrained", 1][1] / control["student", 1][1]
gain4 = control["untrained", 4][1] / control["student", 4][1]
display(Markdown(
    f"Training divided the 1-step FID by {gain1:.1f} and the 4-step FID by {gain4:.1f} "
    f"(accuracy {control['untrained', 1][0]:.2f} -> {control['student', 1][0]:.2f} at 1 step, "
    f"{control['untrained', 4][0]:.2f} -> {control['student', 4][0]:.2f} at 4). "
    f"{'Most of the 4-step result was already there before training: on this toy the teacher, used as a consistency model, is a decent 4-step sampler, and distillation mostly buys the 1- and 2-step regime and guidance in one pass.' if gain4 < 1.2 else 'The training, not the sampler, is what makes the few-step images good.'}"))
''')

md(r'''
## 5. Try it

The student at 1 to 8 steps against the teacher at any step count (same prompt, same noise).
Asking the student for more than 8 steps is refused with a message saying why (below).
''')

code(r'''
def show_steps(prompt="a large red circle at the top left", student_steps=4, teacher_steps=20, seed=0):
    s = student([prompt] * 4, num_inference_steps=student_steps, seed=seed, progress=False).images
    t = teacher([prompt] * 4, num_inference_steps=teacher_steps, seed=seed, progress=False).images
    show_images(torch.cat([s, t]), ncols=4, size=1.6,
                titles=[f"student, {student_steps} passes"] + [""] * 3
                + [f"teacher, {2 * teacher_steps} passes"] + [""] * 3)
    plt.tight_layout()
    plt.show()
''')

code(r'''
# NBVAL_IGNORE_OUTPUT
interact(show_steps, student_steps=IntSlider(value=4, min=1, max=8, continuous_update=False),
         teacher_steps=IntSlider(value=20, min=1, max=50, continuous_update=False),
         seed=(0, 20));
''')

code(r'''
show_steps()
''')

code(r'''
for bad in (dict(num_inference_steps=20), dict(guidance_scale=7.5), dict(negative_prompt="red")):
    try:
        student("a circle", progress=False, **bad)
    except ValueError as err:
        print(f"{bad}: ValueError: {err}\n")
    else:
        raise AssertionError(f"{bad} should be refused")
''')
md(r'''
### The target, and what the numbers say
''')

code(r'''
s4, t4, t20 = row[("lcm", 4)], row[("ddim", 4)], row[("ddim", 20)]
fid_ratio = s4["fid"] / t20["fid"]
hit_acc = s4["prompt_accuracy"] >= t20["prompt_accuracy"]
hit_fid = fid_ratio <= 1.5
display(Markdown(
    f"Target: the 4-step student at least as accurate as the 20-step DDIM teacher, with an FID within "
    f"1.5x of it, at about a tenth of the evaluations.\n\n"
    f"* accuracy: student **{s4['prompt_accuracy']:.3f}** with {s4['unet_passes']} passes, teacher "
    f"**{t20['prompt_accuracy']:.3f}** with {t20['unet_passes']} "
    f"({'met' if hit_acc else 'missed'}); the teacher with the student's budget of steps (DDIM, 4 steps, "
    f"{t4['unet_passes']} passes) reaches {t4['prompt_accuracy']:.3f};\n"
    f"* FID: student **{s4['fid']:.1f}**, teacher at 20 steps **{t20['fid']:.1f}**: ratio "
    f"**{fid_ratio:.2f}** ({'met' if hit_fid else 'missed'}); teacher at 4 steps {t4['fid']:.1f}; "
    f"floor {s4['fid_floor']:.1f};\n"
    f"* evaluations: {s4['unet_passes']} against {t20['unet_passes']} "
    f"(1/{t20['unet_passes'] // s4['unet_passes']}).\n\n"
    f"{'Both parts of the target are met.' if hit_acc and hit_fid else 'The target is not fully met: see the numbers above.'} "
    f"Read this with the scale in mind: the tiny teacher is already nearly perfect at its job "
    f"(a toy world of one shape per image), so accuracy saturates and FID separates the samplers more "
    f"than accuracy does. That the distilled student keeps up with a guided 40-pass teacher in 4 passes is "
    f"what LCM promises; the *size* of the gap on real Stable Diffusion is a different number."))
assert s4["prompt_accuracy"] > t4["prompt_accuracy"] - 0.02     # the student beats (or ties) the teacher at 4 steps
assert s4["fid"] < row[("ddim", 1)]["fid"]                       # and is far from the teacher's 1-step blur
''')

md(r'''
## In an interview

**Q (D31-Q18): What is distillation in diffusion? (and D31-Q6: why is diffusion slow, and what
fixes it?)**

*In 30 seconds:* sampling costs (number of U-Net passes) x (cost of a pass). Better ODE solvers
such as DPM-Solver++ cut the passes from about 50 to 10-20 with no training. Distillation trains
a student to take big steps: progressive distillation makes one student step match two teacher
steps, halving repeatedly; consistency distillation (LCM) teaches a network to map any point of
the teacher's ODE trajectory straight to its end, so 1-4 steps suffice, and guidance can be baked
in.
''')

code(r'''
display(Markdown(
    f"*In depth, with this lesson's numbers:* on the tiny SD the 4-step LCM student scored "
    f"{s4['prompt_accuracy']:.3f} prompt accuracy and FID {s4['fid']:.1f} with {s4['unet_passes']} U-Net "
    f"passes; the guided DDIM teacher needs {t20['unet_passes']} passes for {t20['prompt_accuracy']:.3f} and "
    f"FID {t20['fid']:.1f}, and with 4 steps ({t4['unet_passes']} passes) gets FID {t4['fid']:.1f}. "
    f"Guidance distillation alone halves the cost: the student's step is one pass, the guided teacher's two. "
    f"On the solver side, DPM-Solver++(2M) is an exponential integrator in the data prediction whose "
    f"first-order form *is* DDIM; its multistep second-order correction reuses the previous step's "
    f"prediction, so it costs no extra pass (on the Gaussian toy its error fell as steps^-"
    f"{slope['dpmsolver++']:.1f} against DDIM's steps^-{slope['ddim']:.1f}). On the per-pass side, one pass "
    f"of this U-Net is {gflop:.2f} GFLOP at batch 32 and runs far below the machine's matmul rate "
    f"(many small operations); channels-last and bf16 gave small, machine-dependent gains at best and change "
    f"the outputs (bf16 visibly), and torch.compile costs minutes of compiling (section 2).\n\n"
    f"What the seed's answer gets wrong or leaves out: (1) \"mimicking the teacher's trajectory\" "
    f"describes progressive distillation's target (two teacher steps = one student step) loosely; a "
    f"consistency model matches *itself* at neighbouring points of a trajectory (the teacher gives one "
    f"solver step), anchored by f(x, 0) = x; (2) consistency models can be trained with **no teacher** "
    f"(consistency training), so they are not by definition distillation; (3) distillation usually "
    f"also removes classifier-free guidance's second pass (Meng et al. 2023; LCM's guided ODE), a 2x "
    f"that is easy to forget; (4) a few-step student gives up things: here it has one fixed guidance scale, "
    f"no negative prompt, and more steps do not converge to the teacher (each step re-noises); "
    f"adversarial distillation (SDXL-Turbo, Sauer et al. 2023) is the other modern family; (5) for the "
    f"\"slow\" question: the remedies act on different factors, solvers and distillation on the *number* "
    f"of passes, batching, precision and compilation on the *cost* of a pass, and a latent space (lesson 10) "
    f"on both."))
''')

md(r'''
## Exercise

`exercises/ex15_fast_sampling.py`: write a DPM-Solver++(2M) step (and check that its first-order
form is DDIM), and the latent consistency distillation target (the guided teacher's DDIM step,
then the target network, with the boundary condition). Grade it with
`python -m diffusionlab grade 15`.
''')

nb = nbf.v4.new_notebook()
nb["cells"] = cells
nb["metadata"] = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                  "language_info": {"name": "python"}}
nbf.write(nb, "notebooks/15_distillation.ipynb")
print("wrote", len(cells), "cells")
