"""Finding 6 (issue 17): the data directory is 700 and everything in it 600 (owner only), whether the CLI
creates it or finds it with looser modes from an earlier version; symlinks are not followed out of it and a
models folder outside it is left alone. Real files, a real CLI process started with the usual umask 022."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.pdf_factory import text_pdf, write


@pytest.fixture()
def loose_umask() -> Iterator[None]:
    """The umask most systems give a user (files 644, folders 755), inherited by the CLI's process."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _loose(root: Path) -> list[str]:
    """Everything under `root` (and root itself) that a group or other user could read, write or enter."""
    found = [] if _mode(root) & 0o077 == 0 else [f"{root} {oct(_mode(root))}"]
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            if not path.is_symlink() and _mode(path) & 0o077:
                found.append(f"{path.relative_to(root)} {oct(_mode(path))}")
    return found


def test_a_data_dir_the_cli_creates_is_owner_only(cli, tmp_path, loose_umask):
    pdf = write(tmp_path / "handbook.pdf", text_pdf([["Refunds", "Refunds are paid within 30 days."]]))
    table = tmp_path / "sales.csv"
    table.write_text("region,revenue\nEast,10\nWest,20\n")
    assert cli("ingest", str(pdf)).returncode == 0
    assert cli("tables", "load", str(table)).returncode == 0
    assert cli("sql", "--raw", "SELECT count(*) AS n FROM sales").returncode == 0

    data = cli.data_dir
    assert _mode(data) == 0o700
    for name in ("records.sqlite", "chats.sqlite", "tables.duckdb", "documents.sqlite"):
        assert _mode(data / name) == 0o600, name
    assert _loose(data) == []


def test_an_existing_data_dir_with_loose_modes_is_fixed_at_start_up(cli, tmp_path, loose_umask):
    data = cli.data_dir
    (data / "attachments" / "ab").mkdir(parents=True)
    (data / "attachments" / "ab" / "abcdef.pdf").write_bytes(b"%PDF-1.4 stored attachment")
    (data / "notes.txt").write_text("left by an older version")
    os.chmod(data, 0o755)
    outside = tmp_path / "shared.txt"
    outside.write_text("not the app's")
    os.chmod(outside, 0o644)
    (data / "link-out").symlink_to(outside)
    models = tmp_path / "models-shared"
    models.mkdir()
    os.chmod(models, 0o755)
    assert _loose(data)  # the test starts from what an older version left

    result = cli("docs", "list", ANALYST_MODELS_DIR=str(models))
    assert result.returncode == 0, result.stderr

    assert _mode(data) == 0o700
    assert _mode(data / "attachments") == 0o700
    assert _mode(data / "attachments" / "ab" / "abcdef.pdf") == 0o600
    assert _mode(data / "notes.txt") == 0o600
    assert _loose(data) == []
    assert _mode(outside) == 0o644  # a symlink is not followed out of the data dir
    assert _mode(models) == 0o755  # a models folder outside the data dir may be shared: left alone
