"""Warnings that a reading library logs about a user's file, gathered per file instead of printed line by line.

pypdf logs a warning for every repair it makes to a damaged PDF ("EOF marker not found", "Ignoring wrong
pointing object ...") and for every page with a font it cannot fully decode ("fontTools is required ..."), to
stderr, dozens of times per file. Only that library's logger is routed here (its records no longer reach the
root logger); the app's own loggers are untouched. While a reader `collecting(notes)` runs in a thread, the
messages of that thread go into `notes`; elsewhere they are kept at debug level only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

_local = threading.local()
_routed: set[str] = set()
_routing = threading.Lock()


class _Router(logging.Handler):
    """Sends a library's records to the collecting thread's notes, and always to our debug log."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed library record must not break reading the file
            message = str(record.msg)
        notes: list[str] | None = getattr(_local, "notes", None)
        if notes is not None and record.levelno >= logging.WARNING:
            notes.append(message)
        log.debug("%s: %s", record.name, message)


def route(logger_name: str) -> None:
    """Route `logger_name` (and its children) through the collector, once per process."""
    with _routing:
        if logger_name in _routed:
            return
        library = logging.getLogger(logger_name)
        library.addHandler(_Router())
        library.propagate = False
        _routed.add(logger_name)


@contextmanager
def collecting(notes: list[str]) -> Iterator[list[str]]:
    """Within this block, this thread's routed library warnings are appended to `notes`."""
    previous = getattr(_local, "notes", None)
    _local.notes = notes
    try:
        yield notes
    finally:
        _local.notes = previous
