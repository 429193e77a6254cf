"""Tests of lesson 16's study (diffusionlab/failure_modes.py) and its shipped results."""
import json
from types import SimpleNamespace

import pytest
import torch

from diffusionlab import failure_modes as fm
from diffusionlab.checkpoints import weights_path
from diffusionlab.data.scenes import render_scenes


def test_size_key_and_text_objects():
    assert fm.size_key(32) == "32" and fm.size_key((24, 40)) == "24x40"
    for kind in fm.TEXT_KINDS:
        objs = fm.text_objects(kind, 7)
        assert len(objs) == 7 and all(o["kind"] == kind.split()[-1] for o in objs)
    assert len({o["text"] for o in fm.text_objects("large letter", 26)}) == 26   # 7 is prime to 26


def test_duplication_study_with_a_fake_pipe():
    def fake_pipe(prompts, height, width, seed, progress, **kwargs):
        k = 1 if max(height, width) <= 32 else 2
        obj = {"kind": "shape", "shape": "circle", "color": "red", "size": "small"}
        return SimpleNamespace(images=render_scenes([[obj] * k] * len(prompts), height=height,
                                                    width=width, seed=seed).images)

    out = fm.duplication_study(fake_pipe, ["a small red circle"] * 4, sizes=(32, 48, (24, 40)),
                               upscaled_sizes=(64,), batch_size=2)
    nat, up = out["native"], out["upscaled"]
    assert set(nat) == {"32", "48", "24x40"} and set(up) == {"64"}
    assert nat["32"]["duplication_rate"] == 0.0 and nat["48"]["duplication_rate"] == 1.0
    assert nat["48"]["counts"] == [2] * 4 and len(nat["48"]["spacing"]) == 4
    assert nat["32"]["spacing"] == [] and up["64"]["duplication_rate"] == 0.0
    json.dumps(out)                                                   # JSON-ready


def test_vae_text_study_with_a_perfect_autoencoder():
    vae = SimpleNamespace(encode_latents=lambda x: x, decode_latents=lambda z: z)
    from diffusionlab.metrics.scenes import SceneReader

    rows = fm.vae_text_study(vae, SceneReader.pretrained(), n=10)
    for kind, r in rows.items():
        assert r["before"] == r["after"] and r["after"]["object_accuracy"] == 1.0, kind
    assert rows["large word"]["after"]["word_accuracy"] == 1.0


def test_field_study_on_a_tiny_unet(tiny_sd_parts):
    _, _, unet = tiny_sd_parts()
    out = fm.field_study(unet, torch.randn(1, 5, 16), latent_sizes=(6, 8), timesteps=(500,),
                         seeds=(0,))
    assert set(out["sizes"]) == {"6", "8"} and out["conv_field_analytic"] > 8
    for s, row in out["sizes"].items():
        assert row["ring_profile"][0] == 1.0 and 0 <= row["falloff_radius"] <= int(s)
        assert set(row["per_timestep"]["500"]) == {"0.5", "0.9", "falloff"}


def test_shipped_study_says_what_the_lesson_claims():
    study = json.loads((weights_path("text2img") / "failure_modes.json").read_text())
    nat, up = study["duplication"]["native"], study["duplication"]["upscaled"]
    assert len(study["prompts"]) == fm.N_PROMPTS and study["num_inference_steps"] == 20
    assert all(len(r["counts"]) == fm.N_PROMPTS for r in nat.values())
    assert nat["32"]["duplication_rate"] <= 0.05 and nat["64"]["duplication_rate"] >= 0.6
    assert all(r["duplication_rate"] <= 0.05 for r in up.values())
    text = {k: v["after"] for k, v in study["vae_text"].items()}
    assert text["shape"]["object_accuracy"] >= 0.95 > text["small letter"]["letter_accuracy"]
    from diffusionlab import review

    assert review.failure_modes_study()["d64"] == nat["64"]["duplication_rate"]


@pytest.mark.slow
def test_study_reproduces_on_a_slice():
    """The first 16 prompts at 64 px give the study's counts (the lesson re-checks this too)."""
    from diffusionlab.metrics.duplication import measure_duplication
    from diffusionlab.pipelines import TextToImage

    study = json.loads((weights_path("text2img") / "failure_modes.json").read_text())
    live = measure_duplication(TextToImage.pretrained(), study["prompts"][:16], sizes=(64,),
                               batch_size=16)[64]
    ref = study["duplication"]["native"]["64"]["counts"][:16]
    assert sum(int(a) == b for a, b in zip(live["counts"], ref)) >= 15


def _perfect_pipe(calls):
    """A fake text2img_xl that draws exactly what each caption asks for."""
    from diffusionlab.data.scenes import parse_scene_caption, wanted_objects

    def pipe(prompts, height=32, width=32, seed=0, progress=False, **kwargs):
        calls.append(kwargs)
        objs = []
        for p in prompts:
            objs.append([dict({"size": "small", "color": "red"}, **{k: v for k, v in o.items()
                                                                   if k != "count"})
                         for o in wanted_objects(parse_scene_caption(p))])
        return SimpleNamespace(images=render_scenes(objs, height=height, width=width, seed=seed,
                                                    shrink_after=4).images)
    return pipe


def test_xl_study_scores_a_perfect_model_perfectly():
    from diffusionlab.metrics.scenes import SceneReader

    calls = []
    out = fm.xl_study(_perfect_pipe(calls), SceneReader.pretrained(), n=6,
                      prompts=["a small red circle at the top left"] * 6, batch_size=4)
    assert set(out["aspects"]) == {"32x32", "24x40", "40x24"}
    assert all(r["duplication_rate"] == 0 for r in out["aspects"].values())
    assert set(out["binding"]) == {f"{e} {s:g}" for e in fm.XL_BINDING_ENCODERS for s in fm.XL_GUIDANCE}
    for r in out["binding"].values():
        assert r["pairs"]["binding_error_rate"] == 0 and r["groups"]["count_accuracy"] == 1.0
    for r in out["spelling"].values():
        assert r["word_accuracy"] == 1.0
    assert {c.get("text_encoders") for c in calls} == {None, "both", "pooled", "word", "char"}
    json.dumps(out)


def test_bad_kinds_are_named():
    with pytest.raises(ValueError, match="kind must be one of"):
        fm.text_objects("medium word", 3)
    with pytest.raises(ValueError, match="n must be"):
        fm.text_objects("shape", 0)


def test_caption_study_runs_and_counts_what_its_captions_name():
    """The --captions ablation end to end on a tiny budget: both styles trained and scored,
    and the share of captions naming a position is what the styles define (mixed names it
    with probability 1/2, full always for one-object scenes)."""
    out = fm.caption_study(steps=1, n_scenes=8, n_prompts=2)
    for style in ("mixed", "full"):
        assert set(out[style]["attribute_accuracy"]) >= {"shape", "color", "size", "position"}
        assert len(out[style]["counts"]) == 2
    assert out["full"]["captions_naming_a_position"] == 1.0
    assert 0.4 < out["mixed"]["captions_naming_a_position"] < 0.6
    with pytest.raises(ValueError, match="steps"):
        fm.caption_study(steps=0)


def test_shipped_caption_study_says_what_lesson_16_claims():
    cs = json.loads((weights_path("text2img_xl") / "caption_study.json").read_text())
    assert cs["steps"] == fm.CAPTION_STEPS and cs["n_scenes"] == fm.CAPTION_SCENES
    pos = {s: cs[s]["attribute_accuracy"]["position"] for s in ("mixed", "full")}
    assert pos["full"] > pos["mixed"] + 0.3
