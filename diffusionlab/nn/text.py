"""A tiny CLIP for the shapes world, built from ``transformers``' own CLIP classes.

CLIP (Learning Transferable Visual Models From Natural Language Supervision, Radford et
al. 2021) trains a text encoder and an image encoder together so that a caption and its
image land on nearby unit vectors. Stable Diffusion keeps only the *text* half, frozen
(SD 1.x: OpenAI's CLIP ViT-L/14 text encoder), and its U-Net cross-attends to the
encoder's *last hidden states*, one vector per token of the padded 77-token prompt, not
to the single pooled embedding that CLIP's contrastive loss uses.

Here, at toy scale:

* a word-level tokenizer (``tokenizers`` WordLevel model, lowercase, whitespace split)
  wrapped in ``transformers.PreTrainedTokenizerFast``: ``<|startoftext|>`` + words +
  ``<|endoftext|>`` padded with ``<pad>`` to ``max_length`` = 12 (SD: 77). Its vocabulary
  is the word list it is given: for the shipped model, every word a shapes caption can use
  (``data.shapes.CAPTION_WORDS``, the list ``parse_caption`` accepts). A word it does not know becomes ``<unk>``
  (like CLIP's BPE, it never raises); :func:`unknown_words` lists such words so a caller
  can warn.
* ``TinyCLIP``: ``transformers.CLIPModel`` with a small ``CLIPConfig`` (64 wide, 3 layers,
  4 heads; 32x32 images cut into 4x4 patches), trained contrastively on shapes scenes
  (``diffusionlab.recipes.clip``), saved and loaded with ``save_pretrained`` /
  ``from_pretrained`` from a local folder, so the same folder also opens with
  ``CLIPModel.from_pretrained(folder)`` and ``AutoTokenizer.from_pretrained(folder)``.

The contrastive loss (Radford et al. 2021, Figure 3), for a batch of n (image, text) pairs:

    I = normalize(W_i f_img(images)),  T = normalize(W_t f_txt(texts))     (n, D) each
    logits = exp(tau) * T I^T                   cosine similarities, learned temperature tau
    loss = (CE(logits, targets) + CE(logits^T, targets^T)) / 2      symmetric cross-entropy

With one-hot targets text i belongs to image i only. Shapes captions break that in two
ways. (1) Two pairs in a batch can share a caption exactly (there are only 270 full
captions, and many partial ones coincide): the encoder gives both one text vector, so
the best any model can do is to split that row 50/50 between the two images, which is
exactly what soft targets ask (for exact duplicates the one-hot loss happens to have the
same value and gradient, so this case is harmless either way). (2) A partial caption such
as "a red shape" is *true* of every red image in the batch, yet one-hot targets push it
away from all of them but one: false negatives, which teach the text encoder that "red"
does not mean red. So the targets here are soft and follow the truth: text i's target is
uniform over every image j the caption describes (all the attributes it names match
image j's true attributes), and image j's target is uniform over every caption true of
it (``match`` in :func:`contrastive_loss`, built by ``recipes.clip.match_matrix``). This
reduces to the paper's one-hot targets when no caption describes another pair's image.
See :func:`contrastive_loss`.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int, check_tensor

BOS, EOS, PAD, UNK = "<|startoftext|>", "<|endoftext|>", "<pad>", "<unk>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)          # ids 0..3 (eos must not be id 2: see below)
MAX_LENGTH = 12                                # bos + up to 10 words + eos, padded
def build_tokenizer(words, max_length: int = MAX_LENGTH):
    """A word-level ``PreTrainedTokenizerFast`` over ``words`` (the vocabulary, e.g. the
    shapes world's ``CAPTION_WORDS``): lowercase, split on whitespace and punctuation,
    ``<|startoftext|> words <|endoftext|>``, padded right with ``<pad>``. Special tokens get
    ids 0-3, then the words in sorted order."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    max_length = check_int("max_length", max_length, minimum=3)
    if isinstance(words, str) or not all(isinstance(w, str) and w and " " not in w
                                         for w in words):
        raise TypeError("words must be a list of single words (str without spaces), got "
                        f"{words!r}"[:200])
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for word in sorted(set(words) - set(SPECIAL_TOKENS)):
        vocab[word] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.normalizer = normalizers.Sequence([normalizers.Lowercase(),
                                           normalizers.Replace(Regex(r"[,.;:!?]"), " ")])
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS,
                                   pad_token=PAD, unk_token=UNK, model_max_length=max_length,
                                   padding_side="right", truncation_side="right")


def unknown_words(tokenizer, caption: str) -> list[str]:
    """The words of ``caption`` that ``tokenizer`` maps to ``<unk>`` (empty list if none)."""
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a str, got {type(caption).__name__}")
    unk = tokenizer.unk_token_id
    enc = tokenizer(caption, add_special_tokens=False, return_offsets_mapping=True)
    return [caption[a:b] for i, (a, b) in zip(enc["input_ids"], enc["offset_mapping"]) if i == unk]


def _check_captions(captions) -> list[str]:
    if isinstance(captions, str):
        captions = [captions]
    if not isinstance(captions, (list, tuple)) or len(captions) == 0:
        raise TypeError(f"captions must be a str or a non-empty list of str, got "
                        f"{type(captions).__name__}")
    for i, c in enumerate(captions):
        if not isinstance(c, str):
            raise TypeError(f"captions[{i}] must be a str, got {type(c).__name__}")
    return list(captions)


def clip_config(vocab_size: int, max_length: int = MAX_LENGTH, hidden_size: int = 64,
                layers: int = 3, heads: int = 4, projection_dim: int = 64,
                image_size: int = 32, patch_size: int = 4):
    """A small ``transformers.CLIPConfig`` (OpenAI's ViT-B/32 CLIP: width 512/768, 12 layers)."""
    from transformers import CLIPConfig

    common = dict(hidden_size=hidden_size, intermediate_size=4 * hidden_size,
                  num_hidden_layers=layers, num_attention_heads=heads, hidden_act="quick_gelu")
    text = dict(common, vocab_size=vocab_size, max_position_embeddings=max_length,
                pad_token_id=SPECIAL_TOKENS.index(PAD), bos_token_id=SPECIAL_TOKENS.index(BOS),
                # transformers pools at the first eos; an eos id of 2 selects a legacy
                # argmax(input_ids) rule instead, which is why eos is id 3 here.
                eos_token_id=SPECIAL_TOKENS.index(EOS))
    vision = dict(common, image_size=image_size, patch_size=patch_size, num_channels=3)
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)


def contrastive_loss(text_emb: torch.Tensor, image_emb: torch.Tensor, logit_scale: torch.Tensor,
                     match: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric cross-entropy over the cosine-similarity matrix (Radford et al. 2021, Fig. 3).

    Args:
        text_emb, image_emb: (n, D) unit vectors; row i of each is a training pair.
        logit_scale: the learned log-temperature tau (a 0-d tensor); exp(tau) is capped at
            100 as in the paper.
        match: optional (n, n) bool, ``match[i, j]`` = caption i is true of image j (the
            diagonal must be True). Default: the identity (the paper's one-hot targets).
    """
    n = text_emb.shape[0]
    scale = logit_scale.clamp(max=math.log(100.0)).exp()   # exp(tau), at most 100
    logits = scale * text_emb @ image_emb.T                  # (texts, images)
    if match is None:
        match = torch.eye(n, dtype=torch.bool, device=logits.device)
    if match.shape != (n, n) or not bool(match.diagonal().all()):
        raise ValueError(f"match must be an ({n}, {n}) bool matrix with a True diagonal, "
                         f"got shape {tuple(match.shape)}")
    m = match.float()
    t2i = m / m.sum(1, keepdim=True)                   # text i -> uniform over its images
    i2t = m.T / m.T.sum(1, keepdim=True)               # image j -> uniform over its captions
    loss_t = -(t2i * F.log_softmax(logits, dim=1)).sum(1).mean()
    loss_i = -(i2t * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return (loss_t + loss_i) / 2


def mask_embedding_grad(grad: torch.Tensor, token_ids) -> torch.Tensor:
    """The gradient of an embedding table (vocab, dim) with every row zeroed except the rows
    ``token_ids``: the update of textual inversion (Gal et al. 2022, eq. 2 optimizes v* only),
    as diffusers' ``textual_inversion.py`` keeps the other rows fixed."""
    check_tensor("grad", grad, ndim=2)
    ids = torch.as_tensor(token_ids, dtype=torch.long, device=grad.device).reshape(-1)
    keep = torch.zeros(grad.shape[0], 1, dtype=grad.dtype, device=grad.device)
    keep[ids] = 1
    return grad * keep


def save_textual_inversion(clip, token: str, directory, manifest: dict | None = None) -> Path:
    """Write the one learned vector alone: ``model.safetensors`` = {token: (dim,)} (the
    format of diffusers' ``learned_embeds.safetensors``) and ``config.json``."""
    import json

    from safetensors.torch import save_file

    token_id = clip.tokenizer.get_vocab().get(token)
    if token_id is None:
        raise ValueError(f"token {token!r} is not in the tokenizer (add_token it first)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vector = clip.token_embedding.weight[token_id].detach().cpu().clone()
    save_file({token: vector}, str(directory / "model.safetensors"))
    config = {"token": token, "dim": int(vector.shape[0]), "base_model": "clip"}
    (directory / "config.json").write_text(
        json.dumps({"class": "TextualInversion", "config": config}, indent=2) + "\n")
    if manifest is not None:
        (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return directory


def load_textual_inversion(clip, directory) -> str:
    """Add the token saved in ``directory`` (``save_textual_inversion``) to ``clip`` with its
    vector; returns the token (diffusers' ``pipe.load_textual_inversion``)."""
    import json

    from safetensors.torch import load_file

    directory = Path(directory)
    cfg = directory / "config.json"
    if not cfg.is_file() or not (directory / "model.safetensors").is_file():
        raise FileNotFoundError(f"{directory} is not a textual-inversion folder (needs "
                                f"config.json and model.safetensors)")
    meta = json.loads(cfg.read_text())
    if meta.get("class") != "TextualInversion":
        raise ValueError(f"{directory} holds a {meta.get('class')!r}, not a TextualInversion")
    state = load_file(str(directory / "model.safetensors"))
    if len(state) != 1:
        raise ValueError(f"{directory}: a textual inversion holds one vector, got {len(state)}")
    (token, vector), = state.items()
    clip.load_token(token, vector)
    return token


class TinyCLIP(nn.Module):
    """``transformers.CLIPModel`` at toy scale plus its word-level tokenizer.

    ``encode_text`` / ``encode_image`` give normalized projected embeddings (what the
    contrastive loss compares); ``token_states`` gives the text model's last hidden
    states for the whole padded sequence (what a latent U-Net cross-attends to, as SD's
    U-Net attends to all 77 CLIP token states). The empty prompt "" is
    ``<|startoftext|> <|endoftext|> <pad> ...``: the unconditional context for CFG.
    """

    def __init__(self, words=None, hidden_size: int = 64, layers: int = 3, heads: int = 4,
                 projection_dim: int = 64, image_size: int = 32, patch_size: int = 4,
                 max_length: int = MAX_LENGTH, tokenizer=None, config=None):
        super().__init__()
        from transformers import CLIPModel

        if (words is None) == (tokenizer is None):
            raise ValueError("pass exactly one of words (the vocabulary to build a tokenizer "
                             "from, e.g. data.shapes.CAPTION_WORDS) and tokenizer")
        self.tokenizer = build_tokenizer(words, max_length) if tokenizer is None else tokenizer
        if config is None:
            config = clip_config(len(self.tokenizer), self.tokenizer.model_max_length,
                                 hidden_size, layers, heads, projection_dim, image_size,
                                 patch_size)
        self.max_length = self.tokenizer.model_max_length
        if config.text_config.max_position_embeddings < self.max_length:
            raise ValueError(f"config allows {config.text_config.max_position_embeddings} "
                             f"positions but the tokenizer pads to {self.max_length}")
        config._attn_implementation = "sdpa"
        self.model = CLIPModel(config)
        self.image_size = config.vision_config.image_size

    # ------------------------------------------------------------------ save / load
    def save(self, directory) -> Path:
        """Write a Hugging Face folder: config.json + model.safetensors (CLIPModel) and the
        tokenizer files. ``CLIPModel.from_pretrained(directory)`` reads it too."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)
        return directory

    @classmethod
    def from_pretrained(cls, directory, device: str | torch.device = "cpu") -> "TinyCLIP":
        """Load a folder written by :meth:`save` (local files only; never a hub)."""
        from transformers import CLIPModel, PreTrainedTokenizerFast

        directory = Path(directory)
        if not (directory / "model.safetensors").is_file():
            raise FileNotFoundError(f"{directory} has no model.safetensors (write one with "
                                    f"TinyCLIP.save or `python -m diffusionlab train clip`)")
        from transformers.utils import logging as hf_logging

        tokenizer = PreTrainedTokenizerFast.from_pretrained(directory, local_files_only=True)
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()           # no "Loading weights" bar for 1 MB
        try:
            model = CLIPModel.from_pretrained(directory, local_files_only=True,
                                              attn_implementation="sdpa")
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        obj = cls(tokenizer=tokenizer, config=model.config)
        obj.model = model
        return obj.to(device).eval()

    @classmethod
    def pretrained(cls, device: str | torch.device = "cpu") -> "TinyCLIP":
        """The shipped tiny CLIP (``diffusionlab/weights/clip/``)."""
        from ..checkpoints import weights_path

        return cls.from_pretrained(weights_path("clip"), device=device)

    # ------------------------------------------------------------------ new tokens
    @property
    def token_embedding(self) -> nn.Embedding:
        """The text encoder's token embedding table (vocab_size, hidden): one row per token."""
        return self.model.text_model.get_input_embeddings()

    def add_token(self, token: str, init_word: str | None = None) -> int:
        """Add ``token`` to the tokenizer and a row for it to the embedding table (textual
        inversion, Gal et al. 2022, section 3); returns its id.

        The table grows through ``transformers.CLIPTextModel.resize_token_embeddings`` (the
        ``CLIPModel``'s text half; a ``CLIPModel`` does not resize itself). The new row starts as a copy of ``init_word``'s row (Gal et al.
        start from a coarse descriptor such as "sculpture"), or as the mean of the other rows
        when ``init_word`` is None. Every other row and weight
        is left exactly as it was. A token the tokenizer already knows is a ValueError: its
        row would be overwritten and every prompt using it would change.
        """
        if not isinstance(token, str) or not token or any(c.isspace() for c in token):
            raise ValueError(f"token must be one word without spaces, got {token!r}")
        vocab = self.tokenizer.get_vocab()
        if token in vocab or token.lower() in vocab:
            raise ValueError(f"token {token!r} already exists in the tokenizer (id "
                             f"{vocab.get(token, vocab.get(token.lower()))}); pick a new "
                             f"placeholder such as '<{token.strip('<>')}-1>'")
        init_id = None
        if init_word is not None:
            if init_word not in vocab:
                raise ValueError(f"init_word {init_word!r} is not in the vocabulary; pick one "
                                 f"of {', '.join(sorted(vocab))}")
            init_id = vocab[init_word]
        self.tokenizer.add_tokens([token])
        text = self.model.text_model                     # a transformers CLIPTextModel
        text.resize_token_embeddings(len(self.tokenizer), mean_resizing=False)
        new_id = self.tokenizer.convert_tokens_to_ids(token)
        table = self.token_embedding
        with torch.no_grad():
            table.weight[new_id] = (table.weight[init_id] if init_id is not None
                                    else table.weight[:new_id].mean(0))
        self.model.config.text_config.vocab_size = table.num_embeddings
        return new_id

    def load_token(self, token: str, vector: torch.Tensor) -> int:
        """Add ``token`` with its learned embedding ``vector`` (hidden,): what loading a
        textual-inversion file does (diffusers' ``load_textual_inversion``)."""
        check_tensor("vector", vector, ndim=1)
        if vector.shape[0] != self.context_dim:
            raise ValueError(f"vector must have {self.context_dim} entries (the text encoder's "
                             f"width), got {vector.shape[0]}: an embedding for another model?")
        new_id = self.add_token(token)
        with torch.no_grad():
            self.token_embedding.weight[new_id] = vector.to(self.token_embedding.weight)
        return new_id

    def train_only_tokens(self, token_ids) -> torch.utils.hooks.RemovableHandle:
        """Freeze every parameter but the embedding table, and mask the table's gradient so
        that only the rows ``token_ids`` can change (textual inversion: one row trains).
        Returns the gradient hook's handle (``.remove()`` it to undo the mask). With an
        optimizer without weight decay, every other row stays bit-identical: its gradient
        is exactly 0, so Adam's moments stay 0 and its update is 0."""
        self.requires_grad_(False)
        weight = self.token_embedding.weight
        weight.requires_grad_(True)
        ids = torch.as_tensor(token_ids, dtype=torch.long).reshape(-1)
        if ids.numel() == 0 or int(ids.min()) < 0 or int(ids.max()) >= weight.shape[0]:
            raise ValueError(f"token_ids must be ids in 0..{weight.shape[0] - 1}, got "
                             f"{ids.tolist()}")
        return weight.register_hook(lambda grad: mask_embedding_grad(grad, ids))

    # ------------------------------------------------------------------ encoders
    @property
    def device(self) -> torch.device:
        return self.model.logit_scale.device

    @property
    def context_dim(self) -> int:
        """Width of one token state (what a U-Net's cross-attention uses as context_dim)."""
        return self.model.config.text_config.hidden_size

    @property
    def embed_dim(self) -> int:
        return self.model.config.projection_dim

    def tokenize(self, captions) -> dict:
        """captions (str or list) -> {"input_ids", "attention_mask"}: (B, max_length) long."""
        captions = _check_captions(captions)
        enc = self.tokenizer(captions, padding="max_length", max_length=self.max_length,
                             truncation=True, return_tensors="pt")
        return {"input_ids": enc["input_ids"].to(self.device),
                "attention_mask": enc["attention_mask"].to(self.device)}

    def _text_outputs(self, captions, **kwargs):
        return self.model.text_model(**self.tokenize(captions), **kwargs)

    def token_states(self, captions) -> torch.Tensor:
        """(B, max_length, hidden) last hidden states of the padded sequence (SD's context)."""
        return self._text_outputs(captions).last_hidden_state

    def encode_text(self, captions) -> torch.Tensor:
        """(B, D) unit vectors: the eos token's state, projected (CLIP's text embedding)."""
        pooled = self._text_outputs(captions).pooler_output
        return F.normalize(self.model.text_projection(pooled), dim=-1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, 32, 32) in [-1, 1] -> (B, D) unit vectors."""
        check_tensor("images", images, ndim=4)
        S = self.image_size
        if images.shape[1:] != (3, S, S):
            raise ValueError(f"images must have shape (B, 3, {S}, {S}), got {tuple(images.shape)}")
        pooled = self.model.vision_model(pixel_values=images.to(self.device)).pooler_output
        return F.normalize(self.model.visual_projection(pooled), dim=-1)

    def similarity(self, captions, images: torch.Tensor) -> torch.Tensor:
        """(n_captions, n_images) cosine similarities."""
        return self.encode_text(captions) @ self.encode_image(images).T

    def text_attentions(self, captions) -> tuple[torch.Tensor, ...]:
        """Per layer (B, heads, L, L) self-attention weights of the text encoder (causal)."""
        impl = self.model.text_model.config._attn_implementation
        self.model.text_model.config._attn_implementation = "eager"
        try:
            out = self._text_outputs(captions, output_attentions=True)
        finally:
            self.model.text_model.config._attn_implementation = impl
        return out.attentions

    def forward(self, captions, images: torch.Tensor, match: torch.Tensor | None = None):
        """The contrastive loss of a batch of (caption, image) pairs."""
        return contrastive_loss(self.encode_text(captions), self.encode_image(images),
                                self.model.logit_scale, match)
