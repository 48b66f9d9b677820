"""What a question sees of the tables follows every load and delete (the registry and example values are read once
per open engine, so a change must reach the next question)."""

from __future__ import annotations

from pathlib import Path

from storage.tables import TableStore


def _csv(path: Path, rows: str) -> Path:
    path.write_text("region,revenue\n" + rows, encoding="utf-8")
    return path


def test_a_loaded_then_deleted_file_shows_in_sources_tables_and_example_values(store: TableStore,
                                                                                tmp_path: Path) -> None:
    first = store.load_file(_csv(tmp_path / "sales.csv", "North,10\nSouth,20\n"))
    assert [s.file_name for s in store.sources()] == ["sales.csv"]
    with store.engine() as engine:
        assert sorted(engine.distinct_values("sales", "region")) == ["North", "South"]
    assert [(t.name, t.source) for t in store.tables()] == [("sales", "sales.csv")]

    store.load_file(_csv(tmp_path / "targets.csv", "East,5\n"))
    assert [s.file_name for s in store.sources()] == ["targets.csv", "sales.csv"]
    assert [(t.name, t.source) for t in store.tables()] == [("sales", "sales.csv"), ("targets", "targets.csv")]

    store.delete_source(first.sha256)
    store.load_file(_csv(tmp_path / "sales.csv", "West,1\nNorth,2\n"))  # the same name, other rows
    assert sorted(s.file_name for s in store.sources()) == ["sales.csv", "targets.csv"]
    with store.engine() as engine:
        assert sorted(engine.distinct_values("sales", "region")) == ["North", "West"]
        assert engine.distinct_values("sales", "region", like="wes") == ["West"]
