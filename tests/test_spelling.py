"""The spelling model's recipe (recipes.text2img_spelling, lesson 16 section 6) and the
identity autoencoder it runs on (nn.vae.PixelSpace); a slow re-check of the shipped
model's scores."""
import json

import pytest
import torch

from diffusionlab.data.glyphs import HELD_OUT_WORDS, TRAIN_WORDS, WORDS
from diffusionlab.data.scenes import parse_scene_caption
from diffusionlab.nn.vae import PixelSpace
from diffusionlab.recipes import text2img_spelling as recipe


def test_pixel_space_is_the_identity_and_checks_channels():
    vae = PixelSpace()
    x = torch.rand(2, 3, 8, 12) * 4 - 2
    z = vae.encode_latents(x)
    assert torch.equal(z, x) and z is not x
    assert torch.equal(vae.decode_latents(z), x.clamp(-1, 1))
    assert vae.downscale == 1 and vae.latent_shape(24, 40) == (3, 24, 40)
    assert not list(vae.parameters())
    with pytest.raises(ValueError, match="images must have 3 channels"):
        vae.encode_latents(torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match="channels"):
        PixelSpace(0)


def test_random_strings_never_name_a_word():
    s = recipe.random_strings()
    assert len(s) == 26 ** 3 - len(WORDS) and len(set(s)) == len(s)
    assert not set(s) & set(WORDS)
    assert all(len(w) == 3 and w.isalpha() and w.isupper() for w in s)


def test_training_data_hides_held_out_words_and_the_word_tokenizer_knows_train_words():
    model = recipe.build_model()
    data = recipe.make_data(model, 400, seed=0)
    texts = [parse_scene_caption(c)[0]["text"] for c in data["captions"]]
    assert data["latents"].shape == (400, 3, *recipe.CANVAS)
    assert not set(texts) & set(HELD_OUT_WORDS)
    known = sum(t in TRAIN_WORDS for t in texts)
    assert abs(known / 400 - (1 - recipe.RANDOM_RATE)) < 0.01
    tok = model.text_encoder.tokenizer
    unk = tok.unk_token_id
    assert all(tok.convert_tokens_to_ids(w.lower()) != unk for w in TRAIN_WORDS)
    assert all(tok.convert_tokens_to_ids(w.lower()) == unk for w in HELD_OUT_WORDS)
    assert tok.convert_tokens_to_ids(recipe.random_strings()[0].lower()) == unk


def test_recipe_trains_saves_and_draws_on_pixels(tmp_path, monkeypatch):
    monkeypatch.setattr(recipe, "N_SCENES", 64)
    monkeypatch.setattr(recipe, "UNET_CONFIG", dict(recipe.UNET_CONFIG, base_channels=8))
    info = recipe.train(tmp_path, steps=2, do_score=False)
    assert info["space"] == "pixel" and info["n_scenes"] == 64
    pipe = recipe.load_pipeline(tmp_path)
    out = pipe(["the large word CAT in red in the center"] * 2, height=24, width=40,
               num_inference_steps=2, progress=False, text_encoders="char").images
    assert out.shape == (2, 3, 24, 40)


@pytest.mark.slow
def test_shipped_spelling_scores():
    """The stored held-out spelling scores, re-measured on the same prompts and seeds."""
    from diffusionlab.checkpoints import weights_path
    from diffusionlab.metrics.scenes import SceneReader

    want = json.loads((weights_path("text2img_spelling") / "manifest.json").read_text())["scores"]
    pipe = recipe.load_pipeline()
    prompts = recipe.spelling_prompts(HELD_OUT_WORDS)
    reader = SceneReader.pretrained()
    for mode in ("char", "word"):
        images = recipe.generate(pipe, prompts, text_encoders=mode)
        got = reader.score(images, prompts).letter_accuracy
        # same prompts and seeds: the same images up to float rounding across thread counts
        assert abs(got - want[f"held_out_words_{mode}"]["letter_accuracy"]) < 0.03, (mode, got)
