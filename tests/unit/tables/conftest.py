"""Shared fixtures of the tables unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.tables import TableStore


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[TableStore]:
    """A real DuckDB-backed TableStore in a temp data dir."""
    s = TableStore(tmp_path / "data" / "tables.duckdb")
    yield s
    s.close()
