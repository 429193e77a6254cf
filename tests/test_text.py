"""The word-level tokenizer and the tiny CLIP (transformers' CLIPModel at toy scale)."""
import pytest
import torch
from transformers import PreTrainedTokenizerFast
from transformers.models.clip.modeling_clip import image_text_contrastive_loss

from diffusionlab.data.shapes import CAPTION_WORDS, make_shapes, parse_caption
from diffusionlab.nn.text import (
    BOS,
    EOS,
    MAX_LENGTH,
    PAD,
    UNK,
    TinyCLIP,
    build_tokenizer,
    contrastive_loss,
    unknown_words,
)
from diffusionlab.recipes.clip import match_matrix, retrieval_accuracy

CAPTION = "a small red circle at the top left"


@pytest.fixture(scope="module")
def shipped():
    return TinyCLIP.pretrained()


def test_tokenizer_round_trip_through_save_pretrained(tmp_path):
    tok = build_tokenizer(CAPTION_WORDS)
    tok.save_pretrained(tmp_path)
    loaded = PreTrainedTokenizerFast.from_pretrained(tmp_path, local_files_only=True)
    captions = [CAPTION, "a large blue triangle in the center", "a shape at the bottom", ""]
    a = tok(captions, padding="max_length", max_length=MAX_LENGTH)
    b = loaded(captions, padding="max_length", max_length=MAX_LENGTH)
    assert a["input_ids"] == b["input_ids"]
    assert loaded.decode(b["input_ids"][0], skip_special_tokens=True) == CAPTION
    assert loaded.model_max_length == MAX_LENGTH and len(loaded) == len(tok)


def test_padding_special_tokens_and_empty_prompt():
    clip = TinyCLIP(CAPTION_WORDS)
    tok = clip.tokenizer
    enc = clip.tokenize([CAPTION, "", "A Red Circle."])
    ids, mask = enc["input_ids"], enc["attention_mask"]
    assert ids.shape == mask.shape == (3, MAX_LENGTH) and ids.dtype == torch.long
    bos, eos, pad = (tok.convert_tokens_to_ids(t) for t in (BOS, EOS, PAD))
    n_words = len(CAPTION.split())
    assert ids[0, 0] == bos and ids[0, n_words + 1] == eos
    assert torch.all(ids[0, n_words + 2:] == pad)
    assert ids[1, :2].tolist() == [bos, eos] and torch.all(ids[1, 2:] == pad)   # "" = unconditional
    assert mask.sum(1).tolist() == [n_words + 2, 2, 5]
    # lowercase, punctuation dropped
    assert ids[2].tolist() == clip.tokenize("a red circle")["input_ids"][0].tolist()
    # too long: truncated, still ends with eos
    long = clip.tokenize(" ".join(["red"] * 30))["input_ids"][0]
    assert long.shape == (MAX_LENGTH,) and long[-1] == eos


def test_unknown_words_map_to_unk_and_every_caption_word_is_known():
    tok = build_tokenizer(CAPTION_WORDS)
    ids = tok("a photo of a red circle")["input_ids"]
    assert tok.convert_tokens_to_ids(UNK) in ids
    assert unknown_words(tok, "a photo of a red circle") == ["photo"]
    captions = make_shapes(400, seed=3, caption_style="mixed").captions
    assert all(unknown_words(tok, c) == [] for c in captions)
    assert {"circle", "purple", "top", "left", "center", "something", "a"} <= set(CAPTION_WORDS)


def test_tokenizer_and_caption_parser_share_one_word_list(shipped):
    """Every word the tokenizer knows is one parse_caption accepts, and the shipped
    tokenizer was built from exactly this list (same ids)."""
    for word in CAPTION_WORDS:
        parse_caption(f"a {word}" if word not in ("top", "bottom", "left", "right") else word)
    built = build_tokenizer(CAPTION_WORDS).get_vocab()
    assert built == shipped.tokenizer.get_vocab()


def test_text_model_knows_no_data_set():
    import ast
    import inspect

    import diffusionlab.nn.text as text

    tree = ast.parse(inspect.getsource(text))
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not any("data" in m.split(".") for m in imported), imported


def test_contrastive_loss_matches_transformers_and_soft_targets():
    t = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    i = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    scale = torch.tensor(2.0)
    ref = image_text_contrastive_loss(scale.exp() * t @ i.T)
    torch.testing.assert_close(contrastive_loss(t, i, scale), ref)
    # soft targets: an explicit loop over rows and columns
    match = torch.eye(6, dtype=torch.bool)
    match[0, 1] = match[0, 2] = match[3, 4] = True   # caption 0 true of images 1, 2; ...
    logits = scale.exp() * t @ i.T
    rows = [-logits[r].log_softmax(0)[match[r]].mean() for r in range(6)]
    cols = [-logits[:, c].log_softmax(0)[match[:, c]].mean() for c in range(6)]
    ref = (torch.stack(rows).mean() + torch.stack(cols).mean()) / 2
    torch.testing.assert_close(contrastive_loss(t, i, scale, match), ref)
    # false negatives: a caption true of two images is no longer pushed off the second one
    t3 = t.clone()
    t3[0] = torch.nn.functional.normalize(i[0] + i[1], dim=-1)
    only0 = torch.eye(6, dtype=torch.bool)
    both = only0.clone()
    both[0, 1] = True
    tau = torch.tensor(4.0)
    assert contrastive_loss(t3, i, tau, both) < contrastive_loss(t3, i, tau, only0)
    with pytest.raises(ValueError, match="True diagonal"):
        contrastive_loss(t, i, scale, torch.zeros(6, 6, dtype=torch.bool))


def test_match_matrix_follows_what_captions_say():
    b = make_shapes(64, seed=1, caption_style="mixed")
    m = match_matrix(["a red shape"] * 64, b.labels)
    red = torch.tensor([a["color"] == "red" for a in b.attributes])
    assert torch.equal(m[0], red)
    full = match_matrix(make_shapes(64, seed=1, caption_style="full").captions, b.labels)
    assert bool(full.diagonal().all())


def test_save_and_from_pretrained_round_trip(tmp_path):
    clip = TinyCLIP(CAPTION_WORDS, hidden_size=32, layers=1, heads=2, projection_dim=16).eval()
    clip.save(tmp_path)
    again = TinyCLIP.from_pretrained(tmp_path)
    imgs = make_shapes(3, seed=0).images
    with torch.no_grad():
        prompts = ["a circle", ""]
        torch.testing.assert_close(again.encode_text(prompts), clip.encode_text(prompts))
        torch.testing.assert_close(again.encode_image(imgs), clip.encode_image(imgs))
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        TinyCLIP.from_pretrained(tmp_path / "nothing")


def test_shipped_clip_retrieves_fresh_scenes(shipped):
    acc = retrieval_accuracy(shipped, n=100, seed=31_337)
    assert acc >= 0.95, f"text-to-image retrieval {acc:.2f} < 0.95"


@torch.no_grad()
def test_token_states_shape_and_prompt_dependence(shipped):
    s = shipped.token_states(["a red circle", "a blue circle", ""])
    assert s.shape == (3, MAX_LENGTH, shipped.context_dim)
    assert not torch.allclose(s[0], s[1], atol=1e-3)
    # the text model is causal: "a" and the bos token see the same prefix in both prompts
    torch.testing.assert_close(s[0, :2], s[1, :2])
    e = shipped.encode_text(["a red circle", ""])
    torch.testing.assert_close(e.norm(dim=-1), torch.ones(2))
    assert shipped.encode_image(make_shapes(2, seed=0).images).shape == (2, shipped.embed_dim)


def test_bad_inputs(shipped):
    with pytest.raises(ValueError, match=r"images must have shape \(B, 3, 32, 32\)"):
        shipped.encode_image(torch.zeros(1, 3, 16, 16))
    with pytest.raises(TypeError, match="captions"):
        shipped.encode_text(42)
    with pytest.raises(TypeError, match=r"captions\[1\] must be a str"):
        shipped.tokenize(["a circle", None])


def test_loads_offline_without_any_network(monkeypatch):
    """HF_HUB_OFFLINE=1 (set by tests/conftest.py before transformers is imported) and every
    socket connection refused: the shipped folder still loads, from local files only."""
    import socket

    from huggingface_hub import constants

    assert constants.HF_HUB_OFFLINE, "tests/conftest.py should set HF_HUB_OFFLINE=1"

    def refuse(*args, **kwargs):
        raise OSError("network access attempted while loading the tiny CLIP")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    clip = TinyCLIP.pretrained()
    with torch.no_grad():
        assert clip.token_states(["a red circle"]).shape == (1, MAX_LENGTH, 64)
