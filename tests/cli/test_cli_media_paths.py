"""`transcribe` and `ocr` say what is wrong with the path they were given (issue 17, finding 10)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize(("command", "what"), [("transcribe", "recording"), ("ocr", "image")])
def test_a_folder_is_called_a_folder(cli, tmp_path: Path, command: str, what: str) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    done = cli(command, str(folder))
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {folder} is a folder; `{command}` takes one {what} file.")
    assert "ingest" in done.stderr  # how to add everything in it
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["transcribe", "ocr"])
def test_a_missing_file_is_called_missing(cli, tmp_path: Path, command: str) -> None:
    done = cli(command, str(tmp_path / "gone.wav"))
    assert done.returncode == 2 and "No such" in done.stderr and "gone.wav" in done.stderr
