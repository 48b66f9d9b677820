"""The assistant benchmark's item sets: how each is composed from the shared eval items, and how it is read.

`python -m bench.assistant --build-questions [--set heldout]` writes a set's .jsonl with `build_questions`;
a run reads it back with `load_items` and loads the databases `set_databases` names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.evaluation.scoring import rows_match  # the rules of bench/sql_eval.py (shared with `python -m app eval`)

ROOT = Path(__file__).resolve().parent.parent
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


def jsonable(value: Any) -> Any:
    """A DuckDB value as JSON can hold it (lists for tuples, text for dates and decimals)."""
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
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
    qset = qset or SETS["main"]
    rintro = {q["id"]: q for q in read_jsonl(DOCQA / "r-intro.questions.jsonl")}
    answerable = [q for q in rintro.values() if q["pages"]]
    con = union_connection(qset.databases)
    docs = [{"kind": "doc", "question": q["question"], "expected_tools": [SEARCH], "pages": q["pages"],
             "sources": [q["id"]]} for q in answerable[qset.doc_offset::DOC_STRIDE]]
    tables = _table_items(con, qset)
    mixed = _mixed_items(con, qset, rintro, used={d["sources"][0] for d in docs})
    chat = [{"kind": "none", "question": q, "expected_tools": []} for q in qset.no_tool]
    pair = [{"kind": "followup", "question": q, "expected_tools": [SQL],
             "accept_rows": [_gold(con, s) for s in sqls], "gold_sql": sqls[0], "db": qset.follow_up_db,
             "conversation": "followup-1", "turn": n}
            for n, (q, sqls) in enumerate(qset.follow_up, 1)]
    ordered = _interleave([docs, tables, mixed, chat, [pair]])
    con.close()
    return [{"id": i["id"], **{k: v for k, v in i.items() if k != "id"}} for i in ordered]


def _gold(con: Any, sql: str) -> list[list[Any]]:
    """The rows of a gold query on the set's databases loaded together."""
    return jsonable(con.execute(sql).fetchall())


def _table_items(con: Any, qset: QuestionSet) -> list[dict[str, Any]]:
    """Every NSQL dev item over the set's databases."""
    import duckdb

    tables = []
    for q in read_jsonl(SQLDATA / "nsql.dev.jsonl"):
        if Path(q["db"]).name not in qset.databases:
            continue
        item = {"kind": "table", "question": q["question"], "expected_tools": [SQL], "result_rows": q["result_rows"],
                "ordered": q.get("ordered", False), **({"tie_groups": q["tie_groups"]} if q.get("tie_groups") else {}),
                "gold_sql": q["gold_sql"], "sources": [q["id"]], "db": Path(q["db"]).name}
        # With several databases loaded, questions about "the database" itself (e.g. "show all tables") have
        # another answer: where the gold SQL runs on the loaded tables and disagrees, its rows there are gold.
        try:
            rows = _gold(con, q["gold_sql"])
        except duckdb.Error:
            rows = None  # e.g. a catalog-qualified name (nyc.taxi): upstream's rows stand
        if rows is not None and not rows_match(rows, item):
            item["result_rows"] = rows
            item["gold_note"] = (f"result_rows from gold_sql on {' + '.join(qset.databases)} loaded together "
                                 f"(upstream, on {item['db']} alone: {jsonable(q['result_rows'])})")
        tables.append(item)
    return tables


def _mixed_items(con: Any, qset: QuestionSet, rintro: dict[str, dict[str, Any]], used: set[str]
                 ) -> list[dict[str, Any]]:
    """A data question joined with an R-intro question (never one of the doc-only items)."""
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
                      "result_rows": _gold(con, sql), "ordered": False, "gold_sql": sql,
                      "sources": [rid] if rid else [], "db": db})
    return mixed


def _interleave(groups: list[list[Any]]) -> list[dict[str, Any]]:
    """Interleave the kinds so that a --limit run still sees every kind (a list in a group stays together);
    number the items per kind."""
    groups = [list(g) for g in groups]
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
    return ordered


def check_disjoint(items: list[dict[str, Any]], others: list[dict[str, Any]]) -> None:
    """A held-out set shares no source item and no question with another set."""
    sources = {s for i in others for s in i.get("sources", [])}
    questions = {i["question"] for i in others}
    shared = sorted({s for i in items for s in i.get("sources", [])} & sources)
    shared += sorted({i["question"] for i in items} & questions)
    if shared:
        raise SystemExit(f"the set shares items with another set: {shared}")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The items of a .jsonl file (blank lines skipped)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_items(path: Path, limit: int | None) -> list[dict[str, Any]]:
    """The first `limit` items of a set file (a conversation is never cut in half)."""
    items = read_jsonl(path)
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
    for item in read_jsonl(path):
        if item.get("db") and item["db"] not in names:
            names.append(item["db"])
    return names or [DATABASE]
