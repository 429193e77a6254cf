"""Tests of the procedural glyphs (diffusionlab/data/glyphs.py) and of reading them back
(diffusionlab/metrics/scenes.py: glyph_cells, read_glyph)."""
import pytest
import torch

from diffusionlab.data.glyphs import (GLYPH_CELLS, HELD_OUT_WORDS, LETTERS, TRAIN_WORDS, WORDS,
                                      check_letter, check_word, draw_text, glyph_bitmaps,
                                      render_glyphs, text_extent)
from diffusionlab.metrics.counting import component_labels
from diffusionlab.metrics.scenes import glyph_cells, read_glyph


def test_font_is_26_distinct_connected_full_size_letters():
    b = glyph_bitmaps()
    assert b.shape == (26, 7, 5) and b.dtype == torch.bool
    flat = b.flatten(1)
    distance = (flat.unsqueeze(0) != flat.unsqueeze(1)).sum(-1) + 99 * torch.eye(26, dtype=torch.long)
    assert distance.min() >= 2                                    # D and O differ in 2 cells
    assert b.any(2).all() and b.any(1).all()                      # every row and column inked
    masks = render_glyphs(LETTERS, "large", image_size=20)
    labels = component_labels(masks)
    assert [len(torch.unique(lab[lab > 0])) for lab in labels] == [1] * 26


@pytest.mark.parametrize("size", ["small", "large"])
@pytest.mark.parametrize("offset", [(0.0, 0.0), (0.3, 0.7), (2.49, 1.51)])
def test_rendered_glyph_is_the_bitmap_scaled_at_any_sub_pixel_offset(size, offset):
    cell = GLYPH_CELLS[size]
    n = len(LETTERS)
    m = draw_text(list(LETTERS), torch.full((n,), 3 + offset[0]), torch.full((n,), 2 + offset[1]),
                  torch.full((n,), cell), 24, 20)
    ink = m.flatten(1).sum(1)
    assert torch.equal(ink, glyph_bitmaps().flatten(1).sum(1) * cell * cell)
    for i in range(n):
        ys, xs = m[i].nonzero(as_tuple=True)
        crop = m[i, ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        expect = glyph_bitmaps()[i].repeat_interleave(cell, 0).repeat_interleave(cell, 1)
        assert torch.equal(crop, expect)


def test_words_are_glyphs_one_cell_apart():
    m = draw_text(["CAT"], torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([2]), 18, 40)
    assert text_extent("CAT", 2) == (34, 14)
    ys, xs = m[0].nonzero(as_tuple=True)
    assert int(xs.max() - xs.min() + 1) == 34 and int(ys.max() - ys.min() + 1) == 14
    labels = component_labels(m)
    assert len(torch.unique(labels[labels > 0])) == 3
    empty_cols = (~m[0].any(0)).nonzero().squeeze(1).tolist()
    assert {11, 12, 23, 24} <= set(empty_cols)                     # the two 2-px gaps


@pytest.mark.parametrize("size", ["small", "large"])
def test_template_matching_reads_every_rendered_letter(size):
    masks = render_glyphs(LETTERS, size, image_size=20)
    for i, letter in enumerate(LETTERS):
        ys, xs = masks[i].nonzero(as_tuple=True)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        read, agreement = read_glyph(glyph_cells(masks[i], box))
        assert read == letter and agreement == 1.0


def test_word_split_is_fixed_and_disjoint():
    assert set(TRAIN_WORDS) | set(HELD_OUT_WORDS) == set(WORDS)
    assert not set(TRAIN_WORDS) & set(HELD_OUT_WORDS)
    assert len(HELD_OUT_WORDS) == len(WORDS) // 4 and len(set(WORDS)) == len(WORDS)
    assert all(len(w) == 3 and check_word("w", w) == w for w in WORDS)
    assert HELD_OUT_WORDS[:3] == ("ACE", "AIR", "ANT")              # the split never moves


def test_bad_glyph_input_is_named():
    with pytest.raises(ValueError, match="letter must be one letter"):
        check_letter("letter", "AB")
    with pytest.raises(ValueError, match="word must be a non-empty string of letters"):
        check_word("word", "C4T")
    with pytest.raises(ValueError, match="size must be one of"):
        render_glyphs("A", size="medium")
    with pytest.raises(ValueError, match="x0, y0 and cells must each have shape"):
        draw_text(["A"], torch.zeros(2), torch.zeros(1), torch.ones(1), 10, 10)
    assert check_letter("letter", "q") == "Q"
