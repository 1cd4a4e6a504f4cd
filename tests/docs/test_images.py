"""docs/images/*.png are made by scripts/make_images.py, and are up to date with it.

The script reads what is built and what is planned from OmniQ itself, so a new backend or
worker type changes the architecture picture: rerun ``python scripts/make_images.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from .qmd import DOCS

SCRIPT = DOCS.parent / "scripts" / "make_images.py"
NAMES = ("architecture.png", "data_flow.png", "logo.png")
#: Share of pixels allowed to differ (font rasterizing may vary across FreeType builds).
TOLERANCE = 0.005


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("images")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, f"make_images.py failed:\n{done.stderr}"
    return out


@pytest.mark.parametrize("name", NAMES)
def test_image_is_up_to_date(name: str, regenerated: Path) -> None:
    committed, fresh = DOCS / "images" / name, regenerated / name
    assert committed.is_file(), f"docs/images/{name} is missing: run scripts/make_images.py"
    if committed.read_bytes() == fresh.read_bytes():
        return
    with Image.open(committed) as old, Image.open(fresh) as new:
        assert old.size == new.size, f"{name}: size changed: run scripts/make_images.py"
        diff = ImageChops.difference(old.convert("RGBA"), new.convert("RGBA")).convert("L")
        changed = sum(diff.histogram()[33:])  # pixels that differ by more than 32
    share = changed / (old.size[0] * old.size[1])
    assert share <= TOLERANCE, (
        f"docs/images/{name} is out of date ({share:.1%} of pixels differ): "
        "run `python scripts/make_images.py`"
    )


@pytest.mark.parametrize("name", NAMES)
def test_pages_use_the_images(name: str) -> None:
    used = [page for page in DOCS.rglob("*.qmd") if f"images/{name}" in page.read_text()]
    used += [DOCS / "_quarto.yml"] if f"images/{name}" in (DOCS / "_quarto.yml").read_text() else []
    assert used, f"no page shows images/{name}"
