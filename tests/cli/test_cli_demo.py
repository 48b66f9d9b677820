"""`demo load` on a fresh data directory: the bundled public material is indexed and loaded once, recorded, and
the embedded model answers a suggested question from it."""

from __future__ import annotations

import json

import pytest

from app.demo.load import SUGGESTED_QUESTIONS, demo_files


def test_the_demo_material_is_small_and_has_its_sources():
    files = demo_files()
    assert all(f.is_file() for f in files)
    assert sum(f.stat().st_size for f in files) < 10_000_000
    sources = (files[0].parent / "SOURCES.md").read_text(encoding="utf-8")
    assert all(f.name in sources for f in files)


@pytest.mark.slow
def test_demo_load_twice_then_ask_a_suggested_question(cli):
    first = cli("demo", "load", "--json")
    assert first.returncode == 0, first.stderr
    loaded = json.loads(first.stdout)
    assert [(f["name"], f["status"]) for f in loaded["files"]] == [
        ("R-intro.pdf", "indexed"), ("who_pm25_by_region.png", "indexed"), ("sense_and_sensibility.flac", "indexed"),
        ("who_air_quality.csv", "loaded")]
    again = json.loads(cli("demo", "load", "--json").stdout)
    assert {f["status"] for f in again["files"]} == {"skipped"}  # nothing duplicated
    listed = cli("docs", "list", "--json")
    assert len(json.loads(listed.stdout)["documents"]) == 3
    asked = cli("--model", "qwen2.5-coder-0.5b", "ask", SUGGESTED_QUESTIONS[0], "--json")
    assert asked.returncode == 0, asked.stderr
    result = json.loads(asked.stdout)
    assert any(c.get("source") == "R-intro.pdf" for c in result["citations"]), result
    audit = cli("audit", "export", "--kind", "demo_loaded")
    assert len(audit.stdout.strip().splitlines()) == 2
    assert cli("audit", "verify").returncode == 0
