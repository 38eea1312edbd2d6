"""The real ``podwarden`` process: it waits at first run, and SIGTERM closes it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import TEST_KEY


@pytest.mark.timeout(120)
def test_sigterm_at_the_first_run_dialog_closes_cleanly(database_url, tmp_path) -> None:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PODWARDEN_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "PODWARDEN_SECRET_KEY": TEST_KEY,
        "PODWARDEN_DATA_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "podwarden.app.gui", "--debug"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: list[str] = []
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            seen.append(line)
            if "ready on" in line:
                break
        assert any("ready on" in line for line in seen), "".join(seen)
        painted = next(i for i, line in enumerate(seen) if "window painted" in line)
        ready = next(i for i, line in enumerate(seen) if "ready on" in line)
        assert painted < ready  # the window paints before the engine opens
        time.sleep(1.0)  # the session controller asks whether users exist, then opens the dialog
        assert process.poll() is None, "the app quit by itself"
        process.send_signal(signal.SIGTERM)
        _out, rest = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, "".join(seen) + rest
    assert "Traceback" not in rest


def test_the_window_modules_do_not_load_the_engine() -> None:
    """So the window can paint while the engine (≈ 2 s of imports) still loads."""
    code = (
        "import sys; import podwarden.ui.main_window, podwarden.ui.ops, podwarden.ui.error_panel; "
        "print(sorted(m for m in sys.modules if m.startswith('podwarden.engine') or m == 'sqlalchemy'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
