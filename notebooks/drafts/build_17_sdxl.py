"""Builds notebooks/17_sdxl.ipynb (unexecuted); run from the repository root:

    python notebooks/drafts/build_17_sdxl.py            # writes notebooks/17_sdxl.ipynb
    python -m diffusionlab notebooks 17                 # executes it in place
    pytest --nbval notebooks/17_sdxl.ipynb

Needs the shipped ``weights/text2img_xl`` and ``weights/text2img_xl_refiner`` (with
``vae_scenes``), ``text2img`` (the SD-1-style model) and the scene reader's evaluator.
``--out PATH`` writes elsewhere (e.g. a scratch copy)."""
import argparse

import nbformat as nbf

cells = []


def md(s):
    cells.append(nbf.v4.new_markdown_cell(s.strip("\n")))


def code(s, **meta):
    cells.append(nbf.v4.new_code_cell(s.strip("\n"), metadata=meta))


md(r'''
# 17 · A tiny SDXL: what each of its ideas buys, measured

**Runtime:** about a minute on 2 free CPU cores (a few hundred images from the shipped tiny SDXL,
its refiner and the SD-1-style model of lesson 00; nothing is trained here). Other programs busy
on the same cores make it slower.

> **D31-Q20. What is "Stable Diffusion XL" (SDXL)?**
> *   Larger U-Net (2.6B params).
> *   Two text encoders (CLIP ViT-L + OpenCLIP ViT-G).
> *   Refiner model for high-frequency details.
> *   Trained at multiple aspect ratios.

> **D35-Q7** (its resolution line): *It is trained on $512 \times 512$ (or $768 \times 768$ for SD 2.0/XL).*

The seed lists four ingredients and leaves out the one that made SDXL's samples look different:
**micro-conditioning** on the original image size and on the crop (section 2.2 of Podell et al.
2023, "SDXL: Improving Latent Diffusion Models for High-Resolution Image Synthesis"). And its
resolution line is wrong for XL. This lesson uses a *tiny SDXL* trained in this course on the
wider world of lesson 16 (scenes of shapes, letters and words on 32 x 32, 24 x 40 and 40 x 24
canvases) that carries each of SDXL's ideas, and measures what each one does against the same
model without it:

1. the figures, corrected (SDXL's, from the paper; the tiny model's, counted);
2. **two text encoders**, per-token states concatenated, plus a pooled embedding;
3. **size conditioning**: asking for a small or a large original size, sharpness measured;
4. **crop conditioning**: asking for crop (0, 0) or a large offset, objects cut by the frame measured;
5. **multi-aspect buckets**: landscape and portrait canvases, placement and duplication measured
   against the same recipe trained on square canvases only (and the SD-1-style model);
6. **the refiner**: the base model's last steps handed to a second model.
''')

code(r'''
import json

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display
from ipywidgets import IntSlider, interact

from diffusionlab.checkpoints import read_manifest, weights_path
from diffusionlab.data.buckets import CROP_MARGIN, SMALL_SIDE
from diffusionlab.data.glyphs import TRAIN_WORDS
from diffusionlab.data.scenes import make_scenes, parse_scene_caption
from diffusionlab.metrics.duplication import duplication_rate, one_object_prompts
from diffusionlab.metrics.framing import border_contacts, framing_report
from diffusionlab.metrics.scenes import SceneReader, score_scenes
from diffusionlab.metrics.sharpness import high_frequency_energy
from diffusionlab.nn.embeddings import added_condition_embedding, micro_conditioning_ids
from diffusionlab.pipelines import TextToImage, TextToImageXL, TextToImageXLRefiner
from diffusionlab.recipes.text2img_xl import SMALL_RATE, conditioning_gain
from diffusionlab.viz import show_images, show_source

torch.set_num_threads(2)
torch.manual_seed(0)

xl = TextToImageXL.pretrained()
refiner = TextToImageXLRefiner.pretrained()
sd1 = TextToImage.pretrained()
reader = SceneReader.pretrained()
xl_manifest = read_manifest(weights_path("text2img_xl"))
refiner_manifest = read_manifest(weights_path("text2img_xl_refiner"))
STEPS = 15                 # sampler steps for every comparison (the same for both sides)
N = 32                     # prompts per comparison (the 60 s budget)


def count(module):
    return sum(p.numel() for p in module.parameters())


def generate(prompts, seed=0, pipe=None, **kwargs):
    """The tiny SDXL (or ``pipe``) on a list of prompts, images (B, 3, H, W) in [-1, 1]."""
    return (pipe or xl)(prompts, num_inference_steps=STEPS, seed=seed, progress=False, **kwargs).images


def show_row(images, titles, size=1.3):
    show_images(images, titles=titles, ncols=len(images), size=size)
    plt.show()


# One set of prompts for every experiment: scenes of 1 to 3 objects (shapes, letters, counted
# groups, words the model was trained on), and the baseline every idea is compared with: both
# text encoders, original_size = target_size = (32, 32), crop (0, 0), no refiner.
world = make_scenes(N, seed=1700, num_objects=(1, 2, 3), letter_rate=0.3, group_rate=0.1,
                    words=TRAIN_WORDS, word_rate=0.15)
prompts = world.captions
baseline = generate(prompts, seed=1)
print(f"tiny SDXL: trained by `{xl_manifest['command']}`; refiner by `{refiner_manifest['command']}`")
print(f"{N} prompts, e.g. {prompts[0]!r}, {prompts[1]!r}")
''')

md(r'''
## 1. The figures, corrected

The seed's numbers beside the paper's (Podell et al. 2023; section and table named in the
last column). Printed from a table in code, so the sources travel with the numbers:
''')

code(r'''
SDXL_FACTS = [  # (what, the seed says, SDXL / SD 1.x per the paper, where)
    ("base resolution", "768 x 768 (D35-Q7)", "1024 x 1024 (SD 1.x: 512 x 512; SD 2.0-v: 768 x 768)",
     "sec. 2.3, 2.5"),
    ("U-Net parameters", "2.6B", "2.6 B (SD 1.x: 0.86 B, SD 2.x: 0.865 B): 3x larger", "Tab. 1"),
    ("text encoders", "CLIP ViT-L + OpenCLIP ViT-G",
     "CLIP ViT-L (768) + OpenCLIP ViT-bigG (1280), penultimate layers concatenated: 2048 channels "
     "of cross-attention context (SD 1.x: 768); 817 M parameters together", "sec. 2.1, Tab. 1"),
    ("pooled text embedding", "(not mentioned)",
     "OpenCLIP bigG's pooled embedding (1280) added to the time embedding", "sec. 2.1"),
    ("micro-conditioning", "(not mentioned)",
     "original size (h, w) and crop (top, left) of every training image, Fourier-embedded (256 "
     "each) and added to the time embedding; lets SDXL train on the 39 % of its data below 256 px",
     "sec. 2.2, Fig. 2"),
    ("multi-aspect training", "trained at multiple aspect ratios",
     "buckets of about 1024 x 1024 pixels (multiples of 64), the target size as conditioning too",
     "sec. 2.3, App. I"),
    ("U-Net layout", "(not mentioned)",
     "transformer blocks [0, 2, 10] per level (SD 1.x: [1, 1, 1, 1]); the 8x-downsampled level removed",
     "sec. 2.1, Tab. 1"),
    ("refiner", "for high-frequency details",
     "a second latent U-Net in the same latent space, trained on the first 200 (lowest) noise "
     "levels, run SDEdit-style on the base's latents; optional", "sec. 2.5"),
    ("autoencoder", "(not mentioned)", "same architecture as SD's, retrained (batch 256, EMA): "
     "better reconstructions", "sec. 2.4"),
]
rows = ["| | the seed | SDXL (Podell et al. 2023) | where |", "|---|---|---|---|"]
rows += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in SDXL_FACTS]
display(Markdown("\n".join(rows)))
''')

md(r'''
The tiny versions, counted from the shipped weights. The SD-1-style model of lesson 00 has one
word-level text encoder and a U-Net on the shipped VAE's latents; the tiny SDXL has two text
encoders, its own autoencoder for the wider world (letters need finer latents than shapes:
lesson 16), and a wider U-Net that also takes the added conditioning and, like SDXL's, has no
attention at its highest resolution (attention over the most positions costs the most; SDXL
moved its transformer blocks to the lower levels):
''')

code(r'''
sd1_parts = sd1.num_parameters()
xl_parts = xl.num_parameters()
ref_parts = refiner.num_parameters()
te = xl.text_encoders
added = sum(p.numel() for n, p in xl.unet.named_parameters() if n.startswith("add_"))
print(f"{'part':30s} {'SD-1-style':>12s} {'tiny SDXL':>12s}")
for name, a, b in (("word-level text encoder", sd1_parts["text_encoder"], xl_parts["word_encoder"]),
                   ("character-aware text encoder", 0, xl_parts["char_encoder"]),
                   ("U-Net", sd1_parts["unet"], xl_parts["unet"]),
                   ("  of which added conditioning", 0, added),
                   ("autoencoder", sd1_parts["vae"], xl_parts["vae"]),
                   ("refiner U-Net", 0, ref_parts["unet"])):
    print(f"{name:30s} {a / 1e6:10.3f} M {b / 1e6:10.3f} M")
unet_ratio = xl_parts["unet"] / sd1_parts["unet"]
print(f"\nU-Net, tiny SDXL / SD-1-style: {unet_ratio:.1f}x  (SDXL / SD 1.5: {2.6e9 / 0.86e9:.1f}x)")
xl_unet, sd1_unet = xl.model.config["unet"], sd1.unet.config
print(f"width x levels: SD-1-style {sd1_unet['base_channels']} x {list(sd1_unet['channel_mults'])}, "
      f"attention at {list(sd1_unet['attention_levels'])}; tiny SDXL {xl_unet['base_channels']} x "
      f"{list(xl_unet['channel_mults'])}, attention at {list(xl_unet['attention_levels'])} (SDXL: none "
      f"at the highest resolution, 2 and 10 transformer blocks at the two lower ones)")
print(f"text context: word states {te.word_width} + character-aware states {te.char_width} = "
      f"{te.context_dim} channels per token (SDXL: 768 + 1280 = 2048); pooled {te.pooled_dim} "
      f"(SDXL: 1280)")
z_sd1 = sd1(["a red circle"], num_inference_steps=1, return_latents=True, progress=False).latents
z_xl = xl(["a red circle"], num_inference_steps=1, return_latents=True, progress=False).latents
print(f"latent of a 32 x 32 image (channels, h, w): SD-1-style {tuple(z_sd1.shape[1:])}, "
      f"tiny SDXL {tuple(z_xl.shape[1:])} (SDXL: (4, 128, 128) for 1024 x 1024)")
assert te.context_dim == te.word_width + te.char_width   # sanity check: concatenated, not summed
assert xl_parts["unet"] > sd1_parts["unet"]        # the larger U-Net, as in SDXL
assert not xl_unet["attention_levels"][0]          # ... with no attention at the highest resolution
''')

md(r'''
## 2. How the extra conditioning enters the U-Net

SDXL's U-Net gets three kinds of conditioning (diffusers' `UNet2DConditionModel` with
`addition_embed_type="text_time"`):

* the **per-token states of both text encoders, concatenated along channels**
  ($c_{\text{ctx}} = [h^{(1)}_i \,\|\, h^{(2)}_i]$, 768 + 1280 = 2048 channels in SDXL), read by
  every cross-attention layer, as in SD;
* the **pooled** text embedding $p$ of the second encoder, and
* six **micro-conditioning** numbers, each turned into its own sinusoidal features
  $\mathrm{PE}(\cdot)$ of width $d$ (the same function as the timestep's):

$$e_{\text{add}} = \big[\,p,\ \mathrm{PE}(h_{\text{orig}}), \mathrm{PE}(w_{\text{orig}}), \mathrm{PE}(c_{\text{top}}), \mathrm{PE}(c_{\text{left}}), \mathrm{PE}(h_{\text{tgt}}), \mathrm{PE}(w_{\text{tgt}})\,\big]$$
$$\mathrm{emb} = \mathrm{MLP}_t(\mathrm{PE}(t)) + \mathrm{MLP}_{\text{add}}(e_{\text{add}})$$

so every ResBlock, which already adds the time embedding to its features, now also learns from
the size, the crop and the pooled prompt. The library's two functions (exercise 17 asks you to
write them):
''')

code(r'''
show_source(micro_conditioning_ids)
show_source(added_condition_embedding)
''')

code(r'''
ids = micro_conditioning_ids((16, 16), (0, 0), (32, 32), batch_size=2)
print("time ids for original_size (16, 16), crop (0, 0), target (32, 32):", ids[0].tolist())
sdxl_width = added_condition_embedding(torch.zeros(1, 1280), micro_conditioning_ids(
    (1024, 1024), (0, 0), (1024, 1024)), 256).shape[1]
print(f"SDXL base: pooled 1280 + 6 x 256 Fourier features = {sdxl_width} numbers into its add_embedding MLP")
assert sdxl_width == 2816                         # sanity check: SDXL's projection_class_embeddings_input_dim
''')

md(r'''
## 3. Two text encoders

The tiny SDXL has two encoders, trained jointly with its U-Net (SDXL's are frozen pre-trained
CLIPs; nothing pre-trained exists here): a **word-level** one (a word outside its vocabulary is
`<unk>`) and a **character-aware** one (Liu et al. 2022: each word is composed from its letters,
so an unseen word still has a spelling-bearing embedding; lesson 16 measures the spelling). Their
per-token states are concatenated; the character-aware one's pooled embedding goes into the added
conditioning, as OpenCLIP bigG's does in SDXL.

Because training dropped each encoder's states now and then (an ablation *by dropout*, on one
network, not separately trained models), the same U-Net can be asked to generate with
`text_encoders="word"`, `"char"`, `"both"` or `"pooled"` (pooled vector only, no per-token states).
The same prompts, the same seeds, read back by the scene reader of lesson 16:
''')

code(r'''
modes = ("both", "word", "char", "pooled")
by_mode = {"both": reader.score(baseline, prompts)}
for mode in modes[1:]:
    by_mode[mode] = reader.score(generate(prompts, seed=1, text_encoders=mode), prompts)
print(f"{'text_encoders':14s} {'object acc.':>11s} {'scene acc.':>10s} {'binding err.':>12s} {'letter acc.':>11s}")
for mode, s in by_mode.items():
    print(f"{mode:14s} {s.object_accuracy:11.2f} {s.scene_accuracy:10.2f} "
          f"{s.binding_error_rate:12.2f} {s.letter_accuracy:11.2f}")
obj = {m: s.object_accuracy for m, s in by_mode.items()}
''')

md(r'''
On these few prompts the images are too weak for the scene reader to rank the modes reliably:
the tiny SDXL gets few objects right in any mode (its weakness is discussed at the end). A
measure that needs no drawing at all separates them: the **conditioning gain**, the share of the
U-Net's denoising error that the caption explains. Noise fresh scenes' latents to a few
timesteps, predict the noise with the right captions and with the captions shuffled among the
scenes, and take `1 - error(right) / error(shuffled)`; 0 means the caption is ignored.
''')

code(r'''
show_source(conditioning_gain)
''')

code(r'''
gain = conditioning_gain(xl, n=128)["scenes"]
print("conditioning gain on 128 fresh scenes (32 x 32), by what the U-Net sees of the text:")
for mode in modes:
    print(f"  {mode:7s} {gain[mode]:.3f}")
assert gain["both"] > max(gain["word"], gain["char"])        # the two encoders add up
assert gain["pooled"] < 0.5 * min(gain["word"], gain["char"])  # per-token states carry the scene
''')

code(r'''
display(Markdown(
    f"Per-token states of both encoders explain {gain['both']:.0%} of the denoising error that a "
    f"wrong caption leaves; the word-level encoder alone {gain['word']:.0%}, the character-aware "
    f"one alone {gain['char']:.0%}: the two encoders add up, as SDXL's CLIP-L and bigG do. The "
    f"pooled vector alone, one vector for the whole caption, explains {gain['pooled']:.0%}: it "
    f"says roughly *what* is in the scene, not which attribute goes with which object or where. "
    f"That is why SDXL adds the pooled embedding *on top of* cross-attention rather than "
    f"instead of it."))
''')

md(r'''
## 4. Size conditioning: asking for a sharp image

In training, some scenes were rendered small (the `original_size`) and upscaled to the bucket,
which blurs them; the model was told the original size. SDXL did this so it could keep its small
images instead of throwing them away (the share of its data it would have lost is in the table
of section 1) *without* learning to make everything a little blurry: at sampling time one asks
for a large `original_size`.

The measure: **high-frequency energy**, the share of an image's spectral energy above a quarter
of the sampling rate (`diffusionlab.metrics.sharpness`; a one-pixel Gaussian blur divides it by
more than five on real scenes, see its tests):
''')

code(r'''
show_source(high_frequency_energy)
''')

code(r'''
sizes = (SMALL_SIDE, 24, 32)       # the model saw SMALL_SIDE and 32 in training, 24 never
real = world.images
hfe, hfe_real, size_images = {}, {}, {}
for s in sizes:
    images = baseline if s == 32 else generate(prompts, seed=1, original_size=(s, s))
    size_images[s] = images
    hfe[s] = high_frequency_energy(images).mean().item()
    small = F.interpolate(real, size=(s, s), mode="area") if s < 32 else real   # the training data's view
    up = F.interpolate(small, size=(32, 32), mode="bilinear", align_corners=False)
    hfe_real[s] = high_frequency_energy(up).mean().item()
for s in sizes:
    print(f"original_size ({s:2d}, {s:2d}): high-frequency energy {hfe[s]:.4f}  "
          f"(real scenes rendered at {s} and upscaled: {hfe_real[s]:.4f})")
increasing = sum(hfe[a] < hfe[b] for a, b in zip(sizes, sizes[1:]))
paired = (high_frequency_energy(size_images[32]) > high_frequency_energy(size_images[SMALL_SIDE])).float().mean().item()
model_ratio, real_ratio = hfe[32] / hfe[SMALL_SIDE], hfe_real[32] / hfe_real[SMALL_SIDE]
print(f"{increasing} of {len(sizes) - 1} steps up in original_size raise it; same prompt and noise, "
      f"sharper at 32 than at {SMALL_SIDE}: {paired:.0%} of the images")
print(f"native / small: tiny SDXL {model_ratio:.2f}x, real scenes {real_ratio:.1f}x")
assert increasing == len(sizes) - 1               # ordered: a larger original size, a sharper image
assert paired > 0.6                               # ... image by image, not only on average
''')

code(r'''
fig, ax = plt.subplots(figsize=(5.5, 3))
ax.plot(sizes, [hfe[s] for s in sizes], "o-", label="tiny SDXL, asked for original_size (s, s)")
ax.plot(sizes, [hfe_real[s] for s in sizes], "s--", label="real scenes rendered at s, upscaled")
ax.set_xlabel("original size s (target 32 x 32)")
ax.set_ylabel("high-frequency energy")
ax.set_yscale("log")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
pick = [0, 1, 2, 3]
show_images(torch.cat([size_images[s][pick] for s in sizes]), ncols=4, size=1.2,
            titles=[f"orig. {s}" if j == 0 else "" for s in sizes for j in range(4)])
plt.show()
''')

code(r'''
display(Markdown(
    f"The direction is right and holds image by image ({paired:.0%} of the pairs), but the effect is "
    f"small: the tiny SDXL's images get {model_ratio:.2f}x sharper from original size {SMALL_SIDE} "
    f"to 32, where the real data differs {real_ratio:.0f}x. Two reasons, both this toy's: its "
    f"native samples are already less sharp than real scenes ({hfe[32]:.3f} against "
    f"{hfe_real[32]:.3f}), so there is little sharpness to switch on or off; and only "
    f"{SMALL_RATE:.0%} of its training images were small ones. In SDXL 39% of the "
    f"data was below 256 px and the effect is plain to see (the paper's Fig. 3)."))
''')

md(r'''
Try it: the same prompt and noise, only the asked-for original size changes.
''')

code(r'''
def show_size(original=16, seed=3, prompt="the large letter A in red at the left and a blue circle at the right"):
    images = generate([prompt] * 4, seed=seed, original_size=(original, original))
    show_images(images, titles=[f"original_size ({original}, {original})"] + [""] * 3, size=1.5)
    plt.show()
''')

code(r'''
# NBVAL_IGNORE_OUTPUT
interact(show_size, original=IntSlider(value=16, min=4, max=40, step=4, continuous_update=False),
         seed=(0, 20));
''')

code(r'''
show_size()
''')

md(r'''
## 5. Crop conditioning: objects whole in the frame

SD 1.x was trained on random crops, and it shows: heads cut off at the top of the image (SDXL
paper, Fig. 4). SDXL records the crop's top-left corner $(c_{\text{top}}, c_{\text{left}})$ in
training and asks for $(0, 0)$ at sampling time. The tiny SDXL's training batches (printed below
from the recipe's data module) mixed *native* scenes (drawn at the bucket's size: original size =
target size, crop (0, 0)), *small* ones (drawn small and upscaled: section 4) and *cropped* ones:
drawn on a canvas larger by a margin per side and cropped to the bucket at a random (top,
left), conditioned on the larger original size and the offset. A crop at (0, 0) of the larger
canvas cuts the objects near its bottom and right edges, a crop at the largest offset those near
its top and left.

The measure: the share of objects that touch the image's border (`diffusionlab.metrics.framing`;
near zero on real uncropped scenes, large on crops of larger scenes, see its tests), per side.
The model is asked for the native setting and for two crop settings; the real data of each
setting, measured the same way, is what it should imitate:
''')

code(r'''
show_source(border_contacts)
''')

code(r'''
big = 32 + CROP_MARGIN
print(f"training data (data.buckets): small scenes drawn with shortest side {SMALL_SIDE} px and "
      f"upscaled; cropped scenes drawn on (H + {CROP_MARGIN}) x (W + {CROP_MARGIN}) and cropped at "
      f"(top, left) in 0..{CROP_MARGIN}")
real_big = make_scenes(N, seed=1701, height=big, width=big, num_objects=(1, 2, 3), letter_rate=0.3,
                       group_rate=0.1)
settings = {"native (32, 32), crop (0, 0)": ((32, 32), (0, 0))}
for t in (0, CROP_MARGIN):
    settings[f"original ({big}, {big}), crop ({t}, {t})"] = ((big, big), (t, t))
framing, framing_real, crop_images = {}, {}, {}
for name, (orig, (t, l)) in settings.items():
    if orig == (32, 32):
        images, real_images = baseline, world.images
    else:
        images = generate(prompts, seed=1, original_size=orig, crops_coords_top_left=(t, l))
        real_images = real_big.images[:, :, t:t + 32, l:l + 32]
    crop_images[name] = images
    framing[name], framing_real[name] = framing_report(images), framing_report(real_images)
print(f"{'asked for':34s} {'cut':>6s} {'top':>6s} {'left':>6s} {'bottom':>6s} {'right':>6s}   real data: cut")
for name in settings:
    f = framing[name]
    print(f"{name:34s} {f['cut_share']:6.1%} {f['top']:6.1%} {f['left']:6.1%} {f['bottom']:6.1%} "
          f"{f['right']:6.1%}   {framing_real[name]['cut_share']:6.1%}")
native, first, last = (framing[k] for k in settings)
assert last["cut_share"] > max(native["cut_share"], first["cut_share"]) + 0.05   # crop (0, 0): fewer cut
lr = framing_real[list(settings)[-1]]
assert lr["top"] + lr["left"] > 2 * (lr["bottom"] + lr["right"])   # sanity check: real offset crops cut top-left
''')

code(r'''
names = list(settings)
show_images(torch.cat([crop_images[n][:6] for n in (names[0], names[-1])]), ncols=6, size=1.2,
            titles=[(n if j == 0 else "") for n in (names[0], names[-1]) for j in range(6)])
plt.show()
''')

code(r'''
display(Markdown(
    f"Asking for crop (0, 0) keeps objects whole ({native['cut_share']:.1%} cut at the native "
    f"setting), asking for the offset ({CROP_MARGIN}, {CROP_MARGIN}) cuts {last['cut_share']:.1%}, "
    + (f"mostly at the top and left, where such a crop cuts real scenes. "
       if last["top"] + last["left"] > 1.5 * (last["bottom"] + last["right"]) else
       f"but on every side alike ({last['top'] + last['left']:.1%} at the top and left, "
       f"{last['bottom'] + last['right']:.1%} at the bottom and right), where a real crop at that "
       f"offset cuts at the top and left: the model learned that an offset means objects cut "
       f"by the border, not which border. ") +
    f"The model imitates the offset "
    f"but not everything about the larger original: a (0, 0) crop of a real {big} x {big} scene "
    f"cuts {framing_real[names[1]]['cut_share']:.0%} of its objects (at the bottom and right), the "
    f"model asked for it only {first['cut_share']:.1%}. For SDXL's use, asking for (0, 0) at "
    f"sampling time, that is the behaviour one wants."))
''')

md(r'''
## 6. Multi-aspect buckets, against the same model without them

SDXL's last training stage used buckets of different aspect ratios (about a megapixel each), a
batch per bucket, with the bucket as `target_size`. The tiny SDXL trained on 32 x 32, 24 x 40 and
40 x 24 batches. Its ablation, `text2img_xl_square`, is the same recipe (model, encoders,
captions, size and crop conditioning, steps, and as many scenes in all) trained on 32 x 32 only;
the SD-1-style model of lesson 00 only ever saw 32 x 32 too. All three are asked for the same
one-object prompts on each canvas. Position is read on the canvas's own 3 x 3 grid, and an
image holding more than one object drew the object twice (`metrics.duplication`, lesson 16):
''')

code(r'''
square = TextToImageXL.pretrained("text2img_xl_square")
square_manifest = read_manifest(weights_path("text2img_xl_square"))
one = one_object_prompts(N, seed=1704)
canvases = ((32, 32), (24, 40), (40, 24))
draw = {"tiny SDXL": xl, "square only": square, "SD-1-style": sd1}
live, aspect_images = {}, {}
for h, w in canvases:
    for name, pipe in draw.items():
        images = aspect_images[(h, w, name)] = generate(one, seed=5, pipe=pipe, height=h, width=w)
        live[(h, w, name)] = (reader.score(images, one).attribute_accuracy["position"],
                              duplication_rate(images))
print(f"live, {N} prompts:  " + "   ".join(f"{name}: position / duplicated" for name in draw))
for h, w in canvases:
    print(f"  {h} x {w}:  " + "   ".join(f"{live[(h, w, n)][0]:.2f} / {live[(h, w, n)][1]:.0%}" for n in draw))
# the same comparison on lesson 16's 128 prompts per canvas
xs = json.loads((weights_path("text2img_xl") / "failure_modes.json").read_text())["aspects"]
sd = json.loads((weights_path("text2img") / "failure_modes.json").read_text())["duplication"]["native"]
study = {k: {"tiny SDXL": xs[k], "square only": square_manifest["scores"]["aspects"][k],
             "SD-1-style": sd["32" if k == "32x32" else k]} for k in xs}
print(f"\n128 prompts per canvas: {'':10s} duplicated   object acc.   shape  colour  size  position")
for k, row in study.items():
    for name, r in row.items():
        att = r["attribute_accuracy"]
        print(f"  {k:6s} {name:12s} {r['duplication_rate']:10.1%} {r['object_accuracy']:13.2f} "
              f"{att['shape']:7.2f} {att['color']:7.2f} {att['size']:5.2f} {att['position']:9.2f}")
off = ("24x40", "40x24")
pos = lambda k, name: study[k][name]["attribute_accuracy"]["position"]
assert pos("32x32", "square only") > 0.8                       # on its own canvas, the ablation places objects
for k in off:
    assert pos(k, "square only") < pos("32x32", "square only") - 0.2   # ... and loses that off-square
    assert pos(k, "tiny SDXL") > pos(k, "square only") + 0.2           # buckets: placed right off-square
    assert study[k]["tiny SDXL"]["duplication_rate"] < study[k]["square only"]["duplication_rate"]
mean_live = lambda name: sum(live[(h, w, name)][0] for h, w in canvases[1:]) / 2
assert mean_live("tiny SDXL") > mean_live("square only") + 0.15       # the live slice agrees
''')

code(r'''
fig, axes = plt.subplots(3, 6, figsize=(11, 5.2))
for r, name in enumerate(draw):
    for j, (h, w) in enumerate(((24, 40),) * 3 + ((40, 24),) * 3):
        img = aspect_images[(h, w, name)][j % 3]
        axes[r, j].imshow(((img.permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy())
        axes[r, j].set_xticks([]); axes[r, j].set_yticks([])
        if j == 0:
            axes[r, j].set_ylabel(name)
        if r == 0:
            axes[r, j].set_title(one[j % 3].replace(" at the", "\nat the"), fontsize=7)
plt.tight_layout()
plt.show()
''')

md(r'''
The conclusion, rendered from the numbers, with the wider world's prompts (1 to 3 objects,
letters, words: the recipes' scores) beside them:
''')

code(r'''
wide = {name: read_manifest(weights_path(d))["scores"]
        for name, d in (("tiny SDXL", "text2img_xl"), ("square only", "text2img_xl_square"))}
for k in ("32x32", "24x40", "40x24"):
    print(f"{k}: object accuracy on the wider world's prompts, tiny SDXL "
          f"{wide['tiny SDXL'][k]['object_accuracy']:.3f}, square only {wide['square only'][k]['object_accuracy']:.3f}")
what = lambda k, name: min(study[k][name]["attribute_accuracy"][a] for a in ("shape", "color", "size"))
display(Markdown(
    f"Trained on squares only, the same model places objects right in "
    f"{pos('32x32', 'square only'):.2f} of the images on its own canvas but in "
    f"{pos('24x40', 'square only'):.2f} / {pos('40x24', 'square only'):.2f} on 24 x 40 / 40 x 24, and "
    f"draws a second object in {study['24x40']['square only']['duplication_rate']:.0%} / "
    f"{study['40x24']['square only']['duplication_rate']:.0%} of them: the failure of the "
    f"square-trained SD-1-style model ({pos('24x40', 'SD-1-style'):.2f} / "
    f"{pos('40x24', 'SD-1-style'):.2f}), reproduced by the ablation ('at the top left' means other "
    f"pixels on a wide canvas). With the buckets: {pos('24x40', 'tiny SDXL'):.2f} / "
    f"{pos('40x24', 'tiny SDXL'):.2f}, and {study['24x40']['tiny SDXL']['duplication_rate']:.0%} / "
    f"{study['40x24']['tiny SDXL']['duplication_rate']:.0%} duplicated. What the buckets buy is "
    f"*where* on the other canvases; *what* is drawn mostly survives without them (shape, colour "
    f"and size at least {min(what(k, 'square only') for k in off):.2f} off-square for the ablation). "
    f"On the wider world's prompts at 32 x 32 the square-only model, with all its scenes on that "
    f"canvas, scores {wide['square only']['32x32']['object_accuracy']:.2f} against the bucketed "
    f"model's {wide['tiny SDXL']['32x32']['object_accuracy']:.2f}"
    + (" (the buckets' price: a third of the data on each canvas). "
       if wide['square only']['32x32']['object_accuracy'] > wide['tiny SDXL']['32x32']['object_accuracy']
       else ". ") +
    f"One caveat: off-square, "
    f"the ablation is asked for a `target_size` it never saw in training, as SDXL's first stages "
    f"(trained on squares) would be."))
''')

md(r'''
## 7. The refiner

SDXL's refiner is a second latent U-Net, in the same latent space, trained only on the low-noise
end of the schedule (the first 200 of 1000 timesteps). diffusers runs the two as an "ensemble of
expert denoisers": the base takes the first four fifths of the steps and hands over its *latents*
(`denoising_end=0.8`, `output_type="latent"`), the refiner takes the rest
(`denoising_start=0.8`). Same prompts, same noise, same total number of steps (the refiner
continues the base's schedule):
''')

code(r'''
alone = baseline
handoff = xl(prompts, num_inference_steps=STEPS, seed=1, denoising_end=0.8, return_latents=True,
             progress=False).latents
refined = refiner(prompts, latents=handoff, denoising_start=0.8, num_inference_steps=STEPS,
                  seed=1, progress=False).images
quality = {}
for name, images in (("base alone", alone), ("base + refiner", refined)):
    s = reader.score(images, prompts)
    quality[name] = {"object accuracy": s.object_accuracy, "letter accuracy": s.letter_accuracy,
                     "word accuracy": s.word_accuracy,
                     "high-frequency energy": high_frequency_energy(images).mean().item()}
real_hfe = high_frequency_energy(world.images).mean().item()
print(f"{'':16s} " + " ".join(f"{k:>22s}" for k in quality["base alone"]))
for name, q in quality.items():
    print(f"{name:16s} " + " ".join(f"{v:22.3f}" for v in q.values()))
print(f"{'real scenes':16s} {'':>22s} {'':>22s} {'':>22s} {real_hfe:22.3f}")
changed = (alone - refined).abs().mean().item()
print(f"mean |pixel change| from the refiner: {changed:.3f}")
assert changed > 1e-3                              # sanity check: the refiner did something
h_alone, h_refined = quality["base alone"]["high-frequency energy"], quality["base + refiner"]["high-frequency energy"]
assert h_alone < h_refined < real_hfe                # detail added, toward the real scenes' level
''')

code(r'''
gains = {k: quality["base + refiner"][k] - quality["base alone"][k] for k in quality["base alone"]}
better = [k for k, g in gains.items() if g > 0.02 * max(abs(quality["base alone"][k]), 1e-9)]
worse = [k for k, g in gains.items() if g < -0.02 * max(abs(quality["base alone"][k]), 1e-9)]
display(Markdown(
    "With the refiner: " + ", ".join(f"{k} {quality['base alone'][k]:.3f} -> {quality['base + refiner'][k]:.3f}"
                                      for k in gains) + ". "
    + (f"Better: {', '.join(better)}. " if better else "Nothing measurably better. ")
    + (f"Worse: {', '.join(worse)}." if worse else "Nothing measurably worse.")))
rs = refiner_manifest["scores"]
for canvas in ("32x32", "24x40"):
    r = rs[canvas]
    print(f"recipe's score, {canvas} ({xl_manifest['scores']['sampler_steps']} steps): high-frequency energy "
          f"{r['hf_energy_base']:.3f} -> {r['hf_energy_base_refiner']:.3f} (real {r['hf_energy_real']:.3f}), "
          f"object accuracy {r['object_accuracy_base']:.3f} -> {r['object_accuracy_base_refiner']:.3f}")
    assert r["hf_energy_base"] < r["hf_energy_base_refiner"]   # the same direction on 128 prompts
''')

code(r'''
show_images(torch.cat([alone[:6], refined[:6]]), ncols=6, size=1.2,
            titles=["base alone"] + [""] * 5 + ["base + refiner"] + [""] * 5)
plt.show()
''')

md(r'''
## In an interview

**Q (D31-Q20): What is Stable Diffusion XL?**
''')

code(r'''
display(Markdown(
    "*In 30 seconds:* SDXL (Podell et al. 2023) is Stable Diffusion scaled and re-conditioned: a "
    "3x larger U-Net (2.6 B parameters, attention moved to the lower resolutions), two text "
    "encoders (CLIP ViT-L and OpenCLIP ViT-bigG) whose token states are concatenated, plus the "
    "pooled embedding; **micro-conditioning** on each training image's original size and crop, "
    "so small and cropped images can be used without teaching blur and cut-off objects; "
    "multi-aspect training around 1024 x 1024; and an optional refiner for the last, low-noise steps."))
''')

code(r'''
display(Markdown(
    f"*In depth, with this course's numbers:* the extra conditioning enters through the time "
    f"embedding: pooled text and six Fourier-embedded numbers (original h, w; crop top, left; "
    f"target h, w) go through an MLP added to the timestep's embedding (2816 inputs in SDXL). "
    f"Each idea measured on the tiny SDXL: both text encoders' states explain {gain['both']:.0%} of "
    f"the denoising error a wrong caption leaves, the pooled vector alone {gain['pooled']:.0%}; "
    f"asking for a native instead of a small original size made images sharper "
    f"({hfe[SMALL_SIDE]:.3f} -> {hfe[32]:.3f} high-frequency energy, in {paired:.0%} of same-noise "
    f"pairs; small, see section 4); the native crop setting left {native['cut_share']:.1%} of "
    f"objects cut by the border, a crop at ({CROP_MARGIN}, {CROP_MARGIN}) {last['cut_share']:.1%}; "
    f"the refiner raised high-frequency energy {h_alone:.3f} -> {h_refined:.3f} (real "
    f"{real_hfe:.3f}); and the buckets kept objects in their place on landscape and portrait "
    f"canvases (position {pos('24x40', 'tiny SDXL'):.2f} at 24 x 40, against "
    f"{pos('24x40', 'square only'):.2f} for the same recipe trained on squares only).\n\n"
    f"What the seed gets wrong or leaves out: XL's base resolution is 1024 x 1024, not 768 (that "
    f"is SD 2.0-v); 'OpenCLIP ViT-G' is ViT-bigG; the refiner is not only 'for high-frequency "
    f"details' but a full denoiser specialised on low noise levels, which can also refine any "
    f"image SDEdit-style; and the idea with the most visible effect, size and crop "
    f"conditioning, is missing. The two encoders are frozen in SDXL (here they were trained "
    f"jointly, because nothing pre-trained exists for this world), and the tiny model's numbers "
    f"are toy numbers: what transfers is the direction of each effect, not its size."))
''')

md(r'''
**Exercise:** `exercises/ex17_sdxl_conditioning.py`: the six micro-conditioning numbers in
diffusers' order, their Fourier features after the pooled embedding, and the MLP added to the
time embedding. Grade it with `python -m diffusionlab grade 17`.
''')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="notebooks/17_sdxl.ipynb")
    args = parser.parse_args()
    nb = nbf.v4.new_notebook()
    nb.cells = cells
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python",
                                  "name": "python3"},
                   "language_info": {"name": "python"}}
    nbf.write(nb, args.out)
    print(f"wrote {args.out} ({len(cells)} cells)")


if __name__ == "__main__":
    main()
