"""Fixtures for the end-to-end CLI tests: `python -m app` in a subprocess on a temp data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.paths import ROOT


@dataclass
class Cli:
    """`python -m app` on one data dir with a fixed environment; call it with the CLI's arguments."""

    data_dir: Path
    env: dict[str, str]

    @property
    def ollama_host(self) -> str:
        """The Ollama host the CLI is pointed at (nothing listens there)."""
        return self.env["ANALYST_OLLAMA_HOST"]

    def __call__(self, *args: str, stdin: str | None = None, **extra_env: str) -> subprocess.CompletedProcess[str]:
        """Run the CLI with these arguments (and extra environment variables); output is captured as text."""
        return subprocess.run(
            [sys.executable, "-m", "app", "--data-dir", str(self.data_dir), *args],
            cwd=ROOT, env={**self.env, **extra_env}, input=stdin, capture_output=True, text=True, timeout=300,
        )


@pytest.fixture()
def cli(tmp_path: Path, models_dir: Path, closed_port: int) -> Cli:
    """Run the CLI with a temp data dir, the session's models and an Ollama host where nothing listens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYST_") and k != "OLLAMA_HOST"}
    env.update({
        "ANALYST_MODELS_DIR": str(models_dir),
        "ANALYST_OLLAMA_HOST": f"http://127.0.0.1:{closed_port}",
        "ANALYST_EMBEDDED_CTX": "2048",
        "ANALYST_MAX_TOKENS": "32",
        "ANALYST_TEMPERATURE": "0",
        "ANALYST_SEED": "42",
    })
    return Cli(tmp_path / "data", env)
