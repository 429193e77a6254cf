"""Exercise 16: measuring where a text-to-image model fails.    Lesson: notebooks/16_failure_modes.ipynb

Three measures of lesson 16, each a number read off generated scenes (images in [-1, 1],
NCHW, black background at -1):

- duplication: sampled beyond its training size, a model draws the one object it was asked
  for several times. Count the objects of an image as the connected components of its
  foreground (D35-Q7);
- binding: asked for "a red circle and a blue square", it draws a blue circle and a red
  square: the right attributes on the wrong object;
- spelling: letter accuracy (position by position) against word accuracy (the whole word
  right), pooled over many words (D31-Q14).

Grade it:  python -m diffusionlab grade 16      (or, in a notebook: check("16"))
"""
import torch

from diffusionlab.metrics.counting import component_labels

ATTRIBUTES = ("shape", "color", "size")          # the attributes that can be mis-bound


def duplication_rate(images: torch.Tensor, threshold: float = 0.0, min_area: int = 4) -> float:
    """The share of ``images`` (n, C, H, W) that show more than one object.

    A pixel is foreground when its brightest channel is above ``threshold``; the objects of
    an image are the 8-connected components of its foreground with at least ``min_area``
    pixels (smaller ones are specks of noise). Return a Python float in [0, 1].

    Hint: ``component_labels(fg)`` (fg: (n, H, W) bool) gives every component its own id
    (0 is background); per image, ``torch.unique(ids, return_counts=True)`` gives each
    component's area.
    """
    raise NotImplementedError


def binding_error(wanted: list, got: list) -> bool:
    """Whether a scene shows an attribute-binding error.

    ``wanted``: the caption's objects, dicts with "kind" ("shape", "letter" or "word") and
    the attributes the caption names ("shape", "color", "size", ...). ``got``: for each
    wanted object, the object read in the image that was matched to it (a dict of the same
    form), or None if nothing was.

    A binding error: the scene asks for more than one object, and some matched object of
    the wanted kind carries a shape, colour or size that is NOT what its own caption phrase
    asked for, but IS what another phrase of the caption asked for. ("a red circle and a
    blue square" drawn as a blue circle and a red square: both objects are mis-bound;
    drawn as a green circle and a blue square: a plain error, not a binding error.)
    An attribute the phrase does not name cannot be mis-bound.

    Hint: loop over (i, w, g); skip g None or of another kind; for each attribute a named in
    w, check g[a] != w[a] and any(o.get(a) == g[a] for the other wanted objects o that name a).
    """
    raise NotImplementedError


def spelling_accuracy(pairs: list) -> tuple:
    """Letter accuracy and word accuracy over ``pairs`` of (wanted word, word read), e.g.
    [("CAT", "CAT"), ("DOG", "DOT"), ("SUN", "")] -> (5 / 9, 1 / 3).

    letter accuracy: the share of ALL wanted letters (pooled over the words) read at their
        position (the k-th letter of the word read equals the k-th wanted letter; a word
        read too short misses its last letters);
    word accuracy: the share of words read exactly.

    Return two Python floats.

    Hint: ``sum(k < len(read) and read[k] == c for k, c in enumerate(want))``.
    """
    raise NotImplementedError
