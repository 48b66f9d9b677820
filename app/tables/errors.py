"""DuckDB's error text -> what it means for the analyst and what to do about it.

DuckDB's messages ("Binder Error: Ambiguous reference to column name ...") are written for people who
know its binder; the Tables page, the CLI and the chat all show the explanation made here instead, and
keep DuckDB's own text as a detail for experts. The model repairing its SQL still reads DuckDB's text
(it is more precise than the explanation), so nothing here feeds the repair loop.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from storage.tables_engine import TableInfo, first_line

SCHEMA_HINT = "Open Schema to see the tables and their columns."


@dataclass(frozen=True)
class SqlErrorText:
    """An explained SQL error: `message` says what went wrong, `hint` what to do, `detail` is DuckDB's text."""

    message: str
    hint: str
    detail: str


def explain_sql_error(raw: str, tables: Sequence[TableInfo] = ()) -> SqlErrorText:
    """Explain DuckDB's error `raw` using the schema `tables`; unknown errors keep DuckDB's first line."""
    text = raw.strip()
    for pattern, explain in _RULES:
        match = pattern.search(text)
        if match:
            message, hint = explain(match, text, list(tables))
            return SqlErrorText(message, hint, text)
    first = first_line(text)  # without DuckDB's advice to SET or INSTALL anything: the sandbox refuses both
    # "Binder Error: ..." names DuckDB's internals, not the problem; keep the rest of the line.
    first = re.sub(r"^[A-Z][A-Za-z ]*Error:\s*", "", first) or first
    return SqlErrorText(f"The query failed: {first}", f"Check the SQL against the schema. {SCHEMA_HINT}", text)


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), text)


def _candidates(text: str) -> list[str]:
    found = re.search(r"Candidate bindings:[:\s]*(.*)", text)
    return re.findall(r'"([^"]+)"', found.group(1)) if found else []


def _tables_with(column: str, tables: list[TableInfo]) -> list[str]:
    return [t.name for t in tables if any(c.name.lower() == column.lower() for c in t.columns)]


def _ticks(names: Sequence[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _ambiguous(match: re.Match[str], text: str, tables: list[TableInfo]) -> tuple[str, str]:
    column = match.group(1)
    options = re.findall(r"'([^']+)'", text[match.end():].split("\n", 1)[0])  # (use: 'a.id' or 'b.id')
    owners = [o.rsplit(".", 1)[0] for o in options] or _tables_with(column, tables)
    where = f" ({_ticks(owners)})" if owners else ""
    example = f", for example `{options[0]}`" if options else ""
    return (f"Column `{column}` is in more than one table{where}, so it is not clear which one you mean.",
            f"Write it as table.column{example}.")


def _no_such_column(table: str | None, column: str, text: str, tables: list[TableInfo]) -> tuple[str, str]:
    homes = [t for t in _tables_with(column, tables) if t != table]
    if table:
        message = f"Table `{table}` has no column `{column}`."
        own = next((t for t in tables if t.name.lower() == table.lower()), None)
        names = [c.name for c in own.columns] if own else _candidates(text)
    else:
        message = f"No table in the query has a column `{column}`."
        names = _candidates(text) or sorted({c.name for t in tables for c in t.columns})
    if homes:
        return message, (f"`{column}` is in table {_ticks(homes)}: add that table with a JOIN and write "
                         f"`{homes[0]}.{column}`.")
    near = difflib.get_close_matches(column.lower(), names, n=3, cutoff=0.6)
    if near:
        return message, (f"Did you mean {' or '.join(f'`{n}`' for n in near)}? Loading renamed columns to "
                         "snake_case (Schema shows the original names).")
    return message, f"Use one of the table's columns. {SCHEMA_HINT}"


def _missing_column_in_table(match: re.Match[str], text: str, tables: list[TableInfo]) -> tuple[str, str]:
    return _no_such_column(match.group(1), match.group(2), text, tables)


def _missing_column(match: re.Match[str], text: str, tables: list[TableInfo]) -> tuple[str, str]:
    name = match.group(1)
    table, _, column = name.rpartition(".")
    return _no_such_column(table or None, column, text, tables)


def _missing_table(match: re.Match[str], text: str, tables: list[TableInfo]) -> tuple[str, str]:
    name = match.group(1)
    names = [t.name for t in tables]
    near = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.6)
    if near:
        return f"There is no table `{name}`.", f"Did you mean {' or '.join(f'`{n}`' for n in near)}?"
    listed = f"The tables are {_ticks(names)}." if names else "No tables are loaded yet: load a file first."
    return f"There is no table `{name}`.", listed


def _no_function(match: re.Match[str], text: str, tables: list[TableInfo]) -> tuple[str, str]:
    function, args = match.group(1), match.group(2)
    if "VARCHAR" in args.upper():
        return (f"{function}() cannot be used on a text column.",
                f"Use a numeric column, or convert it first: {function}(CAST(column AS DOUBLE)).")
    return (f"{function}() does not accept values of type {args or 'none'}.",
            "Check the function's arguments, or convert them with CAST(... AS type).")


def _group_by(match: re.Match[str], text: str, tables: list[TableInfo]) -> tuple[str, str]:
    column = match.group(1)
    return (f"Column `{column}` is shown but the query groups rows without it.",
            f"Add `{column}` to GROUP BY, or wrap it in an aggregate such as max({column}).")


def _syntax(match: re.Match[str], text: str, tables: list[TableInfo]) -> tuple[str, str]:
    near = match.group(1)
    if near is None:
        return ("The SQL ends too early (something is missing at the end).",
                "Finish the query: look for an unclosed bracket, a trailing comma or operator.")
    return (f"The SQL has a syntax error near `{near}`.",
            "Check the spelling of keywords and the commas, quotes and brackets around it.")


def _conversion(match: re.Match[str], text: str, tables: list[TableInfo]) -> tuple[str, str]:
    return (f"The value '{match.group(1)}' cannot be converted to {match.group(2)}.",
            "Compare text columns with quoted text and numbers with numbers, or filter out values that do not "
            "fit before converting.")


def _too_deep(match: re.Match[str], text: str, tables: list[TableInfo]) -> tuple[str, str]:
    return (f"The query is nested too deeply (more than {match.group(1)} levels of brackets, operators or "
            "subqueries).", "Write it flatter: a list with IN (...), a CASE, or a WITH step instead of a long chain.")


def _out_of_memory(match: re.Match[str], text: str, tables: list[TableInfo]) -> tuple[str, str]:
    return ("The query needed more memory than its memory limit and was stopped.",
            "Ask for less at once: aggregate, filter or add a LIMIT; or raise the sql_memory_limit setting.")


Rule = Callable[[re.Match[str], str, list[TableInfo]], tuple[str, str]]
_RULES: tuple[tuple[re.Pattern[str], Rule], ...] = (
    (re.compile(r'Ambiguous reference to column name "([^"]+)"'), _ambiguous),
    (re.compile(r'Table "([^"]+)" does not have a column named "([^"]+)"'), _missing_column_in_table),
    (re.compile(r'Referenced column "([^"]+)" not found'), _missing_column),
    (re.compile(r'column with name "?([^"\s]+)"? does not exist', re.I), _missing_column),
    (re.compile(r"Table with name (\S+) does not exist"), _missing_table),
    (re.compile(r"No function matches the given name and argument types '(\w+)\(([^)]*)\)'"), _no_function),
    (re.compile(r'column "([^"]+)" must appear in the GROUP BY clause'), _group_by),
    (re.compile(r'syntax error at (?:or near "([^"]*)"|end of input)'), _syntax),
    (re.compile(r"Could not convert string '([^']*)' to (\w+)"), _conversion),
    (re.compile(r"Max expression depth limit of (\d+) exceeded"), _too_deep),
    (re.compile(r"Out of Memory Error"), _out_of_memory),
)
