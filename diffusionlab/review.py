"""The interview review: all 30 seed questions, the course's answers and the numbers behind them.

One entry per question (``QUESTIONS``, in seed order): the seed's question and answer verbatim
(``SEEDS``, copied from the two interview sheets the course is built from), the course's short
answer (at most 80 words: what a person can say in 30 seconds), the lessons and exercises that
teach it, and an ``Evidence``: the measured number that backs the answer, read from a shipped
model's ``manifest.json`` or computed live in well under a second. A number is never retyped
here: ``Evidence.text()`` formats it from its source every time it is shown.

Used by lesson 18 (``notebooks/18_interview_review.ipynb``), the README's question map
(``python -m diffusionlab questions --write-readme``) and the static site
(``python -m diffusionlab site``).

Lessons still being written carry ``pending(...)`` evidence: after they are merged, replace
that one line with a ``manifest(...)`` (or ``live(...)``) spec and rerun
``python -m diffusionlab questions --write-readme``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .checkpoints import WEIGHTS_DIR

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO / "notebooks"
EXERCISE_DIR = REPO / "exercises"
MAX_SHORT_WORDS = 80
TOPICS = ("foundations", "sampling", "architecture", "conditioning", "latent space",
          "fine-tuning", "limits and SDXL")


# ----------------------------------------------------------------------------- evidence
@dataclass(frozen=True)
class Evidence:
    """What backs a short answer.

    kind "manifest": ``template`` formatted with values read from shipped manifests
    (``keys``: name -> "model/key/subkey", the first segment naming ``weights/<model>``);
    kind "live": ``template`` formatted with the dict ``compute()`` returns;
    kind "pending": a lesson still being written (``note`` says which); kind "none": nothing
    in this course measures it (``note`` says why).
    """

    kind: str
    template: str = ""
    keys: dict = field(default_factory=dict)
    compute: Callable[[], dict] | None = None
    note: str = ""

    @property
    def resolved(self) -> bool:
        return self.kind in ("manifest", "live")

    def values(self) -> dict:
        if self.kind == "manifest":
            return {name: read_key(path) for name, path in self.keys.items()}
        if self.kind == "live":
            return self.compute()
        return {}

    def text(self) -> str:
        """The measured claim, formatted from its source now (or the pending note)."""
        if not self.resolved:
            return self.note
        return self.template.format(**self.values())

    def source(self) -> str:
        """Where the number comes from: manifest files, or the function computing it."""
        if self.kind == "manifest":
            models = dict.fromkeys(p.split("/", 1)[0] for p in self.keys.values())
            return ", ".join(f"weights/{m}/manifest.json" for m in models)
        if self.kind == "live":
            return f"computed live: diffusionlab.review.{self.compute.__name__}"
        return "lesson in progress" if self.kind == "pending" else "not measured in this course"


def manifest(template: str, **keys: str) -> Evidence:
    """Numbers read from shipped manifests: ``manifest("{acc:.2f}", acc="text2img/scores/x")``."""
    return Evidence("manifest", template=template, keys=keys)


def live(compute: Callable[[], dict], template: str) -> Evidence:
    """Numbers computed now by a cheap function (well under a second on a CPU)."""
    return Evidence("live", template=template, compute=compute)


def pending(note: str) -> Evidence:
    """A lesson being written: its models and numbers are not in this repository yet."""
    return Evidence("pending", note=note)


def not_measured(note: str) -> Evidence:
    """Nothing in the course measures it (yet); ``note`` says so honestly."""
    return Evidence("none", note=note)


def read_key(path: str):
    """``"text2img/scores/fid"`` -> the value in ``weights/text2img/manifest.json``. Keys may
    themselves contain dots (``iou_s0.5``), hence the slashes."""
    model, *keys = path.split("/")
    file = WEIGHTS_DIR / model / "manifest.json"
    if not file.is_file():
        raise FileNotFoundError(f"evidence path {path!r}: no manifest at {file}")
    value = json.loads(file.read_text())
    for i, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            raise KeyError(f"evidence path {path!r}: no key {'/'.join(keys[:i + 1])!r} in {file}")
        value = value[key]
    return value


# ------------------------------------------------------------ live evidence (all cheap)
def forward_endpoints() -> dict:
    """How much signal x_T keeps: sqrt(abar_{T-1}) for DDPM's linear and SD's schedule."""
    from .schedules import make_schedule

    lin, sd = make_schedule("linear"), make_schedule("scaled_linear")
    return dict(lin=float(lin.alphas_cumprod[-1].sqrt()), sd=float(sd.alphas_cumprod[-1].sqrt()),
                T=lin.num_timesteps)


def closed_form_vs_chain() -> dict:
    """x_999 from x_0 = 1 by 1,000 iterated steps q(x_t | x_t-1) and by the closed form."""
    import torch

    from .forward import q_sample
    from .schedules import make_schedule

    s, n = make_schedule("linear"), 20000
    g = torch.Generator().manual_seed(0)
    chain = torch.ones(n, dtype=torch.float64)
    for beta in s.betas:                                   # q(x_t | x_t-1), DDPM eq. 2
        chain = (1 - beta).sqrt() * chain + beta.sqrt() * torch.randn(n, generator=g,
                                                                      dtype=torch.float64)
    closed = q_sample(s, torch.ones(n, dtype=torch.float64), s.num_timesteps - 1,
                      noise=torch.randn(n, generator=g, dtype=torch.float64))   # DDPM eq. 4
    return dict(chain_mean=float(chain.mean()), chain_std=float(chain.std()),
                closed_mean=float(closed.mean()), closed_std=float(closed.std()),
                steps=s.num_timesteps, n=n)


def epsilon_error_gain() -> dict:
    """x0_hat = (x_t - sqrt(1 - abar) eps_hat) / sqrt(abar): an error e in eps_hat becomes an
    error sqrt((1 - abar) / abar) e in x0_hat (DDPM eq. 15), at both ends of the linear schedule."""
    from .schedules import make_schedule

    abar = make_schedule("linear").alphas_cumprod
    gain = ((1 - abar) / abar).sqrt()
    return dict(high=float(gain[-1]), low=float(gain[0]))


def noise_share() -> dict:
    """Share of the 1,000 steps with SNR(t) < 0.01 (near pure noise): lesson 02's measure."""
    from .schedules import make_schedule

    return {name: float((make_schedule(name).snr < 0.01).double().mean())
            for name in ("linear", "cosine")}


def zero_conv_identity() -> dict:
    """A fresh ControlNet on a small random U-Net: largest change of the U-Net's output."""
    import torch

    from .nn.controlnet import ControlledUNet, ControlNet
    from .nn.unet import UNet

    torch.manual_seed(0)
    unet = UNet(in_channels=4, base_channels=8, channel_mults=(1, 2),
                attention_levels=(False, True), context_dim=16, num_heads=2).eval()
    control = ControlNet.from_unet(unet, conditioning_channels=1).eval()
    x, t, ctx = torch.randn(2, 4, 8, 8), torch.tensor([10, 500]), torch.randn(2, 3, 16)
    cond = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        diff = (ControlledUNet(unet, control, cond)(x, t, ctx) - unet(x, t, ctx)).abs().max()
    zero = all(bool((c.weight == 0).all() and (c.bias == 0).all())
               for c in control.zero_convolutions())
    return dict(diff=float(diff), n=len(control.zero_convolutions()),
                zero="all zero" if zero else "NOT all zero",
                same="bit-identical" if diff == 0 else "not identical")


def attention_matches_torch() -> dict:
    """The course's softmax(Q K^T / sqrt(d_head)) V against torch's fused kernel."""
    import torch
    import torch.nn.functional as F

    from .nn.attention import scaled_dot_product

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, n, 16, generator=g, dtype=torch.float64) for n in (64, 7, 7))
    ours, _ = scaled_dot_product(q, k, v)
    diff = float((ours - F.scaled_dot_product_attention(q, k, v)).abs().max())
    return dict(diff=diff, below="below 1e-12" if diff < 1e-12 else f"{diff:.1g}")


def failure_modes_study() -> dict:
    """Lesson 16's study, read from ``weights/text2img/failure_modes.json`` (written by
    ``python -m diffusionlab.failure_modes``): duplication by size, the fix, the receptive
    fields, and letters through the VAE; and, from ``weights/text2img_spelling``'s manifest,
    the letters of never-seen words by text encoder."""
    study = json.loads((WEIGHTS_DIR / "text2img" / "failure_modes.json").read_text())
    native, up = study["duplication"]["native"], study["duplication"]["upscaled"]
    text = {k: v["after"] for k, v in study["vae_text"].items()}
    spell = json.loads((WEIGHTS_DIR / "text2img_spelling" / "manifest.json").read_text())["scores"]
    return dict(n=len(study["prompts"]),
                spell_char=spell["held_out_words_both"]["letter_accuracy"],   # word-level: <unk>
                spell_word=spell["held_out_words_word"]["letter_accuracy"],
                spell_whole=spell["held_out_words_both"]["word_accuracy"],
                spell_word_whole=spell["held_out_words_word"]["word_accuracy"],
                d32=native["32"]["duplication_rate"],
                d48=native["48"]["duplication_rate"], d64=native["64"]["duplication_rate"],
                up64=up["64"]["duplication_rate"], conv=study["fields"]["conv_field_analytic"],
                falloff=study["fields"]["sizes"]["16"]["falloff_radius"],
                shape=text["shape"]["object_accuracy"], small=text["small letter"]["letter_accuracy"],
                large=text["large letter"]["letter_accuracy"], word=text["large word"]["word_accuracy"])


# ----------------------------------------------------------------------------- questions
@dataclass(frozen=True)
class Question:
    id: str                      # "D31-Q6": sheet (day 31 or 35) and question number
    topic: str                   # one of TOPICS (the quiz filters on it)
    short_answer: str            # the course's answer, <= MAX_SHORT_WORDS words
    lessons: tuple[str, ...]     # notebook numbers, e.g. ("04", "04b")
    exercises: tuple[str, ...]   # exercise numbers, e.g. ("04",)
    evidence: Evidence
    also: str = ""               # what the seed's answer leaves out or gets wrong, one line

    @property
    def question(self) -> str:
        return SEEDS[self.id][0]

    @property
    def seed_answer(self) -> str:
        return SEEDS[self.id][1]

    @property
    def words(self) -> int:
        return len(self.short_answer.split())


def lesson_path(number: str) -> Path | None:
    """``notebooks/<number>_*.ipynb``, or None while the lesson is not in this repository."""
    found = sorted(NOTEBOOK_DIR.glob(f"{number}_*.ipynb"))
    return found[0] if found else None


def exercise_path(number: str) -> Path | None:
    found = sorted(EXERCISE_DIR.glob(f"ex{number}_*.py"))
    return found[0] if found else None


Q = Question
QUESTIONS: tuple[Question, ...] = (
    Q("D31-Q1", "foundations",
      "A GAN trains a generator against a discriminator and samples in one pass, but the minimax "
      "game can oscillate and drop modes. A diffusion model is trained by plain regression, "
      "denoising at random noise levels: stable, and it covers the modes, but sampling runs the "
      "network tens to hundreds of times. It optimises a weighted ELBO, a bound, not the "
      "likelihood itself. Distillation and modern GANs narrow the speed and stability gaps.",
      ("07",), ("07",),
      manifest("on the 25-Gaussian grid at the same size, the GAN (shipped seed) covers {g:.0f} of 25 "
               "modes and diffusion {d:.0f}; on the shapes, the GAN's FID is {gf:.0f} with {gc:.0f} of "
               "15 classes covered, the same-size pixel U-Net's {df:.0f} with {dc:.0f} (both short "
               "CPU runs)",
               g="gan_toy25/scores/gan/modes_covered", d="gan_toy25/scores/diffusion/modes_covered",
               gf="gan_shapes/scores/fid", gc="gan_shapes/scores/classes_covered",
               df="gan_shapes/diffusion_reference/fid",
               dc="gan_shapes/diffusion_reference/classes_covered"),
      "L_simple drops the ELBO's weights, so 'maximizes likelihood' overstates it."),
    Q("D31-Q2", "foundations",
      "A fixed Markov chain, with nothing learned, that adds Gaussian noise: q(x_t | x_t-1) = "
      "N(sqrt(1 - beta_t) x_t-1, beta_t I). The sqrt(1 - beta_t) shrink keeps the variance near "
      "one, and Gaussians compose, so x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps in one step. "
      "With T = 1000 the end is only nearly pure noise: common schedules keep a little signal "
      "at T, which zero-terminal-SNR rescaling removes. The model learns to reverse the chain.",
      ("01", "02"), ("01",),
      live(forward_endpoints, "signal left in x_T (sqrt(abar_T-1), T = {T}): {lin:.4f} with "
           "DDPM's linear schedule, {sd:.3f} with SD's scaled_linear"),
      "T is finite: x_T is not exactly N(0, I), and SD's schedule leaves a visible trace."),
    Q("D31-Q3", "foundations",
      "DDPM trains the network to predict the noise eps that was mixed into x_0, with a plain "
      "squared error (L_simple, the ELBO with its weights dropped). Predicting x_0, or v = "
      "sqrt(abar) eps - sqrt(1 - abar) x_0, carries the same information; they differ in how the "
      "noise levels are weighted and where errors blow up: x_0 from eps divides by sqrt(abar_t), "
      "ill-conditioned near pure noise, which is why SD 2.x and distillation use v.",
      ("03", "04b"), ("03",),
      live(epsilon_error_gain, "an error in predicted eps is multiplied by {high:.0f} in x0_hat at "
           "t = 999 and by {low:.3f} at t = 0 (linear schedule)"),
      "'Noise is more stable' holds at low noise only; at high noise eps-prediction is the "
      "unstable one."),
    Q("D31-Q4", "latent space",
      "Run the diffusion in the latent space of a pretrained autoencoder: SD's VAE maps a "
      "512x512x3 image to a 64x64x4 latent, 48 times fewer values; the U-Net denoises latents and "
      "the decoder makes pixels once at the end. Every step gets cheaper, and the model's "
      "capacity goes to content rather than imperceptible detail. The price: the decoder's "
      "reconstruction error is a floor on image quality.",
      ("10",), ("10",),
      manifest("the course's VAE stores {c:.0f}x fewer values and reconstructs at {psnr:.1f} dB "
               "PSNR; the evaluator reads the reconstructions with accuracy {acc:.2f}",
               c="vae/scores/compression", psnr="vae/scores/psnr",
               acc="vae/scores/prompt_accuracy_reconstructions"),
      "64x64 is the latent's grid, but it has 4 channels: the saving is 48x, not 64x."),
    Q("D31-Q5", "conditioning",
      "Train one model with the prompt dropped some of the time, about 10%, so it predicts both "
      "conditional and unconditional noise. At sampling, eps = eps_uncond + s (eps_cond - "
      "eps_uncond): s = 1 is plain conditional sampling, s > 1 extrapolates towards the prompt "
      "(SD's default 7.5). It trades diversity for prompt adherence with no separate classifier, "
      "at twice the network evaluations per step.",
      ("09",), ("09",),
      manifest("the tiny SD's prompt accuracy at guidance scale 1 / 3 / 7.5: "
               "{s1:.2f} / {s3:.3f} / {s7:.2f}", s1="text2img/scores/prompt_accuracy_s1",
               s3="text2img/scores/prompt_accuracy_s3", s7="text2img/scores/prompt_accuracy_s7.5"),
      "The model must be trained with prompt dropout; the CFG paper's w is s - 1."),
    Q("D31-Q6", "sampling",
      "Sampling integrates the reverse process in many small steps, each a full network pass, "
      "run one after another: cost = evaluations x cost per pass, and guidance doubles the "
      "evaluations. Steps cannot simply grow, because a reverse step is only Gaussian when it is "
      "small. The fixes: better ODE solvers (DDIM, DPM-Solver: 10-50 evaluations), distillation "
      "(1-4), and a cheaper pass in a VAE latent. A GAN needs one pass.",
      ("04", "04b"), ("04",),
      manifest("8-Gaussians toy, sliced Wasserstein over its data floor: DDPM with 1000 "
               "evaluations {ddpm:.2f}, DDIM with 50 {ddim:.2f}",
               ddpm="toy_8gaussians/scores/ddpm_1000/ratio",
               ddim="toy_8gaussians/scores/ddim_50/ratio"),
      "The unit of cost is network evaluations (NFE), not 'steps'; DDPM as trained takes 1000."),
    Q("D31-Q7", "sampling",
      "Song et al. 2021 define a non-Markovian forward process with the same marginals q(x_t | "
      "x_0), so a DDPM-trained network is reused unchanged. Its update (eq. 12) has a knob eta: "
      "eta = 0 is deterministic, a fixed map from noise to image, so inversion and interpolation "
      "work; eta = 1 recovers DDPM's variance. It samples on a subsequence of timesteps, say 50 "
      "of 1000, with little loss. It is a sampler, not a new training method.",
      ("05",), ("05",),
      manifest("DDIM with 50 evaluations over the data floor (sliced Wasserstein): 8 Gaussians "
               "{g:.2f}, swiss roll {s:.2f}", g="toy_8gaussians/scores/ddim_50/ratio",
               s="toy_swissroll/scores/ddim_50/ratio"),
      "Deterministic only at eta = 0; no retraining needed."),
    Q("D31-Q8", "conditioning",
      "ControlNet (Zhang et al. 2023) freezes the base U-Net, makes a trainable copy of its "
      "encoder and middle block, feeds it the condition image (edges, pose, depth) and adds its "
      "outputs to the U-Net's skips through zero-initialised 1x1 convolutions. At step 0 the "
      "model is exactly the base model; training learns only the control, so prompt-following "
      "is kept. It is not small: the copy is about half the U-Net.",
      ("11",), ("11",),
      manifest("object-vs-edge-map IoU at control strength 0 / 1: {i0:.2f} / {i1:.2f}; "
               "trainable parameters {p:,} beside a frozen U-Net of {u:,}",
               i0="controlnet_edges/scores/iou_s0", i1="controlnet_edges/scores/iou_s1",
               p="controlnet_edges/trainable_parameters",
               u="controlnet_edges/frozen_unet_parameters"),
      "A copy of half the U-Net is not a lightweight 'adapter'."),
    Q("D31-Q9", "foundations",
      "Gaussians compose, so the t-step forward chain has a closed form: x_t = sqrt(abar_t) x_0 + "
      "sqrt(1 - abar_t) eps, eps ~ N(0, I), abar_t the product of (1 - beta). Training draws a "
      "random t and gets x_t in one line, so every batch covers random noise levels at constant "
      "cost. Writing x_t as a deterministic function of the noise is also what makes eps a "
      "regression target.",
      ("01",), ("01",),
      live(closed_form_vs_chain, "x_999 from x_0 = 1, {n:,} draws: {steps} iterated steps give "
           "mean {chain_mean:+.2f} and std {chain_std:.2f}, the closed form (one step) "
           "{closed_mean:+.2f} and {closed_std:.2f}"),
      "It is the composition of Gaussian steps, not VAE-style reparameterization for gradients."),
    Q("D31-Q10", "conditioning",
      "SD 1.x uses only CLIP's text encoder: the prompt becomes 77 token embeddings, the last "
      "layer's hidden states rather than the pooled vector, and every cross-attention layer of "
      "the U-Net reads them as keys and values while image features are the queries. CLIP's "
      "contrastive training aligns them with visual concepts; the encoder stays frozen while SD "
      "trains. SD 2.x swaps in OpenCLIP, Imagen uses T5.",
      ("08",), ("08",),
      manifest("the tiny CLIP finds the right scene among 100 from its caption with accuracy "
               "{r:.2f}; the tiny SD draws what the prompt says with accuracy {a:.3f} (scale 3)",
               r="clip/scores/retrieval_t2i", a="text2img/scores/prompt_accuracy_s3"),
      "Per-token states, not one vector; the image tower is not used."),
    Q("D31-Q11", "fine-tuning",
      "DreamBooth (Ruiz et al. 2023) fine-tunes the whole model, the U-Net and optionally the "
      "text encoder, on 3-5 photos of one subject captioned 'a [V] dog' with a rare token [V]. "
      "A prior-preservation loss also trains on images the frozen model drew for 'a dog', so "
      "the class is not overwritten and outputs stay diverse. The result: high subject "
      "fidelity in new contexts, at the cost of a full model copy unless combined with LoRA.",
      ("13",), ("13",),
      manifest("subject fidelity with / without prior preservation {f:.2f} / {fn:.2f}; the subject "
               "leaks into plain 'a circle' prompts {l:.2f} / {ln:.2f} of the time",
               f="dreambooth/scores/fidelity", fn="dreambooth_noprior/scores/fidelity",
               l="dreambooth/scores/class_leak", ln="dreambooth_noprior/scores/class_leak"),
      "The prior images are generated by the frozen model itself."),
    Q("D31-Q12", "fine-tuning",
      "LoRA (Hu et al. 2021) freezes a weight W and learns a low-rank update, W + (alpha / r) B A, "
      "with B zero-initialised so training starts at the base model. In SD it is applied to the "
      "attention projections, to_q, to_k, to_v and to_out, of cross- and usually self-attention, "
      "sometimes convolutions. At rank 4-8 an SD 1.5 LoRA is a few MB, not 100 MB; merged into "
      "W it costs nothing at inference.",
      ("12",), ("12",),
      manifest("a rank-{r} adapter trains {p:,} of the U-Net's {u:,} parameters ({kb:,} bytes on disk); "
               "style learned {st:.2f} (base 0), plain prompt accuracy kept at {pa:.2f}",
               r="lora_outlined/rank", p="lora_outlined/trainable_parameters",
               u="lora_outlined/unet_parameters", kb="lora_outlined/file_bytes",
               st="lora_outlined/scores/style_triggered",
               pa="lora_outlined/scores/prompt_accuracy_plain"),
      "Not only cross-attention, and the file size depends on the rank."),
    Q("D31-Q13", "conditioning",
      "Regenerate a masked region so that it fits the rest. Any model can do it by replacement: "
      "at every reverse step, overwrite the known region with the original noised to that step; "
      "cheap, but the fill sees its context only through noise and seams can clash (RePaint "
      "resamples to help). A dedicated inpainting U-Net takes 9 input channels, the noisy "
      "latents, the mask and the masked image's latents, and is trained for it.",
      ("14",), ("14",),
      manifest("fill accuracy on 128 held-out scenes: 9-channel model {m:.2f}, replacement "
               "{r:.2f}, RePaint {rp:.2f}; kept-region PSNR {mk:.1f} vs {rk:.1f} dB",
               m="inpaint/scores/model_fill_accuracy", r="inpaint/scores/replace_fill_accuracy",
               rp="inpaint/scores/repaint_fill_accuracy", mk="inpaint/scores/model_kept_psnr",
               rk="inpaint/scores/replace_kept_psnr"),
      "In latent space even the 'kept' pixels pass through the VAE."),
    Q("D31-Q14", "limits and SDXL",
      "Hands are articulated, often occluded, small in most images, and come with a count, five "
      "fingers, that a denoiser of local patterns has no explicit notion of. Text: CLIP's "
      "encoder sees subword tokens, not letters, and the VAE's 8x downsampling blurs small "
      "glyphs; models with character-aware text encoders (T5 in Imagen and DeepFloyd IF) and "
      "larger latents spell far better. It is data, tokenizer and resolution, not only "
      "'pixel space'.",
      ("16",), ("16",),
      live(failure_modes_study, "one trip through the shipped VAE (4x4 pixels per latent, trained "
           "on shapes only): shapes read right {shape:.2f}, small letters {small:.2f}, large "
           "letters {large:.2f}, large 3-letter words {word:.2f}; words never drawn in training, "
           "letters right with a character-aware / only a word-level encoder (text2img_spelling): "
           "{spell_char:.2f} / {spell_word:.2f}, whole words {spell_whole:.3f} / {spell_word_whole:.3f}"),
      "The tokenizer and the VAE's resolution matter as much as the data."),
    Q("D31-Q15", "conditioning",
      "In classifier-free guidance the unconditional prediction is replaced by one conditioned "
      "on the negative prompt: eps = eps_neg + s (eps_cond - eps_neg). Sampling moves towards "
      "the prompt and away from the negative concept at no extra cost, since it takes the empty "
      "prompt's place. It works for concepts the model knows, 'red' or 'blurry'; it is not a "
      "filter, and near s = 1 it has little effect.",
      ("09",), ("09",),
      manifest("'a circle' drawn red without / with the negative prompt 'red': {a:.1%} / {b:.1%}",
               a="text2img/scores/negative_red_without", b="text2img/scores/negative_red_with"),
      "It replaces the empty prompt rather than adding a third pass."),
    Q("D31-Q16", "latent space",
      "A KL-regularised autoencoder (Rombach et al. 2022): the encoder maps a 512x512x3 image to "
      "a 64x64x4 latent and the decoder maps it back. It is trained once, before and apart from "
      "the diffusion model, with reconstruction, perceptual and patch-GAN losses and a tiny KL "
      "weight, so latents are nearly deterministic. Text-to-image runs only the decoder; latents "
      "are multiplied by a scaling factor (0.18215 in SD 1.x) to unit variance.",
      ("10",), ("10",),
      manifest("the course's VAE: {c:.0f}x fewer values, PSNR {psnr:.1f} dB, scaling factor "
               "{f:.3f} gives latents of standard deviation {std:.2f}",
               c="vae/scores/compression", psnr="vae/scores/psnr",
               f="vae/config/scaling_factor", std="vae/scores/latent_std_scaled"),
      "Trained separately and frozen; generation uses only the decoder."),
    Q("D31-Q17", "foundations",
      "The sequence beta_t, or equivalently abar_t or SNR(t) = abar_t / (1 - abar_t): how fast "
      "signal is destroyed. DDPM's linear schedule reaches near pure noise early and wastes "
      "steps there; cosine (Nichol and Dhariwal) spreads log-SNR more evenly; SD uses "
      "scaled_linear. The best choice depends on resolution, since larger images need noisier "
      "schedules, and on whether the last step reaches SNR 0. 'Cosine is better' is not "
      "universal.",
      ("02",), ("02",),
      live(noise_share, "share of the 1000 steps with SNR below 0.01: linear {linear:.1%}, "
           "cosine {cosine:.1%}"),
      "Resolution changes the answer: the same schedule is noisier for a small image."),
    Q("D31-Q18", "sampling",
      "Train a student to do in a few steps what the teacher does in many. Progressive "
      "distillation halves the step count repeatedly, one student step matching two teacher "
      "DDIM steps; consistency distillation and LCM train a model to map any point of the "
      "teacher's ODE trajectory to its end; adversarial distillation (SDXL-Turbo) adds a GAN "
      "loss. Guidance can be distilled in too. Gains: 1-4 steps; costs: some quality and "
      "diversity, and a training run.",
      ("15",), ("15",),
      manifest("the 4-step LCM student (4 U-Net passes): prompt accuracy {s_acc:.3f}, FID {s_fid:.1f}; "
               "the guided DDIM teacher at 20 steps (40 passes): {t_acc:.3f}, FID {t_fid:.1f}; "
               "at 4 steps (8 passes): {t4_acc:.3f}, FID {t4_fid:.1f}",
               s_acc="text2img_distilled/scores/student_4_prompt_accuracy",
               s_fid="text2img_distilled/scores/student_4_fid",
               t_acc="text2img_distilled/scores/teacher_ddim_20_prompt_accuracy",
               t_fid="text2img_distilled/scores/teacher_ddim_20_fid",
               t4_acc="text2img_distilled/scores/teacher_ddim_4_prompt_accuracy",
               t4_fid="text2img_distilled/scores/teacher_ddim_4_fid"),
      "Consistency models need not be distilled (consistency training), and LCM is a latent "
      "consistency distillation."),
    Q("D31-Q19", "architecture",
      "An encoder-decoder that downsamples to a coarse bottleneck and upsamples back, with skip "
      "connections carrying each encoder level's features to the matching decoder level, so "
      "fine detail need not squeeze through the bottleneck. Diffusion's U-Net adds a timestep "
      "embedding to every ResBlock and self- and cross-attention at several resolutions; input "
      "and output have the same shape. Skips are not the only way: DiT is a plain transformer.",
      ("06",), ("06",),
      manifest("pixel U-Net, error of the predicted x_0 at t = 50: {a:.4f} with skips, {b:.4f} "
               "without", a="unet_pixel/scores/x0_mse_t50", b="unet_pixel_noskip/scores/x0_mse_t50"),
      "Timestep embeddings and attention are what make it a diffusion U-Net."),
    Q("D31-Q20", "limits and SDXL",
      "SDXL (Podell et al. 2023): a 2.6B-parameter U-Net with its attention moved to lower "
      "resolutions; two text encoders, CLIP ViT-L and OpenCLIP ViT-bigG, whose features are "
      "concatenated, plus the pooled embedding; the original size, crop and target size as extra "
      "conditioning; training on many aspect ratios around 1024x1024; and an optional refiner "
      "for the last low-noise steps. Size and crop conditioning fix cropped-looking outputs.",
      ("17",), ("17",),
      manifest("the tiny SDXL (two text encoders, size and crop conditioning, three aspect "
               "buckets): object accuracy {a:.2f} at 32x32; its refiner, given the last 20% of "
               "the steps, moves it to {r:.2f} and high-frequency energy from {hb:.3f} to "
               "{hr:.3f} (real scenes {hreal:.3f})",
               a="text2img_xl_refiner/scores/32x32/object_accuracy_base",
               r="text2img_xl_refiner/scores/32x32/object_accuracy_base_refiner",
               hb="text2img_xl_refiner/scores/32x32/hf_energy_base",
               hr="text2img_xl_refiner/scores/32x32/hf_energy_base_refiner",
               hreal="text2img_xl_refiner/scores/32x32/hf_energy_real"),
      "The size/crop conditioning is the idea to remember, not only the parameter count."),
    Q("D35-Q1", "latent space",
      "Diffusion's cost grows with the number of positions the U-Net processes at every step. "
      "The VAE compresses 512x512x3 pixels into a 64x64x4 latent, 48 times fewer values, "
      "removing imperceptible high-frequency detail once, so training and each of the ~50 "
      "sampling steps are far cheaper and capacity goes to content. The cost: the decoder's "
      "reconstruction error becomes a floor on image quality.",
      ("10",), ("10",),
      manifest("the course's VAE: {c:.0f}x fewer values; the evaluator reads decoded "
               "reconstructions with accuracy {acc:.2f}, the originals {orig:.2f}",
               c="vae/scores/compression", acc="vae/scores/prompt_accuracy_reconstructions",
               orig="vae/scores/prompt_accuracy_originals"),
      "'Semantically rich' oversells it: the latent is a compressed image, not a semantic code."),
    Q("D35-Q2", "conditioning",
      "CLIP's text encoder turns the tokenized prompt into a sequence of embeddings, 77 x 768 in "
      "SD 1.x, trained contrastively so that text and images of the same thing align. The U-Net "
      "reads this sequence through cross-attention at several resolutions: image features are "
      "queries, text tokens keys and values, so each region attends to the words relevant to "
      "it. CLIP's image tower plays no part in SD 1.x generation.",
      ("08",), ("08",),
      manifest("the tiny CLIP's zero-shot accuracy: shape {s:.3f}, colour {c:.2f}, size {z:.3f}, "
               "position {p:.2f}", s="clip/scores/zero_shot_shape", c="clip/scores/zero_shot_color",
               z="clip/scores/zero_shot_size", p="clip/scores/zero_shot_position"),
      "Only the text tower, and the whole token sequence."),
    Q("D35-Q3", "conditioning",
      "ControlNet clones the base U-Net's encoder and middle block into a trainable copy; the "
      "base stays frozen. The condition image passes through a small convolutional embedder into "
      "the copy's input; each copy level's output goes through a zero-initialised 1x1 "
      "convolution and is added to the base U-Net's matching skip connection and middle block. "
      "At initialisation nothing changes; training learns the control while the frozen base "
      "keeps its knowledge.",
      ("11",), ("11",),
      manifest("IoU with the edge map {i:.2f}; fine-tuning the whole U-Net instead reaches "
               "{fi:.2f} but its prompt accuracy without a map falls to {f:.2f} (base {b:.3f})",
               i="controlnet_edges/scores/iou_s1", fi="control_finetune/scores/iou",
               f="control_finetune/scores/prompt_accuracy_no_map",
               b="control_finetune/scores/prompt_accuracy_base"),
      "The injection is into the decoder's skips, not the encoder."),
    Q("D35-Q4", "fine-tuning",
      "Textual inversion (Gal et al. 2022) learns only a new token embedding for the concept, "
      "every model weight frozen: a file of a few KB, limited to what the frozen model can "
      "already draw. DreamBooth (Ruiz et al. 2023) fine-tunes the U-Net, optionally the text "
      "encoder, with a rare token and a prior-preservation loss: higher fidelity, more risk of "
      "overfitting and forgetting, and a full model copy unless done with LoRA.",
      ("13",), ("13",),
      manifest("subject fidelity: DreamBooth {f:.2f} ({db:,} parameters trained), textual inversion "
               "{ti:.2f} ({tp} parameters, a {tb}-byte file)",
               f="dreambooth/scores/fidelity", db="dreambooth/trainable_parameters",
               ti="textual_inversion/scores/fidelity",
               tp="textual_inversion/trainable_parameters", tb="textual_inversion/file_bytes"),
      "DreamBooth's prior preservation is what limits the forgetting the seed mentions."),
    Q("D35-Q5", "latent space",
      "The VAE is lossy compression into a small latent, 8x downsampling and 4 channels, trained "
      "with reconstruction, perceptual and adversarial losses: what survives is what looks right "
      "at a glance. Fine high-frequency structure, small text, background faces, thin lines, is "
      "lost or invented, and the error concentrates at edges, not flat areas. Every SD image "
      "passes through the decoder, so this is a floor the diffusion model cannot beat.",
      ("10",), ("10",),
      manifest("the course's VAE reconstructs at {all:.1f} dB PSNR overall: {edge:.1f} dB at "
               "edges against {inner:.1f} dB inside shapes", all="vae/scores/psnr",
               edge="vae/scores/psnr_edges", inner="vae/scores/psnr_interior"),
      "The error is where the edges are; it is a floor, not a trade-off you tune per image."),
    Q("D35-Q6", "conditioning",
      "The guidance scale s in eps = eps_uncond + s (eps_cond - eps_uncond); the CFG paper's w "
      "is s - 1. s = 1 is plain conditional sampling; larger s raises prompt adherence and "
      "lowers diversity, and past a point over-saturates and distorts images, because the "
      "extrapolated prediction leaves what the model was trained on (guidance rescale and "
      "dynamic thresholding counter it). SD's default 7.5 is a tuned compromise, not a law.",
      ("09",), ("09",),
      manifest("prompt accuracy at scale 1 / 2 / 3 / 5: {a:.2f} / {b:.2f} / {c:.3f} / {d:.3f}; "
               "FID at the default scale 3: {fid:.1f} against a floor of {floor:.1f}",
               a="text2img/scores/prompt_accuracy_s1", b="text2img/scores/prompt_accuracy_s2",
               c="text2img/scores/prompt_accuracy_s3", d="text2img/scores/prompt_accuracy_s5",
               fid="text2img/scores/fid", floor="text2img/scores/fid_floor"),
      "The seed's formula uses w where the paper's w means s - 1."),
    Q("D35-Q7", "limits and SDXL",
      "Any multiple of 8 pixels works, since the U-Net is convolutional, but quality depends on "
      "staying near the training resolution. Far above it, 1024 on SD 1.5, the model's learned "
      "composition covers only part of the canvas, so it draws several: duplicated heads and "
      "bodies. Far below, objects are cut or blurred. SDXL trains on many aspect ratios with "
      "size conditioning; high-resolution fixes generate small, then upscale with img2img.",
      ("16",), ("16",),
      live(failure_modes_study, "one-object prompts ({n}) duplicated at 32 / 48 / 64 px (trained at "
           "32): {d32:.2f} / {d48:.2f} / {d64:.2f}; sampled at 32 and upscaled to 64: {up64:.2f}; "
           "the convolutions alone see {conv} latent px, more than any canvas tried"),
      "'Receptive field' is loose: attention is global; the learned scale of objects is fixed."),
    Q("D35-Q8", "conditioning",
      "Regenerate the masked part of an image consistently with the rest. A dedicated "
      "inpainting U-Net takes 9 input channels, 4 noisy latents, 1 mask and 4 latents of the "
      "masked image, and is fine-tuned from the base model with the new input weights set to "
      "zero. Any model can instead inpaint by replacement, overwriting the known region at every "
      "step with the original noised to that level: simpler, with worse seams.",
      ("14",), ("14",),
      manifest("kept-region PSNR: 9-channel model {m:.1f} dB, replacement {r:.1f} dB, the VAE's "
               "own round trip {v:.1f} dB", m="inpaint/scores/model_kept_psnr",
               r="inpaint/scores/replace_kept_psnr", v="inpaint/scores/vae_kept_psnr"),
      "The 9-channel model starts from the base weights; replacement needs no training."),
    Q("D35-Q9", "conditioning",
      "A 1x1 convolution whose weight and bias start at zero, so its output, and with it the "
      "ControlNet's contribution, is exactly zero at initialisation: the combined model is the "
      "base model. It still learns: the gradient of its weight is the input feature times the "
      "upstream gradient, which is not zero, so after one update it passes signal. Random noise "
      "never reaches the frozen model early in training.",
      ("11",), ("11",),
      live(zero_conv_identity, "a fresh ControlNet ({n} zero convolutions, {zero}) leaves a "
           "random U-Net's output {same}: max |change| {diff:.1g}"),
      "Zero weights do not mean zero gradients: only the layers behind it get none at step 0."),
    Q("D35-Q10", "architecture",
      "Queries come from image features, keys and values from the text embeddings: "
      "softmax(Q K^T / sqrt(d_head)) V, split into heads, then an output projection to_out and a "
      "residual connection. Two fixes to the sketch: the scale is 1 / sqrt(d_head), not 1 / "
      "sqrt(model width), and the context has its own width, 768 for CLIP, so to_k and to_v map "
      "context_dim to the inner dimension. Padding masks apply to the keys.",
      ("08",), ("08",),
      live(attention_matches_torch, "the course's attention against torch's fused kernel: max "
           "|difference| {below} (float64)"),
      "Scale by the head dimension; heads and to_out are missing from the sketch."),
)


def by_id(qid: str) -> Question:
    for q in QUESTIONS:
        if q.id == qid:
            return q
    raise KeyError(f"qid must be one of D31-Q1..Q20, D35-Q1..Q10, got {qid!r}")


# ----------------------------------------------------------------------------- rendering
def _numbers_label(kind: str, numbers, path_of) -> str:
    return ", ".join(f"{kind} {n}" + ("" if path_of(n) else " (not in this repository yet)")
                     for n in numbers) or "none"


def _link(number: str, path_of, prefix: str, relative_to: Path, html: bool) -> str:
    path = path_of(number)
    if path is None:
        return f"{prefix}{number} (not yet)"
    target = path.relative_to(relative_to)
    if html:
        target = Path(path.stem + ".html")
    return f"[{prefix}{number}]({target.as_posix()})"


README_START = "<!-- question-map:start (generated: python -m diffusionlab questions --write-readme) -->"
README_END = "<!-- question-map:end -->"


def question_map(html_links: bool = False) -> str:
    """The README's question map, a markdown table: question -> lesson -> exercise -> claim.
    ``html_links=True`` links lessons to ``NN_name.html`` (the static site's pages)."""
    rows = ["| # | question | lesson | exercise | measured claim (source) |",
            "|---|---|---|---|---|"]
    for q in QUESTIONS:
        lessons = ", ".join(_link(n, lesson_path, "", REPO, html_links) for n in q.lessons)
        exercises = ", ".join(
            (f"`exercises/{exercise_path(n).name}`" if exercise_path(n) else f"ex{n} (not yet)")
            if html_links else _link(n, exercise_path, "ex", REPO, False) for n in q.exercises)
        claim = q.evidence.text() + f" (*{q.evidence.source()}*)"
        question = q.question.replace("|", "\\|")
        rows.append(f"| {q.id} | {question} | {lessons} | {exercises or '-'} | "
                    f"{claim.replace('|', chr(92) + '|')} |")
    return "\n".join(rows)


def readme_section() -> str:
    return (f"{README_START}\n## Question map\n\nThe 30 interview questions the course is built "
            "from, where each is taught and practised, and the measured number behind its "
            "answer (read from the shipped models' manifests or computed live; lesson 18 has "
            "the full answers and a quiz).\n\n" + question_map() + f"\n{README_END}")


def readme_mismatch(readme: Path = REPO / "README.md") -> str | None:
    """None when the README's question map is what the module generates, else what is wrong."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return f"{readme} has no question map section (markers {README_START!r} ... {README_END!r})"
    current = text[text.index(README_START):text.index(README_END) + len(README_END)]
    if current != readme_section():
        return (f"the question map in {readme} differs from diffusionlab/review.py; "
                "regenerate it with `python -m diffusionlab questions --write-readme`")
    return None


def write_readme(readme: Path = REPO / "README.md") -> None:
    text = readme.read_text()
    if README_START in text and README_END in text:
        text = (text[:text.index(README_START)] + readme_section()
                + text[text.index(README_END) + len(README_END):])
    else:
        text = text.rstrip("\n") + "\n\n" + readme_section() + "\n"
    readme.write_text(text)


def _md_inline(text: str) -> str:
    """Seed answers and short answers as HTML: escape, then **bold** and `code`."""
    import html

    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def _seed_html(answer: str) -> str:
    import html

    if "```" in answer:                                   # D35-Q10: a code block
        before, code, after = answer.split("```", 2)
        code = code.split("\n", 1)[1] if "\n" in code else code
        return (_seed_html(before) + f"<pre>{html.escape(code.rstrip())}</pre>"
                + (_seed_html(after) if after.strip() else ""))
    items = [ln.strip().lstrip("*").strip() for ln in answer.splitlines() if ln.strip()]
    return "<ul>" + "".join(f"<li>{_md_inline(i)}</li>" for i in items) + "</ul>"


def card_html(q: Question, links: str = "ipynb") -> str:
    """One question as a self-contained HTML card (reads without a kernel)."""
    import html

    def link(number, path_of, prefix):
        path = path_of(number)
        if path is None:
            return f"{prefix}{number} <i>(not in this repository yet)</i>"
        name = path.name if links == "ipynb" else path.stem + ".html"
        if path_of is exercise_path:
            return f"<code>exercises/{path.name}</code>"
        return f'<a href="{html.escape(name)}">{prefix}{number}</a>'

    lessons = ", ".join(link(n, lesson_path, "lesson ") for n in q.lessons)
    exercises = ", ".join(link(n, exercise_path, "ex") for n in q.exercises) or "none"
    state = "" if q.evidence.resolved else ' style="color:#8a6d3b"'
    return (f'<div class="dl-card" style="border:1px solid #ccc;border-radius:6px;'
            f'padding:8px 12px;margin:8px 0">'
            f"<h4>{q.id} · {html.escape(q.question)} <small>({q.topic})</small></h4>"
            f"<p><b>Seed answer</b></p>{_seed_html(q.seed_answer)}"
            f"<p><b>30-second answer</b> ({q.words} words): {_md_inline(q.short_answer)}</p>"
            f"<p><b>What the seed misses:</b> {_md_inline(q.also)}</p>"
            f"<p{state}><b>The number:</b> {html.escape(q.evidence.text())} "
            f"<small>({html.escape(q.evidence.source())})</small></p>"
            f"<p><b>Learn:</b> {lessons} · <b>practise:</b> {exercises}</p></div>")


def cards_html(questions=QUESTIONS, links: str = "ipynb") -> str:
    return "\n".join(card_html(q, links) for q in questions)


class Quiz:
    """The quiz mode of lesson 18 (ipywidgets): one question at a time, filtered by topic;
    "Reveal" shows the card, "I knew it" marks it known (and skips it while "hide known" is on),
    "Next" moves on. ``.widget`` is what a notebook displays."""

    def __init__(self, questions=QUESTIONS):
        import ipywidgets as w

        self.questions, self.known, self.position = list(questions), set(), 0
        self.topic = w.Dropdown(options=("all",) + TOPICS, value="all", description="topic")
        self.hide_known = w.Checkbox(value=False, description="hide known")
        self.reveal_button = w.Button(description="Reveal")
        self.known_button = w.Button(description="I knew it")
        self.next_button = w.Button(description="Next")
        self.view, self.score = w.HTML(), w.HTML()
        self.revealed = False
        self.topic.observe(lambda _: self._restart(), names="value")
        self.hide_known.observe(lambda _: self._restart(), names="value")
        self.reveal_button.on_click(lambda _: self.reveal())
        self.known_button.on_click(lambda _: self.mark_known())
        self.next_button.on_click(lambda _: self.next())
        self.widget = w.VBox([w.HBox([self.topic, self.hide_known]), self.view,
                              w.HBox([self.reveal_button, self.known_button, self.next_button]),
                              self.score])
        self._render()

    def selection(self) -> list[Question]:
        return [q for q in self.questions
                if self.topic.value in ("all", q.topic)
                and not (self.hide_known.value and q.id in self.known)]

    @property
    def current(self) -> Question | None:
        chosen = self.selection()
        return chosen[self.position % len(chosen)] if chosen else None

    def _restart(self):
        self.position, self.revealed = 0, False
        self._render()

    def reveal(self):
        self.revealed = True
        self._render()

    def mark_known(self):
        if self.current is not None:
            self.known.add(self.current.id)
        self.next()

    def next(self):
        self.position, self.revealed = self.position + 1, False
        self._render()

    def _render(self):
        import html

        q = self.current
        if q is None:
            self.view.value = ("<p><b>Nothing left in this topic: every question is marked "
                               "known.</b></p>")
        elif self.revealed:
            self.view.value = card_html(q)
        else:
            self.view.value = (f"<h4>{q.id} · {html.escape(q.question)} <small>({q.topic})"
                               "</small></h4><p><i>Say your answer aloud (30 seconds), then "
                               "Reveal.</i></p>")
        self.score.value = (f"known: {len(self.known)} / {len(self.questions)} · in this "
                            f"selection: {len(self.selection())}")


def main(write: bool = False) -> int:
    """``python -m diffusionlab questions [--write-readme]``."""
    if write:
        write_readme()
        print(f"wrote the question map ({len(QUESTIONS)} rows) into {REPO / 'README.md'}")
        return 0
    print(question_map())
    return 0


def _check_entries() -> None:
    """Import-time sanity: one entry per seed question, in seed order, topics known."""
    ids = [q.id for q in QUESTIONS]
    if ids != list(SEEDS):
        raise RuntimeError(f"QUESTIONS must list every seed question once, in order: {ids}")
    bad = [q.id for q in QUESTIONS if q.topic not in TOPICS]
    if bad:
        raise RuntimeError(f"unknown topic in {bad}; topics: {TOPICS}")


# The two interview sheets, verbatim (day 31: 20 questions, day 35: 10), as (question, answer).
SEEDS = {
    'D31-Q1': ('How does Diffusion differ from GANs?',
        '*   **GAN**: Minimax game between Generator and Discriminator. One-shot generation. Unstable (Mode Collapse).\n*   **Diffusion**: Iterative denoising process. Maximizes Likelihood (ELBO). Stable training. Slower inference.'),
    'D31-Q2': ('What is the "Forward Process" in Diffusion?',
        '*   A Markov chain that gradually adds Gaussian noise to the data according to a variance schedule $\\beta_t$.\n*   $q(x_t | x_{t-1}) = N(x_t; \\sqrt{1-\\beta_t}x_{t-1}, \\beta_t I)$.\n*   At $T \\to \\infty$, $x_T$ is pure Isotropic Gaussian noise.'),
    'D31-Q3': ('What does the Neural Network predict in DDPM?',
        '*   It predicts the **noise** $\\epsilon$ that was added to the image at step $t$.\n*   Alternatively, it can predict $x_0$ directly, but predicting noise is numerically more stable.'),
    'D31-Q4': ('What is "Latent Diffusion"?',
        '*   Performing the diffusion process in the compressed latent space of a VAE instead of pixel space.\n*   Reduces computational complexity (e.g., $64 \\times 64$ instead of $512 \\times 512$).\n*   Used in Stable Diffusion.'),
    'D31-Q5': ('What is "Classifier-Free Guidance"?',
        '*   A technique to improve adherence to the text prompt.\n*   We run the model twice: once with the prompt, once with an empty prompt.\n*   We push the prediction away from the unconditional prediction towards the conditional one.\n*   Scale factor $> 1$ (e.g., 7.5).'),
    'D31-Q6': ('Why is Diffusion slow?',
        '*   It requires iterative refinement (e.g., 50 steps).\n*   The U-Net must be run 50 times to generate one image.\n*   GANs run only once.'),
    'D31-Q7': ('What is "DDIM"?',
        '*   Denoising Diffusion Implicit Models.\n*   A sampling method that makes the reverse process deterministic (non-Markovian).\n*   Allows skipping steps (e.g., 1000 $\\to$ 50) with minimal quality loss.'),
    'D31-Q8': ('What is "ControlNet"?',
        '*   An adapter architecture to add spatial conditioning (Canny edges, Pose, Depth) to diffusion models.\n*   Uses "Zero Convolutions" to gradually inject control without breaking the pre-trained model.'),
    'D31-Q9': ('What is the "Reparameterization Trick" in the Forward Process?',
        '*   Allows sampling $x_t$ directly from $x_0$ without iterating $t$ times.\n*   $x_t = \\sqrt{\\bar{\\alpha}_t} x_0 + \\sqrt{1-\\bar{\\alpha}_t} \\epsilon$.\n*   Crucial for efficient training (we can sample any random $t$).'),
    'D31-Q10': ('What is "CLIP" role in Stable Diffusion?',
        '*   CLIP Text Encoder converts the text prompt into embeddings.\n*   These embeddings are fed into the U-Net via Cross-Attention layers.'),
    'D31-Q11': ('What is "DreamBooth"?',
        '*   A fine-tuning technique to teach the model a specific subject (e.g., your dog).\n*   Uses a rare token identifier (e.g., "a [V] dog") and "Prior Preservation Loss" to prevent forgetting generic dogs.'),
    'D31-Q12': ('What is "LoRA" in the context of Diffusion?',
        '*   Same as in LLMs. Low-Rank Adaptation applied to the Cross-Attention layers of the U-Net.\n*   Allows storing styles/characters in small files (100MB).'),
    'D31-Q13': ('What is "In-painting"?',
        '*   Restoring or changing a specific part of an image.\n*   In Diffusion: We mask the image. During reverse steps, we keep the known pixels fixed (add noise to them) and only let the model generate the masked pixels.'),
    'D31-Q14': ('Why do Diffusion models struggle with hands/text?',
        '*   **Hands**: Rare in training data to see all 5 fingers clearly separated; high variance in pose.\n*   **Text**: The model works in pixel space/latent space, not symbolic space. It tries to "draw" letters based on visual patterns, not spell them.'),
    'D31-Q15': ('What is "Negative Prompt"?',
        '*   Text provided to the "unconditional" branch of Classifier-Free Guidance.\n*   Instead of empty string, we say "ugly, blurry".\n*   The model moves *away* from this concept.'),
    'D31-Q16': ('What is "VAE" in Stable Diffusion?',
        '*   Variational Autoencoder.\n*   Encoder compresses image to latent. Decoder reconstructs image from latent.\n*   The Diffusion happens in the middle.'),
    'D31-Q17': ('What is "Noise Schedule"?',
        '*   The function defining $\\beta_t$ (Linear, Cosine, Sigmoid).\n*   Determines how fast signal is destroyed.\n*   Cosine schedule is better for pixel values.'),
    'D31-Q18': ('What is "Distillation" in Diffusion?',
        "*   Teaching a student model to generate in 1 or 4 steps by mimicking the teacher's multi-step trajectory.\n*   Examples: Consistency Models, LCM (Latent Consistency Models)."),
    'D31-Q19': ('What is the U-Net architecture?',
        '*   Encoder-Decoder with Skip Connections.\n*   Preserves high-frequency details (spatial information) via skips.\n*   Ideal for image-to-image tasks (noise-to-image is effectively image-to-image).'),
    'D31-Q20': ('What is "Stable Diffusion XL" (SDXL)?',
        '*   Larger U-Net (2.6B params).\n*   Two text encoders (CLIP ViT-L + OpenCLIP ViT-G).\n*   Refiner model for high-frequency details.\n*   Trained at multiple aspect ratios.'),
    'D35-Q1': ('Why does Stable Diffusion use a VAE?',
        '*   To compress the image into a **Latent Space**.\n*   Pixel space is too high-dimensional and contains imperceptible high-frequency details.\n*   Latent space ($64 \\times 64$) is compact and semantically rich.\n*   This allows the diffusion model to train and sample much faster (computationally feasible on consumer GPUs).'),
    'D35-Q2': ('What is the role of CLIP in Stable Diffusion?',
        '*   CLIP (Contrastive Language-Image Pre-training) provides the **Text Encoder**.\n*   It converts the text prompt into a sequence of embeddings that are aligned with visual concepts.\n*   These embeddings are fed into the U-Net via Cross-Attention layers to guide generation.'),
    'D35-Q3': ('How does ControlNet work?',
        '*   It adds a trainable copy of the U-Net encoder to the existing frozen model.\n*   It takes an additional condition image (e.g., edge map, depth map).\n*   It injects features from the trainable copy into the main U-Net via "Zero Convolutions" (initialized to 0).\n*   This allows adding spatial constraints without destroying the pre-trained knowledge.'),
    'D35-Q4': ('What is the difference between Dreambooth and Textual Inversion?',
        '*   **Textual Inversion:** Optimizes a **new word embedding** (vector) to represent the concept. Does not touch U-Net weights. Lightweight but less flexible.\n*   **Dreambooth:** Fine-tunes the **entire U-Net** (or specific layers) to learn the concept. Higher fidelity but prone to overfitting (forgetting other concepts).'),
    'D35-Q5': ('Why is the VAE decoder not perfect?',
        '*   The VAE is lossy compression.\n*   Reconstructed images might have slight artifacts (e.g., small text is unreadable, faces in background are distorted).\n*   This is the trade-off for the massive speedup of Latent Diffusion.'),
    'D35-Q6': ('What is "CFG Scale" (Classifier-Free Guidance Scale)?',
        '*   A parameter $w$ that controls how much the model listens to the prompt.\n*   $\\text{Output} = \\text{Uncond} + w \\times (\\text{Cond} - \\text{Uncond})$.\n*   **Low $w$:** Creative, diverse, might ignore prompt.\n*   **High $w$:** Strict adherence to prompt, higher saturation, less diversity.\n*   **Too High:** Artifacts ("fried" images).'),
    'D35-Q7': ('Can Stable Diffusion generate images of any size?',
        '*   It is trained on $512 \\times 512$ (or $768 \\times 768$ for SD 2.0/XL).\n*   It can generate other aspect ratios, but going too far from the training resolution (e.g., $1024 \\times 1024$ on SD 1.5) often causes "duplication artifacts" (two heads).\n*   This is because the receptive field is fixed.'),
    'D35-Q8': ('What is Inpainting?',
        '*   Replacing a masked region of an image with generated content.\n*   **Method:**\n    *   Input: Masked Image, Mask, Noise.\n    *   The U-Net is modified to accept these extra channels (9 channels total).\n    *   Or, during sampling, we force the known region to match the original image and let diffusion fill the masked region.'),
    'D35-Q9': ('Explain "Zero Convolution".',
        "*   A $1 \\times 1$ convolution with weights and bias initialized to **zero**.\n*   Output is initially zero.\n*   This ensures that at the start of training, the ControlNet branch has **no effect** on the output, preserving the original model's behavior. Gradients then slowly update the weights."),
    'D35-Q10': ('Implement Cross-Attention (Conceptual).',
        '```python\nclass CrossAttention(nn.Module):\n    def forward(self, x, context):\n        # x: (B, Sequence_Length, Dim) - Image Features\n        # context: (B, Context_Length, Dim) - Text Embeddings\n        \n        Q = self.to_q(x)\n        K = self.to_k(context)\n        V = self.to_v(context)\n        \n        attn = (Q @ K.transpose(-2, -1)) * (1.0 / math.sqrt(self.dim))\n        attn = attn.softmax(dim=-1)\n        \n        return attn @ V\n```'),
}


_check_entries()
