"""Lesson 16's measurements of where Stable Diffusion breaks (D35-Q7, D31-Q14), as
functions, so the heavy run (``python -m diffusionlab.failure_modes --out FILE``, a queue
job, its JSON committed) and the notebook's small live re-check are the same code.

    duplication_study(pipe, prompts, sizes)    duplication by canvas size, and with the fix
                                               "sample at the native size, then upscale"
    field_study(unet, context, latent_sizes)   the U-Net's receptive fields against the
                                               canvas: theoretical (convolutions) and
                                               effective (gradient mass), per timestep
    vae_text_study(vae, reader)                shapes, letters and words read before and
                                               after one trip through the autoencoder

    xl_study(pipe, reader, n)                  on ``text2img_xl``: aspects, binding and
                                               counting by text encoder and guidance,
                                               spelling of trained and held-out words by
                                               text encoder, count accuracy by count;
                                               ``--xl`` adds ``recipes.text2img_xl.
                                               spelling_gain`` and is stored beside the
                                               weights (``weights/text2img_xl/
                                               failure_modes.json``)
    caption_study()                            two short text2img_xl trainings, 'mixed' vs
                                               'full' captions: position learned or not
                                               (``--captions``, ``weights/text2img_xl/
                                               caption_study.json``)
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ._checks import check_choice, check_int
from .metrics.duplication import duplicate_spacing, measure_duplication, one_object_prompts, upscaled
from .metrics.receptive_field import unet_conv_field, unet_fields

SIZES = (32, 40, 48, 56, 64, (24, 40), (40, 24))   # 1x to 2x the training size; two aspects
UPSCALED_SIZES = (40, 48, 56, 64)
XL_CANVASES = ((32, 32), (24, 40), (40, 24))       # text2img_xl's buckets
CAPTION_STEPS = 1500                               # caption_study: two short trainings
CAPTION_SCENES = 4000
LATENT_SIZES = (8, 10, 12, 14, 16, 24)  # the latents of 32 to 64 px (VAE factor 4), and 96 px
TIMESTEPS = (250, 500, 750)
N_PROMPTS = 128
PROMPT_SEED = 16
MASS_SHARES = (0.5, 0.9)
FALLOFF = 0.01                               # falloff_radius: 1 % of the pixel's own gradient


def size_key(size) -> str:
    """"32" for a square canvas, "24x40" for (height, width)."""
    return f"{size[0]}x{size[1]}" if isinstance(size, (tuple, list)) else str(size)


def _row(result: dict) -> dict:
    row = {k: v for k, v in result.items() if k != "counts"}
    row["counts"] = [int(c) for c in result["counts"]]
    return row


def duplication_study(pipe, prompts: list, sizes=SIZES, upscaled_sizes=UPSCALED_SIZES,
                      native=(32, 32), seed: int = 0, batch_size: int = 64, reader=None,
                      **call_kwargs) -> dict:
    """{"native": {size: row}, "upscaled": {size: row}} with row = measure_duplication's
    rates (scene accuracy too with a ``reader``) + "counts" (one per prompt) + "spacing"
    (``duplicate_spacing`` of the duplicated images, pixels). Keys are ``size_key``s.
    The upscaled rows sample at ``native`` and resize, read with a reader scaled to the
    upscaled objects."""
    from .metrics.scenes import SceneReader

    out = {"native": {}, "upscaled": {}}
    for size in sizes:
        images = []

        def keep(prompts_, **kw):
            o = pipe(prompts_, **kw)
            images.append(o.images.float().cpu())
            return o
        res = measure_duplication(keep, prompts, sizes=(size,), seed=seed, batch_size=batch_size,
                                  reader=reader, **call_kwargs)
        row = _row(res[size])
        row["spacing"] = [round(float(d), 2) for d in duplicate_spacing(torch.cat(images))]
        out["native"][size_key(size)] = row
    fix = upscaled(pipe, *native)
    for size in upscaled_sizes:
        big_reader = None
        if reader is not None:
            big_reader = SceneReader(reader.evaluator, object_size=round(32 * size / native[0]))
        res = measure_duplication(fix, prompts, sizes=(size,), seed=seed, batch_size=batch_size,
                                  reader=big_reader, **call_kwargs)
        out["upscaled"][size_key(size)] = _row(res[size])
    return out


def field_study(unet, context: torch.Tensor, latent_sizes=LATENT_SIZES, timesteps=TIMESTEPS,
                seeds=(0, 1, 2), shares=MASS_SHARES) -> dict:
    """Per latent size: the analytic receptive field of the convolutions, the measured
    support of the convolutional path, and the full network's effective field (the
    Chebyshev radius holding each share of the gradient mass; the radius beyond which the
    gradient stays under ``FALLOFF`` of the pixel's own, with its ring profile; the share of
    the canvas above 1 % of the peak), averaged over ``timesteps`` and per timestep."""
    out = {"conv_field_analytic": unet_conv_field(unet.config), "sizes": {}}
    for s in latent_sizes:
        fields = unet_fields(unet, context, sizes=(s,), timesteps=timesteps, seeds=seeds)[s]
        full, conv = fields["full"], fields["conv"]
        row = {"conv_extent": list(conv.extent), "conv_area_share": round(conv.area_share, 4),
               "full_area_share": round(full.area_share, 4),
               "radius": {str(q): full.radius_for_mass(q) for q in shares},
               "falloff_radius": full.falloff_radius(FALLOFF),
               "ring_profile": [round(v, 5) for v in full.ring_profile()],
               "per_timestep": {}}
        for t in timesteps:
            f = unet_fields(unet, context, sizes=(s,), timesteps=(t,), seeds=seeds)[s]["full"]
            row["per_timestep"][str(t)] = {str(q): f.radius_for_mass(q) for q in shares}
            row["per_timestep"][str(t)]["falloff"] = f.falloff_radius(FALLOFF)
        out["sizes"][str(s)] = row
    return out


TEXT_KINDS = ("shape", "small letter", "small word", "large letter", "large word")


def text_objects(kind: str, n: int) -> list:
    """``n`` one-object scenes of ``kind`` (``TEXT_KINDS``), cycling deterministically through
    the shapes, colours, letters (``data.glyphs.LETTERS``) and words (``WORDS``)."""
    from .data.glyphs import LETTERS, WORDS
    from .data.shapes import COLORS, SHAPES

    check_choice("kind", kind, TEXT_KINDS)
    n = check_int("n", n, minimum=1)
    cols = list(COLORS)
    if kind == "shape":
        return [{"kind": "shape", "shape": SHAPES[i % len(SHAPES)], "color": cols[i % len(cols)],
                 "size": ("small", "large")[i // len(cols) % 2]} for i in range(n)]
    size, what = kind.split()
    if what == "letter":
        return [{"kind": "letter", "text": LETTERS[(7 * i) % len(LETTERS)], "color": cols[i % len(cols)],
                 "size": size} for i in range(n)]
    return [{"kind": "word", "text": WORDS[(5 * i) % len(WORDS)], "color": cols[i % len(cols)],
             "size": size} for i in range(n)]


def vae_text_study(vae, reader, n: int = 128, canvas: int = 48, seed: int = 1,
                   kinds=TEXT_KINDS, keep: int = 0):
    """Does the autoencoder carry letters? For each kind, ``n`` rendered one-object scenes
    (``text_objects``) on a ``canvas``-pixel square, read by ``reader`` before and after
    ``vae.decode_latents(vae.encode_latents(x))``, scored against what was drawn (kind,
    shape or text, colour). Returns {kind: {"before": scores, "after": scores}} (the rates
    of ``SceneScores.as_dict``), and with ``keep`` > 0 also {kind: (first ``keep`` images,
    their round trips)} as a second value."""
    from .data.scenes import render_scenes
    from .metrics.scenes import score_scenes

    rows, images = {}, {}
    for kind in kinds:
        objs = text_objects(kind, n)
        batch = render_scenes([[o] for o in objs], height=canvas, seed=seed)
        want = [[{k: v for k, v in o.items() if k in ("kind", "shape", "text", "color")}] for o in objs]
        with torch.no_grad():
            back = vae.decode_latents(vae.encode_latents(batch.images)).clamp(-1, 1)
        rows[kind] = {"before": score_scenes(want, reader.read(batch.images)).as_dict(),
                      "after": score_scenes(want, reader.read(back)).as_dict()}
        images[kind] = (batch.images[:keep], back[:keep])
    return (rows, images) if keep else rows


XL_GUIDANCE = (1.0, 3.0, 6.0)
XL_BINDING_ENCODERS = ("both", "pooled")
XL_SPELLING_ENCODERS = ("word", "char", "both")


def sample_and_score(pipe, reader, captions, phrases=None, batch_size: int = 32, seed: int = 0,
                     **call_kwargs):
    """Sample ``pipe`` once per caption (batch k of ``batch_size`` seeded ``seed + k *
    batch_size``, like ``measure_duplication``) and score the images with ``reader``:
    a ``SceneScores``."""
    from .data.scenes import parse_scene_caption
    from .metrics.scenes import score_scenes

    found = []
    for i in range(0, len(captions), batch_size):
        out = pipe(captions[i:i + batch_size], seed=seed + i, progress=False, **call_kwargs)
        found += reader.read(out.images)
    phrases = [parse_scene_caption(c) for c in captions] if phrases is None else phrases
    return score_scenes(phrases, found)


def word_prompts(words, n: int, seed: int = 0) -> tuple:
    """``n`` one-word captions ("the word CAT in red") drawn from ``words``, colours uniform:
    (captions, phrases)."""
    from .data.scenes import scene_caption
    from .data.shapes import COLORS

    g = torch.Generator().manual_seed(seed)
    cols = list(COLORS)
    w = torch.randint(len(words), (n,), generator=g).tolist()
    c = torch.randint(len(cols), (n,), generator=g).tolist()
    phrases = [[{"kind": "word", "text": words[i], "color": cols[j]}] for i, j in zip(w, c)]
    return [scene_caption(p) for p in phrases], phrases


def xl_prompt_sets(n: int) -> dict:
    """The seeded prompt sets of ``xl_study``: {name: (captions, phrases)}."""
    from .data.glyphs import HELD_OUT_WORDS, TRAIN_WORDS
    from .data.scenes import make_scenes

    sets = {"pairs": make_scenes(n, seed=1600, num_objects=(2,)),
            "groups": make_scenes(n, seed=1601, num_objects=(2, 3), group_rate=1.0)}
    for k in (1, 2, 3):
        sets[f"count{k}"] = make_scenes(n, seed=1610 + k, num_objects=(k,),
                                        group_rate=1.0 if k > 1 else 0.0)
    out = {name: (b.captions, b.phrases) for name, b in sets.items()}
    out["train words"] = word_prompts(TRAIN_WORDS, n, seed=1602)
    out["held-out words"] = word_prompts(HELD_OUT_WORDS, n, seed=1603)
    return out


def aspect_study(pipe, reader, prompts: list, canvases=XL_CANVASES, batch_size: int = 32) -> dict:
    """One-object ``prompts`` drawn on each of ``canvases`` (the tiny SDXL's buckets):
    {"HxW": duplication, scene and attribute accuracy, counts}."""
    res = measure_duplication(pipe, prompts, sizes=canvases, reader=reader, batch_size=batch_size)
    return {f"{h}x{w}": _row(r) for (h, w), r in res.items()}


def xl_study(pipe, reader, n: int = N_PROMPTS, prompts=None, batch_size: int = 32) -> dict:
    """``text2img_xl``'s failure modes (lesson 16, section 6), every rate on ``n`` seeded
    prompts: one-object ``prompts`` at 32x32, 24x40, 40x24 (duplication, scene and
    position accuracy); two-object scenes and counted groups by text encoder mode and
    guidance scale (binding errors, object and count accuracy); trained and held-out words
    by encoder mode (letter and word accuracy); count accuracy for 1, 2, 3 objects."""
    sets = xl_prompt_sets(n)
    out = {"n": n, "aspects": {}, "binding": {}, "spelling": {}, "by_count": {}}
    if prompts is not None:
        out["aspects"] = aspect_study(pipe, reader, prompts[:n], batch_size=batch_size)
    for enc in XL_BINDING_ENCODERS:
        for s in XL_GUIDANCE:
            two = sample_and_score(pipe, reader, *sets["pairs"], batch_size=batch_size,
                                   guidance_scale=s, text_encoders=enc)
            grp = sample_and_score(pipe, reader, *sets["groups"], batch_size=batch_size,
                                   guidance_scale=s, text_encoders=enc)
            out["binding"][f"{enc} {s:g}"] = {"pairs": two.as_dict(), "groups": grp.as_dict()}
    for split in ("train words", "held-out words"):
        for enc in XL_SPELLING_ENCODERS:
            sc = sample_and_score(pipe, reader, *sets[split], batch_size=batch_size, text_encoders=enc)
            out["spelling"][f"{enc} {split}"] = sc.as_dict()
    for k in (1, 2, 3):
        out["by_count"][str(k)] = sample_and_score(pipe, reader, *sets[f"count{k}"],
                                                   batch_size=batch_size).as_dict()
    return out


def caption_study(steps: int = CAPTION_STEPS, n_scenes: int = CAPTION_SCENES,
                  n_prompts: int = N_PROMPTS, seed: int = 0) -> dict:
    """Do 'mixed' captions (each attribute named at random, the SD-1 recipe's) cost the tiny
    SDXL its sense of *where*? Two short ``text2img_xl`` trainings that differ only in the
    caption style: one 32x32 canvas, one object per scene (shapes, letters and words in the
    recipe's mix), no small or cropped scenes, ``n_scenes`` scenes, ``steps`` steps. Each
    is scored on section 1's one-object prompts at 32x32 (``aspect_study``), beside the
    share of its training captions that name a position."""
    import tempfile

    from .data.glyphs import TRAIN_WORDS
    from .data.scenes import make_scenes, parse_scene_caption
    from .metrics.scenes import SceneReader
    from .pipelines import TextToImageXL
    from .recipes import text2img_xl as recipe

    steps = check_int("steps", steps, minimum=1)
    n_scenes = check_int("n_scenes", n_scenes, minimum=1)
    prompts = one_object_prompts(n_prompts, seed=PROMPT_SEED)
    reader = SceneReader.pretrained()
    out = {"steps": steps, "n_scenes": n_scenes, "canvas": [32, 32], "n_prompts": n_prompts}
    for style in ("mixed", "full"):
        mix = dict(recipe.SCENE_MIX, num_objects=(1,), caption_style=style)
        caps = make_scenes(512, seed=7, words=TRAIN_WORDS, **mix).captions
        named = sum(any("position" in p for p in parse_scene_caption(c)) for c in caps) / len(caps)
        with tempfile.TemporaryDirectory() as tmp:
            info = recipe.train(Path(tmp), steps, seed, do_score=False, buckets=((32, 32),),
                                n_per_bucket=n_scenes, scene_mix=mix, small_rate=0.0, crop_rate=0.0)
            pipe = TextToImageXL.from_directory(tmp, vae=recipe.load_vae())
            row = aspect_study(pipe, reader, prompts, canvases=((32, 32),))["32x32"]
        out[style] = {**row, "captions_naming_a_position": round(named, 4),
                      "train_seconds": info["train_seconds"]}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m diffusionlab.failure_modes",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the JSON file to write")
    parser.add_argument("--n", type=int, default=N_PROMPTS, help="prompts per size")
    parser.add_argument("--smoke", action="store_true", help="tiny settings, to check the run")
    parser.add_argument("--xl", action="store_true",
                        help="measure text2img_xl instead (lesson 16's section 6)")
    parser.add_argument("--captions", action="store_true",
                        help="train and compare text2img_xl on 'mixed' vs 'full' captions "
                             "(caption_study, about 9 minutes on 2 threads)")
    args = parser.parse_args(argv)
    if args.xl:
        return main_xl(args, argv)
    if args.captions:
        return main_captions(args, argv)
    from .metrics.scenes import SceneReader
    from .pipelines import TextToImage
    from .pipelines.base import DEFAULT_GUIDANCE_SCALE

    torch.manual_seed(0)
    start = time.time()
    pipe = TextToImage.pretrained()
    prompts = one_object_prompts(args.n, seed=PROMPT_SEED)
    reader = SceneReader.pretrained()
    kwargs = {}
    if args.smoke:
        kwargs["num_inference_steps"] = 4
    dup = duplication_study(pipe, prompts, reader=reader, **kwargs)
    context = pipe.encode_prompt([prompts[0]])
    fields = field_study(pipe.unet, context, latent_sizes=(8, 16) if args.smoke else LATENT_SIZES,
                         seeds=(0,) if args.smoke else (0, 1, 2))
    text = vae_text_study(pipe.vae, reader, n=24 if args.smoke else 128)
    result = {"model": "text2img", "training_size": [32, 32], "vae_factor": 2 ** (len(pipe.vae.config["channel_mults"]) - 1),
              "prompts": prompts, "prompt_seed": PROMPT_SEED, "seed": 0,
              "guidance_scale": DEFAULT_GUIDANCE_SCALE,
              "num_inference_steps": kwargs.get("num_inference_steps", 20),
              "duplication": dup, "fields": fields, "vae_text": text,
              "command": "python -m diffusionlab.failure_modes " + " ".join(argv or []),
              "wall_time_s": round(time.time() - start, 1), "threads": torch.get_num_threads()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    for k, row in dup["native"].items():
        print(f"native {k:>6}: duplication {row['duplication_rate']:.3f}, "
              f"scene accuracy {row.get('scene_accuracy')}")
    for k, row in dup["upscaled"].items():
        print(f"upscaled {k:>4}: duplication {row['duplication_rate']:.3f}, "
              f"scene accuracy {row.get('scene_accuracy')}")
    print(json.dumps(fields))
    print(json.dumps(text))
    print(f"wrote {args.out} in {result['wall_time_s']} s")
    return 0


def main_xl(args, argv) -> int:
    from .metrics.scenes import SceneReader
    from .pipelines import TextToImageXL
    from .recipes.text2img_xl import spelling_gain

    torch.manual_seed(0)
    start = time.time()
    pipe = TextToImageXL.pretrained()
    reader = SceneReader.pretrained()
    n = 8 if args.smoke else args.n
    prompts = one_object_prompts(N_PROMPTS, seed=PROMPT_SEED)        # section 1's prompts
    result = xl_study(pipe, reader, n=n, prompts=prompts)
    result["spelling_gain"] = spelling_gain(pipe, n=n)
    result.update(model="text2img_xl", prompt_seed=PROMPT_SEED,
                  command="python -m diffusionlab.failure_modes " + " ".join(argv or []),
                  wall_time_s=round(time.time() - start, 1), threads=torch.get_num_threads())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "aspects"}, indent=1))
    print(f"wrote {args.out} in {result['wall_time_s']} s")
    return 0


def main_captions(args, argv) -> int:
    torch.manual_seed(0)
    start = time.time()
    kwargs = dict(steps=2, n_scenes=16, n_prompts=4) if args.smoke else dict(n_prompts=args.n)
    result = caption_study(**kwargs)
    result.update(model="text2img_xl (caption ablation)", prompt_seed=PROMPT_SEED,
                  command="python -m diffusionlab.failure_modes " + " ".join(argv or []),
                  wall_time_s=round(time.time() - start, 1), threads=torch.get_num_threads())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    for style in ("mixed", "full"):
        r = result[style]
        print(f"{style:5s} captions: position {r['attribute_accuracy']['position']:.3f}, "
              f"object accuracy {r['object_accuracy']:.3f}, captions naming a position "
              f"{r['captions_naming_a_position']:.2f}")
    print(f"wrote {args.out} in {result['wall_time_s']} s")
    return 0


if __name__ == "__main__":
    import sys
    raise SystemExit(main(sys.argv[1:]))
