"""Builds notebooks/16_failure_modes.ipynb (unexecuted); run from the repository root:

    python notebooks/drafts/build_16_failure_modes.py          # the SD-1 sections
    python notebooks/drafts/build_16_failure_modes.py --xl     # and the text2img_xl sections

then ``python -m diffusionlab notebooks 16`` and ``pytest --nbval notebooks/16_failure_modes.ipynb``.
Needs ``weights/text2img/failure_modes.json`` (``python -m diffusionlab.failure_modes --out
diffusionlab/weights/text2img/failure_modes.json``, about a minute on one thread) and, with
``--xl``, ``weights/text2img_xl`` (``python -m diffusionlab train text2img_xl``) and its
``failure_modes.json`` (``python -m diffusionlab.failure_modes --xl --out
diffusionlab/weights/text2img_xl/failure_modes.json``).
"""
import sys
from pathlib import Path

import nbformat as nbf

XL = "--xl" in sys.argv
OUT = Path(__file__).resolve().parents[1] / "16_failure_modes.ipynb"

cells = []


def md(s):
    cells.append(nbf.v4.new_markdown_cell(s.strip("\n")))


def code(s, **meta):
    cells.append(nbf.v4.new_code_cell(s.strip("\n"), metadata=meta))


md(r'''
# 16 · Where Stable Diffusion breaks: duplication, binding, counting, text, hands

**Runtime:** about a minute on 2 free CPU cores (a few hundred images from the shipped models;
nothing is trained; the 128-prompt duplication study was computed by
`python -m diffusionlab.failure_modes` and is re-checked here on a slice).

> **D35-Q7. Can Stable Diffusion generate images of any size?**
> *   It is trained on $512 \times 512$ (or $768 \times 768$ for SD 2.0/XL).
> *   It can generate other aspect ratios, but going too far from the training resolution (e.g., $1024 \times 1024$ on SD 1.5) often causes "duplication artifacts" (two heads).
> *   This is because the receptive field is fixed.

> **D31-Q14. Why do Diffusion models struggle with hands/text?**
> *   **Hands**: Rare in training data to see all 5 fingers clearly separated; high variance in pose.
> *   **Text**: The model works in pixel space/latent space, not symbolic space. It tries to "draw" letters based on visual patterns, not spell them.

Every failure here is *counted*, not eyeballed: the scene reader of `metrics.scenes` splits a
generated image into connected components, reads each one (shape, colour, size, position, or
the letter it shows) and scores it against the prompt. The plan:

1. **Duplication beyond the training size**: the shipped SD-1-style model (trained at 32x32)
   sampled from its training size to twice it; the rate measured on 128 prompts.
2. **Is it the receptive field?** The U-Net's theoretical receptive field against the canvas,
   and its *effective* one (Luo et al. 2016), measured by gradients.
3. **The fixes**: sample at the native size and upscale; train on several sizes and aspects.
4. **Text**: what the word-level tokenizer and the autoencoder do to letters.
5. **Hands, by analogy**: many fine parts, close together, each of which must be right.
''' + (r'''
6. **Binding, counting and spelling on a second-generation model** (`text2img_xl`, lesson 17):
   two objects, counted groups, and words it never saw, by text encoder and guidance scale.
''' if XL else ""))

code(r'''
import json

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display
from ipywidgets import IntSlider, interact

from diffusionlab.checkpoints import read_manifest, weights_path
from diffusionlab.data.glyphs import WORDS
from diffusionlab.data.shapes import COLORS
from diffusionlab.failure_modes import size_key, vae_text_study
from diffusionlab.metrics.counting import count_objects
from diffusionlab.metrics.duplication import (duplicate_spacing, duplication_rate,
                                              measure_duplication, upscaled)
from diffusionlab.metrics.receptive_field import unet_conv_field, unet_fields
from diffusionlab.metrics.scenes import SceneReader, score_scenes
from diffusionlab.nn.text import unknown_words
from diffusionlab.pipelines import TextToImage
from diffusionlab.viz import show_images, show_source

torch.set_num_threads(2)
torch.manual_seed(0)

pipe = TextToImage.pretrained()
reader = SceneReader.pretrained()
study = json.loads((weights_path("text2img") / "failure_modes.json").read_text())
prompts = study["prompts"]
native, upsc = study["duplication"]["native"], study["duplication"]["upscaled"]
print(f"the study: {len(prompts)} one-object prompts, e.g. {prompts[0]!r}; "
      f"{study['num_inference_steps']} DDIM steps, guidance {study['guidance_scale']:g}")
''')

md(r'''
## 1. One object asked, several drawn

The shipped model (lessons 08-10) was trained only on 32x32 images of **one** object: every
prompt names one shape, its colour, size and position on a 3x3 grid. Its U-Net is
convolutional with attention, so it accepts any latent size: sample it at 48x48 and 64x64
(latents 12x12 and 16x16 instead of 8x8) with the *same* prompts and seeds:
''')

code(r'''
demo = prompts[:6]
rows, titles = [], []
for s in (32, 48, 64):
    rows.append(pipe(demo, height=s, width=s, seed=0, progress=False).images)
fix = upscaled(pipe, 32, 32)
rows.append(fix(demo, height=64, width=64, seed=0, progress=False).images)
side = 64
grid = [torch.nn.functional.pad(img, ((side - img.shape[-1]) // 2,) * 2 + ((side - img.shape[-2]) // 2,) * 2,
                                value=0.0) for row in rows for img in row]
labels = ["32 (native)", "48", "64", "32, upscaled"]
counts = [int(c) for row in rows for c in count_objects(row)]
fig = show_images(grid, titles=[f"{labels[i // 6]}: {counts[i]}" for i in range(len(grid))],
                  ncols=6, size=1.7)
fig.suptitle("same prompts, same seeds; title: size and number of objects counted", fontsize=10)
plt.show()
for p in demo[:3]:
    print(p)
''')

md(r'''
The count is the number of connected components of the foreground (brightest channel above 0,
components under 4 pixels ignored as specks); an image is *duplicated* when it holds more than
one:
''')

code(r'''
show_source(duplication_rate)
''')

md(r'''
Components miss one kind of duplicate: two copies drawn so close that they fuse count as one
object. So each size is also read by the scene reader: **scene accuracy** is the share of
images showing the prompt's object, right in every attribute, *and nothing else*, which a
fused pair fails. The 128-prompt study (the same prompts and seeds at every size):
''')

code(r'''
keys = [k for k in native if "x" not in k]
print(f"{'size':>6} {'duplicated':>10} {'mean count':>10} {'empty':>6} {'scene acc.':>10}"
      f" {'object acc.':>11}")
for k in keys:
    r = native[k]
    print(f"{k:>6} {r['duplication_rate']:>10.3f} {r['mean_count']:>10.2f} {r['empty_rate']:>6.3f}"
          f" {r['scene_accuracy']:>10.3f} {r['object_accuracy']:>11.3f}")
sizes = [int(k) for k in keys]
dup = [native[k]["duplication_rate"] for k in keys]
assert dup[0] <= 0.05, "at its training size the model draws one object"
assert dup[-1] >= 0.6, "at twice its training size most images are duplicated"
assert all(b >= a - 0.05 for a, b in zip(dup, dup[1:])), "duplication grows with the canvas"
assert native["32"]["scene_accuracy"] >= 0.9 and native["64"]["scene_accuracy"] <= 0.3
''')

md(r'''
**Re-checked here on a slice**: the first 16 prompts at 32 and 64 pixels, with the same seeds,
must give the same counts as the study (batches of a different size can change the last bits
of a float, so one image in 16 may differ):
''')

code(r'''
n_live = 16
live = measure_duplication(pipe, prompts[:n_live], sizes=(32, 64), batch_size=n_live)
for s in (32, 64):
    same = sum(int(a) == b for a, b in zip(live[s]["counts"], native[str(s)]["counts"][:n_live]))
    ref = sum(c > 1 for c in native[str(s)]["counts"][:n_live]) / n_live
    print(f"{s} px: duplicated {live[s]['duplication_rate']:.3f} live vs {ref:.3f} in the study "
          f"on these prompts; counts agree on {same} of {n_live} images")
    assert same >= n_live - 1 and abs(live[s]["duplication_rate"] - ref) <= 1 / n_live + 1e-9
''')

code(r'''
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(sizes, dup, "o-", label="sampled at the size (duplicated)")
ax.plot(sizes, [1 - native[k]["scene_accuracy"] for k in keys], "s--",
        label="sampled at the size (scene wrong)")
up_keys = list(upsc)
ax.plot([int(k) for k in up_keys], [upsc[k]["duplication_rate"] for k in up_keys], "^-",
        label="sampled at 32, upscaled (duplicated)")
ax.set_xlabel("canvas side (pixels); trained at 32")
ax.set_ylabel("share of 128 images")
ax.set_xticks(sizes)
ax.set_ylim(-0.03, 1.03)
ax.legend(fontsize=8)
ax.set_title("one object asked: duplication against canvas size")
plt.show()
''')

md(r'''
## 2. Is it "the receptive field"?

The seed's explanation: *the receptive field is fixed*. Two different things go by that name.

**The theoretical receptive field** is the set of input pixels that *can* change an output
pixel. For a stack of convolutions it follows the textbook recurrence
$r = 1 + \sum_l (k_l - 1) \prod_{i<l} s_i$ ($k_l$ the kernel size, $s_i$ the strides before
layer $l$). Along the U-Net's longest path (conv_in, the ResBlocks, the down- and up-sampling,
conv_out):
''')

code(r'''
show_source(unet_conv_field, start="levels =")
''')

code(r'''
fields = study["fields"]
conv = unet_conv_field(pipe.unet.config)
assert conv == fields["conv_field_analytic"]
print(f"convolutions alone: {conv} x {conv} latent pixels = {conv * 4} x {conv * 4} image pixels")
for s, row in fields["sizes"].items():
    print(f"  latent {s:>2} x {s:<2} (image {int(s) * 4} px): the centre pixel's convolutional field "
          f"covers {row['conv_extent'][0]} x {row['conv_extent'][1]} latent pixels "
          f"(share of the canvas {row['conv_area_share']:.2f})")
assert all(r["conv_area_share"] == 1.0 for r in fields["sizes"].values())
''')

md(r'''
So even with attention switched off (the measured support of the convolutional path, with
every attention block removed and GroupNorm's statistics frozen, `metrics.receptive_field`),
each output pixel of the 64x64 image's 16x16 latent depends on **every** latent pixel. And the
model is not convolutions alone: it has **self-attention at both levels** of its U-Net and in
its middle block, which mixes every position with every other at any size, and GroupNorm,
whose statistics are taken over the whole canvas. The seed's statement, taken literally, is
wrong for this model, and for SD (whose U-Net also has self-attention at three of its four
levels).

**The effective receptive field** (Luo et al. 2016) is how much the output *actually* depends
on each input pixel: the gradient $|\partial \hat\epsilon(y, x) / \partial z|$ of the centre
output pixel with respect to the input latents, averaged over Gaussian latents at timesteps 250,
500 and 750 and 3 seeds. Two readings of it: the **ring profile** (the largest gradient at
Chebyshev distance $d$, relative to the pixel's dependence on itself), and the **falloff
radius**, from which on every ring stays under 1 % of it:
''')

code(r'''
def field_map(latent_size, t):
    ctx = pipe.encode_prompt([prompts[0]])
    return unet_fields(pipe.unet, ctx, sizes=(latent_size,), timesteps=(t,), seeds=(0,))[latent_size]["full"]


print("falloff: the distance from which every ring stays under 1 % of the pixel's own gradient")
print(f"{'latent':>6} {'falloff':>7} {'r90 (mass)':>10}  ring profile d = 1, 2, 3, 4")
for s, row in fields["sizes"].items():
    prof = ", ".join(f"{v:.3f}" for v in row["ring_profile"][1:5])
    print(f"{s:>6} {row['falloff_radius']:>7} {row['radius']['0.9']:>10}  {prof}")
live16 = unet_fields(pipe.unet, pipe.encode_prompt([prompts[0]]), sizes=(16,))[16]["full"]
assert live16.falloff_radius(0.01) == fields["sizes"]["16"]["falloff_radius"], "live = study"
prof8, prof16 = fields["sizes"]["8"]["ring_profile"], fields["sizes"]["16"]["ring_profile"]
weaker = {int(s): prof8[4] / row["ring_profile"][4] for s, row in fields["sizes"].items() if int(s) > 8}
far = [v for s, v in weaker.items() if s >= 16]                # twice the training side and more
print("at distance 4, the 8x8 training size's dependence over each larger latent's: "
      + ", ".join(f"{s}x{s}: {v:.1f}x" for s, v in weaker.items()))
assert fields["sizes"]["8"]["falloff_radius"] >= 5, "at the training size every pixel matters"
assert min(far) > 1.2
''')

md(r'''
Two things stand out. Half or more of the gradient sits on the pixel itself (the residual path:
$\hat\epsilon$ at a pixel is mostly about the noise at that pixel). And the dependence on a
distant pixel **shrinks as the canvas grows**: on the 8x8 latents of the training size every
pixel keeps more than 1 % of the centre's own weight out to the border; on canvases of twice
the training side and more (16x16 and 24x24 latents) the dependence at distance 4 is clearly
weaker. Self-attention is global, but each query's weights sum
to one: spread over more tokens, each distant one gets less of the say. (The profile is noisy
from size to size, and so is the falloff radius, which is why no single radius is claimed.)
(The mass-based radius, the share of the total gradient, *grows* with the canvas, because a
faint floor summed over more pixels is more mass; it is the wrong reading for this question.)
Now where do the copies appear? For every duplicated image, the distance from its largest object
to the nearest other one:
''')

code(r'''
spacing64 = torch.tensor(native["64"]["spacing"]) / 4         # image pixels -> latent pixels
med = float(spacing64.median())
print(f"64 px: {len(spacing64)} duplicated images; copies are {med:.1f} latent pixels apart "
      f"(median; quartiles {spacing64.quantile(0.25):.1f} to {spacing64.quantile(0.75):.1f}); the "
      f"training canvas is 8 latent pixels wide")
assert 4 <= med <= 10, "copies sit about a training canvas apart"
''')

code(r'''
def show_field(latent_size=16, t=500):
    f = field_map(latent_size, t)
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2))
    axes[0].imshow(f.gradient.clamp(max=f.gradient.max() * 0.05), cmap="magma")
    r = f.falloff_radius(0.01)
    c = latent_size // 2
    axes[0].add_patch(plt.Rectangle((c - r - 0.5, c - r - 0.5), 2 * r + 1, 2 * r + 1, fill=False,
                                    ec="cyan", lw=1.5))
    axes[0].set_title(f"|d eps(centre) / d z|, {latent_size}x{latent_size} latents, t={t}\n"
                      f"(clipped at 5 % of the peak); cyan: falloff radius {r}", fontsize=9)
    prof = f.ring_profile()
    axes[1].semilogy(range(1, len(prof)), prof[1:], "o-")
    axes[1].axhline(0.01, color="gray", ls=":")
    axes[1].set_xlabel("Chebyshev distance d (latent pixels)")
    axes[1].set_ylabel("gradient / the pixel's own")
    axes[1].set_title("ring profile: never zero, but small", fontsize=9)
    plt.tight_layout()
    plt.show()
''')

code(r'''
# NBVAL_IGNORE_OUTPUT
interact(show_field, latent_size=IntSlider(16, 8, 24, 2), t=IntSlider(500, 50, 950, 50));
''')

code(r'''
show_field(16, 500)
''')

code(r'''
display(Markdown(
    f"**So the receptive field is not what is fixed; what the network learned at one scale is.** "
    f"Every output pixel can see the whole canvas (the convolutions alone reach {conv} latent "
    f"pixels, attention everything). But how much a distant pixel counts falls as the canvas "
    f"grows ({min(far):.1f}x to {max(far):.1f}x weaker at distance 4 on canvases of twice the "
    f"training side and more than on the 8x8 latents of the training size). At the training size every region constrains every other, and the model learned *one object per "
    f"canvas*; on the large canvas regions a few latent pixels apart barely constrain each "
    f"other, each denoises like a piece of a training image, and copies appear: at 64 px they "
    f"sit {med:.1f} latent pixels apart (median), about the width of a training canvas (8). "
    f"\"Fixed receptive field\" is the right intuition with "
    f"the wrong name: it is a *learned* scale of composition, which attention dilutes rather "
    f"than removes."))
''')

md(r'''
## 3. The fixes

**Sample at the native size, then upscale** (no training): the composition is the one the
model learned; the upscaling adds no detail (SD's "hires fix" then runs img2img at the large
size to add it, which would bring back some duplication risk at high strength). The study, and
a live slice:
''')

code(r'''
for k in up_keys:
    print(f"{k} px: sampled at the size {native[k]['duplication_rate']:.3f} duplicated, scene accuracy "
          f"{native[k]['scene_accuracy']:.3f}; sampled at 32 and upscaled {upsc[k]['duplication_rate']:.3f}"
          f" duplicated, scene accuracy {upsc[k]['scene_accuracy']:.3f}")
live_up = measure_duplication(fix, prompts[:n_live], sizes=(64,), batch_size=n_live)[64]
ref = sum(c > 1 for c in upsc["64"]["counts"][:n_live]) / n_live
print(f"live slice, 64 px upscaled: {live_up['duplication_rate']:.3f} duplicated (study: {ref:.3f})")
assert abs(live_up["duplication_rate"] - ref) <= 1 / n_live + 1e-9
assert all(upsc[k]["duplication_rate"] <= 0.05 and upsc[k]["scene_accuracy"] >= 0.85 for k in up_keys)
''')

md(r'''
**Other aspect ratios.** The same model at 24x40 (landscape) and 40x24 (portrait), the same
number of pixels give or take, but a shape it never trained on:
''')

code(r'''
for k in ("24x40", "40x24"):
    r = native[k]
    attrs = ", ".join(f"{a} {v:.2f}" for a, v in r["attribute_accuracy"].items())
    print(f"{k}: duplicated {r['duplication_rate']:.3f}, empty {r['empty_rate']:.3f}, scene accuracy "
          f"{r['scene_accuracy']:.3f}; by attribute: {attrs}")
''')

code(r'''
aspect = [pipe(demo, height=h, width=w, seed=0, progress=False).images for h, w in ((24, 40), (40, 24))]
fig = show_images([img for row in aspect for img in row], ncols=6, size=1.5,
                  titles=[p.split(" at ")[-1] if " at " in p else "centre" for p in demo] * 2)
fig.suptitle("the SD-1-style model at 24x40 (top) and 40x24 (bottom); title: the position asked",
             fontsize=10)
plt.show()
''')

code(r'''
worst = min(("24x40", "40x24"), key=lambda k: native[k]["scene_accuracy"])
display(Markdown(
    f"Off-square it does not duplicate (the canvas is no larger than 40 pixels on any side: "
    f"{native['24x40']['duplication_rate']:.2f} and {native['40x24']['duplication_rate']:.2f}), "
    f"but it draws the wrong scene far more often: scene accuracy "
    f"{native['24x40']['scene_accuracy']:.2f} (landscape) and {native['40x24']['scene_accuracy']:.2f}"
    f" (portrait) against {native['32']['scene_accuracy']:.2f} at 32x32. SDXL's answer is to "
    f"**train on many sizes and aspect ratios** (aspect buckets, with the target size as a "
    f"condition), which is what `text2img_xl` does (lesson 17). The errors are almost all "
    f"**position** (right {native[worst]['attribute_accuracy']['position']:.2f} of the time on "
    f"{worst}): shape, colour and size stay at or above "
    f"{min(min(v for a, v in native[k]['attribute_accuracy'].items() if a != 'position') for k in ('24x40', '40x24')):.2f}. "
    f"The grid of positions the model learned is a square one."))
assert max(native[k]["duplication_rate"] for k in ("24x40", "40x24")) <= 0.05
assert native[worst]["attribute_accuracy"]["position"] <= 0.8
''')

md(r'''
## 4. Text: the tokenizer and the autoencoder

The seed says the model "draws letters based on visual patterns, not spell them". Two concrete
mechanisms are behind that, and both can be measured on the SD-1 stack.

**The tokenizer.** SD's CLIP tokenizer splits text into sub-word tokens ("hamburger" is
`ham` + `burger`), so the spelling of a word is hidden inside token ids that the U-Net never sees
letter by letter. Our word-level tokenizer is the extreme case: a word it never saw is `<unk>`,
the same token for every unknown word, so nothing about its spelling reaches the U-Net at all:
''')

code(r'''
tok = pipe.clip.tokenizer
for caption in ("the word CAT in red", "the word OWL in red", "a red circle"):
    ids = tok(caption)["input_ids"]
    print(f"{caption!r:>24} -> {tok.convert_ids_to_tokens(ids)[:7]}; unknown: {unknown_words(tok, caption)}")
assert "CAT" in unknown_words(tok, "the word CAT in red") and unknown_words(tok, "a red circle") == []
cat, owl = (tok(c)["input_ids"] for c in ("the word CAT in red", "the word OWL in red"))
assert cat == owl, "two different words, one and the same input to the model"
''')

md(r'''
**The autoencoder.** The U-Net never sees pixels: it draws latents, which the VAE decodes
(lesson 10). Each latent pixel stands for 4x4 image pixels (8x8 in SD). A shape survives that; a
letter whose strokes are one pixel wide may not. A round trip (encode, decode, read) of scenes
that *are* right, 48x48, one object each:
''')

code(r'''
show_source(vae_text_study, start="for kind in kinds", stop="images[kind]")
''')

code(r'''
vae_rows, vae_imgs = vae_text_study(pipe.vae, reader, n=40, keep=2)
for name, r in vae_rows.items():
    a = r["after"]
    extra = "" if a["letter_accuracy"] is None else (
        f", letter accuracy {a['letter_accuracy']:.2f}" + (
            "" if a["word_accuracy"] is None else f", word accuracy {a['word_accuracy']:.2f}"))
    study_a = study["vae_text"][name]["after"]
    print(f"{name:>12}: read right {r['before']['object_accuracy']:.2f} before, {a['object_accuracy']:.2f} "
          f"after the VAE{extra} (study, 128 scenes: {study_a['object_accuracy']:.2f})")
    assert abs(a["object_accuracy"] - study_a["object_accuracy"]) <= 0.12, "the live slice agrees"
assert all(r["before"]["object_accuracy"] == 1.0 for r in vae_rows.values()), "the reader reads real scenes"
vt = {k: v["after"] for k, v in study["vae_text"].items()}
assert vt["shape"]["object_accuracy"] >= 0.95
assert vt["small letter"]["letter_accuracy"] <= 0.3 < vt["large letter"]["letter_accuracy"]
''')

code(r'''
show = ["shape", "small letter", "large letter", "large word"]
imgs = [img for name in show for img in list(vae_imgs[name][0]) + list(vae_imgs[name][1])]
titles = [t for name in show for t in (name, "", "after VAE", "")]
fig = show_images(imgs, titles=titles, ncols=8, size=1.3)
fig.suptitle("scenes before and after one trip through the shipped VAE (4x4 pixels per latent)", fontsize=10)
plt.show()
''')

md(r'''
A caveat the numbers need: this VAE was trained on the shapes world only, so letters are also
*out of its training data*. The failure mixes resolution and data; lesson 17's scenes VAE,
trained on letters and words, separates the two. SD's own VAE saw little clean text too.

## 5. Hands, by analogy: many fine parts, each must be right

A hand is right only if *all five* fingers are: their number, their order, their joints. A word
is right only if all its letters are. If each part were drawn right independently with
probability $p$, a whole of $k$ parts would be right with probability $p^k$: fine parts
multiply their failures. Measured on the VAE round trip above (the study's 128 scenes per kind;
large glyphs, 2-pixel strokes):
''')

code(r'''
p = vt["large letter"]["letter_accuracy"]
in_word = vt["large word"]["letter_accuracy"]
word = vt["large word"]["word_accuracy"]
k = len(WORDS[0])
display(Markdown(
    f"A large letter alone survives with $p$ = {p:.2f}. If the {k} letters of a word were "
    f"independent, the word would survive with $p^{k}$ = {p ** k:.2f}. Measured: its letters "
    f"survive with {in_word:.2f} and the word with {word:.2f}. **Worse than independent**: the "
    f"letters of a word are one cell (2 pixels) apart, half a latent pixel, so neighbouring "
    f"letters share latent pixels: after the round trip they run into each other or break "
    f"apart (the figure above), the way adjacent fingers fuse or split. Fine structure that is "
    f"(1) repeated, (2) closer together than the latent grid and (3) exact in number is the "
    f"worst case for a latent diffusion model."))
assert word <= p ** k + 0.05 and in_word < p
''')

if XL:
    md(r'''
## 6. A second-generation model: binding, counting and spelling

`text2img_xl` (lesson 17) was trained on the wider world: one to three objects, letters, words
and counted groups, on 32x32, 24x40 and 40x24 canvases, with **two text encoders**, a
word-level one and a **character-aware** one (Liu et al. 2022: each word's token is composed
from its letters), and with condition dropout so that the *same network* can be asked to use
only some of its conditioning: `text_encoders="both"`, `"word"`, `"char"`, or `"pooled"` (only
the pooled sentence vector, no per-token states). Each question below is therefore an ablation
on one network (by dropout, not separately trained models). The 128-prompt numbers come from
`python -m diffusionlab.failure_modes --xl --out diffusionlab/weights/text2img_xl/failure_modes.json`; each part is re-checked live on a slice.
''')

    code(r'''
from diffusionlab.failure_modes import sample_and_score, xl_prompt_sets
from diffusionlab.recipes.text2img_xl import spelling_gain
from diffusionlab.pipelines import TextToImageXL

xl = TextToImageXL.pretrained()
xs = json.loads((weights_path("text2img_xl") / "failure_modes.json").read_text())
xl_manifest = read_manifest(weights_path("text2img_xl"))
sets = xl_prompt_sets(xs["n"])
n_slice = 16


def slice_of(name, n=n_slice):
    caps, phr = sets[name]
    return caps[:n], phr[:n]


print(f"text2img_xl study: {xs['n']} prompts per cell; e.g. {sets['pairs'][0][0]!r}, "
      f"{sets['groups'][0][0]!r}, {sets['held-out words'][0][0]!r}")
''')

    md(r'''
**Other aspect ratios, trained.** Section 1's one-object prompts, on the canvases where the
SD-1-style model put objects in the wrong place:
''')

    code(r'''
for k in ("32x32", "24x40", "40x24"):
    r, sd = xs["aspects"][k], native["32" if k == "32x32" else k]
    print(f"{k}: text2img_xl duplicated {r['duplication_rate']:.3f}, scene accuracy {r['scene_accuracy']:.3f},"
          f" position {r['attribute_accuracy']['position']:.2f} | SD-1 scene accuracy "
          f"{sd['scene_accuracy']:.3f}, position {sd['attribute_accuracy'].get('position', 1.0):.2f}")
live_xl = measure_duplication(xl, prompts[:n_slice], sizes=((24, 40),), batch_size=n_slice)[(24, 40)]
same = sum(int(a) == b for a, b in zip(live_xl["counts"], xs["aspects"]["24x40"]["counts"][:n_slice]))
print(f"live slice at 24x40: counts agree with the study on {same} of {n_slice} images")
assert same >= n_slice - 1
xa = xs["aspects"]
for k, r in xa.items():
    att = r["attribute_accuracy"]
    assert min(att["shape"], att["color"], att["size"]) > 0.8   # *what* to draw: learned, on every canvas
    assert att["position"] > 0.8                                # *where*: learned too (chance: 1 in 9 cells)
    assert r["duplication_rate"] < 0.05                         # one object asked, one drawn
for k in ("24x40", "40x24"):                                    # off-square: where SD-1 misplaces
    assert xa[k]["attribute_accuracy"]["position"] > native[k]["attribute_accuracy"]["position"] + 0.2
''')

    md(r'''
**Why its captions are written out in full.** The SD-1 recipe trains on 'mixed' captions, which
name each object's size, colour and position only some of the time, so that the model also
answers short prompts. `python -m diffusionlab.failure_modes --captions` trains the tiny SDXL
twice for a few minutes, identical but for the caption style, and reads position back:
''')

    code(r'''
cs = json.loads((weights_path("text2img_xl") / "caption_study.json").read_text())
print(f"caption study ({cs['command']}): {cs['steps']} steps on {cs['n_scenes']} one-object scenes "
      f"at 32x32, scored on {cs['n_prompts']} one-object prompts")
for style in ("mixed", "full"):
    r = cs[style]
    print(f"  {style:5s} captions: {r['captions_naming_a_position']:.0%} name a position; "
          f"position right {r['attribute_accuracy']['position']:.2f}, shape "
          f"{r['attribute_accuracy']['shape']:.2f}, colour {r['attribute_accuracy']['color']:.2f}")
assert cs["full"]["attribute_accuracy"]["position"] > cs["mixed"]["attribute_accuracy"]["position"] + 0.3
what = min(min(r["attribute_accuracy"][a] for a in ("shape", "color", "size")) for r in xa.values())
where = [xa[k]["attribute_accuracy"]["position"] for k in ("32x32", "24x40", "40x24")]
display(Markdown(
    f"The second model gets *what* to draw right (shape, colour and size at least {what:.2f} on "
    f"every canvas) and *where*: position is right in {where[0]:.2f} / {where[1]:.2f} / "
    f"{where[2]:.2f} of the images at 32x32 / 24x40 / 40x24 (chance: one cell in 9, "
    f"{1 / 9:.2f}), where the square-trained SD-1 model manages "
    f"{native['24x40']['attribute_accuracy']['position']:.2f} and "
    f"{native['40x24']['attribute_accuracy']['position']:.2f} off-square; and it duplicates "
    f"{max(r['duplication_rate'] for r in xa.values()):.0%} of one-object prompts at most. Lesson "
    f"17 measures how much of that the buckets did. It took full captions. The SD-1 model's "
    f"captions are 'mixed' (each attribute named at random), and an earlier tiny SDXL trained on "
    f"them placed objects at about chance. The caption study above isolates it: two short "
    f"trainings, identical but for the caption style, and position is learned "
    f"({cs['full']['attribute_accuracy']['position']:.2f}) only by the one whose captions always "
    f"name it ({cs['full']['captions_naming_a_position']:.0%} of them), not by the one whose "
    f"captions name it {cs['mixed']['captions_naming_a_position']:.0%} of the time "
    f"({cs['mixed']['attribute_accuracy']['position']:.2f}). The SD-1 model got away with mixed "
    f"captions because its text encoder was pre-trained contrastively and reads position "
    f"zero-shot (the `clip` manifest: "
    f"{read_manifest(weights_path('clip'))['scores']['zero_shot_position']:.2f}); the tiny SDXL's "
    f"encoders learn from the denoising loss alone, and an attribute the captions often leave "
    f"out is one they do not learn. A toy result, not a law of SDXL, whose encoders are frozen "
    f"pre-trained CLIPs (lesson 17)."))
''')

    md(r'''
**Binding and counting.** Two-object prompts ("a small red circle at the left and a large blue
square at the top right") and counted groups ("three yellow triangles"), by guidance scale and
by what the U-Net sees of the text: the per-token states of both encoders, or only the pooled
vector (one vector for the whole sentence; SD 1 has no pooled input, SDXL adds one):
''')

    code(r'''
print(f"{'encoders':>8} {'guidance':>8} {'binding err.':>12} {'object acc.':>11} {'count acc.':>10}")
for key, r in xs["binding"].items():
    enc, s = key.split()
    print(f"{enc:>8} {s:>8} {r['pairs']['binding_error_rate']:>12.3f} {r['pairs']['object_accuracy']:>11.3f}"
          f" {r['groups']['count_accuracy']:>10.3f}")
live_pairs = sample_and_score(xl, reader, *slice_of("pairs"), batch_size=n_slice, guidance_scale=3.0,
                              text_encoders="both")
print(f"live slice ({n_slice} pairs, both, guidance 3): object accuracy {live_pairs.object_accuracy:.3f}"
      f" (study on {xs['n']}: {xs['binding']['both 3']['pairs']['object_accuracy']:.3f})")
assert abs(live_pairs.object_accuracy - xs["binding"]["both 3"]["pairs"]["object_accuracy"]) <= 0.2
for scale in ("1", "3", "6"):
    tok, pool = xs["binding"][f"both {scale}"], xs["binding"][f"pooled {scale}"]
    assert tok["pairs"]["object_accuracy"] > pool["pairs"]["object_accuracy"]   # per-token states: more right
    assert tok["groups"]["object_accuracy"] > pool["groups"]["object_accuracy"] + 0.3
for scale in ("1", "3"):                    # at 6 guidance has eaten the counts' lead (printed above)
    tok, pool = xs["binding"][f"both {scale}"], xs["binding"][f"pooled {scale}"]
    assert tok["groups"]["count_accuracy"] > pool["groups"]["count_accuracy"] + 0.05  # ... and better counts
grp = {s: xs["binding"][f"both {s}"]["groups"] for s in ("1", "3", "6")}
assert grp["3"]["object_accuracy"] > grp["1"]["object_accuracy"]           # guidance: more right objects
assert grp["6"]["count_accuracy"] < grp["1"]["count_accuracy"]             # ... and worse counts
''')

    code(r'''
fig, axes = plt.subplots(1, 3, figsize=(10, 3))
for enc, style in (("both", "o-"), ("pooled", "s--")):
    keys = [k for k in xs["binding"] if k.split()[0] == enc]
    scales = [float(k.split()[1]) for k in keys]
    axes[0].plot(scales, [xs["binding"][k]["pairs"]["object_accuracy"] for k in keys], style, label=enc)
    axes[1].plot(scales, [xs["binding"][k]["pairs"]["binding_error_rate"] for k in keys], style, label=enc)
    axes[2].plot(scales, [xs["binding"][k]["groups"]["count_accuracy"] for k in keys], style, label=enc)
for ax, title in zip(axes, ("object accuracy (two objects)", "binding errors (two objects)",
                            "count accuracy (groups of 2 or 3)")):
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("guidance scale")
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
''')

    code(r'''
b3, p3 = xs["binding"]["both 3"], xs["binding"]["pooled 3"]
display(Markdown(
    f"At guidance 3, with the per-token states, {b3['pairs']['binding_error_rate']:.0%} of the "
    f"two-object scenes have an attribute on the wrong object, and only "
    f"{b3['pairs']['object_accuracy']:.0%} of the asked-for objects are fully right (position "
    f"included), where one object alone is right in {xa['32x32']['object_accuracy']:.0%} of the "
    f"images: the second object is where it fails. The pooled vector alone draws almost none "
    f"right ({p3['pairs']['object_accuracy']:.1%}); its lower binding error rate "
    f"({p3['pairs']['binding_error_rate']:.0%}) is not better binding: a swap can only be counted on "
    f"an object drawn as the right kind, and it draws fewer of those. On counted groups the "
    f"per-token states give {b3['groups']['count_accuracy']:.0%} right counts against "
    f"{p3['groups']['count_accuracy']:.0%} pooled. Guidance trades one for the other: from scale 1 to "
    f"3 the groups' objects get more often right ({grp['1']['object_accuracy']:.2f} -> "
    f"{grp['3']['object_accuracy']:.2f}) while the count gets worse, down to "
    f"{grp['6']['count_accuracy']:.2f} at 6 (from {grp['1']['count_accuracy']:.2f}): a stronger pull "
    f"towards 'yellow triangles' is not a pull towards 'three'."))
''')

    md(r'''
**Spelling.** Words the model was trained on (`TRAIN_WORDS`) and words it never saw
(`HELD_OUT_WORDS`), asked through the word-level encoder only, the character-aware one only,
and both. With the word-level tokenizer a held-out word is `<unk>`: nothing about its letters
reaches the U-Net.
''')

    code(r'''
print(f"{'encoders':>8} {'words':>15} {'letter acc.':>11} {'word acc.':>9}")
for key, r in xs["spelling"].items():
    enc, split = key.split(" ", 1)
    print(f"{enc:>8} {split:>15} {r['letter_accuracy']:>11.3f} {r['word_accuracy']:>9.3f}")
sp = xs["spelling"]
live_char = sample_and_score(xl, reader, *slice_of("held-out words"), batch_size=n_slice, text_encoders="char")
print(f"live slice ({n_slice} held-out words, char encoder): letter accuracy {live_char.letter_accuracy:.3f}"
      f" (study: {sp['char held-out words']['letter_accuracy']:.3f})")
assert abs(live_char.letter_accuracy - sp["char held-out words"]["letter_accuracy"]) <= 0.2
''')

    md(r'''
Every letter accuracy is near zero: this model does not draw readable letters at all, in any
mode, so the images cannot say whether the character-aware encoder would help. Its autoencoder
is not the reason (`vae_scenes` keeps most letters and words through a round trip, printed
below from its manifest). One step further up: does the *caption's word* reach the U-Net? Give it a one-word
scene with the right caption and with the same caption naming another word (same colour, size
and position), and measure how much more denoising error the wrong word leaves
(`spelling_gain`; 0 means the word's identity is ignored):
''')

    code(r'''
show_source(spelling_gain)
sg = xs["spelling_gain"]
print(f"{'encoders':>8} " + " ".join(f"{k:>15s}" for k in sg))
for mode in ("both", "word", "char", "pooled"):
    print(f"{mode:>8} " + " ".join(f"{sg[k][mode]:15.4f}" for k in sg))
vs = read_manifest(weights_path("vae_scenes"))["scores"]["24x40"]
print(f"vae_scenes round trip at 24x40: letters {vs['letter_accuracy_roundtrip']:.2f}, words "
      f"{vs['word_accuracy_roundtrip']:.2f}, held-out words {vs['word_accuracy_held_out_roundtrip']:.2f}")
print(f"for comparison, right vs shuffled captions on the wider world's scenes (conditioning gain): "
      f"{xl_manifest['scores']['conditioning_gain']['scenes']['both']:.3f} with both encoders")
assert sg["held_out_words"]["word"] == 0.0        # sanity check: both words are <unk>, identical inputs
assert max(max(v.values()) for v in sg.values()) < 0.02   # the word's letters barely reach the U-Net
''')

    code(r'''
display(Markdown(
    f"Naming the wrong word costs at most {max(max(v.values()) for v in sg.values()):.2%} more "
    f"denoising error, against {xl_manifest['scores']['conditioning_gain']['scenes']['both']:.0%} "
    f"for a wrong caption on the wider world's scenes: the tiny SDXL learned that a word is a coloured "
    f"blob of a certain size, not which letters it holds, with either encoder. For held-out words "
    f"the word-level encoder's gain is exactly 0 (both words are `<unk>`), which is the "
    f"tokenizer's failure in its pure form; the character-aware encoder does see different "
    f"letters, but a U-Net that never learned to use them draws the same blob. Liu et al. "
    f"(2022) measured the character-aware gain on models that already draw letters; in "
    f"30 CPU-minutes, ours does not get that far. (Note also that this model's word-level "
    f"tokenizer knows only the caption grammar's words: to it *every* word, trained or not, is "
    f"`<unk>`, so its 'train words' rows are not a test of the vocabulary either.)"))
''')

    md(r'''
**A model that spells, to tell the encoders apart.** Two things stand between `text2img_xl`'s
encoders and the ink: an autoencoder with 4x4 pixels per latent pixel, and a training mix in
which a word is one scene in five. `text2img_spelling` removes both. It keeps the
tiny SDXL's classes (`TinySDXL`: word-level and character-aware encoders,
condition dropout so one network answers every mode), trained only on large one-word scenes
(16x40: the word has one place, so colour and letters are all a caption asks), in
**pixel space** (`nn.vae.PixelSpace`, the identity in place of the autoencoder: the U-Net draws
the pixels, as DeepFloyd IF and Imagen do). Half of its words are `TRAIN_WORDS`, which its
word-level tokenizer *knows*; the other half are random three-letter strings, which the
word-level tokenizer cannot name (`<unk>`, as a rare word is to a fixed vocabulary) and the
character-aware one spells out. `HELD_OUT_WORDS` are never drawn in training.

Its character-aware encoder gives the U-Net **one token per character** (ByT5-style, the encoder
Liu et al. add to Imagen: `char_tokens="char"`), where `text2img_xl`'s pools each word's letters
into one token. Cross-attention can then fetch the second letter where the second glyph is drawn.
(With one pooled token per word, the first version of this model got letters only a few times
chance on held-out words, and no whole word.)
''')

    code(r'''
from diffusionlab.data.glyphs import HELD_OUT_WORDS
from diffusionlab.data.scenes import parse_scene_caption
from diffusionlab.recipes import text2img_spelling

show_source(text2img_spelling.make_data)
speller = text2img_spelling.load_pipeline()
sm = read_manifest(weights_path("text2img_spelling"))
ss = sm["scores"]
print(f"text2img_spelling: {sm['n_scenes']} scenes ({sm['random_rate']:.0%} random strings), "
      f"{sm['steps']} steps, trained in {sm['train_seconds'] / 60:.1f} min; scored on "
      f"{text2img_spelling.EVAL_PROMPTS} prompts per row ({ss['sampler']}, "
      f"{ss['num_inference_steps']} steps, guidance {ss['guidance_scale']:g})")
print(f"{'encoders':>8} {'words':>15} {'letter acc.':>11} {'word acc.':>9}")
for split in ("train_words", "held_out_words"):
    for mode in ("both", "word", "char", "pooled"):
        r = ss[f"{split}_{mode}"]
        print(f"{mode:>8} {split.replace('_', ' '):>15} {r['letter_accuracy']:>11.3f} "
              f"{r['word_accuracy']:>9.3f}")
''')

    md(r'''
For a held-out word the word-level encoder has nothing but `<unk>`, so with **both** encoders the
letters reach the U-Net only through the character-aware one; that is also exactly the input the
model saw for its random training strings (half of all training scenes). Below, eight held-out
prompts drawn with the **word-level encoder alone** (top) and with **both** (bottom), the same
noise per column, each titled with what the scene reader reads; then what these eight give against
the stored rows (a coarse live check: 24 letters per mode; the slow test `tests/test_spelling.py`
redraws all 128):
''')

    code(r'''
held = text2img_spelling.spelling_prompts(HELD_OUT_WORDS, 8)
drawn = {mode: text2img_spelling.generate(speller, held, text_encoders=mode) for mode in ("word", "both")}


def read_words(images):
    return [" ".join(o.get("text") or o["kind"] for o in objs) or "(nothing)" for objs in reader.read(images)]


asked = [parse_scene_caption(c)[0]["text"] for c in held]
reads = {mode: read_words(im) for mode, im in drawn.items()}
fig = show_images(list(drawn["word"]) + list(drawn["both"]), ncols=8, size=1.5,
                  titles=[f"{a}: {r}" for a, r in zip(asked, reads["word"])]
                  + [f"{a}: {r}" for a, r in zip(asked, reads["both"])])
fig.suptitle("held-out words; top: word-level encoder only, bottom: both (the word-level one "
             "sees <unk>) (title: asked: read)", fontsize=10)
plt.show()
live_sp = {mode: reader.score(im, held) for mode, im in drawn.items()}
for mode, sc in live_sp.items():
    print(f"live ({len(held)} held-out prompts, {3 * len(held)} letters), {mode:4s} encoders: letters "
          f"{sc.letter_accuracy:.3f} (stored, {text2img_spelling.EVAL_PROMPTS} prompts: "
          f"{ss['held_out_words_' + mode]['letter_accuracy']:.3f})")
    assert abs(sc.letter_accuracy - ss["held_out_words_" + mode]["letter_accuracy"]) < 0.25   # 24 letters: coarse
''')

    code(r'''
hb, hc, hw = ss["held_out_words_both"], ss["held_out_words_char"], ss["held_out_words_word"]
tw_, tb = ss["train_words_word"], ss["train_words_both"]
chance = 1 / 26
print(f"chance for one letter: {chance:.3f}; held-out letters, both / char only / word only: "
      f"{hb['letter_accuracy']:.3f} / {hc['letter_accuracy']:.3f} / {hw['letter_accuracy']:.3f} "
      f"({hb['letter_accuracy'] / chance:.1f}x / {hc['letter_accuracy'] / chance:.1f}x / "
      f"{hw['letter_accuracy'] / chance:.1f}x chance); whole held-out words right: "
      f"{hb['word_accuracy']:.3f} / {hc['word_accuracy']:.3f} / {hw['word_accuracy']:.3f}")
assert hw["letter_accuracy"] < 2 * chance                        # <unk>: no better than guessing
assert hw["word_accuracy"] == 0 < hb["word_accuracy"]            # unseen words spelled only with letters in the input
assert hb["letter_accuracy"] > hw["letter_accuracy"] + 0.1       # the char encoder carries the letters
assert hb["letter_accuracy"] > 0.6 * tb["letter_accuracy"]       # held-out nearly as good as trained words
assert tw_["letter_accuracy"] > hw["letter_accuracy"] + 0.05     # the word encoder spells words it knows
assert hc["letter_accuracy"] < hb["letter_accuracy"]             # char alone: the rarely trained mode
display(Markdown(
    f"Words the model never drew: with both encoders (the word-level one sees only `<unk>`) it gets "
    f"{hb['letter_accuracy']:.0%} of their letters right, {hb['letter_accuracy'] / chance:.1f} times "
    f"chance (one letter in 26), and spells {hb['word_accuracy']:.1%} of the words whole, against "
    f"{tb['letter_accuracy']:.0%} and {tb['word_accuracy']:.1%} for words it was trained on: what it "
    f"learned about letters carries over to new words ({hb['letter_accuracy'] / tb['letter_accuracy']:.0%} "
    f"of its trained-word letter accuracy). Through the word-level encoder alone, "
    f"{hw['letter_accuracy']:.0%} of letters (near chance) and no whole word: every held-out word "
    f"is the same `<unk>`, so nothing in the input says which letters to draw. The same word-level "
    f"encoder does better on words in its vocabulary ({tw_['letter_accuracy']:.0%}, in a mode trained "
    f"on about one sample in ten, see below): the failure is the vocabulary, not the network. That is the direction Liu et al. (2022) measured, at toy "
    f"scale and far below their level.\n\n"
    f"Two caveats an ML engineer would raise. *Ablation by dropout has a blind spot*: the "
    f"character-aware encoder alone (`\"char\"`, word states zeroed) does worse "
    f"({hc['letter_accuracy']:.0%} of held-out letters) than with an `<unk>` beside it, because "
    f"zeroed word states are an input the U-Net saw in one training sample in ten, while `<unk>` "
    f"beside spelled letters was half of all training: a mode is only as good as its share of "
    f"training. And *whole words are hard*: {sm['steps']} CPU steps leave each letter right "
    f"{hb['letter_accuracy']:.0%} of the time, and a word needs all three."))
''')

    md(r'''
**Hands, again: accuracy against the number of parts.** Count accuracy for one, two and three
identical objects, and word accuracy against letter accuracy (section 5's rule, now on the
model that spells):
''')

    code(r'''
bc = {k: v["count_accuracy"] for k, v in xs["by_count"].items()}
print("count accuracy by number of objects asked: " + ", ".join(f"{k}: {v:.2f}" for k, v in bc.items()))
assert bc["1"] > max(bc["2"], bc["3"])            # one object: right most often
for key in ("train_words_both", "held_out_words_both", "held_out_words_word"):
    r = ss[key]
    split, mode = key.rsplit("_", 1)
    print(f"text2img_spelling, {split.replace('_', ' ')}, {mode} encoders: letters right "
          f"{r['letter_accuracy']:.3f}, words right {r['word_accuracy']:.3f} (independent letters "
          f"would give {r['letter_accuracy'] ** 3:.3f})")
''')

md(r'''
## The interview answers

**D35-Q7. Can Stable Diffusion generate images of any size?**
''')

code(r'''
d32, d48, d64 = (native[k]["duplication_rate"] for k in ("32", "48", "64"))
display(Markdown(
    f"**30 seconds.** Any multiple of 8 pixels runs, but quality holds only near the training "
    f"size. Above it the model duplicates: ours, trained at 32 px, drew several objects for a "
    f"one-object prompt in {d32:.0%} of images at 32 px, {d48:.0%} at 48, {d64:.0%} at 64. Not "
    f"a fixed receptive field (attention is global): composition is learned at one scale. "
    f"Fixes: generate at the native size and upscale ({upsc['64']['duplication_rate']:.0%} "
    f"duplicated), or train on many sizes and aspects (SDXL)."))
''')

code(r'''
display(Markdown(
    f"**In depth.**\n\n"
    f"* *The seed's sizes.* SD 1.x is trained at 512x512; SD 2.0 has a 512 model and a 768 "
    f"v-prediction model; **SDXL's base resolution is 1024x1024** (with multi-aspect buckets of "
    f"about a megapixel), not 768.\n"
    f"* *\"The receptive field is fixed\" is wrong as stated.* The convolutions alone of our "
    f"U-Net reach {conv}x{conv} latent pixels, more than any canvas here, and self-attention "
    f"(SD has it at three of its four levels) connects every position at any size. What is "
    f"local is the *effective* dependence: most of an output pixel's gradient sits on its own "
    f"input pixel, and the dependence on distant ones weakens as the canvas grows ({min(far):.1f}x to {max(far):.1f}x at "
    f"distance 4 on canvases of twice the training side and more). Copies appear {med:.1f} latent pixels apart (median), about one training "
    f"canvas (8) apart. The model learned one composition per training-sized "
    f"neighbourhood; nothing in training taught it to keep distant regions consistent.\n"
    f"* *Counting duplicates undercounts them*: fused copies are one component. Scene accuracy "
    f"(right object, nothing else) falls from {native['32']['scene_accuracy']:.2f} at 32 px to "
    f"{native['48']['scene_accuracy']:.2f} at 48 and {native['64']['scene_accuracy']:.2f} at 64.\n"
    f"* *Off-square, it is position that breaks*: at 24x40 and 40x24 (no larger than 40 px) "
    f"nothing duplicates, but objects land in the wrong cell (position right "
    f"{native['24x40']['attribute_accuracy']['position']:.2f} and "
    f"{native['40x24']['attribute_accuracy']['position']:.2f}).\n"
    f"* *Fixes that work*: sample at the native size and upscale: {upsc['64']['duplication_rate']:.0%} "
    f"duplicated and scene accuracy {upsc['64']['scene_accuracy']:.2f} at 64 px (SD's \"hires fix\" "
    f"then adds detail with img2img at a moderate strength); train on several sizes and aspect "
    f"ratios with the size as a condition (SDXL's buckets and micro-conditioning, lesson 17); "
    f"tiled or region-wise sampling (MultiDiffusion) for very large canvases."))
''')

md(r'''
**D31-Q14. Why do diffusion models struggle with hands and text?**
''')

code(r'''
p_small = vt["small letter"]["letter_accuracy"]
display(Markdown(
    f"**30 seconds.** Both are fine, exact, repeated structure: every finger and every letter "
    f"must be right, so errors multiply. Text fails at three places: the tokenizer hides "
    f"spelling (sub-words; an unknown word is `<unk>`), the VAE's downsampling blurs thin "
    f"strokes (our VAE keeps {p_small:.0%} of small letters, {p:.0%} of large ones, "
    f"{word:.0%} of large words), and the data rarely shows clean text. Character-aware "
    f"encoders and richer latents fix much of it."))
''')

code(r'''
display(Markdown(
    f"**In depth.**\n\n"
    f"* *\"Pixel space, not symbolic space\" is not the mechanism.* Pixel-space models (Imagen, "
    f"DeepFloyd IF) spell well; what matters is what reaches the image model. (1) The "
    f"**tokenizer**: CLIP's BPE gives the U-Net sub-word tokens, so the letters of a word are "
    f"implicit; a word-level tokenizer like ours maps every unseen word to the same `<unk>` "
    f"(\"CAT\" and \"OWL\" give identical inputs). Character-aware encoders (T5/ByT5: Liu et al. "
    f"2022, Imagen, Glyph-ByT5) expose the letters. (2) The **autoencoder**: a latent pixel "
    f"covers 4x4 pixels here (8x8 in SD); a round trip keeps shapes "
    f"({vt['shape']['object_accuracy']:.2f} read right) but only {p_small:.2f} of small "
    f"letters (1-pixel strokes) and {p:.2f} of large ones. SD3 and FLUX moved to 16 latent "
    f"channels largely for this.\n"
    f"* *Hands: the seed's rarity and pose variance are real, but not the whole story.* A hand "
    f"is five similar parts, close together, whose number is exact, and a denoiser has no "
    f"explicit notion of number. Our analogue: a large letter survives the VAE with {p:.2f}; "
    f"three of them side by side as a word would survive with {p ** 3:.2f} if independent, and "
    f"actually do with {word:.2f}: parts closer than a latent pixel run into each other or "
    f"break apart, like fused or split fingers. Rarity makes it worse (each pose is seen few times), but even with perfect "
    f"data the latent resolution and the multiplication of errors remain.\n"
    f"* *What helps*: more and better captioned data of hands and text, larger or richer latents, "
    f"character-aware text encoders, and for hands, conditioning on a pose or depth map "
    f"(ControlNet, lesson 11) or inpainting the hand region at a higher resolution (lesson 14)."))
''')

if XL:
    code(r'''
display(Markdown(
    f"* *Measured here (section 6)*: a pixel-space model asked for words it never drew spells "
    f"{hb['word_accuracy']:.1%} of them whole and {hb['letter_accuracy']:.0%} of their letters "
    f"when a character-aware encoder passes the letters in, and none whole, "
    f"{hw['letter_accuracy']:.0%} of letters (near chance), through the word-level encoder alone, for "
    f"which every such word is `<unk>`. Whole words stay rare even when trained "
    f"({tb['word_accuracy']:.1%}): three letters each right with $p$ = "
    f"{tb['letter_accuracy']:.2f} predict {tb['letter_accuracy'] ** 3:.3f}."))
''')

md(r'''
## Exercise

`exercises/ex16_failure_modes.py`: write the measures this lesson relies on: the duplication
rate from connected components, the binding error (right attributes on the wrong object), and
letter vs word accuracy. The tests compare them with the library on real scenes. Grade it with
`python -m diffusionlab grade 16` (or `check("16")` here).
''')

# ------------------------------------------------------------------ write
nb = nbf.v4.new_notebook()
nb["cells"] = cells
nb["metadata"] = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                  "language_info": {"name": "python"}}
nbf.write(nb, OUT)
print(f"wrote {OUT} ({len(cells)} cells{', with the text2img_xl sections' if XL else ''})")
