"""Shared fixtures of the tables unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.tables import TableStore
from tests.fixtures.shop import build_shop


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[TableStore]:
    """A real DuckDB-backed TableStore in a temp data dir."""
    s = TableStore(tmp_path / "data" / "tables.duckdb")
    yield s
    s.close()


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    """The sales database without declared keys (joins must be found from names and values)."""
    return build_shop(tmp_path / "shop.duckdb", declared=False)
