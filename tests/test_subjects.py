"""The personalization subject, its detector, and the pieces of DreamBooth and textual
inversion (lesson 13)."""
import json

import pytest
import torch

from diffusionlab.data.shapes import COLORS, make_shapes
from diffusionlab.data.subjects import (ALL_VIEWS, INSTANCE_VIEWS, NOVEL_VIEWS, SUBJECT_COLOR,
                                        instance_images, random_views, render_subject,
                                        subject_caption)
from diffusionlab.losses import dreambooth_batch_loss, dreambooth_loss
from diffusionlab.metrics.subject import fills, is_subject, subject_fidelity
from diffusionlab.nn.text import (TinyCLIP, load_textual_inversion, mask_embedding_grad,
                                  save_textual_inversion)

TABLE = "model.text_model.embeddings.token_embedding.weight"


# ----------------------------------------------------------------------------- the subject
def test_views_split_into_shown_and_novel():
    assert len(INSTANCE_VIEWS) == 4 and len(ALL_VIEWS) == 18
    assert set(map(str, INSTANCE_VIEWS)) | set(map(str, NOVEL_VIEWS)) == set(map(str, ALL_VIEWS))
    assert not set(map(str, INSTANCE_VIEWS)) & set(map(str, NOVEL_VIEWS))
    assert random_views(5, seed=1) == random_views(5, seed=1)


def test_subject_is_a_notched_disc_of_its_colour():
    b = instance_images()
    plain = render_subject(list(INSTANCE_VIEWS), notch=0.0)
    cut = plain.masks - b.masks
    assert cut.min() == 0 and (cut.flatten(1).sum(1) >= 20).all()        # a real wedge is gone
    green = torch.tensor(COLORS[SUBJECT_COLOR]) * 2 - 1
    on = b.images.permute(0, 2, 3, 1)[b.masks[:, 0].bool()]
    assert torch.allclose(on, green.expand_as(on))
    assert b.captions[0] == "a large circle in the center"


def test_captions_put_the_token_before_or_for_the_noun():
    v = {"size": "small", "position": "top left"}
    assert subject_caption(v) == "a small circle at the top left"
    assert subject_caption(v, "something") == "a small something circle at the top left"
    assert subject_caption(v, noun="<sks>") == "a small <sks> at the top left"
    with pytest.raises(ValueError, match=r"views\[0\]\['size'\]"):
        subject_caption({"size": "huge", "position": "top"})


def test_detector_fires_on_the_subject_everywhere_and_after_the_vae():
    from diffusionlab.nn.vae import VAE

    real = render_subject(list(ALL_VIEWS) * 3, seed=11)
    assert subject_fidelity(real.images) == 1.0
    vae = VAE.pretrained()
    with torch.no_grad():
        rt = vae.decode_latents(vae.encode_latents(real.images))
    assert subject_fidelity(rt) >= 0.95          # the decoder can draw it: learnable


def test_detector_is_silent_on_negatives():
    plain = make_shapes(600, seed=99)
    assert subject_fidelity(plain.images) <= 0.01                   # every shape and colour
    whole = render_subject(list(ALL_VIEWS), notch=0.0)               # the same disc, uncut
    assert subject_fidelity(whole.images) == 0.0
    for c in COLORS:
        if c != SUBJECT_COLOR:                                       # notched, wrong colour
            assert subject_fidelity(render_subject(list(ALL_VIEWS), color=c).images) == 0.0
    assert not is_subject(-torch.ones(2, 3, 32, 32)).any()           # empty images
    notch, body = fills(render_subject(list(ALL_VIEWS)).images)
    assert notch.max() <= 0.2 and body.min() >= 0.85


def test_detector_rejects_bad_input():
    with pytest.raises(ValueError, match="images"):
        is_subject(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match="empty"):
        is_subject(torch.zeros(0, 3, 32, 32))


# ----------------------------------------------------------------------------- DreamBooth loss
def test_dreambooth_batch_loss_is_eq2():
    g = torch.Generator().manual_seed(0)
    out, target = torch.randn(6, 2, 3, generator=g), torch.randn(6, 2, 3, generator=g)
    inst = ((out[:2] - target[:2]) ** 2).mean()
    prior = ((out[2:] - target[2:]) ** 2).mean()
    assert torch.allclose(dreambooth_batch_loss(out, target, 2, 0.5), inst + 0.5 * prior)
    assert torch.allclose(dreambooth_batch_loss(out, target, 6), ((out - target) ** 2).mean())
    with pytest.raises(ValueError, match="num_instance"):
        dreambooth_batch_loss(out, target, 0)
    with pytest.raises(ValueError, match="prior_weight"):
        dreambooth_batch_loss(out, target, 2, -1.0)


def test_dreambooth_loss_runs_one_joint_pass():
    from diffusionlab.schedules import make_schedule

    calls = []

    def model(x, t, context):
        calls.append(x.shape[0])
        return x * context.mean()

    sched = make_schedule("linear", 100)
    x_i, x_c = torch.randn(2, 4, 8, 8), torch.randn(3, 4, 8, 8)
    c_i, c_c = torch.ones(2, 5, 8), torch.ones(3, 5, 8)
    loss = dreambooth_loss(model, sched, x_i, c_i, x_c, c_c, 1.0,
                           generator=torch.Generator().manual_seed(0))
    assert calls == [5] and loss.ndim == 0
    with pytest.raises(ValueError, match="class_context"):
        dreambooth_loss(model, sched, x_i, c_i, x_c)


# ----------------------------------------------------------------------------- textual inversion
def test_mask_embedding_grad_keeps_only_the_rows():
    grad = torch.randn(7, 3)
    out = mask_embedding_grad(grad, [1, 5])
    assert torch.equal(out[[1, 5]], grad[[1, 5]])
    assert int(torch.count_nonzero(out[[0, 2, 3, 4, 6]])) == 0


def test_add_token_grows_one_row_and_refuses_existing_tokens():
    clip = TinyCLIP.pretrained()
    before = {k: v.clone() for k, v in clip.state_dict().items()}
    n = clip.token_embedding.num_embeddings
    tid = clip.add_token("<sks>", "circle")
    w = clip.token_embedding.weight
    assert tid == n and w.shape[0] == n + 1
    assert torch.equal(w[:n], before[TABLE]) and torch.equal(w[tid], w[clip.tokenizer.get_vocab()["circle"]])
    assert clip.tokenize("a <sks>")["input_ids"][0, 2] == tid
    for token in ("circle", "<sks>", "<SKS>"):
        with pytest.raises(ValueError, match="already exists"):
            clip.add_token(token)
    with pytest.raises(ValueError, match="init_word"):
        clip.add_token("<new>", "dog")
    with pytest.raises(ValueError, match="entries"):
        TinyCLIP.pretrained().load_token("<x>", torch.zeros(3))


def test_textual_inversion_moves_one_row_only_and_saves_one_vector(tmp_path):
    from diffusionlab.pipelines import TextToImage
    from diffusionlab.recipes.textual_inversion import invert

    pipe = TextToImage.pretrained()
    clip0 = {k: v.clone() for k, v in pipe.clip.state_dict().items()}
    unet0 = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    vae0 = {k: v.clone() for k, v in pipe.vae.state_dict().items()}
    tid, result = invert(pipe, steps=4, progress=False)
    clip1 = pipe.clip.state_dict()
    assert set(clip1) == set(clip0)
    for k, v in clip0.items():
        if k != TABLE:
            assert torch.equal(clip1[k], v), f"{k} changed"
    table = clip1[TABLE]
    assert torch.equal(table[:tid], clip0[TABLE])                      # every other row
    assert not torch.equal(table[tid], clip0[TABLE][pipe.clip.tokenizer.get_vocab()["circle"]])
    assert all(torch.equal(pipe.unet.state_dict()[k], v) for k, v in unet0.items())
    assert all(torch.equal(pipe.vae.state_dict()[k], v) for k, v in vae0.items())
    assert all(not p.requires_grad for p in pipe.clip.parameters())

    save_textual_inversion(pipe.clip, "<sks>", tmp_path)
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "model.safetensors"))
    assert list(saved) == ["<sks>"] and saved["<sks>"].shape == (pipe.clip.context_dim,)
    assert json.loads((tmp_path / "config.json").read_text())["class"] == "TextualInversion"
    fresh = TinyCLIP.pretrained()
    assert load_textual_inversion(fresh, tmp_path) == "<sks>"
    assert torch.equal(fresh.token_embedding.weight[tid], table[tid])
    with pytest.raises(ValueError, match="already exists"):
        load_textual_inversion(fresh, tmp_path)


def test_rare_identifier_never_appears_in_training_captions():
    from diffusionlab.recipes._personalize import IDENTIFIER, rare_words

    assert IDENTIFIER in rare_words(2000)


# ----------------------------------------------------------------------------- recipe pieces
def test_dreambooth_recipe_pieces(tmp_path):
    from safetensors.torch import load_file

    from diffusionlab.checkpoints import load_checkpoint
    from diffusionlab.nn.unet import UNet
    from diffusionlab.recipes import _dreambooth, _personalize
    from diffusionlab.schedules import make_schedule

    assert _personalize.class_prompts(8)[0] == "a circle"
    assert all("circle" in p and "something" not in p for p in _personalize.class_prompts(40))
    assert _personalize.instance_prompts()[0] == "a large something circle in the center"
    assert _personalize.instance_prompts("<sks>", True)[0] == "a large <sks> in the center"
    torch.manual_seed(0)
    unet = UNet(in_channels=4, context_dim=8, base_channels=8, channel_mults=(1, 2),
                attention_levels=(False, True), num_heads=2)
    inst = {"latents": torch.randn(4, 4, 8, 8), "states": torch.randn(4, 5, 8)}
    prior = {"latents": torch.randn(10, 4, 8, 8), "states": torch.randn(10, 5, 8)}
    sched = make_schedule("linear", 100)
    sizes = []
    hook = unet.register_forward_hook(lambda m, a, o: sizes.append(a[0].shape[0]))
    _dreambooth.make_loss_fn(sched, inst, prior, class_per_step=3)(unet, 0).backward()
    _dreambooth.make_loss_fn(sched, inst, None)(unet, 0).backward()
    hook.remove()
    assert sizes == [4 * _dreambooth.INSTANCE_REPEAT + 3, 4 * _dreambooth.INSTANCE_REPEAT]
    _dreambooth.save_half(unet, tmp_path)
    assert all(v.dtype == torch.float16 for v in load_file(str(tmp_path / "model.safetensors")).values())
    back = load_checkpoint(UNet, tmp_path)
    for (k, a), b in zip(unet.state_dict().items(), back.state_dict().values()):
        assert b.dtype == torch.float32 and torch.allclose(a, b, rtol=1e-3, atol=1e-4), k
