"""storage/attachments.py: chat attachments kept by content (sha256 names), written atomically, read back."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from storage.attachments import AttachmentStore
from tests.fixtures.paths import FIXTURES


def test_kept_once_by_content_and_read_back(tmp_path: Path) -> None:
    store = AttachmentStore.in_data_dir(tmp_path)
    data = (FIXTURES / "audio" / "ten_of_clubs.wav").read_bytes()
    first = store.keep(data)
    again = store.keep(data)
    assert first == again and first.sha256 == hashlib.sha256(data).hexdigest() and first.size == len(data)
    assert first.path == tmp_path / "attachments" / first.sha256 and first.path.read_bytes() == data
    assert store.path(first.sha256) == first.path and store.read(first.sha256) == data
    assert [p.name for p in (tmp_path / "attachments").iterdir()] == [first.sha256]  # no temporary file left


def test_unknown_or_malformed_names_are_not_found(tmp_path: Path) -> None:
    store = AttachmentStore.in_data_dir(tmp_path)
    store.keep(b"x")
    assert store.path("0" * 64) is None and store.read("0" * 64) is None
    assert store.path("../../etc/passwd") is None and store.path("") is None


def test_concurrent_writers_of_the_same_file_leave_one_whole_copy(tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path / "files")
    data = bytes(range(256)) * 4096  # 1 MiB
    threads = [threading.Thread(target=store.keep, args=(data,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    files = list((tmp_path / "files").iterdir())
    assert len(files) == 1 and files[0].read_bytes() == data
