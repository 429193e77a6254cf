import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = []


def md(s):
    cells.append(new_markdown_cell(s.strip("\n")))


def code(s, tags=None):
    c = new_code_cell(s.strip("\n"))
    if tags:
        c.metadata["tags"] = tags
    cells.append(c)


md(r'''
# 07 · Diffusion vs GANs, measured

**Runtime:** under a minute on 2 free CPU cores (a toy GAN is trained here in seconds; the
other models are shipped: `gan_toy25`, `gan_shapes` and the pixel U-Net of lesson 06). Other
programs busy on the same cores can make it several times slower.

> **D31-Q1. How does Diffusion differ from GANs?**
> *   **GAN**: Minimax game between Generator and Discriminator. One-shot generation. Unstable (Mode Collapse).
> *   **Diffusion**: Iterative denoising process. Maximizes Likelihood (ELBO). Stable training. Slower inference.

Every adjective in that answer is a claim we can measure. Here a GAN and a diffusion model of
**the same size**, trained for **about the same time**, meet on the same data: the 25-mode
grid (the classic trap for GANs) and the 32 x 32 shapes. We count modes, score sample
quality, train several seeds to see how stable each is, count what a sample costs, and show
what each gives that the other cannot: one-pass sampling and a smooth latent space for the
GAN, a likelihood bound for diffusion. Lesson 03 derived the ELBO half of the seed's answer;
this lesson measures the rest.
''')

code(r'''
import math
import time

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display
from ipywidgets import IntSlider, interact
from torch.utils.flop_counter import FlopCounterMode

from diffusionlab.checkpoints import load_checkpoint, read_manifest, weights_path
from diffusionlab.data.toy2d import sample_toy, toy_modes
from diffusionlab.gan_losses import discriminator_loss, generator_loss, r1_penalty
from diffusionlab.gan_training import fit_gan, generate
from diffusionlab.metrics.likelihood import ddpm_bound, mixture_nll
from diffusionlab.metrics.evaluator import ShapesEvaluator
from diffusionlab.nn.gan import ConvGenerator, ToyGenerator, num_parameters
from diffusionlab.nn.mlp import ToyDenoiser
from diffusionlab.nn.unet import UNet
from diffusionlab.recipes import gan_shapes, gan_toy25
from diffusionlab.schedules import make_schedule
from diffusionlab.viz import show_clouds, show_images, show_source

torch.set_num_threads(2)
torch.manual_seed(0)

toy_dir, shapes_dir = weights_path("gan_toy25"), weights_path("gan_shapes")
toy_manifest, shapes_manifest = read_manifest(toy_dir), read_manifest(shapes_dir)
G_toy = load_checkpoint(ToyGenerator, toy_dir)
denoiser = load_checkpoint(ToyDenoiser, toy_dir / "denoiser")
G_img = load_checkpoint(ConvGenerator, shapes_dir)
unet = load_checkpoint(UNet, weights_path("unet_pixel")).eval()
schedule = make_schedule("linear")
evaluator = ShapesEvaluator.pretrained()

sizes = {"toy GAN generator": num_parameters(G_toy), "toy denoiser": num_parameters(denoiser),
         "shapes GAN generator": num_parameters(G_img), "pixel U-Net (lesson 06)": num_parameters(unet)}
for name, n in sizes.items():
    print(f"{name:26s}{n:>9,d} parameters")
assert abs(sizes["toy GAN generator"] / sizes["toy denoiser"] - 1) < 0.02
assert abs(sizes["shapes GAN generator"] / sizes["pixel U-Net (lesson 06)"] - 1) < 0.02
''')

md(r'''
## 1. Two ways to learn a sampler

**A GAN** (Goodfellow et al. 2014) trains a generator $G$ that turns a latent code
$z \sim \mathcal N(0, I)$ into a sample in **one** network evaluation, against a discriminator
$D$ that tells real from generated (its output is a logit; $\sigma(D(x))$ is "probability real").
They play the minimax game of eq. 1:

$$\min_G \max_D \; \mathbb E_{x}\big[\log \sigma(D(x))\big] + \mathbb E_{z}\big[\log\big(1 - \sigma(D(G(z)))\big)\big].$$

$D$ minimises the binary cross-entropy $L_D$; $G$, in practice, minimises the **non-saturating**
loss $-\mathbb E_z[\log \sigma(D(G(z)))]$ instead of eq. 1's $\mathbb E_z[\log(1-\sigma(D(G(z))))]$
(the paper's own section 3): both push $D(G(z))$ up, but the second has no gradient exactly when
$G$ is bad. Written with softplus (never $\log 0$):
''')

code(r'''
show_source(discriminator_loss)
show_source(generator_loss)
''')

code(r'''
# sanity check (algebra, not an experiment): the gradient G receives through each loss
logits = torch.tensor([-8.0, -4.0, 0.0, 2.0], requires_grad=True)
grads = {}
for saturating in (False, True):
    logits.grad = None
    generator_loss(logits, saturating=saturating).backward()
    grads[saturating] = (logits.grad * len(logits)).abs()        # per sample
print(f"{'D(G(z)) logit':>14}{'non-saturating':>16}{'saturating':>12}")
for a, ns, sat in zip(logits.tolist(), grads[False].tolist(), grads[True].tolist()):
    print(f"{a:14.0f}{ns:16.4f}{sat:12.4f}")
assert grads[True][0] < 1e-3 < 0.99 < grads[False][0]    # rejected samples: no signal vs full signal
''')

md(r'''
A GAN has no loss that goes down as it gets better: $D$'s and $G$'s losses are two sides of a
game whose target moves with every step. The literature's **stabilizers** are ways to keep that
game from oscillating or collapsing. The ones used here, and nothing else:

* Adam with $\beta_1 = 1/2$ (DCGAN, Radford et al. 2016): a short memory for a moving target;
* the **R1 penalty** on the toy (Mescheder et al. 2018, eq. 9): $\frac{\gamma}{2}\,\mathbb E_x\|\nabla_x D(x)\|^2$
  on real data, which damps the rotation around the equilibrium;
* **spectral normalization** of every layer of the image discriminator (Miyato et al. 2018),
  which bounds its Lipschitz constant;
* an **EMA of the generator's weights**, which is what is sampled (the diffusion models use one too).

**A diffusion model** (lessons 01-05) is trained by plain regression: add noise to a real sample
at a random level $t$, ask the network for the noise, $L_\text{simple} = \|\epsilon - \epsilon_\theta(x_t, t)\|^2$.
The target never moves. Sampling runs the network once per reverse step: 50 DDIM steps here for
the toy, 20 for the images.
''')

code(r'''
show_source(r1_penalty)
show_source(fit_gan, lines=(37, 57))
''')

md(r'''
## 2. Watch a GAN learn the 25-mode grid

The 25 Gaussians sit on a 5 x 5 grid, each far narrower than the gaps between them (the
sizes are printed below): the generator must put its mass on 25 small islands and nothing in
between. Below, the toy GAN of the
shipped recipe (same networks, same optimiser, same R1 weight $\gamma$) trains for a few hundred
steps from scratch, with snapshots. Two numbers follow it: **modes covered** (modes that
receive at least one in a hundred of 2000 samples close to their centre) and the **share of samples near
a mode** (within 3 standard deviations): the first is coverage, the second quality.
''')

code(r'''
LIVE_STEPS, SNAPSHOTS = 300, (0, 50, 150, 300)
spacing = float((toy_modes("25gaussians")[1] - toy_modes("25gaussians")[0]).norm())
print(f"modes {spacing:.2f} apart, std 0.05 each; 'covered': >= 1% of the samples within 0.3 of the "
      f"centre; 'near': within 3 std = 0.15; R1 gamma = {gan_toy25.GAN['r1_gamma']}, "
      f"lr {gan_toy25.GAN['lr']}, Adam betas {gan_toy25.GAN['betas']}")
torch.manual_seed(0)
snap = {}
live_G = gan_toy25.make_generator()


def keep(step, d, g):
    if step + 1 in SNAPSHOTS:
        snap[step + 1] = generate(live_G, 2000, seed=1)
        live_G.train()


snap[0] = generate(live_G, 2000, seed=1)
live_G.train()
live = fit_gan(live_G, gan_toy25.ToyDiscriminator(hidden=gan_toy25.GAN["d_hidden"]),
               lambda s: sample_toy("25gaussians", 256, seed=5_000_000 + s), LIVE_STEPS,
               batch_size=256, lr_g=gan_toy25.GAN["lr"], lr_d=gan_toy25.GAN["lr"],
               betas=gan_toy25.GAN["betas"], r1_gamma=gan_toy25.GAN["r1_gamma"], seed=0,
               progress=False, callback=keep)
live_scores = {s: gan_toy25.toy_scores(x) for s, x in snap.items()}
show_clouds([sample_toy("25gaussians", 2000, seed=2)] + [snap[s] for s in SNAPSHOTS],
            titles=["data"] + [f"step {s}: {live_scores[s]['modes_covered']} modes, "
                               f"{live_scores[s]['near_mode_share']:.0%} near"
                               for s in SNAPSHOTS], lim=2.0, size=2.4)
plt.show()
print("modes covered by step:", {s: v["modes_covered"] for s, v in live_scores.items()})
print("sliced W1 / floor by step:", {s: v["sw_ratio"] for s, v in live_scores.items()})
assert live_scores[LIVE_STEPS]["sw_ratio"] < live_scores[0]["sw_ratio"] / 2     # it learns the grid
''')

md(r'''
## 3. Same size, same time, several seeds: the 25-mode grid

`python -m diffusionlab train gan_toy25` trains both models on the grid from scratch for
several seeds each, with everything but the seed fixed, and records every run in its manifest.
The GAN takes fewer steps than the denoiser because its step costs more (two networks, two
updates, the R1 gradient); the step counts were chosen to give about equal wall times (the
measured times are printed below, and they are not exact: other jobs shared the cores). The shipped
seed-0 models are re-scored here; the other seeds come from the manifest.
''')

code(r'''
runs = toy_manifest["per_seed"]
print(f"GAN: {toy_manifest['gan_steps']} steps, diffusion: {toy_manifest['diffusion_steps']} steps "
      f"(wall time per run, seconds: GAN {[r['wall_time_s'] for r in runs['gan']]}, "
      f"diffusion {[r['wall_time_s'] for r in runs['diffusion']]}; "
      f"{toy_manifest['threads']} threads, see the manifest)")
print(f"\n{'seed':>4} | {'GAN modes':>9} {'near':>6} {'SW/floor':>9} | {'diffusion modes':>15} {'near':>6} {'SW/floor':>9}")
for g, d in zip(runs["gan"], runs["diffusion"]):
    print(f"{g['seed']:4d} | {g['modes_covered']:6d}/25 {g['near_mode_share']:6.1%} {g['sw_ratio']:9.1f} |"
          f" {d['modes_covered']:12d}/25 {d['near_mode_share']:6.1%} {d['sw_ratio']:9.1f}")
modes = {k: [r["modes_covered"] for r in v] for k, v in runs.items()}
near = {k: [r["near_mode_share"] for r in v] for k, v in runs.items()}
sw = {k: [r["sw_ratio"] for r in v] for k, v in runs.items()}
''')

code(r'''
gan_x = generate(G_toy, 2000, seed=1)
start = time.perf_counter()
diff_x = gan_toy25.diffusion_sample(denoiser)
headline = {"gan": gan_toy25.toy_scores(gan_x), "diffusion": gan_toy25.toy_scores(diff_x)}
for k in ("gan", "diffusion"):                      # the shipped seed, re-measured = its manifest
    shipped = toy_manifest["scores"][k]
    assert headline[k]["modes_covered"] == shipped["modes_covered"], k
    assert abs(headline[k]["near_mode_share"] - shipped["near_mode_share"]) < 0.01, k
show_clouds([sample_toy("25gaussians", 2000, seed=2), gan_x, diff_x],
            titles=["data", f"GAN (1 pass): {headline['gan']['modes_covered']} modes, "
                            f"{headline['gan']['near_mode_share']:.0%} near",
                    f"diffusion (50 passes): {headline['diffusion']['modes_covered']} modes, "
                    f"{headline['diffusion']['near_mode_share']:.0%} near"], lim=2.0, size=3.0)
plt.show()
''')

code(r'''
every = toy_manifest["curve_every"]
fig, axes = plt.subplots(1, 3, figsize=(12, 3.0))
for r in runs["gan"]:
    x = [every * i for i in range(len(r["d_loss_curve"]))]
    axes[0].plot(x, r["d_loss_curve"], lw=1, label=f"seed {r['seed']}")
    axes[1].plot(x, r["g_loss_curve"], lw=1, label=f"seed {r['seed']}")
for r in runs["diffusion"]:
    axes[2].plot([every * i for i in range(len(r["loss_curve"]))], r["loss_curve"], lw=1,
                 label=f"seed {r['seed']}")
for ax, title in zip(axes, ("GAN: discriminator loss L_D", "GAN: generator loss L_G",
                            "diffusion: L_simple")):
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
axes[0].axhline(2 * math.log(2), color="gray", ls=":", lw=1)
axes[1].axhline(math.log(2), color="gray", ls=":", lw=1)
plt.tight_layout()
plt.show()


def tail_wobble(curve):
    """Std over mean of the second half of a loss curve: how much it still moves."""
    t = torch.tensor(curve[len(curve) // 2:])
    return float(t.std() / t.mean().abs())


wobble = {"GAN generator": [tail_wobble(r["g_loss_curve"]) for r in runs["gan"]],
          "diffusion": [tail_wobble(r["loss_curve"]) for r in runs["diffusion"]]}
for k, v in wobble.items():
    print(f"{k:14s} loss, second half, std/mean per seed: {[round(x, 2) for x in v]}")
''')

code(r'''
spread = {k: max(v) - min(v) for k, v in near.items()}
time_ratio = sum(r["wall_time_s"] for r in runs["gan"]) / sum(r["wall_time_s"] for r in runs["diffusion"])
display(Markdown(
    f"**What these runs did.** Diffusion covered **{min(modes['diffusion'])}-{max(modes['diffusion'])}** "
    f"of the 25 modes across {len(modes['diffusion'])} seeds, with {min(near['diffusion']):.0%}-"
    f"{max(near['diffusion']):.0%} of its samples near a mode; the GAN covered "
    f"**{min(modes['gan'])}-{max(modes['gan'])}** modes, with {min(near['gan']):.0%}-{max(near['gan']):.0%} "
    f"near a mode. Spread of the near-mode share across seeds: GAN {spread['gan']:.2f}, diffusion "
    f"{spread['diffusion']:.2f}. Per seed, GAN modes: {modes['gan']}; diffusion modes: {modes['diffusion']}. "
    f"The GAN's training took {time_ratio:.1f}x the diffusion model's wall time."))
assert min(modes["diffusion"]) >= 24                          # diffusion: every seed, (nearly) every mode
''')

md(r'''
## 4. What a sample costs

A GAN sample is one generator pass. A diffusion sample is one network pass per reverse step.
Counting floating-point operations (with `torch.utils.flop_counter`, so the numbers do not
depend on the machine) makes the gap exact; the wall time follows it.
''')

code(r'''
class Counted(torch.nn.Module):
    """Wrap a network and count its evaluations."""

    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, 0

    def forward(self, *args):
        self.calls += 1
        return self.net(*args)


def flops(fn):
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


counted = Counted(denoiser)
gan_toy25.diffusion_sample(counted, n=100)
cost = {
    "toy GAN": (1, flops(lambda: generate(G_toy, 100)) / 100),
    "toy diffusion, DDIM 50": (counted.calls, flops(lambda: gan_toy25.diffusion_sample(denoiser, n=100)) / 100),
    "shapes GAN": (1, flops(lambda: generate(G_img, 4)) / 4),
    "shapes diffusion, DDIM 20": (gan_shapes.DIFFUSION_STEPS,
                                  flops(lambda: gan_shapes.diffusion_samples(n=4)) / 4),
}
print(f"{'':28s}{'network passes':>15}{'MFLOP per sample':>18}")
for k, (passes, f) in cost.items():
    print(f"{k:28s}{passes:15d}{f / 1e6:18.2f}")
ratio_toy = cost["toy diffusion, DDIM 50"][1] / cost["toy GAN"][1]
ratio_img = cost["shapes diffusion, DDIM 20"][1] / cost["shapes GAN"][1]
print(f"diffusion / GAN compute per sample: toy {ratio_toy:.0f}x, shapes {ratio_img:.0f}x")
assert counted.calls == 50 and ratio_toy > 30 and ratio_img > 20
''')

code(r'''
# NBVAL_IGNORE_OUTPUT
# wall times depend on the machine: printed, not compared by the tests


def seconds(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


t_gan = seconds(lambda: generate(G_img, 16))
t_diff = seconds(lambda: gan_shapes.diffusion_samples(n=16), repeat=1)
print(f"16 shapes images: GAN {t_gan * 1000:.0f} ms, diffusion (20 steps) {t_diff:.1f} s "
      f"({t_diff / t_gan:.0f}x), {torch.get_num_threads()} threads")
''')

md(r'''
## 5. Images: the shapes GAN against the pixel U-Net of the same size

`python -m diffusionlab train gan_shapes` trains a DCGAN-style GAN whose generator has as many
parameters as lesson 06's pixel U-Net (`unet_pixel`, epsilon prediction, the same shapes),
several seeds, and scores each with the course's FID (the evaluator's features, lesson 09;
read it against its floor, real scenes against fresh real scenes at the same n) and with **class
coverage**, the image analogue of counting modes: how many of the 15 (shape, colour) classes get
at least one in a hundred of the samples (`metrics.coverage`). The U-Net's samples were drawn once by the recipe
(500 images x 20 DDIM steps: minutes on a CPU, so not here); the GAN's are drawn again here.
''')

code(r'''
gan_images = generate(G_img, gan_shapes.FID_IMAGES, seed=gan_shapes.SAMPLE_SEED)
here = gan_shapes.image_scores(gan_images, evaluator)
ref = shapes_manifest["diffusion_reference"]
assert here["classes_covered"] == shapes_manifest["scores"]["classes_covered"]
assert abs(here["fid"] - shapes_manifest["scores"]["fid"]) < 0.05 * shapes_manifest["scores"]["fid"]
print(f"{'':34s}{'FID':>7}{'floor':>7}{'classes':>9}{'imbalance':>11}")
print(f"{'GAN (shipped seed, re-measured)':34s}{here['fid']:7.1f}{here['fid_floor']:7.1f}"
      f"{here['classes_covered']:6d}/15{here['class_imbalance']:11.2f}")
for r in shapes_manifest["per_seed"]:
    print(f"{'GAN seed ' + str(r['seed']) + ' (manifest)':34s}{r['fid']:7.1f}{r['fid_floor']:7.1f}"
          f"{r['classes_covered']:6d}/15{r['class_imbalance']:11.2f}")
print(f"{'diffusion, unet_pixel (manifest)':34s}{ref['fid']:7.1f}{ref['fid_floor']:7.1f}"
      f"{ref['classes_covered']:6d}/15{ref['class_imbalance']:11.2f}")
print(f"\ntraining: GAN {shapes_manifest['steps']} steps x batch {shapes_manifest['batch_size']}, "
      f"about {shapes_manifest['per_seed'][0]['wall_time_s']:.0f} s per seed "
      f"({shapes_manifest['threads']} threads); unet_pixel {ref['train_steps']} steps x batch "
      f"{ref['train_batch_size']}, {ref['train_wall_time_s']:.0f} s ({ref['train_threads']} thread)")
''')

code(r'''
diff_images = gan_shapes.diffusion_samples(n=8)
fig, axes = plt.subplots(2, 8, figsize=(10, 2.8))
show_images(gan_images[:8], axes=axes[0])
show_images(diff_images, axes=axes[1])
axes[0][0].set_ylabel("GAN", fontsize=9)
axes[1][0].set_ylabel("diffusion", fontsize=9)
fig.suptitle("same size: one generator pass (top) vs 20 U-Net passes (bottom)", fontsize=10)
plt.show()
''')

code(r'''
gan_fids = [r["fid"] for r in shapes_manifest["per_seed"]]
gan_classes = [r["classes_covered"] for r in shapes_manifest["per_seed"]]
if max(gan_fids) < ref["fid"]:
    verdict = "every GAN seed scores a better (lower) FID than the diffusion model"
elif min(gan_fids) > ref["fid"]:
    verdict = "every GAN seed scores a worse (higher) FID than the diffusion model"
else:
    verdict = "the diffusion model's FID falls inside the range of the GAN's seeds"
display(Markdown(
    f"On the shapes the GAN's FID over its {len(gan_fids)} seeds is **{min(gan_fids):.1f}-"
    f"{max(gan_fids):.1f}** (floor {here['fid_floor']:.1f}) and the same-size pixel U-Net's is "
    f"**{ref['fid']:.1f}**: {verdict}. Classes covered: GAN {min(gan_classes)}-{max(gan_classes)} "
    f"of 15, diffusion {ref['classes_covered']}. Training budgets differ: the GAN trained "
    f"{shapes_manifest['steps']} steps per seed, about "
    f"{shapes_manifest['per_seed'][0]['wall_time_s'] / 60:.0f} min each on {shapes_manifest['threads']} "
    f"threads; the U-Net {ref['train_steps']} steps, "
    f"{ref['train_wall_time_s'] / 60:.0f} min on {ref['train_threads']} thread. Both are small "
    f"and short runs: read this as what each method does with a few minutes of CPU, not as a "
    f"ranking of the methods at scale."))
''')

md(r'''
## 6. What only the GAN gives: one pass, and a smooth latent space

$G$ is a smooth function of $z$, so walking from $z_a$ to $z_b$ walks through images. Below, 9
points on the great circle between two codes (spherical interpolation, because Gaussian codes
live near a sphere of radius $\sqrt{d}$). Smoothness, measured: the pixel change between
neighbouring frames against the change from the first frame to the last. A smooth path takes
many small steps; a path that jumps puts most of its change in one step.
''')

code(r'''
def slerp(a, b, w):
    omega = torch.arccos((a / a.norm() * b / b.norm()).sum().clamp(-1, 1))
    return (torch.sin((1 - w) * omega) * a + torch.sin(w * omega) * b) / torch.sin(omega)


def interpolate(seed_a=0, seed_b=1, frames=9):
    za = torch.randn(128, generator=torch.Generator().manual_seed(seed_a))
    zb = torch.randn(128, generator=torch.Generator().manual_seed(seed_b))
    z = torch.stack([slerp(za, zb, w) for w in torch.linspace(0, 1, frames)])
    return generate(G_img, 0, z=z)


def show_interpolation(seed_a=0, seed_b=1):
    x = interpolate(seed_a, seed_b)
    steps = (x[1:] - x[:-1]).abs().mean(dim=(1, 2, 3))
    show_images(x, titles=[f"{i / 8:.2f}" for i in range(9)], size=1.1)
    plt.show()
    return steps


pairs = [(0, 1), (2, 3), (4, 5), (6, 7)]
largest_share = []
for a, b in pairs:
    x = interpolate(a, b)
    steps = (x[1:] - x[:-1]).abs().mean(dim=(1, 2, 3))
    largest_share.append(float(steps.max() / steps.sum()))
print("largest single step / whole path, per pair:", [round(s, 2) for s in largest_share],
      "(1/8 = perfectly even steps, 1 = one jump)")
assert max(largest_share) < 0.6
''')

code(r'''
# NBVAL_IGNORE_OUTPUT
interact(show_interpolation, seed_a=IntSlider(value=0, min=0, max=50, continuous_update=False),
         seed_b=IntSlider(value=1, min=0, max=50, continuous_update=False));
''')

code(r'''
show_interpolation(0, 1);
''')

md(r'''
Diffusion models have a latent space too, but a less convenient one: DDIM (lesson 05) maps
$x_T$ to an image deterministically, so one can interpolate noise the same way, at 20-50 network
passes per frame, and the noise has the image's own size (3 x 32 x 32 here, not a compact code).

## 7. What only diffusion gives: a likelihood bound

A diffusion model comes with the variational bound of DDPM eq. 5 (lesson 03):
$-\log p_\theta(x_0) \le L_T + \sum_{t \ge 2} L_{t-1} + L_0$, a number **per sample**, computed
from the same network. On the 25-mode toy we know the true density, so we can check it: on
average the bound must sit above the true negative log-likelihood (sanity check: if it did
not, the bound would be computed wrongly), and points between the modes, which the data never
produces, must get a much worse bound.
''')

code(r'''
show_source(ddpm_bound)
''')

code(r'''
real_pts = sample_toy("25gaussians", 500, seed=77)
centres = toy_modes("25gaussians")
between = (centres[:-1] + centres[1:])[torch.arange(24) % 5 != 4] / 2       # midpoints of row neighbours
g = torch.Generator().manual_seed(0)
bound_real = ddpm_bound(denoiser, schedule, real_pts, generator=g, num_terms=100)["total"]
bound_between = ddpm_bound(denoiser, schedule, between, generator=g, num_terms=100)["total"]
true_real = mixture_nll(real_pts, centres, 0.05)
true_between = mixture_nll(between, centres, 0.05)
print(f"{'nats per point':30s}{'bound (diffusion)':>18}{'true -log p':>13}")
print(f"{'real points (500)':30s}{bound_real.mean():18.2f}{true_real.mean():13.2f}")
print(f"{'midpoints between modes (20)':30s}{bound_between.mean():18.2f}{true_between.mean():13.2f}")
assert bound_real.mean() > true_real.mean() - 0.1          # sanity check: it is an upper bound
assert bound_between.mean() > bound_real.mean() + 5        # off the data: far less likely
''')

code(r'''
gap = float(bound_real.mean() - true_real.mean())
display(Markdown(
    f"The bound is **{gap:.2f} nats** per point above the true negative log-likelihood on real "
    f"points: loose (part of it is DDPM's fixed reverse variance; Improved DDPM, Nichol & Dhariwal "
    f"2021, learns the variances to tighten it), but a bound, and it rates points between the "
    f"modes **{float(bound_between.mean() - bound_real.mean()):.0f} nats** less likely than real "
    f"ones: a usable density score for anomaly detection or model comparison. A GAN has nothing of "
    f"the kind: its samples are $G(z)$ for an 8-dimensional $z$, and the density of $G(z)$ is not "
    f"available (no inverse, no Jacobian; in image space it does not even exist, because a low-"
    f"dimensional code maps onto a thin manifold). $D$'s output is no substitute: at the game's "
    f"equilibrium it says 1/2 everywhere."))
''')

md(r'''
## In an interview

**Q (D31-Q1): How does diffusion differ from GANs?**

*In 30 seconds:* a GAN trains a generator against a discriminator (a minimax game) and samples
in one network pass; a diffusion model is trained by plain regression (predict the noise added
to real data) and samples by running the network once per denoising step. So GANs are fast to
sample but their training is a game that can oscillate or drop modes; diffusion trains like
supervised learning, covers the data, gives a likelihood bound, and pays with tens of passes
per sample.
''')

code(r'''
display(Markdown(
    f"*In depth,* with this lesson's numbers:\n\n"
    f"* **Mode coverage.** On the 25-mode grid the diffusion seeds covered {min(modes['diffusion'])}-"
    f"{max(modes['diffusion'])} modes, the GAN seeds {min(modes['gan'])}-{max(modes['gan'])} "
    f"(per seed: {modes['gan']}). \"GANs mode-collapse\" is a tendency, not a law: with "
    f"stabilizers (R1, spectral norm, a small beta_1, an EMA) GANs can cover such toys and generate "
    f"excellent images (StyleGAN); the table says how far these short runs got.\n"
    f"* **Stability.** The GAN's losses are a game and do not settle (second-half wobble of the "
    f"generator loss {min(wobble['GAN generator']):.2f}-{max(wobble['GAN generator']):.2f} against "
    f"{min(wobble['diffusion']):.2f}-{max(wobble['diffusion']):.2f} for L_simple); the spread of "
    f"the near-mode share across seeds was {spread['gan']:.2f} for the GAN and "
    f"{spread['diffusion']:.2f} for diffusion.\n"
    f"* **Sample quality.** On the shapes, GAN FID {min(gan_fids):.1f}-{max(gan_fids):.1f} against "
    f"{ref['fid']:.1f} for the same-size U-Net (floor {here['fid_floor']:.1f}): it depends on the "
    f"data and the budget. At scale diffusion overtook GANs on FID (Dhariwal & Nichol 2021, "
    f"\"Diffusion models beat GANs\") while GANs stayed far ahead on speed.\n"
    f"* **Cost.** One pass against one per step: {ratio_toy:.0f}x the compute per toy sample, "
    f"{ratio_img:.0f}x per image (section 4). Fast solvers and distillation (lesson 15) cut the "
    f"steps; consistency models and adversarial distillation borrow the GAN's one-step sampling.\n"
    f"* **What the seed's answer gets wrong or leaves out.** Diffusion does not maximise the "
    f"likelihood: L_simple is the ELBO with its weights dropped (lesson 03), and the bound is "
    f"loose ({gap:.2f} nats per point above the truth here, section 7). \"Stable\" is about the "
    f"loss, not free: diffusion still needs a tuned schedule and an EMA. And the GAN has things "
    f"diffusion lacks: a compact, smooth latent space (section 6), the reason GAN inversion and "
    f"latent editing were popular, and a discriminator that is a learned perceptual loss (used "
    f"today to train SD's VAE and in adversarial distillation)."))
''')

md(r'''
**Exercise:** `exercises/ex07_gan_losses.py`: the discriminator loss, the two generator losses,
the R1 penalty, and mode counting. Grade it with `python -m diffusionlab grade 07`.
''')
nb = new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
nb.metadata["language_info"] = {"name": "python"}
nbformat.write(nb, "notebooks/07_diffusion_vs_gans.ipynb")
print("written", len(cells), "cells")
