"""Owner-only files: the data directory is 700 and everything in it 600 (or 700 for folders and executables).

Two parts: `owner_only_umask()` at process start, so every file created afterwards (by the app, SQLite,
DuckDB, Chroma) is created owner-only; and `secure_tree(data_dir)` at start-up, which fixes what an earlier
version (or a copy with `cp -r`) left readable by others. The walk only changes what is wrong and never follows
a symlink out of the tree (a models folder outside the data directory, maybe shared, is never reached)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

OWNER_ONLY_UMASK = 0o077
_LOG = logging.getLogger("analyst_assistant")


def owner_only_umask() -> int:
    """Make files this process creates owner-only (umask 077); returns the previous umask."""
    return os.umask(OWNER_ONLY_UMASK)


def _tighten(path: Path, mode: int) -> bool:
    """Drop group and other permissions from `path` (its owner's are kept); True when a change was made."""
    if mode & 0o077 == 0:
        return False
    try:
        os.chmod(path, stat.S_IMODE(mode) & 0o700)
    except OSError as exc:  # not ours (another user's file in a shared folder): reported, not fatal
        _LOG.warning("could not make %s owner-only: %s", path, exc.strerror or exc)
        return False
    return True


def secure_tree(root: Path) -> int:
    """Make `root` 700 and everything under it owner-only; returns how many modes were changed.

    Symlinks are neither changed nor followed."""
    try:
        top = root.lstat()
    except FileNotFoundError:
        return 0
    if stat.S_ISLNK(top.st_mode) or not stat.S_ISDIR(top.st_mode):
        return 0
    changed = int(_tighten(root, top.st_mode))
    pending = [str(root)]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                continue
            if stat.S_ISDIR(info.st_mode):
                pending.append(entry.path)
            changed += _tighten(Path(entry.path), info.st_mode)
    return changed
