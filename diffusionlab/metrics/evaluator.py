"""The shapes evaluator: a small CNN that reads shape, colour, size and position
back out of an image, so "did it draw what the prompt said" becomes a number.

    image (3, 32, 32) -> 4 conv layers (16, 16, 32, 32 channels; strides 1, 2, 2, 2)
                      -> flatten (32 x 4 x 4) -> linear 64 + ReLU   (the penultimate features)
                      -> one linear head per attribute            (the predictions)

It is trained on rendered scenes with noise, blur and contrast augmentations
(``diffusionlab/recipes/evaluator.py``) so that it judges imperfect samples
sensibly. ``ShapesEvaluator.pretrained()`` loads the shipped checkpoint.

Measures built on it:
    prompt_accuracy     fraction of images that show every attribute their caption names
    attribute_accuracy  the same, per attribute, over the captions that name it
    fid                 Frechet distance of its FID features (see ``metrics.fid``)

The FID features. Because the network is trained to *ignore* noise and blur,
its penultimate features alone hardly see them (measured: pixel noise of std
0.3 moved that FID by less than its own noise floor). Inception's FID, in
contrast, is known to punish noise and blur. So ``features`` concatenates the
penultimate vector (what is drawn) with the per-channel mean and standard
deviation of every conv layer's activations (how it is drawn: texture, noise,
sharpness, contrast), and standardizes each dimension with statistics of real
scenes stored at training time (``calibrate``), so no block drowns the others.
With the shipped weights this FID rises above its floor for blur, strong noise,
dimming, a dropped shape or colour, and a missing size; mild noise (std 0.1)
stays below its floor.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_captions, check_int, check_tensor
from ..checkpoints import load_checkpoint, weights_path
from ..data.shapes import ATTRIBUTES, parse_caption
from .fid import frechet_distance


class ShapesEvaluator(nn.Module):
    """Predicts the four attributes of a shapes scene; see the module docstring."""

    def __init__(self, image_size: int = 32, channels: int = 16, feature_dim: int = 64):
        super().__init__()
        image_size = check_int("image_size", image_size, minimum=16)
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {image_size}")
        channels = check_int("channels", channels, minimum=1)
        feature_dim = check_int("feature_dim", feature_dim, minimum=1)
        self.config = {"image_size": image_size, "channels": channels, "feature_dim": feature_dim}
        c = channels
        self.body = nn.Sequential(
            nn.Conv2d(3, c, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c, c, 3, stride=2, padding=1), nn.ReLU(),             # S/2
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.ReLU(),         # S/4
            nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1), nn.ReLU(),     # S/8
            nn.Flatten(),
            nn.Linear(2 * c * (image_size // 8) ** 2, feature_dim), nn.ReLU(),
        )
        self.heads = nn.ModuleDict({k: nn.Linear(feature_dim, len(v))
                                    for k, v in ATTRIBUTES.items()})
        # FID features: mean and std per channel of the 4 conv layers + the penultimate vector,
        # standardized by real-scene statistics (set by ``calibrate``; identity until then).
        fid_dim = 2 * (c + c + 2 * c + 2 * c) + feature_dim
        self.register_buffer("feature_mean", torch.zeros(fid_dim))
        self.register_buffer("feature_weight", torch.ones(fid_dim))

    @classmethod
    def pretrained(cls, device: str | torch.device = "cpu") -> "ShapesEvaluator":
        """The shipped evaluator (``diffusionlab/weights/evaluator``)."""
        return load_checkpoint(cls, weights_path("evaluator"), device=device)

    # ------------------------------------------------------------------ network
    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Check a (n, 3, H, W) batch; resize square images of another size to ours."""
        check_tensor("images", images, ndim=4)
        if images.shape[1] != 3:
            raise ValueError(f"images must have 3 channels (RGB), got shape {tuple(images.shape)}")
        s = self.config["image_size"]
        if images.shape[-2:] != (s, s):
            if images.shape[-1] != images.shape[-2]:
                raise ValueError(f"images must be square, got shape {tuple(images.shape)}")
            images = F.interpolate(images.float(), size=(s, s), mode="bilinear",
                                   antialias=True, align_corners=False)
        device = next(self.parameters()).device
        return images.to(device=device, dtype=torch.float32)

    def forward(self, images: torch.Tensor) -> dict:
        """Logits per attribute: {attribute: (n, number of values)} (no batching, with grad)."""
        h = self.body(self._prepare(images))
        return {k: head(h) for k, head in self.heads.items()}

    def _raw_fid_features(self, x: torch.Tensor) -> torch.Tensor:
        """[mean_c, std_c of each conv layer's ReLU output ..., penultimate] (unscaled)."""
        stats = []
        for layer in self.body:
            x = layer(x)
            if isinstance(layer, nn.ReLU) and x.ndim == 4:
                stats += [x.mean((2, 3)), x.std((2, 3))]
        return torch.cat(stats + [x], 1)

    @torch.no_grad()
    def calibrate(self, real_images: torch.Tensor, batch_size: int = 256) -> "ShapesEvaluator":
        """Store the mean and 1/std of each FID feature over real scenes; dimensions that
        never vary on real scenes (dead units) get weight 0."""
        check_tensor("real_images", real_images, ndim=4)
        if real_images.shape[0] < 2:
            raise ValueError(f"real_images needs at least 2 images, got {real_images.shape[0]}")
        raw = torch.cat(self._batched(real_images, self._raw_fid_features, batch_size))
        std = raw.std(0)
        alive = std > 1e-3 * std.max()
        self.feature_mean.copy_(raw.mean(0))
        self.feature_weight.copy_(torch.where(alive, 1 / std.clamp(min=1e-12),
                                              torch.zeros_like(std)))
        return self

    @torch.no_grad()
    def _batched(self, images: torch.Tensor, fn, batch_size: int = 256) -> list:
        was_training = self.training
        self.eval()
        try:
            return [fn(self._prepare(images[i:i + batch_size]))
                    for i in range(0, images.shape[0], batch_size)]
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------ predictions
    def penultimate(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Penultimate features (n, feature_dim), on the CPU: what the heads read."""
        check_tensor("images", images, ndim=4)
        return torch.cat(self._batched(images, lambda x: self.body(x).cpu(), batch_size))

    def features(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """FID features (n, 12 channels + feature_dim), on the CPU: conv-layer statistics and
        the penultimate vector, standardized by real-scene statistics (module docstring)."""
        check_tensor("images", images, ndim=4)

        def fn(x):
            return ((self._raw_fid_features(x) - self.feature_mean) * self.feature_weight).cpu()
        return torch.cat(self._batched(images, fn, batch_size))

    def predict_labels(self, images: torch.Tensor, batch_size: int = 256) -> dict:
        """{attribute: LongTensor (n,)} of indices into ATTRIBUTES[attribute]."""
        check_tensor("images", images, ndim=4)

        def fn(x):
            h = self.body(x)
            return {k: head(h).argmax(1).cpu() for k, head in self.heads.items()}
        parts = self._batched(images, fn, batch_size)
        return {k: torch.cat([p[k] for p in parts]) for k in ATTRIBUTES}

    def predict(self, images: torch.Tensor, batch_size: int = 256) -> list:
        """Predicted attributes per image, as strings: [{"shape": "circle", ...}, ...]."""
        labels = self.predict_labels(images, batch_size)
        names = {k: [ATTRIBUTES[k][i] for i in labels[k].tolist()] for k in ATTRIBUTES}
        return [dict(zip(ATTRIBUTES, values)) for values in zip(*names.values())]

    # ------------------------------------------------------------------ measures
    def judge(self, images: torch.Tensor, captions) -> list:
        """Per image, {attribute: correct?} for each attribute its caption names (so
        ``all(judge(...)[i].values())`` says whether image i shows what its caption says)."""
        check_tensor("images", images, ndim=4)
        if images.shape[0] == 0:
            raise ValueError("images must hold at least one image, got an empty batch")
        captions = check_captions(captions, images.shape[0])
        wanted = [parse_caption(c) for c in captions]               # unknown words raise here
        predicted = self.predict(images)
        return [{k: pred[k] == v for k, v in want.items()} for want, pred in zip(wanted, predicted)]

    def prompt_accuracy(self, images: torch.Tensor, captions) -> float:
        """Fraction of images whose predicted attributes match *every* attribute their
        caption names (a partial caption is judged only on what it names; "" is
        always right). ``captions``: one per image, or a single string for all."""
        judged = self.judge(images, captions)
        return sum(all(j.values()) for j in judged) / len(judged)

    def attribute_accuracy(self, images: torch.Tensor, captions) -> dict:
        """{attribute: accuracy over the captions that name it}; attributes that no
        caption names are left out."""
        judged = self.judge(images, captions)
        out = {}
        for k in ATTRIBUTES:
            hits = [j[k] for j in judged if k in j]
            if hits:
                out[k] = sum(hits) / len(hits)
        return out

    def fid(self, images_a: torch.Tensor, images_b: torch.Tensor) -> float:
        """Frechet distance between the evaluator features of two image sets
        (compare with ``metrics.fid.fid_floor``)."""
        return frechet_distance(self.features(images_a), self.features(images_b))
