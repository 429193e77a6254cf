"""`python -m diffusionlab site`: the executed lessons as static HTML, from stored outputs."""
import hashlib
import json

import pytest

from diffusionlab import review
from diffusionlab.__main__ import main
from diffusionlab.notebook_runner import find_notebooks
from diffusionlab.site import build_site


def test_site_converts_stored_outputs_without_executing(tmp_path, capsys):
    path = find_notebooks(["01"])[0]
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    assert main(["site", "--out", str(tmp_path / "site"), "01"]) == 0
    assert "index.html" in capsys.readouterr().out
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before      # the notebook untouched

    page = (tmp_path / "site" / f"{path.stem}.html").read_text()
    assert "data:image/png;base64," in page                              # figures inline
    stored = [o for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    first_line = "".join(stored[0]["text"]).splitlines()[0]
    assert first_line.split()[0] in page            # the stored text, not a fresh execution
    assert 'href="02_noise_schedules.ipynb' not in page

    index = (tmp_path / "site" / "index.html").read_text()
    assert f'href="{path.stem}.html"' in index
    for q in review.QUESTIONS:                       # the question map, all 30 rows
        assert f"<td>{q.id}</td>" in index, q.id


def test_site_rejects_a_file_as_out(tmp_path):
    file = tmp_path / "not_a_folder"
    file.write_text("x")
    with pytest.raises(NotADirectoryError, match="out must be a folder"):
        build_site(file, numbers=["01"])
