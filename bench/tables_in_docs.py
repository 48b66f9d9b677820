"""Tables inside documents: are they found, are their cells right, and does SQL over them beat passages?

    flock /tmp/bench.lock python -m bench.tables_in_docs [--model qwen2.5-coder-1.5b] [--threads 1] [--limit N]

The documents are made here from real public statistics available offline: the WHO Ambient Air Quality
Database (2022 update), as shipped in bench/data/sql/databases/who.duckdb (see bench/data/sql/SOURCES.md;
the WHO data are CC BY-NC-SA 3.0 IGO). For each of 8 countries, a short report holds one table of its cities'
latest PM2.5, PM10 and NO2 concentrations (µg/m³) and population, with the formatting reports use: thousands
separators, a footnote marker, a dash for a missing value. Four reports are PDFs (a ruled table drawn on page
2), four are Word files (a table under a heading).

Measured:
- tables found: tables loaded as data / tables in the documents;
- cell accuracy: cells of the loaded tables equal to the truth (numbers as numbers, missing as NULL) / all
  cells of all tables (a table not found counts all its cells wrong);
- end-to-end accuracy of "a number from a document table" with the embedded model: two questions per report
  (a city's PM2.5 or population), asked through `services.assistant.ask` in two data dirs holding the same
  documents: one with the tables loaded (SQL over them) and one whose tables were removed (passage retrieval
  only). Correct = the gold number appears among the numbers of the answer.
Figures are printed and written to bench/results/tables_in_docs-<model>[-limitN].json; nothing is asserted.
The machine may be shared: timings are noisy.
"""

from __future__ import annotations

import argparse
import io
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from app.container import build_services  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.common import write_results  # noqa: E402
from storage.document_tables import DocumentTableRegistry  # noqa: E402
from tests.fixtures.office_docs import table_pdf  # noqa: E402

WHO = ROOT / "bench" / "data" / "sql" / "databases" / "who.duckdb"
SOURCE = "WHO Ambient Air Quality Database 2022 (bench/data/sql/databases/who.duckdb)"
HEADER = ["City", "Year", "PM2.5 (µg/m³)", "PM10 (µg/m³)", "NO2 (µg/m³)", "Population"]
COUNTRIES = 8
CITIES = 6


def who_tables() -> list[dict[str, Any]]:
    """Reports of one country and year: the six most populous cities measured then (truth values)."""
    con = duckdb.connect(str(WHO), read_only=True)
    rows = con.execute(
        "SELECT country_name, year, city, pm25_concentration, pm10_concentration, no2_concentration, "
        "try_cast(population AS BIGINT) AS population FROM ambient_air_quality WHERE pm25_concentration IS NOT "
        "NULL AND try_cast(population AS BIGINT) > 0 ORDER BY country_name, year, population DESC, city").fetchall()
    con.close()
    groups: dict[tuple[str, int], list[tuple]] = {}
    for country, year, city, pm25, pm10, no2, population in rows:
        cities = groups.setdefault((country, year), [])
        if len(cities) < CITIES and city not in [c[0] for c in cities]:
            cities.append((city, year, pm25, pm10, no2, population))
    full = sorted(key for key, cities in groups.items() if len(cities) == CITIES)
    step = max(1, len(full) // COUNTRIES)
    return [{"country": f"{c} in {y}", "rows": groups[(c, y)]} for c, y in full[::step][:COUNTRIES]]


def shown(rows: list[tuple]) -> list[list[str]]:
    """The table as a report prints it: separators, a footnote on the first PM10, a dash when missing."""
    out = [HEADER]
    for i, (city, year, pm25, pm10, no2, population) in enumerate(rows):
        pm10_text = "–" if pm10 is None else f"{pm10}" + ("*" if i == 0 else "")
        out.append([city, str(year), str(pm25), pm10_text, "–" if no2 is None else str(no2), f"{population:,}"])
    return out


def _word(country: str, table: list[list[str]]) -> bytes:
    from docx import Document

    doc = Document()
    doc.add_heading(f"Air quality in {country}", 0)
    doc.add_paragraph(f"This note summarises measured air pollution in the largest cities of {country}.")
    doc.add_heading("Measurements by city", 1)
    doc.add_paragraph("Figures come from the WHO Ambient Air Quality Database (2022 update); * marks an estimate.")
    grid = doc.add_table(rows=len(table), cols=len(table[0]))
    for r, row in enumerate(table):
        for c, value in enumerate(row):
            grid.cell(r, c).text = value
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def build_documents(folder: Path) -> list[dict[str, Any]]:
    """Write the reports; half PDF, half Word. Returns each report's name, country, truth rows and format."""
    docs = []
    for n, item in enumerate(who_tables()):
        stem = "air_" + re.sub(r"\W+", "_", item["country"].lower()).strip("_")[:20]
        table = shown(item["rows"])
        if n % 2 == 0:
            name = f"{stem}.pdf"
            data = table_pdf([([f"Air quality in {item['country']}", "WHO Ambient Air Quality Database (2022)."],
                               None), ([f"Measurements by city in {item['country']} (* an estimate)"], table)],
                             title=f"Air quality in {item['country']}")
        else:
            name, data = f"{stem}.docx", _word(item["country"], table)
        (folder / name).write_bytes(data)
        docs.append({"name": name, "country": item["country"], "rows": item["rows"],
                     "format": Path(name).suffix.lstrip(".")})
    return docs


def cell_scores(services: Any, docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Tables found and cell accuracy of what was loaded."""
    registry = DocumentTableRegistry.in_data_dir(services.settings.data_dir)
    found = right = total = 0
    wrong: list[str] = []
    per_format: dict[str, list[int]] = {}
    for doc in docs:
        record = next(d for d in services.documents.list_documents() if d.name == doc["name"])
        loaded = [o for o in registry.for_document(record.id) if o.status == "loaded"]
        truth = [list(r) for r in doc["rows"]]
        cells = len(truth) * len(HEADER)
        total += cells
        got = 0
        if loaded:
            found += 1
            result = services.tables.run_sql(f"SELECT * FROM {loaded[0].table_name}")
            for want, have in zip(truth, result.rows, strict=False):
                got += sum(_same(w, h) for w, h in zip(want, have, strict=False))
                wrong.extend(f"{doc['name']}: {w!r} read as {h!r}" for w, h in zip(want, have, strict=False)
                             if not _same(w, h))
        right += got
        per_format.setdefault(doc["format"], [0, 0])
        per_format[doc["format"]][0] += got
        per_format[doc["format"]][1] += cells
    return {"tables": len(docs), "tables_found": found, "share_found": round(found / len(docs), 3),
            "cells": total, "cells_right": right, "cell_accuracy": round(right / total, 4),
            "cell_accuracy_by_format": {f: round(a / b, 4) for f, (a, b) in per_format.items()},
            "wrong_cells": wrong[:50]}


def _same(want: Any, have: Any) -> bool:
    if want is None:
        return have is None
    if isinstance(want, int | float):
        return isinstance(have, int | float) and abs(float(want) - float(have)) < 1e-6
    return str(want) == str(have)


def questions(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two per report: the PM2.5 of its second city, the population of its fourth."""
    items = []
    for doc in docs:
        city, _, pm25, _, _, _ = doc["rows"][1]
        items.append({"doc": doc["name"], "question": f"According to the air quality report on {doc['country']}, "
                      f"what was the PM2.5 concentration in {city}?", "gold": float(pm25)})
        city, _, _, _, _, population = doc["rows"][3]
        items.append({"doc": doc["name"], "question": f"According to the air quality report on {doc['country']}, "
                      f"what is the population of {city}?", "gold": float(population)})
    return items


def numbers_in(text: str) -> list[float]:
    """Every number written in an answer ('1,234,567' and '1234567' alike)."""
    return [float(m.replace(",", "")) for m in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


def ask_all(services: Any, items: list[dict[str, Any]], mode: str) -> list[dict[str, Any]]:
    """Each question as its own conversation; what the answer said, which tools ran, and the time."""
    out = []
    for item in items:
        t0 = time.monotonic()
        result = services.assistant.ask(item["question"]).run()
        seconds = time.monotonic() - t0
        correct = any(abs(n - item["gold"]) < 1e-6 for n in numbers_in(result.answer or ""))
        tools = [t.get("name") for t in result.tools]
        cites = [c.get("source") for c in result.citations]
        out.append({**item, "mode": mode, "answer": result.answer, "correct": correct, "tools": tools,
                    "citations": cites, "seconds": round(seconds, 1)})
        print(f"[{mode}] {'OK ' if correct else 'BAD'} {seconds:5.1f}s {tools} {item['question']} -> "
              f"{(result.answer or '').strip()[:100]!r}", flush=True)
    return out


def setup(data_dir: Path, folder: Path, args: argparse.Namespace, keep_tables: bool) -> tuple[Any, float]:
    """Services on a fresh data dir with the reports ingested (tables removed when not `keep_tables`)."""
    overrides: dict[str, Any] = {"data_dir": data_dir, "backend": "embedded", "embedded_model": args.model,
                                 "temperature": 0.0, "top_p": 1.0, "seed": 7, "max_tokens": args.max_tokens}
    if args.threads:
        overrides["embedded_threads"] = args.threads
    services = build_services(Settings(**overrides))
    t0 = time.monotonic()
    for path in sorted(folder.iterdir()):
        result = services.documents.ingest_file(path)
        if result.status != "indexed":
            print(f"  {path.name}: {result.status} {result.error}")
    seconds = time.monotonic() - t0
    if not keep_tables:
        for source in services.tables.sources():
            services.tables.delete_source(source.sha256)
    return services, seconds


def main(argv: list[str] | None = None) -> int:
    """Build the reports, score the extraction, then ask every question with and without the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--threads", type=int, default=0, help="embedded model threads (1 on a shared machine)")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--limit", type=int, default=0, help="ask only the first N questions")
    parser.add_argument("--no-qa", action="store_true", help="extraction figures only (no model)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-docs-tables-") as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "reports"
        folder.mkdir()
        docs = build_documents(folder)
        with_tables, ingest_s = setup(tmp / "with_tables", folder, args, keep_tables=True)
        extraction = cell_scores(with_tables, docs)
        print(f"tables found {extraction['tables_found']}/{extraction['tables']}; cell accuracy "
              f"{extraction['cell_accuracy']:.1%} {extraction['cell_accuracy_by_format']}; ingest of "
              f"{len(docs)} reports {ingest_s:.1f} s")
        report: dict[str, Any] = {"model": args.model, "machine": platform.platform(), "shared_machine": True,
                                  "source": SOURCE,
                                  "documents": [{k: d[k] for k in ("name", "country", "format")} for d in docs],
                                  "ingest_s": round(ingest_s, 1), "extraction": extraction}
        if not args.no_qa:
            items = questions(docs)[: args.limit or None]
            sql_runs = ask_all(with_tables, items, "sql_over_tables")
            with_tables.close()
            passages, _ = setup(tmp / "passages_only", folder, args, keep_tables=False)
            passage_runs = ask_all(passages, items, "passages_only")
            passages.close()
            report["qa"] = {mode: _summary(runs) for mode, runs in
                            (("sql_over_tables", sql_runs), ("passages_only", passage_runs))}
            report["items"] = sql_runs + passage_runs
            for mode, summary in report["qa"].items():
                print(f"{mode:16s} accuracy {summary['accuracy']:.0%} ({summary['correct']}/{summary['questions']}),"
                      f" median {summary['median_s']:.1f} s per question")
        else:
            with_tables.close()
        suffix = f"-limit{args.limit}" if args.limit else ""
        write_results(f"tables_in_docs-{args.model}{suffix}", report)
    return 0


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    correct = sum(r["correct"] for r in runs)
    return {"questions": len(runs), "correct": correct, "accuracy": round(correct / max(1, len(runs)), 3),
            "median_s": round(statistics.median(r["seconds"] for r in runs), 1) if runs else 0.0,
            "used_sql": sum("run_sql" in r["tools"] for r in runs)}


if __name__ == "__main__":
    raise SystemExit(main())
