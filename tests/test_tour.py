"""The headless tour (``python -m diffusionlab tour --out DIR``) writes two valid PNGs."""
import matplotlib.image as mpimg
import pytest

from diffusionlab.__main__ import main as cli_main
from diffusionlab.tour import TOUR_PROMPTS


@pytest.mark.slow
def test_tour_writes_the_grid_and_the_pipeline_figure(tmp_path, capsys):
    out = tmp_path / "tour"
    assert cli_main(["tour", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name, min_size in (("prompt_grid.png", (200, 600)), ("pipeline.png", (400, 800))):
        path = out / name
        assert path.is_file(), f"{name} was not written"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = mpimg.imread(path)                    # decodes the whole file
        assert pixels.shape[0] >= min_size[0] and pixels.shape[1] >= min_size[1]
        assert pixels[..., :3].std() > 0.05            # not a blank canvas
        assert str(path) in printed
    assert TOUR_PROMPTS[0] in printed and "generated" in printed and "benchmark: 16 images" in printed
