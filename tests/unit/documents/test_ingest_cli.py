"""CLI subcommands `ingest`, `search`, `docs list|delete`: JSON shapes and user errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.commands import docs
from app.documents.library import DocumentLibrary
from app.errors import AssistantError, BadInputError, NotFoundError
from tests.fixtures import pdf_factory as pf


def _run(services: SimpleNamespace, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    parser = argparse.ArgumentParser()
    docs.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code = args.handler(args, services)
    return code, json.loads(capsys.readouterr().out)


def _services(lib: DocumentLibrary) -> SimpleNamespace:
    # `docs delete` goes through the services, which record the deletion (tests/cli/test_action_records.py).
    return SimpleNamespace(documents=lib, delete_document=lib.delete)


def test_ingest_search_list_delete_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    services = _services(DocumentLibrary(tmp_path / "data"))
    (tmp_path / "in").mkdir()
    good = pf.write(tmp_path / "in" / "budget.pdf",
                    pf.text_pdf([["The travel budget for 2024 is 15,000 euros."]]))
    pf.write(tmp_path / "in" / "broken.pdf", b"")
    code, out = _run(services, ["ingest", str(tmp_path / "in"), "--json"], capsys)
    files = {Path(f["path"]).name: f for f in out["files"]}
    assert code == 1  # a file named .pdf that cannot be read fails (alone), inside a folder too
    assert set(files["budget.pdf"]) >= {"path", "id", "kind", "status", "error", "pages", "chunks", "seconds"}
    assert files["budget.pdf"]["status"] == "indexed" and files["budget.pdf"]["kind"] == "pdf"
    assert files["broken.pdf"]["status"] == "error" and "empty" in files["broken.pdf"]["error"]

    code, out = _run(services, ["ingest", str(good), str(tmp_path / "in" / "broken.pdf"), "--json"], capsys)
    assert code == 1 and [f["status"] for f in out["files"]] == ["skipped", "error"]
    assert "empty" in out["files"][1]["error"]

    code, out = _run(services, ["search", "travel budget", "--k", "3", "--json"], capsys)
    (hit,) = out["results"]
    assert code == 0 and (hit["source"], hit["page"]) == ("budget.pdf", 1) and "15,000" in hit["text"]
    assert set(hit) >= {"source", "page", "score", "text"}

    code, out = _run(services, ["docs", "list", "--json"], capsys)
    (doc,) = out["documents"]
    code, out = _run(services, ["docs", "delete", doc["id"], "--json"], capsys)
    assert out == {"deleted": doc["id"]} and services.documents.list_documents() == []


def test_user_errors_are_assistant_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    services = _services(DocumentLibrary(tmp_path / "data"))
    with pytest.raises(BadInputError):
        _run(services, ["ingest", str(tmp_path / "missing.pdf")], capsys)
    with pytest.raises(BadInputError):
        _run(services, ["search", "x", "--k", "0"], capsys)
    with pytest.raises(NotFoundError) as err:
        _run(services, ["docs", "delete", "nope"], capsys)
    assert isinstance(err.value, AssistantError)  # app.cli turns these into exit code 2
