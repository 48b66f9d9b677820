"""`ingest FOLDER` end to end on a real folder of 20 files, one of them damaged (issue 17, finding 9)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import openpyxl

from tests.fixtures import pdf_factory as pf
from tests.fixtures.media import render_text


def _folder(root: Path) -> Path:
    """20 files as a user's export folder holds them; the first one read is a damaged Parquet file."""
    folder = root / "export"
    folder.mkdir()
    for n in range(6):
        pf.write(folder / f"report_{n}.pdf", pf.text_pdf([[f"Report {n}: the budget line {n} is {n}00 euros."]]))
    whole = pf.text_pdf([["Minutes: the board approved the travel budget."]])
    end = whole.rindex(b"%%EOF")
    pf.write(folder / "minutes.pdf", whole[: end - 1] + b"9\n%%EOF\n")  # a wrong xref offset, repaired on reading
    con = duckdb.connect()
    con.execute(f"COPY (SELECT range AS n, range * 2 AS m FROM range(500)) TO '{folder / 'data_good.parquet'}' "
                "(FORMAT parquet)")
    good = (folder / "data_good.parquet").read_bytes()
    (folder / "data_damaged.parquet").write_bytes(good[:40] + bytes(200) + good[-60:])
    for n in (1, 2):
        con.execute(f"COPY (SELECT range + {n} AS n FROM range({n * 100})) TO '{folder / f'data_more{n}.parquet'}' "
                    "(FORMAT parquet)")
    for n in range(5):
        (folder / f"sales_{n}.csv").write_text(f"region,amount\nnorth,{n}\nsouth,{n + 1}\n", encoding="utf-8")
    (folder / "people.json").write_text(json.dumps([{"name": "Ann", "age": 41}, {"name": "Bo", "age": 37}]))
    book = openpyxl.Workbook()
    book.active.append(["month", "revenue"])
    book.active.append(["jan", 10])
    book.save(folder / "revenue.xlsx")
    render_text([((20, 40), "Invoice total 420 euros")]).save(folder / "invoice.png")
    (folder / "readme.txt").write_text("This folder holds the quarterly export.\n")
    assert len(list(folder.iterdir())) == 20
    return folder


def test_a_damaged_file_fails_alone_and_the_summary_lists_both(cli, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    done = cli("ingest", str(folder), "--json")
    assert done.returncode == 1, done.stderr  # something failed; the JSON is printed all the same
    payload = json.loads(done.stdout)
    files = {Path(f["path"]).name: f for f in payload["files"]}
    assert len(files) == 20
    assert files["data_damaged.parquet"]["status"] == "error"
    assert files["data_damaged.parquet"]["error"].startswith("data_damaged.parquet cannot be read as Parquet")
    assert (files["readme.txt"]["kind"], files["readme.txt"]["status"]) == ("text", "indexed")  # notes are documents
    assert {n for n, f in files.items() if f["status"] == "indexed"} == set(files) - {"data_damaged.parquet"}
    assert payload["summary"] == {"files": 20, "indexed": 19, "skipped": 0, "failed": 1}
    (note,) = files["minutes.pdf"]["warnings"]
    assert note.startswith("minutes.pdf is damaged; it was read with repairs")
    assert "Traceback" not in done.stderr
    assert "startxref" not in done.stderr  # pypdf's own lines are not printed, the note above says it once

    # Files after the damaged one were really added: their tables answer, their text is found.
    assert json.loads(cli("sql", "--raw", "SELECT count(*) FROM data_more2", "--json").stdout)["rows"] == [[200]]
    hits = json.loads(cli("search", "invoice total", "--k", "1", "--json").stdout)["results"]
    assert hits[0]["source"] == "invoice.png"

    again = cli("ingest", str(folder))  # the human-readable summary: one line per file and the counts
    assert again.returncode == 1
    lines = again.stdout.splitlines()
    assert lines[-1] == "20 files: 0 indexed, 19 skipped, 1 failed"
    (failed,) = [line for line in lines if line.startswith("error")]
    assert "data_damaged.parquet" in failed and "cannot be read as Parquet" in failed
    assert "Traceback" not in again.stderr
