"""metrics.sharpness (high-frequency energy) and metrics.framing (objects cut by the border),
validated on real scenes of the wider world against blurred, upscaled and cropped ones."""
import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms.functional import gaussian_blur

from diffusionlab.data.glyphs import TRAIN_WORDS
from diffusionlab.data.scenes import make_scenes
from diffusionlab.metrics.framing import border_contacts, cut_object_share, framing_report
from diffusionlab.metrics.sharpness import energy_spectrum, high_frequency_energy


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(200, seed=1, letter_rate=0.3, group_rate=0.2, words=TRAIN_WORDS,
                       word_rate=0.1).images


def _stripes(f, h=32, w=32):
    """Vertical stripes cos(2 pi f x): all their energy sits at |f_x| = f."""
    x = torch.arange(w, dtype=torch.float32)
    return torch.cos(2 * math.pi * f * x).expand(1, 3, h, w).clone()


def test_single_frequencies_fall_on_their_side_of_the_cutoff():
    assert high_frequency_energy(_stripes(0.375)).item() == pytest.approx(1.0, abs=1e-6)
    assert high_frequency_energy(_stripes(0.125)).item() == pytest.approx(0.0, abs=1e-6)
    mix = _stripes(0.375) + _stripes(0.125)                        # equal energy in each
    assert high_frequency_energy(mix).item() == pytest.approx(0.5, abs=1e-6)
    assert high_frequency_energy(mix, cutoff=0.4).item() == pytest.approx(0.0, abs=1e-6)


def test_flat_images_and_cutoff_zero():
    flat = torch.full((2, 3, 16, 24), 0.3)
    assert torch.equal(high_frequency_energy(flat), torch.zeros(2))
    x = torch.randn(3, 3, 24, 40, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(high_frequency_energy(x, cutoff=0.0), torch.ones(3))  # all but DC
    # white noise spreads its energy evenly over the bins: the share is the share of bins
    r = torch.fft.fftfreq(24).view(-1, 1) ** 2 + torch.fft.fftfreq(40).view(1, -1) ** 2
    bins = float((r.sqrt() > 0.25).float().sum() / (24 * 40 - 1))
    noise = torch.randn(64, 3, 24, 40, generator=torch.Generator().manual_seed(1))
    assert high_frequency_energy(noise).mean().item() == pytest.approx(bins, abs=0.02)


def test_blur_removes_high_frequency_energy(scenes):
    real = high_frequency_energy(scenes)
    blurred = high_frequency_energy(gaussian_blur(scenes, 5, 1.0))
    assert real.mean() > 0.1
    assert (blurred < real).float().mean() == 1.0
    assert blurred.mean() < 0.2 * real.mean()
    more = high_frequency_energy(gaussian_blur(scenes, 9, 2.0))
    assert more.mean() < blurred.mean()


def test_upscaled_from_a_smaller_original_size_is_ordered(scenes):
    """What size conditioning records: rendered at s x s, upscaled to 32 x 32."""
    means = []
    for s in (8, 12, 16, 24):
        small = F.interpolate(scenes, size=(s, s), mode="area")
        up = F.interpolate(small, size=(32, 32), mode="bilinear", align_corners=False)
        means.append(high_frequency_energy(up).mean().item())
    means.append(high_frequency_energy(scenes).mean().item())
    assert all(a < b for a, b in zip(means, means[1:])), means
    assert means[-1] > 4 * means[-2]


def test_energy_spectrum_rows_sum_to_one(scenes):
    centres, share = energy_spectrum(scenes[:8], bins=6)
    assert centres.shape == (6,) and share.shape == (8, 6)
    torch.testing.assert_close(share.sum(1), torch.ones(8))
    assert share[:, 0].mean() > share[:, -1].mean()                  # scenes: mostly low frequencies


def test_sharpness_rejects_bad_input():
    with pytest.raises(ValueError, match="images"):
        high_frequency_energy(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="cutoff"):
        high_frequency_energy(torch.zeros(1, 3, 8, 8), cutoff=-0.1)
    with pytest.raises(TypeError, match="images"):
        high_frequency_energy([[0.0]])


def _canvas(h=20, w=30):
    return torch.full((1, 3, h, w), -1.0)


def test_border_contacts_on_drawn_squares():
    x = _canvas()
    x[0, :, 5:9, 0:4] = 1.0          # touches the left edge
    x[0, :, 8:12, 12:16] = 1.0       # inside
    x[0, :, 16:20, 25:30] = 1.0      # bottom right corner
    c = border_contacts(x)
    assert c["cut"].numel() == 3 and c["cut"].sum().item() == 2
    assert c["left"].sum().item() == 1 and c["top"].sum().item() == 0
    assert c["bottom"].sum().item() == 1 and c["right"].sum().item() == 1
    assert cut_object_share(x) == pytest.approx(2 / 3)
    report = framing_report(torch.cat([x, _canvas()]))
    assert report["objects"] == 3 and report["images_with_a_cut_object"] == 0.5


def test_no_objects():
    assert cut_object_share(_canvas()) == 0.0
    assert framing_report(_canvas())["objects"] == 0


def test_real_scenes_whole_cropped_scenes_cut(scenes):
    whole = framing_report(scenes)
    assert whole["cut_share"] < 0.03
    big = make_scenes(200, seed=2, height=48, width=48, letter_rate=0.3, group_rate=0.2)
    g = torch.Generator().manual_seed(0)
    top, left = torch.randint(4, 17, (2, 200), generator=g)
    crops = torch.stack([big.images[i, :, t:t + 32, s:s + 32]
                         for i, (t, s) in enumerate(zip(top.tolist(), left.tolist()))])
    cropped = framing_report(crops)
    assert cropped["cut_share"] > 0.3 and cropped["cut_share"] > 10 * whole["cut_share"]
    assert min(cropped[s] for s in ("top", "left", "bottom", "right")) > 0.05


def test_framing_rejects_bad_input():
    with pytest.raises(ValueError, match="images"):
        cut_object_share(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="min_area"):
        framing_report(_canvas(), min_area=0)
