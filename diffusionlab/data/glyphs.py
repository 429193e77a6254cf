"""Glyphs: the 26 capital letters, drawn procedurally (no font file, nothing downloaded),
so that "text" can be asked for and read back (D31-Q14: why diffusion models misspell).

Each letter is a 5 x 7 bitmap ("#" = ink), the classic dot-matrix font of LCD panels and
line printers: a grid of square cells, each one polygon. A glyph is drawn with every cell
``cell`` pixels wide, so the two glyph sizes match the shapes world's sizes:

    size    cell   glyph (w x h)   compare with the shapes world at 32 x 32
    small   1 px   5 x 7 px        a small circle is 8 px across
    large   2 px   10 x 14 px      a large circle is 14.7 px across

Design decisions:

* An integer cell, drawn by testing pixel centres against the cells (as ``data.shapes``
  tests them against its outlines), makes the glyph crisp at any sub-pixel offset: a
  half-open interval [a, a + c) of integer length c holds exactly c pixel centres. So a
  rendered glyph *is* its bitmap scaled up, and template matching
  (``metrics.scenes.read_glyph``) reads rendered letters exactly; a generated letter is
  read by the nearest template, which is what a person reading a blurry sign does.
* Every letter is one 8-connected component and spans the full 5 x 7 cells (tested; the I
  has serifs for that), so the scene reader can split a scene into objects by connected
  components, see one object per letter, and know a letter's cell size from its box.
* A word is a row of glyphs with a gap of one cell (``WORD_GAP`` cells): close enough to
  read as one word, farther apart than strokes of one letter. The scene reader groups
  glyphs into a word when they share a row and a cell size and are at most that gap apart.

Words for the spelling experiment: ``WORDS`` (three-letter English words) is split into
``TRAIN_WORDS`` and ``HELD_OUT_WORDS`` with a fixed seed, so that a model can be trained
on one half and asked to spell the other: a word-level tokenizer has never seen those
words (``<unk>``), a character-aware encoder (Liu et al. 2022, "Character-Aware Models
Improve Visual Text Rendering") reads their letters.
"""
from __future__ import annotations

import torch

from .._checks import check_choice, check_int

LETTERS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
GLYPH_WIDTH, GLYPH_HEIGHT = 5, 7            # cells
GLYPH_CELLS = {"small": 1, "large": 2}      # pixels per cell, by size word
WORD_GAP = 1                                # cells between the glyphs of a word

_FONT = {
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "#####"),
    "J": ("..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "Q": (".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "V": ("#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
    "Z": ("#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"),
}

# Three-letter words, split once, by a fixed permutation, into words a model may train on and words it must spell unseen.
WORDS = ("ACE", "AGE", "AIR", "ANT", "ARM", "ART", "BAG", "BAT", "BED", "BEE", "BOX", "BUS",
         "CAP", "CAR", "CAT", "COW", "CUP", "DAY", "DOG", "EAR", "EGG", "ELK", "EYE", "FAN",
         "FIG", "FOX", "GEM", "GYM", "HAT", "HEN", "ICE", "INK", "JAM", "JAR", "JET", "KEY",
         "KIT", "LAB", "LEG", "LOG", "MAP", "MUD", "NET", "NUT", "OAK", "OWL", "PAN", "PEN",
         "PIG", "POT", "RAT", "RUG", "SKY", "SUN", "TAX", "TOY", "URN", "VAN",
         "WAX", "WEB", "YAK", "ZIP", "ZOO")
_SPLIT = torch.randperm(len(WORDS), generator=torch.Generator().manual_seed(9)).tolist()
HELD_OUT_WORDS = tuple(sorted(WORDS[i] for i in _SPLIT[:len(WORDS) // 4]))
TRAIN_WORDS = tuple(sorted(WORDS[i] for i in _SPLIT[len(WORDS) // 4:]))


def glyph_bitmaps() -> torch.Tensor:
    """The font as a bool tensor (26, 7, 5): ``glyph_bitmaps()[i]`` is ``LETTERS[i]``."""
    return torch.tensor([[[ch == "#" for ch in row] for row in _FONT[c]] for c in LETTERS])


def check_letter(name: str, letter) -> str:
    """Require one capital letter A to Z (lowercase is accepted and upper-cased)."""
    if not isinstance(letter, str) or len(letter) != 1 or letter.upper() not in LETTERS:
        raise ValueError(f"{name} must be one letter A to Z, got {letter!r}")
    return letter.upper()


def check_word(name: str, word) -> str:
    """Require a non-empty string of letters A to Z (upper-cased)."""
    if not isinstance(word, str) or not word or not all(c.upper() in LETTERS for c in word):
        raise ValueError(f"{name} must be a non-empty string of letters A to Z, got {word!r}")
    return word.upper()


def text_extent(text: str, cell: int) -> tuple[int, int]:
    """(width, height) in pixels of ``text`` drawn with ``cell``-pixel cells."""
    text = check_word("text", text)
    cell = check_int("cell", cell, minimum=1)
    n = len(text)
    return (n * GLYPH_WIDTH + (n - 1) * WORD_GAP) * cell, GLYPH_HEIGHT * cell


def draw_text(texts: list, x0: torch.Tensor, y0: torch.Tensor, cells: torch.Tensor,
              height: int, width: int) -> torch.Tensor:
    """Boolean masks (n, H, W): ``texts[i]`` (one letter or a word) with its top-left corner
    at pixel coordinates (``x0[i]``, ``y0[i]``) (floats: sub-pixel offsets allowed) and
    ``cells[i]`` pixels per cell. A pixel is ink when its centre lies in an inked cell.

    Vectorized over the batch: each pixel centre is mapped to its (column, row) cell of
    the text's grid, and the ink is looked up in the font (one gather per image).
    """
    H = check_int("height", height, minimum=1)
    W = check_int("width", width, minimum=1)
    n = len(texts)
    texts = [check_word(f"texts[{i}]", t) for i, t in enumerate(texts)]
    if not (x0.shape == y0.shape == cells.shape == (n,)):
        raise ValueError(f"x0, y0 and cells must each have shape ({n},), got "
                         f"{tuple(x0.shape)}, {tuple(y0.shape)} and {tuple(cells.shape)}")
    if n == 0:
        return torch.zeros(0, H, W, dtype=torch.bool)
    longest = max(len(t) for t in texts)
    pitch = GLYPH_WIDTH + WORD_GAP
    # One ink strip per text: (n, 7, longest * pitch) cells, the glyphs side by side.
    font = glyph_bitmaps()
    strip = torch.zeros(n, GLYPH_HEIGHT, longest * pitch, dtype=torch.bool)
    for i, t in enumerate(texts):
        for k, ch in enumerate(t):
            strip[i, :, k * pitch:k * pitch + GLYPH_WIDTH] = font[LETTERS.index(ch)]
    c = cells.float().view(n, 1)
    px = torch.arange(W, dtype=torch.float32) + 0.5                    # pixel centres
    py = torch.arange(H, dtype=torch.float32) + 0.5
    col = torch.floor((px.view(1, W) - x0.float().view(n, 1)) / c).long()   # (n, W)
    row = torch.floor((py.view(1, H) - y0.float().view(n, 1)) / c).long()   # (n, H)
    ncols = torch.tensor([len(t) * pitch - WORD_GAP for t in texts]).view(n, 1)
    col_ok = (col >= 0) & (col < ncols)
    row_ok = (row >= 0) & (row < GLYPH_HEIGHT)
    rows = strip.gather(1, row.clamp(0, GLYPH_HEIGHT - 1).view(n, H, 1)
                        .expand(n, H, strip.shape[2]))                  # (n, H, cols)
    ink = rows.gather(2, col.clamp(0, strip.shape[2] - 1).view(n, 1, W).expand(n, H, W))
    return ink & row_ok.view(n, H, 1) & col_ok.view(n, 1, W)


def render_glyphs(letters, size: str = "large", image_size: int = 32) -> torch.Tensor:
    """Each letter centred on its own black square canvas: bool (n, S, S). A picture of the
    alphabet for figures and tests (scenes place glyphs with ``data.scenes``)."""
    if isinstance(letters, str):
        letters = list(letters)
    letters = [check_letter(f"letters[{i}]", c) for i, c in enumerate(letters)]
    check_choice("size", size, GLYPH_CELLS)
    S = check_int("image_size", image_size, minimum=GLYPH_HEIGHT * GLYPH_CELLS[size])
    cell = GLYPH_CELLS[size]
    w, h = text_extent("A", cell)
    n = len(letters)
    x0 = torch.full((n,), float((S - w) // 2))
    y0 = torch.full((n,), float((S - h) // 2))
    return draw_text(letters, x0, y0, torch.full((n,), cell), S, S)
