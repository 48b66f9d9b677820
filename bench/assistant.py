"""Assistant benchmark: tool choice, answer correctness and latency of whole chat turns, router vs native.

    python -m bench.assistant [--set main|heldout] [--model qwen2.5-coder-1.5b] [--modes router,native] [--limit N]
    python -m bench.assistant --build-questions [--set heldout]   # (re)compose the set's .jsonl
    python -m bench.assistant --rescore bench/results/assistant-heldout-qwen2.5-coder-1.5b.json

Two item sets built by the same recipe (see bench/data/assistant/SOURCES.md): `main` (questions.jsonl, over
laptop.duckdb; the router rules were revised after a run on it) and `heldout` (heldout.jsonl, over who.duckdb
and nyc.duckdb, other R-intro questions; never used while changing the rules).
One fresh data dir (a temp folder) holds R-intro.pdf in the document library and the tables of the databases
the set's items name (`db`); every item then goes through `services.assistant.ask` (one conversation per item,
the follow-up pair shares one) once per tool mode, set with `services.apply_settings`.

Measured per item and mode: the tools used vs the expected set (exact match of the set, per-tool
precision/recall), correctness where it can be checked (SQL rows vs the gold rows under the rules of
bench/sql_eval.py, the gold number in the answer text, the gold page among the cited pages and among
the retrieved pages), and latency (seconds per tool step, time before the first tool, the non-tool time
before the answer starts = routing or the model's planning rounds, time to first token, total).
Figures are printed, never asserted; they go to bench/results/assistant-<model>[-limitN].json (set main) or
assistant-<set>-<model>[-limitN].json (other sets).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import write_results  # noqa: E402
from bench.sql_eval import rows_match  # noqa: E402

DATA = ROOT / "bench" / "data"
DOCQA = DATA / "docqa"
SQLDATA = DATA / "sql"
QUESTIONS = DATA / "assistant" / "questions.jsonl"
DATABASE = "laptop.duckdb"  # loaded when a set file names no database (files built before items named theirs)
SEARCH, SQL = "search_documents", "run_sql"
TOOLS = (SEARCH, SQL, "describe_image", "read_transcript")

# --- The question sets -----------------------------------------------------------------------------
# Composed from the shared eval items: doc-only = every 5th answerable R-intro question from a fixed offset
# (a fixed stride, not picked by outcome); table-only = every NSQL dev item over the set's databases; mixed =
# a data question over those databases joined with an R-intro question (other R-intro ids than the doc-only
# ones); no-tool = small talk; a follow-up pair. Gold rows of composed data questions come from the `gold_sql`
# given, run on the set's databases loaded together.
DOC_STRIDE = 5
MIXED = [
    # (table question, gold_sql, db, R-intro id or None, R part of the question, gold pages when not from an item)
    ("How many customers are there", "SELECT count(*) FROM customers", DATABASE, None,
     "which R function reads a table from a file?", [39, 40]),
    ("What is the average price of the laptops?", "SELECT avg(price) FROM laptops", DATABASE, "rintro-009", None,
     None),
    ("How many products does maker E make?", "SELECT count(*) FROM products WHERE maker = 'E'", DATABASE,
     "rintro-010", None, None),
    ("What is the total amount paid across all sales?", "SELECT sum(paid) FROM sales", DATABASE, "rintro-024", None,
     None),
    ("How many different makers are there?", "SELECT count(DISTINCT maker) FROM products", DATABASE, "rintro-029",
     None, None),
    ("What is the highest PC price?", "SELECT max(price) FROM pcs", DATABASE, "rintro-039", None, None),
]
NO_TOOL = [
    "Write a one-line greeting for a team email.",
    "Thanks, that's all for today!",
    "Suggest a short, upbeat title for a quarterly business review presentation.",
    "Translate 'see you tomorrow' into French.",
]
FOLLOW_UP_DB = DATABASE
FOLLOW_UP = [
    # "PCs sold" reads as units (sum of quantity) or as sales of PC models (rows): both are accepted.
    ("How many PCs were sold?",
     ["SELECT sum(s.quantity) FROM sales s JOIN pcs p ON s.model = p.model",
      "SELECT count(*) FROM sales s JOIN pcs p ON s.model = p.model"]),
    ("now only those made by maker A",
     ["SELECT sum(s.quantity) FROM sales s JOIN pcs p ON s.model = p.model "
      "JOIN products pr ON pr.model = s.model WHERE pr.maker = 'A'",
      "SELECT count(*) FROM sales s JOIN pcs p ON s.model = p.model "
      "JOIN products pr ON pr.model = s.model WHERE pr.maker = 'A'"]),
]

# Held-out set: written before its first run and never used while changing the router rules. The two NSQL dev
# databases with the most items after laptop (who: 2, nyc: 2; laptop_array/laptop_json are laptop's own data
# in other layouts, flightinfo has 1) are loaded together. Doc-only = every 5th answerable R-intro question from
# offset 1 (rintro-002, -007, ..., -037); the R halves of the mixed items = the first 6 of every 5th from
# offset 2 (rintro-003, -008, -013, -018, -023, -028): none of them is used by the main set.
HELDOUT_DATABASES = ("who.duckdb", "nyc.duckdb")
MIXED_HELDOUT = [
    ("How many taxi rides carried more than one passenger", "SELECT count(*) FROM taxi WHERE passenger_count > 1",
     "nyc.duckdb", "rintro-003", None, None),
    ("What is the average trip distance of the taxi rides", "SELECT avg(trip_distance) FROM taxi", "nyc.duckdb",
     "rintro-008", None, None),
    ("How many different cities have air quality readings", "SELECT count(DISTINCT city) FROM ambient_air_quality",
     "who.duckdb", "rintro-013", None, None),
    ("What is the highest PM2.5 concentration recorded in Canada",
     "SELECT max(pm25_concentration) FROM ambient_air_quality WHERE country_name = 'Canada'", "who.duckdb",
     "rintro-018", None, None),
    ("How many service requests were handled by the NYPD",
     "SELECT count(*) FROM service_requests WHERE agency = 'NYPD'", "nyc.duckdb", "rintro-023", None, None),
    ("What is the total of the tips paid on rideshare trips", "SELECT sum(tips) FROM rideshare", "nyc.duckdb",
     "rintro-028", None, None),
]
NO_TOOL_HELDOUT = [
    "Good morning! How is your day going?",
    "Write a two-sentence thank-you note to a colleague who covered my shift.",
    "Suggest three friendly names for a new team chat channel.",
    "Rewrite 'send me that by Friday' so it sounds more polite.",
]
FOLLOW_UP_HELDOUT = [
    ("How many air quality readings are there for Canada?",
     ["SELECT count(*) FROM ambient_air_quality WHERE country_name = 'Canada'"]),
    ("now only those from 2020",
     ["SELECT count(*) FROM ambient_air_quality WHERE country_name = 'Canada' AND year = 2020"]),
]


@dataclass(frozen=True)
class QuestionSet:
    """How one item set is composed, where it is written and what its results file is called."""

    file: Path
    databases: tuple[str, ...]  # bench/data/sql/databases/<name>, loaded together
    doc_offset: int
    mixed: list[tuple[Any, ...]]
    no_tool: list[str]
    follow_up: list[tuple[str, list[str]]]
    follow_up_db: str
    results_prefix: str


SETS = {
    "main": QuestionSet(QUESTIONS, (DATABASE,), 0, MIXED, NO_TOOL, FOLLOW_UP, FOLLOW_UP_DB, "assistant"),
    "heldout": QuestionSet(DATA / "assistant" / "heldout.jsonl", HELDOUT_DATABASES, 1, MIXED_HELDOUT,
                           NO_TOOL_HELDOUT, FOLLOW_UP_HELDOUT, "who.duckdb", "assistant-heldout"),
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def union_connection(databases: tuple[str, ...] | list[str]) -> Any:
    """An in-memory DuckDB holding the tables of the given databases, copied the way the app loads a .duckdb
    file (every table under its own name in one database), so gold SQL sees what the assistant sees."""
    import duckdb

    con = duckdb.connect()
    for name in databases:
        con.execute(f"ATTACH '{SQLDATA / 'databases' / name}' AS _src (READ_ONLY)")
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = '_src' "
                                    "AND schema_name = 'main' ORDER BY ALL").fetchall():
            con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM _src.main."{table}"')
        con.execute("DETACH _src")
    return con


def build_questions(qset: QuestionSet | None = None) -> list[dict[str, Any]]:
    """Compose the item set from the shared R-intro and NSQL items (gold rows of composed questions from SQL)."""
    import duckdb

    qset = qset or SETS["main"]
    rintro = {q["id"]: q for q in _jsonl(DOCQA / "r-intro.questions.jsonl")}
    answerable = [q for q in rintro.values() if q["pages"]]
    con = union_connection(qset.databases)

    def gold(sql: str) -> list[list[Any]]:
        return _jsonable(con.execute(sql).fetchall())

    docs = [{"kind": "doc", "question": q["question"], "expected_tools": [SEARCH], "pages": q["pages"],
             "sources": [q["id"]]} for q in answerable[qset.doc_offset::DOC_STRIDE]]
    tables = []
    for q in _jsonl(SQLDATA / "nsql.dev.jsonl"):
        if Path(q["db"]).name not in qset.databases:
            continue
        item = {"kind": "table", "question": q["question"], "expected_tools": [SQL], "result_rows": q["result_rows"],
                "ordered": q.get("ordered", False), **({"tie_groups": q["tie_groups"]} if q.get("tie_groups") else {}),
                "gold_sql": q["gold_sql"], "sources": [q["id"]], "db": Path(q["db"]).name}
        # With several databases loaded, questions about "the database" itself (e.g. "show all tables") have
        # another answer: where the gold SQL runs on the loaded tables and disagrees, its rows there are gold.
        try:
            rows = gold(q["gold_sql"])
        except duckdb.Error:
            rows = None  # e.g. a catalog-qualified name (nyc.taxi): upstream's rows stand
        if rows is not None and not rows_match(rows, item):
            item["result_rows"] = rows
            item["gold_note"] = (f"result_rows from gold_sql on {' + '.join(qset.databases)} loaded together "
                                 f"(upstream, on {item['db']} alone: {_jsonable(q['result_rows'])})")
        tables.append(item)
    used = {d["sources"][0] for d in docs}
    mixed = []
    for table_q, sql, db, rid, r_part, pages in qset.mixed:
        if rid:
            assert rid not in used, rid
            r_question = f"{rintro[rid]['question'][0].lower()}{rintro[rid]['question'][1:]}"
            # "What ...? And which ...?" (main) or "What ..., and which ...?"
            question = f"{table_q} And {r_question}" if table_q.endswith("?") else f"{table_q}, and {r_question}"
            pages = rintro[rid]["pages"]
        else:
            question = f"{table_q}, and {r_part}"
        mixed.append({"kind": "mixed", "question": question, "expected_tools": [SEARCH, SQL], "pages": pages,
                      "result_rows": gold(sql), "ordered": False, "gold_sql": sql,
                      "sources": [rid] if rid else [], "db": db})
    chat = [{"kind": "none", "question": q, "expected_tools": []} for q in qset.no_tool]
    pair = [{"kind": "followup", "question": q, "expected_tools": [SQL], "accept_rows": [gold(s) for s in sqls],
             "gold_sql": sqls[0], "db": qset.follow_up_db, "conversation": "followup-1", "turn": n}
            for n, (q, sqls) in enumerate(qset.follow_up, 1)]

    # Interleave the kinds so that a --limit run still sees every kind (the pair stays together).
    groups = [list(docs), list(tables), list(mixed), list(chat), [pair]]
    ordered: list[dict[str, Any]] = []
    while any(groups):
        for group in groups:
            if group:
                head = group.pop(0)
                ordered.extend(head if isinstance(head, list) else [head])
    counters: dict[str, int] = {}
    for item in ordered:
        counters[item["kind"]] = counters.get(item["kind"], 0) + 1
        item["id"] = f"{item['kind']}-{counters[item['kind']]:02d}"
        item.setdefault("conversation", item["id"])
    con.close()
    return [{"id": i["id"], **{k: v for k, v in i.items() if k != "id"}} for i in ordered]


def check_disjoint(items: list[dict[str, Any]], others: list[dict[str, Any]]) -> None:
    """A held-out set shares no source item and no question with another set."""
    sources = {s for i in others for s in i.get("sources", [])}
    questions = {i["question"] for i in others}
    shared = sorted({s for i in items for s in i.get("sources", [])} & sources)
    shared += sorted({i["question"] for i in items} & questions)
    if shared:
        raise SystemExit(f"the set shares items with another set: {shared}")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_items(path: Path, limit: int | None) -> list[dict[str, Any]]:
    """The first `limit` items of a set file (a conversation is never cut in half)."""
    items = _jsonl(path)
    if not limit or limit >= len(items):
        return items
    keep = items[:limit]
    last = keep[-1]["conversation"]
    keep += [i for i in items[limit:] if i["conversation"] == last]
    return keep


def set_databases(path: Path) -> list[str]:
    """The databases a set file's items name (`db`), in order of first use; laptop.duckdb if none does.
    Taken from the whole file, not the --limit part, so that questions about the database see all of it."""
    names: list[str] = []
    for item in _jsonl(path):
        if item.get("db") and item["db"] not in names:
            names.append(item["db"])
    return names or [DATABASE]


# --- Scoring ---------------------------------------------------------------------------------------
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def numbers_in(text: str) -> list[tuple[float, int]]:
    """Numbers written in a text, with how many decimals they were written with."""
    found = []
    for raw in _NUMBER.findall(text):
        clean = raw.replace(",", "")
        try:
            found.append((float(clean), len(clean.split(".")[1]) if "." in clean else 0))
        except ValueError:
            continue
    return found


_MARKER = re.compile(r"\[[^\]\n]{0,20}\]")  # citation markers: [S1], [2], [1, 3]


def answer_has(text: str, value: float) -> bool:
    """The number appears in the answer (as written, or rounded to the decimals the answer shows, min 0);
    citation markers such as [S1] are not numbers of the answer."""
    for number, decimals in numbers_in(_MARKER.sub(" ", text)):
        if decimals and abs(number - value) <= 0.5 * 10 ** -decimals + 1e-9:
            return True
        if not decimals and (abs(number - value) < 1e-6 or number == round(value)):
            return True
    return False


def single_number(rows: list[list[Any]]) -> float | None:
    """The value of a one-row, one-column numeric result."""
    if len(rows) == 1 and len(rows[0]) == 1:
        try:
            return float(rows[0][0])
        except (TypeError, ValueError):
            return None
    return None


def score_item(item: dict[str, Any], result: Any, sql_rows: list[list[list[Any]]]) -> dict[str, Any]:
    """Correctness of one turn: SQL rows, the number in the answer, the gold page cited / retrieved."""
    out: dict[str, Any] = {}
    golds = item.get("accept_rows") or ([item["result_rows"]] if "result_rows" in item else [])
    if golds:
        out["sql_ok"] = any(rows_match(rows, {**item, "result_rows": g}) for rows in sql_rows for g in golds)
        values = [v for v in (single_number(g) for g in golds) if v is not None]
        if values:
            out["number_in_answer"] = any(answer_has(result.answer, v) for v in values)
    if item.get("pages"):
        cited = [c.get("page") for c in result.citations if c.get("kind") != "sql" and c.get("page") is not None]
        retrieved = [p.get("page") for s in result.tools if s.get("name") == SEARCH for p in s.get("passages", [])]
        out["page_cited"] = any(p in item["pages"] for p in cited)
        out["page_retrieved"] = any(p in item["pages"] for p in retrieved)
    checks = [out[k] for k in ("sql_ok", "page_cited") if k in out]
    out["correct"] = all(checks) if checks else None
    return out


def routing(used: set[str], expected: set[str]) -> dict[str, Any]:
    """Exact match of the tool sets, and what was extra or missing."""
    return {"exact": used == expected, "extra": sorted(used - expected), "missing": sorted(expected - used)}


# --- Running ---------------------------------------------------------------------------------------
def run_turn(services: Any, item: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    """One question through Assistant.ask, with the wall-clock time of every step."""
    clock: list[tuple[float, dict[str, Any]]] = []
    t0 = time.monotonic()
    turn = services.assistant.ask(item["question"], conversation_id=conversation_id)
    turn.on_step = lambda step: clock.append((time.monotonic(), dict(step)))
    first_token = None
    error = ""
    try:
        for _ in turn:
            if first_token is None:
                first_token = time.monotonic()
    except Exception as exc:  # noqa: BLE001  (a failed turn is a data point, not the end of the benchmark)
        error = f"{type(exc).__name__}: {exc}"
    end = time.monotonic()
    result = turn.result
    starts = [t for t, s in clock if s.get("running")]
    tool_s = sum(s.get("seconds", 0.0) for s in result.tools)
    # Time before the answer started: from ask() to the model's first token minus the time to first token.
    answer_start = (first_token - (result.ttft_s or 0.0)) if first_token else end
    pre_answer = answer_start - t0 - result.load_s
    return {"result": result, "error": error or result.error, "wall_s": end - t0,
            "first_tool_at_s": (starts[0] - t0 - result.load_s) if starts else None,
            "tool_s": tool_s, "non_tool_pre_answer_s": max(0.0, pre_answer - tool_s)}


def rerun_rows(services: Any, steps: list[dict[str, Any]]) -> list[list[list[Any]]]:
    """Full results of the turn's successful run_sql steps (steps keep only 20 rows): rerun their SQL."""
    rows = []
    for step in steps:
        if step.get("name") == SQL and step.get("ok") and step.get("sql"):
            answer = services.tables.run_sql(step["sql"])
            rows.append(_jsonable(answer.rows) if not answer.error else [])
    return rows


def run_mode(services: Any, mode: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every item in one tool mode; one conversation per item (the follow-up pair shares one)."""
    services.apply_settings({"tool_mode": mode})
    conversations: dict[str, str] = {}
    rows = []
    for item in items:
        key = item["conversation"]
        if key not in conversations:
            conversations[key] = services.conversations.create(f"bench {mode} {key}").id
        run = run_turn(services, item, conversations[key])
        result = run["result"]
        executed = [s for s in result.tools if s.get("output") != "not run"]
        used = {s["name"] for s in executed if s["name"] in TOOLS}
        expected = set(item["expected_tools"])
        score = score_item(item, result, rerun_rows(services, result.tools))
        row = {
            "id": item["id"], "kind": item["kind"], "mode": mode, "tool_mode": result.tool_mode,
            "question": item["question"], "expected": sorted(expected), "used": sorted(used),
            **routing(used, expected),
            "invalid_calls": [{"name": s["name"], "input": s.get("input"), "error": s.get("error")}
                              for s in result.tools if s.get("output") == "not run"],
            **score,
            "steps": [{"name": s["name"], "input": s.get("input"), "seconds": s.get("seconds"), "ok": s.get("ok"),
                       "output": s.get("output"), **({"sql": s["sql"]} if s.get("sql") else {}),
                       **({"error": s["error"]} if s.get("error") else {})} for s in result.tools],
            "ttft_s": result.ttft_s, "total_s": result.total_s, "load_s": result.load_s,
            "first_tool_at_s": run["first_tool_at_s"], "tool_s": run["tool_s"],
            "non_tool_pre_answer_s": run["non_tool_pre_answer_s"],
            "not_in_documents": result.not_in_documents, "status": result.status, "error": run["error"],
            "tokens_out": result.tokens_out, "answer": result.answer[:600],
            "pages_cited": [c.get("page") for c in result.citations if c.get("kind") != "sql"],
        }
        rows.append(row)
        print(line_for(row), flush=True)
    return rows


def _flag(value: bool | None) -> str:
    return "-" if value is None else ("ok" if value else "NO")


def line_for(row: dict[str, Any]) -> str:
    """One readable line per item."""
    used = ",".join(_short(t) for t in row["used"]) or "none"
    exp = ",".join(_short(t) for t in row["expected"]) or "none"
    steps = " ".join(f"{_short(s['name'])}{'' if s['ok'] else '!'}={s['seconds']:.1f}" for s in row["steps"])
    return (f"{row['mode']:6} {row['id']:12} used {used:9} exp {exp:9} {'=' if row['exact'] else 'x'}  "
            f"sql {_flag(row.get('sql_ok')):2} num {_flag(row.get('number_in_answer')):2} "
            f"page {_flag(row.get('page_cited')):2}/{_flag(row.get('page_retrieved')):2}  "
            f"pre {row['non_tool_pre_answer_s']:5.1f} ttft {row['ttft_s'] or 0:5.1f} total {row['total_s']:6.1f}  "
            f"[{steps}]{'  ERROR ' + row['error'] if row['error'] else ''}")


def _short(name: str) -> str:
    return {SEARCH: "docs", SQL: "sql"}.get(name, name)


# --- Summary ---------------------------------------------------------------------------------------
def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def _rate(values: list[bool | None]) -> dict[str, Any]:
    values = [v for v in values if v is not None]
    return {"n": len(values), "ok": sum(values), "rate": round(sum(values) / len(values), 3) if values else None}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Routing, correctness and latency figures of one mode."""
    per_tool = {}
    for tool in (SEARCH, SQL):
        used = [r for r in rows if tool in r["used"]]
        wanted = [r for r in rows if tool in r["expected"]]
        hits = [r for r in used if tool in r["expected"]]
        per_tool[tool] = {"used": len(used), "expected": len(wanted), "true_positive": len(hits),
                          "precision": round(len(hits) / len(used), 3) if used else None,
                          "recall": round(len(hits) / len(wanted), 3) if wanted else None}
    kinds = sorted({r["kind"] for r in rows})
    steps: dict[str, list[float]] = {}
    for r in rows:
        for s in r["steps"]:
            steps.setdefault(s["name"], []).append(s["seconds"])
    with_tools = [r for r in rows if r["steps"]]
    return {
        "items": len(rows),
        "routing_exact": _rate([r["exact"] for r in rows]),
        "routing_exact_by_kind": {k: _rate([r["exact"] for r in rows if r["kind"] == k]) for k in kinds},
        "per_tool": per_tool,
        "invalid_calls": sum(len(r["invalid_calls"]) for r in rows),
        "correct_by_kind": {k: _rate([r["correct"] for r in rows if r["kind"] == k]) for k in kinds},
        "sql_ok": _rate([r.get("sql_ok") for r in rows]),
        "number_in_answer": _rate([r.get("number_in_answer") for r in rows]),
        "page_cited": _rate([r.get("page_cited") for r in rows]),
        "page_retrieved": _rate([r.get("page_retrieved") for r in rows]),
        "not_in_documents": sum(r["not_in_documents"] for r in rows),
        "errors": sum(bool(r["error"]) for r in rows),
        "median_step_s": {name: _median(v) for name, v in sorted(steps.items())},
        "step_count": {name: len(v) for name, v in sorted(steps.items())},
        "median_first_tool_at_s": _median([r["first_tool_at_s"] for r in with_tools]),
        "median_non_tool_pre_answer_s": _median([r["non_tool_pre_answer_s"] for r in rows]),
        "median_tool_s": _median([r["tool_s"] for r in rows]),
        "median_ttft_s": _median([r["ttft_s"] for r in rows]),
        "median_total_s": _median([r["total_s"] for r in rows]),
        "sum_total_s": round(sum(r["total_s"] for r in rows), 1),
    }


def print_summary(summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The summary table, and native/router ratios when both modes ran."""
    modes = list(summaries)
    width = 14

    def row(label: str, fn: Any) -> None:
        print(f"{label:34}" + "".join(f"{fn(summaries[m]):>{width}}" for m in modes))

    def rate(fig: dict[str, Any]) -> str:
        return f"{fig['ok']}/{fig['n']}" + (f" {fig['rate']:.2f}" if fig["rate"] is not None else "")

    def num(value: Any) -> str:
        return "-" if value is None else f"{value:.2f}"

    print("\n" + f"{'':34}" + "".join(f"{m:>{width}}" for m in modes))
    row("routing exact match", lambda s: rate(s["routing_exact"]))
    for kind in sorted({k for s in summaries.values() for k in s["routing_exact_by_kind"]}):
        row(f"  routing exact: {kind}", lambda s, k=kind: rate(s["routing_exact_by_kind"][k])
            if k in s["routing_exact_by_kind"] else "-")
    for tool in (SEARCH, SQL):
        row(f"{tool} precision / recall",
            lambda s, t=tool: f"{num(s['per_tool'][t]['precision'])}/{num(s['per_tool'][t]['recall'])}")
    row("invalid tool calls", lambda s: str(s["invalid_calls"]))
    for kind in sorted({k for s in summaries.values() for k in s["correct_by_kind"]}):
        row(f"correct: {kind}", lambda s, k=kind: rate(s["correct_by_kind"][k]) if s["correct_by_kind"].get(k, {})
            .get("n") else "-")
    row("SQL rows match gold", lambda s: rate(s["sql_ok"]))
    row("gold number in answer", lambda s: rate(s["number_in_answer"]))
    row("gold page cited", lambda s: rate(s["page_cited"]))
    row("gold page retrieved", lambda s: rate(s["page_retrieved"]))
    row("'not in your documents' answers", lambda s: str(s["not_in_documents"]))
    row("turn errors", lambda s: str(s["errors"]))
    names = sorted({n for s in summaries.values() for n in s["median_step_s"]})
    for name in names:
        row(f"median s: {name} step",
            lambda s, n=name: f"{num(s['median_step_s'].get(n))} n={s['step_count'].get(n, 0)}")
    row("median s: before first tool", lambda s: num(s["median_first_tool_at_s"]))
    row("median s: non-tool before answer", lambda s: num(s["median_non_tool_pre_answer_s"]))
    row("median s: all tools of a turn", lambda s: num(s["median_tool_s"]))
    row("median s: time to first token", lambda s: num(s["median_ttft_s"]))
    row("median s: total", lambda s: num(s["median_total_s"]))
    row("sum s: total", lambda s: num(s["sum_total_s"]))
    ratios: dict[str, Any] = {}
    if "router" in summaries and "native" in summaries:
        r, n = summaries["router"], summaries["native"]
        for key in ("median_total_s", "median_ttft_s", "median_tool_s", "median_non_tool_pre_answer_s",
                    "sum_total_s"):
            ratios[key] = round(n[key] / r[key], 2) if r[key] else None
        for name in names:
            a, b = r["median_step_s"].get(name), n["median_step_s"].get(name)
            ratios[f"median_step_s:{name}"] = round(b / a, 2) if a and b else None
        print("native / router: " + ", ".join(f"{k} x{v}" for k, v in ratios.items() if v is not None))
    return ratios


def setup(tmp: Path, args: argparse.Namespace, databases: list[str]) -> Any:
    """A fresh data dir with R-intro.pdf indexed and the set's databases' tables loaded; the model warmed up."""
    from app.container import build_services
    from app.settings import Settings

    overrides: dict[str, Any] = {"data_dir": tmp / "data", "backend": "embedded", "embedded_model": args.model,
                                 "temperature": 0.0, "top_p": 1.0, "seed": 7, "max_tokens": args.max_tokens}
    if args.models_dir:
        overrides["models_dir"] = args.models_dir
    if args.threads:
        overrides["embedded_threads"] = args.threads
    settings = Settings(**overrides)
    services = build_services(settings)
    t0 = time.monotonic()
    doc = services.documents.ingest_file(DOCQA / "R-intro.pdf")
    ingest_s = time.monotonic() - t0
    tables: dict[str, Any] = {}
    for name in databases:
        copy = tmp / name
        shutil.copyfile(SQLDATA / "databases" / name, copy)
        loaded = services.tables.load_file(copy)
        tables.update({t: loaded.rows.get(t) for t in loaded.tables})
    t0 = time.monotonic()
    warm = services.assistant.ask("Say hello.", use_documents=False).run()  # loads the model (not measured)
    info = {"code": _code_version(), "ingest_s": round(ingest_s, 1), "pages": doc.pages, "chunks": doc.chunks,
            "doc_status": doc.status,
            "databases": databases, "tables": tables, "warmup_s": round(time.monotonic() - t0, 1),
            "warmup_load_s": round(warm.load_s, 1), "threads": settings.embedded_threads,
            "batch_threads": settings.embedded_batch_threads, "ctx": settings.embedded_ctx,
            "max_tokens": settings.max_tokens, "models_dir": str(settings.resolved_models_dir)}
    print(f"setup: {doc.pages} pages / {doc.chunks} chunks indexed in {ingest_s:.0f} s; tables "
          f"{', '.join(tables)} ({' + '.join(databases)}); model loaded in {warm.load_s:.0f} s "
          f"({settings.embedded_threads} thread(s), max {settings.max_tokens} answer tokens)", flush=True)
    return services, info


def main(argv: list[str] | None = None) -> int:
    """Parse flags, build the data dir, run each mode, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="qset", choices=sorted(SETS), default="main",
                        help="Item set: main (questions.jsonl) or heldout (heldout.jsonl, never used to tune).")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="Embedded model key.")
    parser.add_argument("--modes", default="router,native", help="Tool modes to run, comma-separated.")
    parser.add_argument("--limit", type=int, help="Only the first N items (a follow-up pair is kept whole).")
    parser.add_argument("--max-tokens", type=int, default=256, help="Answer length cap (bounds the run time).")
    parser.add_argument("--threads", type=int, help="Generation threads (default: the app's default).")
    parser.add_argument("--models-dir", type=Path, help="Model cache (default: ANALYST_MODELS_DIR or settings).")
    parser.add_argument("--build-questions", action="store_true", help="Rewrite the set's .jsonl and exit.")
    parser.add_argument("--rescore", type=Path, help="Recompute the answer checks and summary of a results file.")
    args = parser.parse_args(argv)
    qset = SETS[args.qset]
    if args.rescore:
        return rescore(args.rescore, qset.file)
    if args.build_questions:
        items = build_questions(qset)
        for other, oset in SETS.items():  # sets never share an item
            if other != args.qset and oset.file.exists():
                check_disjoint(items, _jsonl(oset.file))
        qset.file.parent.mkdir(parents=True, exist_ok=True)
        qset.file.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
        print(f"wrote {qset.file.relative_to(ROOT)}: {len(items)} items")
        return 0
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    items = load_items(qset.file, args.limit)
    databases = set_databases(qset.file)
    print(f"== {args.model}, set {args.qset}: {len(items)} items x modes {', '.join(modes)}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-assistant-") as tmp:
        services, info = setup(Path(tmp), args, databases)
        rows: dict[str, list[dict[str, Any]]] = {}
        name = f"{qset.results_prefix}-{args.model}" + (f"-limit{args.limit}" if args.limit else "")
        try:
            for mode in modes:
                rows[mode] = run_mode(services, mode, items)
                if mode != modes[-1]:  # a run stopped part-way still leaves the finished modes' figures
                    _save(name, args, qset, modes, items, info, started, rows, quiet=True)
        finally:
            services.close()
    _save(name, args, qset, modes, items, info, started, rows)
    return 0


def rescore(path: Path, default_questions: Path = QUESTIONS) -> int:
    """Recompute the number-in-answer check, the summaries and the ratios of a saved run (no model needed).
    The items are read from the set file the run recorded (`questions`), else from --set's file."""
    report = json.loads(path.read_text(encoding="utf-8"))
    questions = ROOT / report["questions"] if report.get("questions") else default_questions
    items = {i["id"]: i for i in _jsonl(questions)}
    for rows in report["rows"].values():
        for row in rows:
            item = items[row["id"]]
            golds = item.get("accept_rows") or ([item["result_rows"]] if "result_rows" in item else [])
            values = [v for v in (single_number(g) for g in golds) if v is not None]
            if values:
                row["number_in_answer"] = any(answer_has(row["answer"], v) for v in values)
    report["summary"] = {mode: summarise(r) for mode, r in report["rows"].items()}
    report["native_over_router"] = print_summary(report["summary"])
    report["rescored"] = datetime.now(UTC).isoformat(timespec="seconds")
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    print(f"rescored {path}")
    return 0


def _code_version() -> dict[str, Any]:
    """The commit measured, and whether the app's files differed from it (the tree changes under long runs)."""
    import subprocess

    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD"), "app_changes": git("status", "--short", "app", "storage").splitlines()}


def _save(name: str, args: argparse.Namespace, qset: QuestionSet, modes: list[str], items: list[dict[str, Any]],
          info: dict[str, Any], started: float, rows: dict[str, list[dict[str, Any]]], quiet: bool = False) -> None:
    summaries = {mode: summarise(r) for mode, r in rows.items()}
    ratios = {} if quiet else print_summary(summaries)
    write_results(name, {
        "benchmark": "assistant", "when": datetime.now(UTC).isoformat(timespec="seconds"), "model": args.model,
        "modes": modes, "modes_done": list(rows), "items": len(items), "set": args.qset,
        "questions": str(qset.file.relative_to(ROOT)),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "note": "shared 2-core machine with other jobs running: latencies are noisy"},
        "setup": info, "wall_s": round(time.monotonic() - started, 1), "summary": summaries,
        "native_over_router": ratios, "rows": rows,
    })


if __name__ == "__main__":
    raise SystemExit(main())
