"""The Evaluation page's "Do verified queries help?" part: a set's SQL questions run without and with the verified
question-SQL pairs (same model, same items), shown side by side: accuracy and seconds per question."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app.container import Services
from app.errors import AssistantError
from app.evaluation.examples_effect import LABELS, compare_examples, stored_pairs
from app.evaluation.loader import SQL
from app.evaluation.service import Evaluations, RunOptions, load_set
from app.ui.common import progress_reporter, safe_markdown, show_error

KEY_RESULT = "evaluation.examples.result"
SHOWN = ("execution_accuracy", "total_s", "tokens_in", "tokens_out")


def examples_effect_section(services: Services, evals: Evaluations, models: dict[str, str | None]) -> None:
    """Pick a set with SQL questions and a model, run both ways, show the two runs side by side."""
    with st.expander("Do verified queries help?", expanded=bool(st.session_state.get(KEY_RESULT))):
        _section(services, evals, models)


def _section(services: Services, evals: Evaluations, models: dict[str, str | None]) -> None:
    st.caption("Runs the set's SQL questions twice with the same model — without, then with the verified "
               "question-SQL pairs of each question's database (marked correct on the Tables page or with "
               "`python -m app sql-examples add`) — using the SQL techniques set in Settings. A pair whose question "
               "is the item's own is left out, so the figure says how the pairs help on other questions.")
    sets = {p.name if p.parent.name != "sql" else f"sql/{p.name}": p for p in evals.available_sets()}
    left, middle, right = st.columns([2, 2, 1])
    label = left.selectbox("SQL set", list(sets), index=_first_sql(list(sets)), key="evaluation.examples.set")
    model = middle.selectbox("Model", list(models), key="evaluation.examples.model")
    limit = right.number_input("Limit (0 = all)", min_value=0, value=0, step=1, key="evaluation.examples.limit")
    if label is None:
        st.info("No evaluation sets yet: upload a JSONL file of questions above.")
        return
    try:
        eval_set = load_set(sets[label])
    except AssistantError as exc:
        show_error(exc)
        return
    questions = sum(item.kind == SQL for item in eval_set.items)
    stored = stored_pairs(services, eval_set)
    st.caption(f"{questions} SQL question(s) · verified pairs stored: "
               + (", ".join(f"{db}: {n}" for db, n in stored.items()) or "—"))
    ready = bool(questions) and any(stored.values())
    if questions and not ready:
        st.info("No verified queries are stored for the databases of this set: mark a query as correct under a "
                "SQL result, or `python -m app sql-examples add QUESTION --sql SQL --database DB.duckdb`, then "
                "measure.", icon=":material/info:")
    if st.button("Run with and without verified queries", disabled=not ready, key="evaluation.examples.run"):
        report, clear = progress_reporter(f"Measuring verified queries on {eval_set.name}…")
        try:
            st.session_state[KEY_RESULT] = compare_examples(
                services, eval_set, RunOptions(model=models[model], limit=int(limit) or None), progress=report)
        except AssistantError as exc:
            show_error(exc)
        finally:
            clear()
    if st.session_state.get(KEY_RESULT):
        show_examples_effect(st.session_state[KEY_RESULT])


def _first_sql(labels: list[str]) -> int:
    return next((i for i, name in enumerate(labels) if name.startswith("sql/")), 0)


def effect_frame(result: dict[str, Any]) -> pd.DataFrame:
    """Accuracy, seconds per question and tokens of the two runs, side by side."""
    rows = [{"metric": m["label"], LABELS[False]: m["a"], LABELS[True]: m["b"], "change": m["delta"]}
            for m in result["metrics"] if m["name"] in SHOWN]
    frame = pd.DataFrame(rows, columns=["metric", LABELS[False], LABELS[True], "change"])
    numeric = [LABELS[False], LABELS[True], "change"]
    frame[numeric] = frame[numeric].apply(pd.to_numeric)
    return frame


def show_examples_effect(result: dict[str, Any]) -> None:
    """The side-by-side table, how many questions were shown a pair, and the questions whose result changed."""
    a, b, examples = result["a"], result["b"], result["examples"]
    st.markdown(safe_markdown(f"**{a['set_name']} · {a['model']}**: run {a['id']} {LABELS[False]}, run {b['id']} "
                              f"{LABELS[True]}"))
    st.dataframe(effect_frame(result).style.format(precision=3, na_rep="—"), hide_index=True,
                 key="evaluation.examples.table")
    st.caption(f"Verified pairs were shown for {examples['shown']} of {examples['questions']} question(s). "
               "Both runs are kept in the history below; *Compare two runs* shows every metric.")
    changed = [{"id": i["id"], "question": i["question"],
                "accuracy change": i["changes"].get("execution_accuracy"), "error": i["error_after"]}
               for i in result["items"]]
    if changed:
        st.markdown("**Questions whose result changed**")
        st.dataframe(pd.DataFrame(changed), hide_index=True, key="evaluation.examples.items")
