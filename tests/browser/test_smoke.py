"""Real-browser smoke test: start the app with `python -m app serve`, drive it in Chromium.

Skipped where no Chromium is installed (`apt-get install chromium`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.browser, pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def running_app(tmp_path, models_dir):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYST_") and k != "OLLAMA_HOST"}
    env.update({
        "ANALYST_DATA_DIR": str(tmp_path / "data"), "ANALYST_MODELS_DIR": str(models_dir),
        "ANALYST_BACKEND": "embedded", "ANALYST_EMBEDDED_MODEL": "qwen2.5-coder-0.5b",
        "ANALYST_EMBEDDED_CTX": "2048", "ANALYST_MAX_TOKENS": "64", "ANALYST_OLLAMA_HOST": "http://127.0.0.1:9",
    })
    log = open(tmp_path / "app.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("the app did not start: " + (tmp_path / "app.log").read_text(errors="replace")[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_chat_in_a_real_browser(running_app, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(running_app)
        box = page.get_by_placeholder("Ask a question, attach files or record a voice note…")
        box.wait_for(timeout=60_000)
        box.fill("What is the capital of France?")
        box.press("Enter")
        page.get_by_text("Paris").first.wait_for(timeout=180_000)
        page.get_by_text("qwen2.5-coder-0.5b (embedded)").first.wait_for(timeout=60_000)
        assert page.get_by_text("What is the capital of France?").count() >= 1
        page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
        browser.close()
    assert (tmp_path / "chat.png").stat().st_size > 10_000
