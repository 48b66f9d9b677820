"""Loading evaluation sets: kinds by keys, bad lines reported with their numbers, the rest kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.errors import BadInputError
from app.evaluation.loader import DOCQA, SQL, load_set
from tests.fixtures import build_mini, paths

FIXTURES = paths.FIXTURES / "eval"


@pytest.fixture()
def mini(tmp_path: Path) -> Path:
    """The mini set with its handbook PDF and shop database, in a temp folder."""
    return build_mini.build(tmp_path / "mini")


def test_a_mixed_set_is_split_by_kind_and_finds_its_documents(mini: Path):
    loaded = load_set(mini)
    assert loaded.name == "mini" and len(loaded.sha256) == 64 and not loaded.problems
    assert loaded.kinds() == {DOCQA: 2, SQL: 2}
    doc, sql = loaded.items[0], loaded.items[2]
    assert (doc.id, doc.pages, doc.answer, doc.line) == ("hb-001", (2,), "Every 90 days.", 1)
    assert sql.db == mini.parent / "databases" / "shop.duckdb" and sql.gold["result_rows"] == [[6]]
    assert [p.name for p in loaded.documents] == ["handbook.pdf"]


def test_malformed_lines_are_reported_by_number_and_the_rest_is_kept(mini: Path):
    path = mini.parent / "malformed.jsonl"
    shutil.copyfile(FIXTURES / "malformed.jsonl", path)
    loaded = load_set(path)
    assert [i.id for i in loaded.items] == ["ok-doc", "ok-sql"]
    problems = {p.line: p.message for p in loaded.problems}
    assert sorted(problems) == [2, 3, 5, 7, 8, 9, 10]  # line 4 is blank: not a problem
    assert problems[2].startswith("not valid JSON")
    assert problems[3] == "no question"
    assert "unknown database 'databases/nowhere.duckdb'" in problems[5]
    assert problems[7].startswith("unknown kind")
    assert problems[8] == "not a JSON object"
    assert problems[9] == "duplicate id 'ok-doc'"
    assert "'pages' must be a list" in problems[10]


def test_copied_subsets_of_the_shared_sets_load(tmp_path: Path):
    docqa = load_set(FIXTURES / "r-intro.subset.jsonl")
    assert docqa.kinds() == {DOCQA: 4} and docqa.items[-1].answer is None and docqa.items[-1].pages == ()
    assert docqa.documents == []  # the PDF lives in bench/data/docqa: pass --docs
    nsql = load_set(FIXTURES / "nsql.subset.jsonl")
    assert nsql.kinds() == {SQL: 3} and not nsql.problems and nsql.items[0].ordered


def test_missing_set_or_docs_folder_is_a_clear_error(tmp_path: Path, mini: Path):
    with pytest.raises(BadInputError, match="Cannot read the evaluation set"):
        load_set(tmp_path / "nope.jsonl")
    with pytest.raises(BadInputError, match="documents folder"):
        load_set(mini, docs_dir=tmp_path / "missing")
