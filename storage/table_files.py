"""The tables database's files: who holds its lock, what may be loaded, and temp folders left by a killed load."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import duckdb

from app.errors import BadInputError
from multimodal.kinds import content_kind, kind_by_name, looks_like_text, read_head
from storage.tables_engine import first_line

LEGACY_TMP_AGE_S = 3600.0  # temp folders named before they carried a process id: removed once this old
_KIND_NAMES = {"image": "an image", "audio": "a recording", "pdf": "a PDF"}


def check_loadable(path: Path, name: str) -> None:
    """Refuse, with a message that says why, what cannot be a table file: a folder, a missing file, or a file
    named like an image, a recording or a PDF (its bytes are one, or text that is not what its name says)."""
    if path.is_dir():
        raise BadInputError(f"{name} is a folder, not a table file.",
                            "Load each file in it (tables load FOLDER/*.csv), or run `ingest FOLDER` to load "
                            "every table file it holds.")
    if not path.is_file():
        raise BadInputError(f"{path} does not exist.", "Check the path.")
    named = kind_by_name(name)
    if named in _KIND_NAMES:
        head = read_head(path)
        holds = "text" if looks_like_text(head) else "bytes of another kind"
        if content_kind(head) == named:
            holds = f"{_KIND_NAMES[named]}"
        raise BadInputError(f"{name} is named like {_KIND_NAMES[named]} file and holds {holds}, not a table.",
                            "If it is a table, give it the extension of its format (.csv, .xlsx, .parquet, "
                            ".json) and load it again; images, recordings and PDFs belong in Documents.")


def connect_waiting(path: Path, wait_s: float, read_only: bool = False, **kwargs: Any) -> duckdb.DuckDBPyConnection:
    """Open the tables database; while another process holds a conflicting lock, retry for up to `wait_s`
    seconds, then say which process holds it and what to do."""
    deadline = time.monotonic() + max(0.0, wait_s)
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, **kwargs)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise in_use_error(path, exc, read_only) from exc
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.5)


def in_use_error(path: Path, exc: Exception, read_only: bool) -> BadInputError:
    """The lock conflict in words: which process holds the database, and what to do."""
    text = str(exc)
    if "lock" not in text.lower():
        return BadInputError(f"The tables database {path} cannot be opened ({first_line(exc)}).",
                             "Check that the data directory is readable, and that the file is not damaged.")
    found = re.search(r"PID (\d+)", text)
    holder = f"process {found.group(1)}{_program(int(found.group(1)))}" if found else "another process"
    if read_only:
        return BadInputError(f"The tables database is being changed by {holder}: a table is loading or being "
                             "deleted.", "Wait until it finishes, then try again.")
    return BadInputError(f"The tables database is in use by {holder}; loading or deleting tables needs it alone.",
                         "If that is the Analyst Assistant app, load or delete the file on its Tables page; "
                         "otherwise wait until that command finishes (or close it), then try again.")


def _program(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    # A command line may hold newlines (python -c "..."): the message stays one line.
    shown = " ".join(" ".join(a.decode(errors="replace").split()) for a in args[:4] if a)
    return f" ({shown[:80]})" if shown else ""


def sweep_orphans(*roots: Path) -> list[Path]:
    """Remove temp folders of loads whose process is gone (named `load-<pid>-…` or, in the spill folder,
    `<pid>`); folders named before they carried a process id go once they are an hour old."""
    removed = []
    for root in roots:
        try:
            entries = list(root.iterdir())
        except OSError:
            continue
        for entry in entries:
            if _orphaned(entry):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


def _orphaned(entry: Path) -> bool:
    found = re.fullmatch(r"(?:load-)?(\d+)(?:-.*)?", entry.name)
    if found:
        return not _alive(int(found.group(1)))
    try:
        return time.time() - entry.stat().st_mtime > LEGACY_TMP_AGE_S
    except OSError:
        return False


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OverflowError:
        return False
    return True
