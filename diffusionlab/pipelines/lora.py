"""Loading LoRA adapters into a pipeline's U-Net, as diffusers' ``LoraLoaderMixin`` does
(``load_lora_weights``, ``set_adapters``, ``fuse_lora``, ``unload_lora_weights``), lesson 12.

    >>> pipe = TextToImage.pretrained()
    >>> pipe.load_lora("lora_outlined", scale=0.8)        # a shipped adapter, or a folder
    >>> pipe("object a large red circle in the center")   # the trigger word draws the style
    >>> pipe.load_lora("other_folder", adapter_name="b")
    >>> pipe.set_adapters(["lora_outlined", "b"], [0.5, 1.0])   # two adapters, mixed
    >>> pipe.unload_lora()                                # back to the base model exactly

Mixing is the sum of the adapters' updates, each at its strength:
W x + sum_i s_i (alpha_i / r_i) B_i A_i x (``nn.lora``). An adapter records the base model it
was trained on; loading it into a pipeline around another U-Net is refused.
"""
from __future__ import annotations

from pathlib import Path

from .._checks import check_number


class LoRALoaderMixin:
    """Adapter methods for a pipeline with a ``unet`` (and optionally ``name_or_path``: the
    name of its U-Net checkpoint, e.g. "text2img", checked against the adapter's base)."""

    @staticmethod
    def _lora_dir(path_or_name) -> Path:
        from ..checkpoints import WEIGHTS_DIR, weights_path

        path = Path(path_or_name)
        if path.is_dir():
            return path
        if isinstance(path_or_name, str) and not path.is_absolute() and \
                (WEIGHTS_DIR / path_or_name).is_dir():
            return weights_path(path_or_name)
        raise FileNotFoundError(f"path_or_name must be an adapter folder or the name of a "
                                f"shipped adapter (in {WEIGHTS_DIR}), got {path_or_name!r}")

    def load_lora(self, path_or_name, scale: float = 1.0, adapter_name: str | None = None) -> str:
        """Inject the adapter in ``path_or_name`` into the U-Net at strength ``scale`` under
        ``adapter_name`` (default: the folder's name); returns the name. The U-Net's own
        weights are not changed (``unload_lora`` restores the base model exactly)."""
        from ..nn.lora import load_lora

        directory = self._lora_dir(path_or_name)
        name = directory.name if adapter_name is None else adapter_name
        load_lora(self.unet, directory, adapter_name=name, scale=scale,
                  base_model=getattr(self, "name_or_path", None))
        self.unet.eval()
        return name

    @property
    def lora_adapters(self) -> dict[str, float]:
        """{adapter name: strength} of the adapters in the U-Net."""
        from ..nn.lora import adapter_names, lora_layers

        layers = list(lora_layers(self.unet).values())
        return {n: next(layer.scale[n] for layer in layers if n in layer.scale)
                for n in adapter_names(self.unet)}

    def set_adapters(self, adapter_names, weights=None) -> None:
        """Set the strength of each adapter in ``adapter_names`` (a str or a list) to the
        matching entry of ``weights`` (a number for all, or a list; default 1); adapters not
        named are switched off (strength 0), as diffusers' ``set_adapters`` does."""
        from ..nn.lora import set_lora_scale

        names = [adapter_names] if isinstance(adapter_names, str) else list(adapter_names)
        have = self.lora_adapters
        unknown = [n for n in names if n not in have]
        if unknown:
            raise ValueError(f"adapter_names has {unknown}, not loaded (loaded: {list(have)})")
        if weights is None:
            weights = [1.0] * len(names)
        elif not isinstance(weights, (list, tuple)):
            weights = [weights] * len(names)
        if len(weights) != len(names):
            raise ValueError(f"weights must have one entry per adapter ({len(names)}), "
                             f"got {len(weights)}")
        for n in have:
            set_lora_scale(self.unet, 0.0, n)
        for n, w in zip(names, weights):
            set_lora_scale(self.unet, check_number(f"weight of {n!r}", w), n)

    def fuse_lora(self) -> None:
        """Merge the adapters into the U-Net's weights (no extra cost per step)."""
        from ..nn.lora import merge_lora

        merge_lora(self.unet)

    def unfuse_lora(self) -> None:
        from ..nn.lora import unmerge_lora

        unmerge_lora(self.unet)

    def unload_lora(self, adapter_name: str | None = None) -> None:
        """Remove one adapter (or all): the U-Net is the base model again."""
        from ..nn.lora import remove_lora

        if adapter_name is not None and adapter_name not in self.lora_adapters:
            raise ValueError(f"no adapter named {adapter_name!r} is loaded "
                             f"(loaded: {list(self.lora_adapters)})")
        remove_lora(self.unet, adapter_name)
