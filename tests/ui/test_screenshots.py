"""``python -m podwarden.app.screenshots``: one PNG per section and dialog, not blank."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtGui import QImage

from podwarden.ui.main_window import SECTIONS


def _colours(path) -> int:  # type: ignore[no-untyped-def]
    image = QImage(str(path))
    assert not image.isNull(), path
    seen = set()
    for y in range(0, image.height(), 7):
        for x in range(0, image.width(), 7):
            seen.add(image.pixel(x, y))
    return len(seen)


@pytest.mark.timeout(240)
def test_screenshots_render_every_view(database_url, tmp_path) -> None:
    out = tmp_path / "shots"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-m", "podwarden.app.screenshots", str(out),
         "--database-url", database_url.render_as_string(hide_password=False)],
        env=env, capture_output=True, text=True, timeout=230, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = [line for line in result.stdout.splitlines() if line.endswith(".png")]
    names = {os.path.basename(p) for p in written}
    expected = {f"{i:02d}-{name.lower()}.png" for i, name in enumerate(SECTIONS, start=1)}
    expected |= {"00-first-run.png", "00-sign-in.png", "99-error-panel.png"}
    expected |= {f"12-settings-{t}.png" for t in ("secrets", "tailscale", "registry-defaults")}
    assert expected <= names
    # Views may add detail shots (editor tabs…), named after their section's shot.
    sections = tuple(name.removesuffix(".png") + "-" for name in expected)
    assert all(name.startswith(sections) for name in names - expected), names - expected
    for path in written:
        image = QImage(path)
        assert (image.width(), image.height())[0] > 300
        assert _colours(path) > 8, f"{path} looks blank"
    assert QImage(str(out / "06-jobs.png")).size().toTuple() == (1280, 800)
