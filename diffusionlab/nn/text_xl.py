"""The tiny SDXL's two text encoders (D31-Q14, D35-Q7): a word-level one and a
character-aware one, whose per-token states are concatenated along the channels.

SDXL (Podell et al. 2023, section 2.1) conditions its U-Net on two frozen, pre-trained text
encoders: OpenAI's CLIP ViT-L (768 wide) and OpenCLIP ViT-bigG (1280 wide). Both read the
same 77 prompt tokens; their penultimate-layer states are concatenated per token into a
2048-wide context for cross-attention, and bigG's pooled embedding goes, with the size and
crop numbers, into the *added* conditioning (``nn.embeddings.added_condition_embedding``).

Here, at toy scale, both encoders are trained jointly with the U-Net (``recipes/
text2img_xl.py``): there is no pre-trained CLIP of the wider world to freeze, and a
contrastive pre-training run would not fit the session's CPU budget. So the "encoders"
learn only what the denoising loss teaches them.

    (a) ``WordEncoder``: a word-level tokenizer over ``data.scenes.SCENE_WORDS``
        (``nn.text.build_tokenizer``, max length ``MAX_CAPTION_WORDS + 2``): a word it does
        not know ("CAT") becomes ``<unk>``, as a word-piece tokenizer blurs spelling. Token
        and position embeddings, a small transformer, the last layer's states.
    (b) ``CharEncoder``, character-aware (Liu et al. 2022, "Character-aware models improve
        visual text rendering"): every word is spelled out and its characters embedded (with
        their position in the word), so a word never seen in training still reaches the
        U-Net as its letters. Two ways to make tokens of them (``tokens=``):
          "word"  one token per word: the letters mixed by a 1-D convolution and max-pooled
                  (a character CNN, Kim et al. 2016), then a transformer over the words.
                  Short contexts, but the word's spelling is squeezed into one vector.
          "char"  one token per character (ByT5, Xue et al. 2022, the encoder Liu et al.
                  actually add to Imagen): a transformer over every letter of the caption;
                  the word-level states are repeated over their word's letters so both
                  encoders still line up token by token. Contexts are ``max_chars`` times
                  longer; cross-attention can read the k-th letter where it is drawn.
        Its pooled embedding (the state at the end-of-text token, projected) is the SDXL
        "pooled text embedding".

Both split a caption into the same tokens (lowercase, punctuation to spaces, split on
whitespace, ``<bos>`` words ``<eos>``, padded to ``max_length``), so their states line up
token by token and ``DualTextEncoder`` concatenates them: context (B, L, d_word + d_char),
or (B, L * max_chars, d_word + d_char) with character tokens.

Conditioning modes (``MODES``): which states the U-Net sees. They are trained by dropout
(``recipes/text2img_xl.py``), so one network answers all four; an ablation by dropout, not
four separately trained models:

    "both"     word states, char states, pooled
    "word"     word states only (char states and pooled zeroed)
    "char"     char states and pooled (word states zeroed)
    "pooled"   pooled only (both per-token states zeroed)
"""
from __future__ import annotations

import re

import torch
from torch import nn

from .._checks import check_choice, check_int

MODES = ("both", "word", "char", "pooled")
CHAR_TOKENS = ("word", "char")
CHARS = "abcdefghijklmnopqrstuvwxyz"
# char ids: 0 padding, 1..26 letters, 27 any other character, 28 <bos>, 29 <eos>
CHAR_PAD, CHAR_OTHER, CHAR_BOS, CHAR_EOS = 0, len(CHARS) + 1, len(CHARS) + 2, len(CHARS) + 3
CHAR_VOCAB = len(CHARS) + 4
MAX_WORD_CHARS = 10
_PUNCT = re.compile(r"[,.;:!?]")


def split_words(caption: str) -> list[str]:
    """The words of a caption as both tokenizers see them: lowercase, punctuation
    ``,.;:!?`` to spaces, split on whitespace (``nn.text.build_tokenizer``'s rule)."""
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a str, got {type(caption).__name__}")
    return _PUNCT.sub(" ", caption.lower()).split()


def char_ids(captions, max_length: int, max_chars: int = MAX_WORD_CHARS) -> torch.Tensor:
    """(B, max_length, max_chars) character ids: row 0 the <bos> "word", then each word
    spelled out (cut after ``max_chars`` characters), then <eos>, then padding (all 0).
    Words past ``max_length - 2`` are cut, as the word tokenizer cuts them."""
    if isinstance(captions, str):
        captions = [captions]
    max_length = check_int("max_length", max_length, minimum=3)
    max_chars = check_int("max_chars", max_chars, minimum=1)
    out = torch.zeros(len(captions), max_length, max_chars, dtype=torch.long)
    for i, c in enumerate(captions):
        words = split_words(c)[:max_length - 2]
        out[i, 0, 0] = CHAR_BOS
        for j, w in enumerate(words, start=1):
            ids = [CHARS.index(ch) + 1 if ch in CHARS else CHAR_OTHER for ch in w[:max_chars]]
            out[i, j, :len(ids)] = torch.tensor(ids)
        out[i, len(words) + 1, 0] = CHAR_EOS
    return out


def _transformer(width: int, layers: int, heads: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0,
                                       activation="gelu", batch_first=True, norm_first=True)
    # no nested tensors: padded positions get the same outputs in training and evaluation
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class WordEncoder(nn.Module):
    """(a): token ids (B, L) -> states (B, L, width); a pre-LN transformer over word tokens,
    padding masked out of the attention."""

    def __init__(self, vocab_size: int, max_length: int, width: int = 64, layers: int = 2,
                 heads: int = 4):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.position_embedding = nn.Parameter(torch.randn(max_length, width) * 0.02)
        self.transformer = _transformer(width, layers, heads)
        self.final_norm = nn.LayerNorm(width)

    def forward(self, ids: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        h = self.token_embedding(ids) + self.position_embedding[: ids.shape[1]]
        return self.final_norm(self.transformer(h, src_key_padding_mask=pad_mask))


class CharEncoder(nn.Module):
    """(b): character ids (B, L, C) -> states and pooled (B, pooled_dim); the states are
    (B, L, width) with ``tokens="word"``, (B, L * C, width) with ``tokens="char"``.

    "word": word token = maxpool_c GELU(Conv1d(char_emb + char_pos_emb))  (a character CNN)
    "char": token (j, c) = char_emb + char_pos_emb[c] + word_pos_emb[j]    (ByT5-style)
    then a transformer over the tokens, padding masked; pooled = Linear(state at <eos>),
    like CLIP's pooled output and projection."""

    def __init__(self, max_length: int, width: int = 64, layers: int = 2, heads: int = 4,
                 pooled_dim: int = 64, max_chars: int = MAX_WORD_CHARS, tokens: str = "word"):
        super().__init__()
        self.tokens = check_choice("tokens", tokens, CHAR_TOKENS)
        self.char_embedding = nn.Embedding(CHAR_VOCAB, width, padding_idx=CHAR_PAD)
        self.char_position = nn.Parameter(torch.randn(max_chars, width) * 0.02)
        if tokens == "word":
            self.char_conv = nn.Conv1d(width, width, 3, padding=1)
        self.position_embedding = nn.Parameter(torch.randn(max_length, width) * 0.02)
        self.transformer = _transformer(width, layers, heads)
        self.final_norm = nn.LayerNorm(width)
        self.pooled_projection = nn.Linear(width, pooled_dim)

    def word_tokens(self, chars: torch.Tensor) -> torch.Tensor:
        """(B, L, C) character ids -> (B, L, width): one token per word from its letters."""
        B, L, C = chars.shape
        e = self.char_embedding(chars) + self.char_position[:C]              # (B, L, C, w)
        h = self.char_conv(e.reshape(B * L, C, -1).transpose(1, 2))        # (B L, w, C)
        h = nn.functional.gelu(h).transpose(1, 2).reshape(B, L, C, -1)
        real = (chars != CHAR_PAD).unsqueeze(-1)
        h = h.masked_fill(~real, float("-inf")).amax(2)                     # max over letters
        return torch.where(real.any(2), h, torch.zeros_like(h))             # padding: 0

    def char_tokens(self, chars: torch.Tensor) -> torch.Tensor:
        """(B, L, C) character ids -> (B, L * C, width): one token per character, which
        knows its letter, its place in the word and its word's place in the caption."""
        B, L, C = chars.shape
        e = (self.char_embedding(chars) + self.char_position[:C]
             + self.position_embedding[:L, None])                           # (B, L, C, w)
        return e.reshape(B, L * C, -1)

    def forward(self, chars: torch.Tensor, pad_mask: torch.Tensor):
        """``pad_mask``: (B, L) True at padding words (ignored with character tokens, whose
        padding is every character id 0)."""
        B, L, C = chars.shape
        if self.tokens == "char":
            h, pad_mask = self.char_tokens(chars), (chars == CHAR_PAD).reshape(B, L * C)
            step = C                                   # word j's first character: j * C
        else:
            h, step = self.word_tokens(chars) + self.position_embedding[:L], 1
        states = self.final_norm(self.transformer(h, src_key_padding_mask=pad_mask))
        eos = (chars[..., 0] == CHAR_EOS).float().argmax(1) * step         # its position
        pooled = self.pooled_projection(states[torch.arange(B), eos])
        return states, pooled


class DualTextEncoder(nn.Module):
    """SDXL's pair of text encoders at toy scale (module docstring).

    ``tokenize(captions)`` -> {"input_ids" (B, L), "char_ids" (B, L, C)};
    ``forward(input_ids, char_ids, mode="both")`` -> (context (B, L, word_width + char_width),
    pooled (B, pooled_dim)); ``encode(captions, mode)`` does both.
    ``forward(..., keep_word=, keep_char=)`` takes (B,) 0/1 masks instead of a mode (training
    dropout): keep_char also zeroes the pooled embedding, which is the char encoder's.
    ``char_tokens="char"``: one context token per character (``CharEncoder``), L * C long.
    """

    def __init__(self, words=None, max_length: int | None = None, word_width: int = 64,
                 char_width: int = 64, layers: int = 2, heads: int = 4, pooled_dim: int = 64,
                 char_tokens: str = "word"):
        super().__init__()
        from ..data.scenes import MAX_CAPTION_WORDS, SCENE_WORDS

        words = list(SCENE_WORDS if words is None else words)
        max_length = MAX_CAPTION_WORDS + 2 if max_length is None else max_length
        max_length = check_int("max_length", max_length, minimum=3)
        check_choice("char_tokens", char_tokens, CHAR_TOKENS)
        self.config = dict(words=words, max_length=max_length, word_width=word_width,
                           char_width=char_width, layers=layers, heads=heads,
                           pooled_dim=pooled_dim, char_tokens=char_tokens)
        from .text import build_tokenizer

        self.tokenizer = build_tokenizer(words, max_length=max_length)
        self.max_length = max_length
        self.word_encoder = WordEncoder(len(self.tokenizer), max_length, word_width, layers, heads)
        self.char_encoder = CharEncoder(max_length, char_width, layers, heads, pooled_dim,
                                        tokens=char_tokens)
        self.char_tokens = char_tokens
        self.word_width, self.char_width = word_width, char_width
        self.context_dim = word_width + char_width
        self.pooled_dim = pooled_dim

    @property
    def device(self) -> torch.device:
        return self.word_encoder.token_embedding.weight.device

    def tokenize(self, captions) -> dict:
        if isinstance(captions, str):
            captions = [captions]
        ids = self.tokenizer(list(captions), padding="max_length", truncation=True,
                             max_length=self.max_length, return_tensors="pt")["input_ids"]
        return {"input_ids": ids, "char_ids": char_ids(captions, self.max_length)}

    def context_mask(self, input_ids: torch.Tensor, char_ids: torch.Tensor) -> torch.Tensor:
        """True at the context's real tokens: (B, L) words, or (B, L * C) characters."""
        if self.char_tokens == "char":
            return (char_ids != CHAR_PAD).reshape(char_ids.shape[0], -1)
        return input_ids != self.tokenizer.pad_token_id

    @staticmethod
    def mode_masks(mode: str, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(keep_word, keep_char), each (batch,) float, for a conditioning mode."""
        check_choice("text_encoders", mode, MODES)
        w = 1.0 if mode in ("both", "word") else 0.0
        c = 1.0 if mode in ("both", "char") else 0.0
        return torch.full((batch,), w), torch.full((batch,), c)

    def forward(self, input_ids: torch.Tensor, char_ids: torch.Tensor, mode: str = "both",
                keep_word: torch.Tensor | None = None, keep_char: torch.Tensor | None = None,
                keep_pooled: torch.Tensor | None = None):
        B = input_ids.shape[0]
        if keep_word is None or keep_char is None:
            keep_word, keep_char = self.mode_masks(mode, B)
        if keep_pooled is None:
            keep_pooled = keep_char if mode != "pooled" else torch.ones(B)
        dev = input_ids.device
        pad = input_ids == self.tokenizer.pad_token_id
        word = self.word_encoder(input_ids, pad)
        char, pooled = self.char_encoder(char_ids, pad)
        if self.char_tokens == "char":                 # each word's state on each of its letters
            word = word.repeat_interleave(char_ids.shape[2], dim=1)
        context = torch.cat([word * keep_word.to(dev).view(B, 1, 1),
                             char * keep_char.to(dev).view(B, 1, 1)], dim=-1)
        return context, pooled * keep_pooled.to(dev).view(B, 1)

    def encode(self, captions, mode: str = "both"):
        """(context, pooled) for a list of captions in conditioning mode ``mode``."""
        check_choice("text_encoders", mode, MODES)
        tok = self.tokenize(captions)
        return self.forward(tok["input_ids"].to(self.device), tok["char_ids"].to(self.device), mode)
