"""`ingest` sends PDFs to the document index and table files to DuckDB, sniffed from the bytes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.cli import main
from tests.fixtures import pdf_factory as pf


def test_a_folder_with_a_pdf_a_csv_and_notes_is_dispatched_by_content(tmp_path, capsys):
    folder = tmp_path / "inbox"
    folder.mkdir()
    pf.write(folder / "policy.pdf", pf.text_pdf([["Refunds are paid within 30 days of a written request."]]))
    (folder / "revenue.data").write_text("region,revenue\nNorth,10.5\nSouth,7.25\n")  # a CSV under any name
    (folder / "notes.txt").write_text("remember to call Anna\n")

    code = main(["--data-dir", str(tmp_path / "data"), "ingest", str(folder), "--json"])
    files = {Path(f["path"]).name: f for f in json.loads(capsys.readouterr().out)["files"]}

    assert code == 0
    assert files["policy.pdf"]["kind"] == "pdf" and files["policy.pdf"]["status"] == "indexed"
    assert files["revenue.data"]["kind"] == "table" and files["revenue.data"]["tables"] == ["revenue"]
    assert (files["notes.txt"]["kind"], files["notes.txt"]["status"]) == ("text", "indexed")  # prose: a document

    # A second process, as a user would run it (DuckDB keeps one configuration per file per process).
    done = subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(tmp_path / "data"), "sql", "--raw",
         "SELECT sum(revenue) AS total FROM revenue", "--json"],
        cwd=Path(__file__).resolve().parents[3], capture_output=True, text=True, timeout=120,
    )
    assert json.loads(done.stdout)["rows"] == [[17.75]]


def test_the_same_table_file_twice_is_loaded_once(tmp_path, capsys):
    csv = tmp_path / "sales.csv"
    csv.write_text("region,revenue\nNorth,1\n")
    args = ["--data-dir", str(tmp_path / "data"), "ingest", str(csv), "--json"]
    main(args)
    capsys.readouterr()
    main(args)
    second = json.loads(capsys.readouterr().out)["files"][0]
    assert second["kind"] == "table" and second["status"] == "skipped"
