"""Real-browser fixtures: the app started with `python -m app serve` on a temp data dir, and a Chromium page.

Skipped where no Chromium is installed (`apt-get install chromium`); `.ci/run` installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.paths import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags the machine needs: no sandbox as root, and no background calls to a network that is not there.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            if CHROMIUM is None:
                item.add_marker(pytest.mark.skip(reason="no chromium installed (apt-get install chromium)"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningApp:
    """A served app: its URL, data dir and log."""

    url: str
    data_dir: Path
    log_path: Path

    def log(self) -> str:
        """The server's output so far (for failure messages)."""
        return self.log_path.read_text(errors="replace")


@pytest.fixture()
def app_factory(request, tmp_path: Path, models_dir: Path) -> Iterator[Callable[..., RunningApp]]:
    """Start `python -m app serve` on the embedded 0.5B; keyword arguments become ANALYST_* variables
    (`data_dir=` reuses a data directory prepared by the test, e.g. with `app_env` and the CLI)."""
    procs: list[tuple[subprocess.Popen, object]] = []

    def start(**settings: str) -> RunningApp:
        port = _free_port()
        data_dir = Path(settings.pop("data_dir", tmp_path / f"data-{port}"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYST_") and k != "OLLAMA_HOST"}
        env.update({
            "ANALYST_DATA_DIR": str(data_dir), "ANALYST_MODELS_DIR": str(models_dir),
            "ANALYST_BACKEND": "embedded", "ANALYST_EMBEDDED_MODEL": "qwen2.5-coder-0.5b",
            "ANALYST_EMBEDDED_CTX": "2048", "ANALYST_MAX_TOKENS": "64", "ANALYST_OLLAMA_HOST": "http://127.0.0.1:9",
        })
        env.update({f"ANALYST_{k.upper()}": str(v) for k, v in settings.items()})
        log_path = tmp_path / f"app-{port}.log"
        log = open(log_path, "wb")  # noqa: SIM115 - closed at teardown
        proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        procs.append((proc, log))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                    return RunningApp(url, data_dir, log_path)
            except OSError:
                time.sleep(0.5)
        pytest.fail("the app did not start: " + log_path.read_text(errors="replace")[-2000:])

    yield start
    report = getattr(request.node, "rep_call", None)
    for proc, log in procs:
        if report is not None and report.failed:
            log.flush()  # type: ignore[attr-defined]
            print("app log (tail):\n" + Path(log.name).read_text(errors="replace")[-3000:])  # type: ignore[attr-defined]
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()  # type: ignore[attr-defined]


@pytest.fixture()
def app_env(models_dir: Path) -> Callable[[Path], dict[str, str]]:
    """The environment the served app gets, for preparing its data dir with the CLI first."""

    def build(data_dir: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYST_") and k != "OLLAMA_HOST"}
        env.update({"ANALYST_DATA_DIR": str(data_dir), "ANALYST_MODELS_DIR": str(models_dir),
                    "ANALYST_BACKEND": "embedded", "ANALYST_EMBEDDED_MODEL": "qwen2.5-coder-0.5b",
                    "ANALYST_OLLAMA_HOST": "http://127.0.0.1:9"})
        return env

    return build


@pytest.fixture()
def running_app(app_factory) -> RunningApp:
    """The app with default test settings."""
    return app_factory()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture()
def browser_page(request, packaged_model_path):
    """A fresh Chromium page (1400x900); on failure a full-page screenshot is kept and its path printed."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        yield page
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            # Outside tmp_path: pytest prunes old temp dirs, and the picture is wanted after the run.
            shot = ROOT / ".pytest_cache" / "browser" / f"{request.node.name}.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the failing page: {shot}")
        browser.close()
