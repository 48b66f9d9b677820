"""Files attached to chat questions, kept with the conversation.

Content-addressed: a file is stored under its sha256, so a re-sent file is stored once and a name
never collides. Written atomically (a private temporary file, then a rename), so a reader never sees
half a file, even when two sessions attach the same file at once.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

FOLDER = "attachments"  # under the data dir
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class StoredAttachment:
    """One kept file: its content hash, where it is, and its size in bytes."""

    sha256: str
    path: Path
    size: int


class AttachmentStore:
    """The attachments folder: keep bytes by their sha256, find and read them back."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> AttachmentStore:
        """The store under a data directory (<data_dir>/attachments)."""
        return cls(Path(data_dir) / FOLDER)

    def keep(self, data: bytes) -> StoredAttachment:
        """Store the bytes (once per content) and say where they are."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.folder / sha
        if not path.is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{sha[:16]}-", suffix=".tmp", dir=self.folder)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return StoredAttachment(sha, path, len(data))

    def path(self, sha256: str) -> Path | None:
        """Where the file with this sha256 is stored, or None (not kept, or not a sha256 at all)."""
        if not _SHA256.fullmatch(sha256 or ""):
            return None
        path = self.folder / sha256
        return path if path.is_file() else None

    def read(self, sha256: str) -> bytes | None:
        """The stored bytes, or None when the file is not kept."""
        path = self.path(sha256)
        return path.read_bytes() if path else None
