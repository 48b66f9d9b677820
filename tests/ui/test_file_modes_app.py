"""Finding 6 (issue 17) for the web app: starting it on a data directory left readable by others (755/644)
makes it owner-only (700/600), and files it creates afterwards are owner-only too (the entry sets umask 077)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.fixtures.paths import ENTRY


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_app_makes_an_existing_data_dir_owner_only(data_dir):
    old = os.umask(0o022)
    try:
        (data_dir / "attachments").mkdir(parents=True)
        (data_dir / "attachments" / "old.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        os.chmod(data_dir, 0o755)
        assert _mode(data_dir / "attachments" / "old.png") == 0o644
        at = AppTest.from_file(ENTRY, default_timeout=60).run()
        assert not at.exception
        assert _mode(data_dir) == 0o700
        assert _mode(data_dir / "attachments") == 0o700
        assert _mode(data_dir / "attachments" / "old.png") == 0o600
        assert _mode(data_dir / "chats.sqlite") == 0o600
        assert _mode(data_dir / "records.sqlite") == 0o600
        # Files the app creates from now on are owner-only as well.
        (data_dir / "later.txt").write_text("x")
        assert _mode(data_dir / "later.txt") == 0o600
    finally:
        os.umask(old)
