"""The tour without Jupyter: ``python -m diffusionlab tour --out DIR``.

Loads the tiny Stable Diffusion shipped with the course (``pipelines.TextToImage``),
draws a grid of images for a dozen prompts and the figure of the whole pipeline (each
box labelled with the lesson that explains it), writes both as PNG files into DIR and
says what it did. Lesson 00 (``notebooks/00_tour.ipynb``) draws the same two figures
with ``prompt_grid`` and ``pipeline_figure``.
"""
from __future__ import annotations

import time
from pathlib import Path

import matplotlib

from .viz import show_images

TOUR_PROMPTS = (
    "a large red circle in the center",
    "a small blue square at the top left",
    "a large yellow triangle at the bottom right",
    "a small green circle at the right",
    "a large purple square at the top",
    "a small yellow circle at the bottom left",
    "a circle",
    "a blue shape",
    "a triangle at the left",
    "a large green shape",
    "a small purple triangle",
    "a square at the bottom",
)

# Boxes of the pipeline figure: (key, x, y, title, detail, lessons). Coordinates in a
# 16 x 7 canvas; the lessons are the notebooks numbered as in the README's lesson table
# (CONTRIBUTING.md says how to add one).
_BOXES = (
    ("tok", 1.6, 5.4, "tokenizer", "words -> 12 token ids\n(SD: 77 BPE tokens)", "08"),
    ("clip", 5.6, 5.4, "CLIP text encoder", "token states c: 12 x 64\n(SDXL: two encoders)",
     "08, 17 (13: textual inversion)"),
    ("noise", 1.6, 2.8, "noise z_T ~ N(0, I)", "latent 4 x 8 x 8\n(forward process, schedule)",
     "01, 02"),
    ("unet", 5.6, 2.8, "U-Net eps_theta(z_t, t, c)",
     "ResBlocks + skips (06),\ncross-attention to c (08)", "03, 06, 08 (11, 12, 13)"),
    ("cfg", 9.6, 2.8, "classifier-free guidance",
     "eps_u + s (eps_c - eps_u)\nnegative prompt -> eps_u", "09"),
    ("step", 13.6, 2.8, "scheduler step", "DDIM: z_t -> z_{t_prev}\n20 steps (15: 1 to 4)",
     "04, 05, 15"),
    ("vae", 13.6, 0.0, "VAE decoder", "4 x 8 x 8 -> 3 x 32 x 32", "10 (14: inpainting)"),
    ("image", 9.6, 0.0, "image", "32 x 32 RGB", "16 (sizes)"),
)
_ARROWS = (("tok", "clip"), ("clip", "unet"), ("noise", "unet"), ("unet", "cfg"),
           ("cfg", "step"), ("step", "vae"), ("vae", "image"))
_COLOURS = {"unet": "#fde9c9", "cfg": "#f9d5d3", "step": "#dbeafe", "clip": "#dcfce7",
            "tok": "#dcfce7", "vae": "#ede9fe"}


def pipeline_figure(image=None, noise=None, prompt: str = "a small red circle at the top left"):
    """The text-to-image pipeline as one figure, each box labelled (in red) with the
    lesson(s) that explain it.

    ``image`` (3, H, W) and ``noise`` (4, h, w), if given, are drawn as thumbnails beside
    the "image" and "noise" boxes. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    from .viz import to_image

    fig, ax = plt.subplots(figsize=(13, 6.4))
    ax.set_xlim(-0.3, 16.3)
    ax.set_ylim(-1.0, 7.2)
    ax.axis("off")
    w, h = 3.5, 1.6
    edge = {}
    for key, x, y, title, detail, lessons in _BOXES:
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05",
                                    fc=_COLOURS.get(key, "#f3f4f6"), ec="#374151", lw=1.2))
        ax.text(x, y + 0.45, title, ha="center", va="center", fontsize=10.5, weight="bold")
        ax.text(x, y - 0.05, detail, ha="center", va="center", fontsize=8.5)
        ax.text(x, y - 0.58, f"lesson {lessons}", ha="center", va="center", fontsize=8.5,
                color="#b91c1c")
        edge[key] = {"left": (x - w / 2 - 0.08, y), "right": (x + w / 2 + 0.08, y),
                     "top": (x, y + h / 2 + 0.08), "bottom": (x, y - h / 2 - 0.08)}

    def arrow(a, b, colour="#374151", style="arc3,rad=0"):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=15, lw=1.5,
                                     color=colour, connectionstyle=style))

    for a, b in _ARROWS:
        (xa, ya), (xb, yb) = edge[a]["left"], edge[b]["left"]
        if abs(ya - yb) < 0.1:
            arrow(*((edge[a]["right"], edge[b]["left"]) if xa < xb
                    else (edge[a]["left"], edge[b]["right"])))
        else:
            arrow(edge[a]["bottom"], edge[b]["top"])
    # the prompt enters the tokenizer
    ax.text(1.6, 6.85, f'prompt: "{prompt}"', ha="left", va="center", fontsize=10,
            style="italic")
    arrow((1.6, 6.65), edge["tok"]["top"])
    # the sampling loop: back from the scheduler step into the U-Net
    (xs, ys), (xu, yu) = edge["step"]["bottom"], edge["unet"]["bottom"]
    arrow((xs - 0.8, ys), (xu + 0.4, yu), colour="#2563eb", style="arc3,rad=-0.18")
    ax.text(5.0, 1.05, "repeat with z_{t_prev} for every timestep", ha="center", va="center",
            fontsize=9, color="#2563eb")
    ax.text(15.5, 1.4, "after the\nlast step", ha="left", va="center", fontsize=8.5)
    if noise is not None:
        inset = ax.inset_axes([0.0, 0.7, 0.9, 0.9], transform=ax.transData)
        inset.imshow(to_image(noise[:3].clamp(-2, 2) / 2), interpolation="nearest")
        inset.set_axis_off()
    if image is not None:
        inset = ax.inset_axes([5.9, -0.8, 1.6, 1.6], transform=ax.transData)
        inset.imshow(to_image(image), interpolation="nearest")
        inset.set_axis_off()
    ax.set_title("The tiny Stable Diffusion: prompt -> text encoder -> latent U-Net loop -> "
                 "VAE decoder", fontsize=12)
    fig.tight_layout()
    return fig


def prompt_grid(pipe, prompts=TOUR_PROMPTS, seed: int = 0, ncols: int = 6, **kwargs):
    """Generate one image per prompt and draw them with the prompts as titles.
    Returns (figure, images)."""
    import textwrap

    images = pipe(list(prompts), seed=seed, progress=False, **kwargs).images
    titles = [textwrap.fill(p, 22) for p in prompts]
    fig = show_images(images, titles=titles, ncols=ncols, size=2.0)
    lines = max(t.count("\n") + 1 for t in titles)
    width, height = fig.get_size_inches()
    rows = -(-len(titles) // max(1, min(ncols, len(titles))))
    fig.set_size_inches(width, height + 0.18 * lines * rows)   # room for the titles
    fig.tight_layout()
    return fig, images


def benchmark(pipe, n_images: int = 16, num_inference_steps: int = 20, repeats: int = 5) -> float:
    """Median wall time (s) of one pipeline call making ``n_images`` images with
    ``num_inference_steps`` DDIM steps at the default guidance (after one warm-up call)."""
    import statistics

    prompts = [TOUR_PROMPTS[0]] * n_images
    pipe(prompts, num_inference_steps=num_inference_steps, progress=False)      # warm-up
    times = []
    for k in range(repeats):
        start = time.perf_counter()
        pipe(prompts, num_inference_steps=num_inference_steps, seed=k, progress=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(out) -> int:
    """Write ``prompt_grid.png`` and ``pipeline.png`` into ``out``; print what was done."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from .pipelines import DEFAULT_GUIDANCE_SCALE, TextToImage

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        pipe = TextToImage.pretrained()
    except FileNotFoundError as err:
        print(f"cannot load the tiny Stable Diffusion: {err}")
        return 1
    loaded = time.perf_counter()
    fig, images = prompt_grid(pipe)
    generated = time.perf_counter()
    grid_path = out / "prompt_grid.png"
    fig.savefig(grid_path, dpi=110)
    plt.close(fig)
    noise = torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(0))
    fig = pipeline_figure(image=images[0], noise=noise, prompt=TOUR_PROMPTS[0])
    pipe_path = out / "pipeline.png"
    fig.savefig(pipe_path, dpi=110)
    plt.close(fig)
    total = time.perf_counter() - start
    sizes = pipe.num_parameters()
    print(f"tiny Stable Diffusion: U-Net {sizes['unet'] / 1e6:.2f}M, text encoder "
          f"{sizes['text_encoder'] / 1e6:.2f}M, VAE {sizes['vae'] / 1e6:.2f}M parameters "
          f"(loaded in {loaded - start:.1f} s)")
    print(f"generated {len(TOUR_PROMPTS)} images (20 DDIM steps, guidance scale "
          f"{DEFAULT_GUIDANCE_SCALE:g}, seed 0) in {generated - loaded:.1f} s for the prompts:")
    for p in TOUR_PROMPTS:
        print(f"  - {p}")
    bench = benchmark(pipe)
    print(f"benchmark: 16 images, 20 DDIM steps, guidance {DEFAULT_GUIDANCE_SCALE:g}: "
          f"{bench:.2f} s (median of 5, {torch.get_num_threads()} threads)")
    print(f"wrote {grid_path}")
    print(f"wrote {pipe_path}")
    print(f"done in {total:.1f} s")
    return 0
