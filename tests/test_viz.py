"""viz: the plotting helpers draw what they are given and refuse what they cannot draw."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from diffusionlab.viz import plot_curves, show_clouds, show_images, to_image  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_to_image_maps_minus_one_one_to_zero_one_and_clips():
    x = torch.tensor([[[-1.0, 0.0], [1.0, 3.0]]]).repeat(3, 1, 1)      # CHW, one value out of range
    arr = to_image(x)
    assert arr.shape == (2, 2, 3)
    np.testing.assert_allclose(arr[..., 0], [[0.0, 0.5], [1.0, 1.0]])
    assert to_image(x[:1]).shape == (2, 2)                             # one channel -> grayscale


def test_to_image_rejects_bad_shapes():
    with pytest.raises(ValueError, match="1 or 3 channels"):
        to_image(torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        to_image(torch.zeros(1, 1, 4, 4))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        to_image(np.zeros((4, 4)))


def test_show_images_draws_one_panel_per_image_with_titles():
    imgs = torch.rand(5, 3, 8, 8) * 2 - 1
    fig = show_images(imgs, titles=list("abcde"), ncols=3)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 5 and len(fig.axes) == 6                     # 2 x 3 grid, one left blank
    assert [ax.get_title() for ax in drawn] == list("abcde")
    np.testing.assert_allclose(drawn[0].images[0].get_array(), to_image(imgs[0]))
    with pytest.raises(ValueError, match="one entry per panel"):
        show_images(imgs, titles=["only one"])


def test_show_clouds_uses_given_axes_and_limits():
    fig, axes = plt.subplots(1, 2)
    out = show_clouds([torch.randn(50, 2), torch.randn(60, 2)], axes=axes, lim=2.0)
    assert out is fig
    assert axes[1].get_xlim() == (-2.0, 2.0)
    assert len(axes[1].collections[0].get_offsets()) == 60
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        show_clouds([torch.randn(5, 3)])


def test_plot_curves_draws_each_curve_and_checks_lengths():
    ax = plot_curves({"a": torch.linspace(0, 1, 10), "b": np.ones(10)}, logy=True, marker_x=3)
    assert [line.get_label() for line in ax.get_lines()[:2]] == ["a", "b"]
    assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="has 10 values but x has 4"):
        plot_curves({"a": torch.zeros(10)}, x=torch.arange(4))


def _shown(capsys_or_monkeypatch, obj, **kwargs):
    """The markdown text show_source displays for obj."""
    import IPython.display

    from diffusionlab import viz

    seen = []
    capsys_or_monkeypatch.setattr(IPython.display, "display", lambda md: seen.append(md.data))
    viz.show_source(obj, **kwargs)
    return seen[0]


def test_show_source_renders_the_library_source_with_file_and_line(monkeypatch):
    import inspect

    from diffusionlab.forward import q_sample

    text = _shown(monkeypatch, q_sample)
    first_line = inspect.getsourcelines(q_sample)[1]
    assert text.startswith(f"`diffusionlab/forward.py`, line {first_line}: `q_sample`")
    assert "```python\ndef q_sample(" in text and text.rstrip().endswith("```")


def test_show_source_excerpts_by_line_numbers_and_by_text(monkeypatch):
    import inspect

    from diffusionlab.samplers import ddim_step

    src, first = inspect.getsourcelines(ddim_step)
    text = _shown(monkeypatch, ddim_step, lines=(2, 3))
    assert f"line {first + 1}:" in text and "def ddim_step" not in text
    assert "".join(src[1:3]).rstrip() in text
    marker = next(ln for ln in src if "eq. 12" in ln).strip()
    text = _shown(monkeypatch, ddim_step, start="eq. 12", stop="eq. 12")
    body = text.split("```python\n")[1].split("\n```")[0]
    assert body.strip() == marker                       # one line: from start to the next stop


def test_show_source_refuses_bad_excerpts(monkeypatch):
    from diffusionlab.forward import q_sample

    with pytest.raises(ValueError, match="start='no such text'"):
        _shown(monkeypatch, q_sample, start="no such text")
    with pytest.raises(ValueError, match="lines must satisfy"):
        _shown(monkeypatch, q_sample, lines=(5, 2))
    with pytest.raises(ValueError, match="not both"):
        _shown(monkeypatch, q_sample, lines=(1, 2), start="def")
