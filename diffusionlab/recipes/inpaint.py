"""Recipe: the 9-channel inpainting U-Net (``weights/inpaint``), behind
``InpaintPipeline.pretrained()`` with ``method="model"`` (D35-Q8).

Initialization, as SD's inpainting model was made from SD 1.2 (Rombach et al., the
``sd-v1-5-inpainting`` model card): the shipped text-to-image U-Net, with ``conv_in`` widened
from 4 to 4 + 1 + 4 input channels; the new channels' weights start at exactly 0, so before
fine-tuning the model *is* the text-to-image model and ignores mask and masked image.

Data, computed once: ``N_TRAIN`` editing scenes (``data.edits``: a target object, often a kept
object beside it, masks of three kinds: the target's box, a cut through it, a random
rectangle), their latents z_0, the mask on the latent grid (``inpainting.latent_mask``), the
latents of the masked image (``inpainting.masked_image``) and the target captions' token
states (10 % replaced by the empty prompt, for classifier-free guidance).

Training step: DDPM's simple loss, every weight trained:

    L = || eps - U-Net([z_t, m, z_masked], t, c) ||^2

Scores (``score``; ``evaluate`` also serves lesson 14): on held-out scenes, per method
("model", "replace", "repaint"): the evaluator's prompt accuracy on the filled object (box
masks, full prompts, the fill cut out onto black), the PSNR of the kept region against the
input and against the VAE's own reconstruction floor, and for "cut" masks the seam jump
across the mask border and how well the completed object matches the truth (IoU).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..checkpoints import load_checkpoint, save_checkpoint
from ..data.edits import make_edit_scenes
from ..inpainting import latent_mask, masked_image
from ..losses import diffusion_loss
from ..nn.unet import UNet
from ..training import fit

DEFAULT_STEPS = 2500
N_TRAIN = 20_000
BATCH_SIZE = 64
LR = 5e-4
WARMUP = 100
EMA_DECAY = 0.99
CAPTION_DROPOUT = 0.1
TRAIN_SEED = 77_000
EVAL_SEED = 505_050
EVAL_SCENES = 128
REPAINT_RESAMPLE = 4


def widen_unet(unet: UNet, extra_channels: int) -> UNet:
    """A copy of ``unet`` whose conv_in takes ``extra_channels`` more input channels, their
    weights exactly 0: the same function as ``unet`` whatever the extra channels hold."""
    config = dict(unet.config, conditioning_channels=unet.conditioning_channels + extra_channels)
    wide = UNet(**config)
    state = {k: v.clone() for k, v in unet.state_dict().items()}
    w = state["conv_in.weight"]
    state["conv_in.weight"] = torch.cat(
        [w, torch.zeros(w.shape[0], extra_channels, *w.shape[2:], dtype=w.dtype)], dim=1)
    wide.load_state_dict(state)
    return wide.to(next(unet.parameters()).device)


@torch.no_grad()
def encode_edits(pipe, scenes, chunk: int = 500) -> dict:
    """Latents, latent masks, masked-image latents and caption states of editing scenes."""
    n = len(scenes)
    z = torch.cat([pipe.encode_images(scenes.images[i:i + chunk]) for i in range(0, n, chunk)])
    zm = torch.cat([pipe.encode_images(masked_image(scenes.images[i:i + chunk],
                                                    scenes.masks[i:i + chunk]))
                    for i in range(0, n, chunk)])
    distinct = [""] + sorted(set(scenes.captions) - {""})
    states = pipe.encode_prompt(distinct)
    index = {c: i for i, c in enumerate(distinct)}
    rows = torch.tensor([index[c] for c in scenes.captions])
    return {"latents": z, "masks": latent_mask(scenes.masks, pipe.vae.downscale),
            "masked_latents": zm, "states": states, "rows": rows}


def make_loss_fn(schedule, data: dict, batch_size: int = BATCH_SIZE, seed: int = 0,
                 prediction_type: str = "epsilon"):
    gen = torch.Generator().manual_seed(seed)

    def loss_fn(unet, step):
        idx = torch.randint(0, data["latents"].shape[0], (batch_size,), generator=gen)
        rows = data["rows"][idx]
        drop = torch.rand(batch_size, generator=gen) < CAPTION_DROPOUT
        context = data["states"][torch.where(drop, torch.zeros_like(rows), rows)]
        cond = torch.cat([data["masks"][idx], data["masked_latents"][idx]], dim=1)

        def model(z_t, t):
            return unet(torch.cat([z_t, cond], dim=1), t, context)

        return diffusion_loss(model, schedule, data["latents"][idx], prediction_type,
                              generator=gen)

    return loss_fn


# ----------------------------------------------------------------------------- measures
def isolate_fill(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The filled region cut out onto the black background (what the single-object
    evaluator can judge): pixels within 1 of the mask kept, everything else -1."""
    from ..metrics.images import dilate

    return torch.where(dilate(masks, 1) > 0, images, torch.full_like(images, -1.0))


@torch.no_grad()
def evaluate(pipe, method: str, scenes, evaluator, resample: int = 1, seed: int = 0,
             **kwargs) -> dict:
    """Measures of one method on ``scenes`` (module docstring). Returns per-scene tensors
    and the images: {"images", "fill_correct", "kept_psnr", "kept_psnr_vae", "seam",
    "seam_truth", "completion_iou"} and ``measure``'s other keys."""
    m = "replace" if method == "repaint" else method
    out = pipe(scenes.captions, image=scenes.images, mask_image=scenes.masks, method=m,
               resample=resample, seed=seed, progress=False, **kwargs).images
    vae_recon = pipe.decode(pipe.encode_images(scenes.images))
    return measure(out, scenes, evaluator, vae_recon)


@torch.no_grad()
def measure(images: torch.Tensor, scenes, evaluator, vae_recon: torch.Tensor,
            captions=None) -> dict:
    """The measures of inpainted ``images`` of ``scenes`` (``evaluate`` without the run;
    lesson 14 measures runs it made itself). ``vae_recon``: the scenes' VAE round trip
    (decode(encode(image))), the floor a latent method is compared with; ``captions``: what
    the fill is judged against (default: the scenes' captions).

    Returns per-scene tensors (floats where a single pooled number is the measure):
        images          the inpainted images
        fill_correct    the evaluator reads every attribute the caption names off the fill,
                        cut out onto black (``isolate_fill``)
        kept_psnr, kept_psnr_vae        PSNR over every kept pixel (mask 0), pooled
        band_psnr, band_psnr_vae        PSNR over the kept pixels within ``BLEND_PIXELS`` (2)
                        of the mask (where the pipeline blends its output with the input), pooled
        band_rms, band_rms_vae          the RMS error over those pixels, per scene
        far_exact       True where every kept pixel farther than ``BLEND_PIXELS`` from the mask
                        equals the input exactly
        seam, seam_truth                ``metrics.images.seam_error`` of the images and of the
                        input (what a perfect fill would jump)
        completion_iou  IoU, inside the mask, of the drawn object pixels with the truth's
        completion_color                the colour of the object drawn inside the mask is the
                        truth's (``metrics.images.dominant_color``; False where none is drawn)
    """
    from ..metrics.images import dilate, dominant_color, mask_iou, object_mask, psnr, seam_error
    from ..pipelines.inpaint import BLEND_PIXELS

    captions = scenes.captions if captions is None else captions
    keep = 1.0 - scenes.masks
    band = dilate(scenes.masks, BLEND_PIXELS) - scenes.masks
    far = 1.0 - dilate(scenes.masks, BLEND_PIXELS)
    judged = evaluator.judge(isolate_fill(images, scenes.masks), captions)
    region = scenes.masks > 0
    drawn = object_mask(images) * scenes.masks
    truth = scenes.target_masks * scenes.masks
    colours = dominant_color(images, drawn)

    def rms(x, m):
        err = ((x - scenes.images) ** 2).mean(dim=1, keepdim=True) * m
        return (err.flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)).sqrt()

    return {"images": images,
            "fill_correct": torch.tensor([all(j.values()) for j in judged], dtype=torch.float32),
            "kept_psnr": psnr(images, scenes.images, mask=keep),
            "kept_psnr_vae": psnr(vae_recon, scenes.images, mask=keep),
            "band_psnr": psnr(images, scenes.images, mask=band),
            "band_psnr_vae": psnr(vae_recon, scenes.images, mask=band),
            "band_rms": rms(images, band), "band_rms_vae": rms(vae_recon, band),
            "far_exact": ((images - scenes.images).abs() * far).flatten(1).amax(1) == 0,
            "seam": seam_error(images, scenes.masks),
            "seam_truth": seam_error(scenes.images, scenes.masks),
            "completion_iou": mask_iou(drawn * region, truth * region),
            "completion_color": torch.tensor([c == a["color"] for c, a in
                                              zip(colours, scenes.attributes)])}


def eval_scenes(kind: str, n: int = EVAL_SCENES, seed: int = EVAL_SEED):
    """Held-out scenes with one mask kind ("box" with a kept object where it fits, or "cut"),
    full captions."""
    return make_edit_scenes(n, seed=seed, kinds=(kind,), kept_rate=1.0, caption_style="full")


def score(directory) -> dict:
    from ..metrics.evaluator import ShapesEvaluator
    from ..pipelines import InpaintPipeline, TextToImage

    base = TextToImage.pretrained()
    pipe = InpaintPipeline(base.unet, base.vae, base.clip, base.schedule,
                           load_checkpoint(UNet, directory),
                           prediction_type=base.prediction_type,
                           timestep_spacing=base.timestep_spacing, steps_offset=base.steps_offset)
    evaluator = ShapesEvaluator.pretrained()
    box, cut = eval_scenes("box"), eval_scenes("cut")
    scores = {}
    for method, r in (("model", 1), ("replace", 1), ("repaint", REPAINT_RESAMPLE)):
        b = evaluate(pipe, method, box, evaluator, resample=r)
        c = evaluate(pipe, method, cut, evaluator, resample=r)
        scores[f"{method}_fill_accuracy"] = round(float(b["fill_correct"].mean()), 4)
        scores[f"{method}_kept_psnr"] = round(b["kept_psnr"], 2)
        scores[f"{method}_seam_cut"] = round(float(c["seam"].mean()), 4)
        scores[f"{method}_completion_iou_cut"] = round(float(c["completion_iou"].mean()), 4)
    scores["vae_kept_psnr"] = round(b["kept_psnr_vae"], 2)
    scores["truth_seam_cut"] = round(float(c["seam_truth"].mean()), 4)
    return scores


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0, n_train: int = N_TRAIN) -> dict:
    from ..pipelines import TextToImage

    out = Path(out)
    torch.manual_seed(seed)
    pipe = TextToImage.pretrained()
    start = time.perf_counter()
    data = encode_edits(pipe, make_edit_scenes(n_train, seed=TRAIN_SEED + seed))
    encode_seconds = time.perf_counter() - start
    unet = widen_unet(pipe.unet, 1 + pipe.vae.latent_channels)
    loss_fn = make_loss_fn(pipe.schedule, data, seed=seed, prediction_type=pipe.prediction_type)
    result = fit(unet, loss_fn, steps, lr=LR, warmup=WARMUP, ema_decay=EMA_DECAY, desc="inpaint")
    save_checkpoint(result.ema.model, out)
    pipe.scheduler_config.save(out)
    tail = result.losses[-100:]
    return {"batch_size": BATCH_SIZE, "lr": LR, "ema_decay": EMA_DECAY,
            "caption_dropout": CAPTION_DROPOUT, "n_train_scenes": n_train,
            "parameters": sum(p.numel() for p in unet.parameters()),
            "encode_seconds": round(encode_seconds, 1),
            "train_seconds": round(result.seconds, 1),
            "final_loss_mean_last_100": round(sum(tail) / len(tail), 4),
            "scores": score(out)}
