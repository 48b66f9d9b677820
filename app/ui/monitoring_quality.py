"""The Monitoring page's answer-quality part: tokens per successful task, numbers traced, guardrail decisions by
filter and severity, output drift per model digest (figures and answer embeddings) and the hallucination rate of
the evaluation runs over time, with a flag when the model changed since the last run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from app.access.roles import EVALUATE
from app.audit.answer_quality import (
    drift,
    hallucination_series,
    numbers_traced,
    rejections,
    rerun_due,
    tokens_per_success,
)
from app.audit.drift import SHIFT_MARGIN, AnswerSampler, Key, answer_shift
from app.container import Services
from app.errors import AssistantError
from app.evaluation.service import Evaluations
from storage.embedder import shared_embedder

EVALUATION_PAGE = Path(__file__).resolve().parents[2] / "pages" / "evaluation.py"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _n(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


@st.cache_data(ttl=600, max_entries=32, show_spinner="Comparing the answers of model versions…")
def _embedded(texts: tuple[str, ...]) -> Any:
    # Cached per digest sample: an older digest's answers no longer change, so only the newest is embedded again.
    return shared_embedder().embed(list(texts))


def embedding_shifts(rows: Sequence[dict[str, Any]], sampler: AnswerSampler) -> dict[Key, dict[str, Any]]:
    """Answer-embedding shift between consecutive digests ({} when fewer than two digests of a model have enough
    answers, or when the embedder cannot be loaded — said in a caption)."""
    keys = [(r["model"], r["digest"]) for r in rows]
    if len(keys) < 2:
        return {}
    samples = {key: tuple(sampler.samples.get(key, ())) for key in keys}
    try:
        return answer_shift(rows, samples, lambda texts: _embedded(tuple(texts)))
    except (AssistantError, OSError, RuntimeError) as exc:
        st.caption(f"The shift of what answers say was not measured: the embedder could not run ({exc}).")
        return {}


def answer_quality(records: list[dict[str, Any]], sampler: AnswerSampler | None = None) -> None:
    """Tokens per successful task, numbers traced, rejections by filter and severity, and drift per model digest."""
    st.subheader("Answer quality")
    tokens, traced = tokens_per_success(records), numbers_traced(records)
    cols = st.columns(4)
    cols[0].metric("Tokens per successful task (median)", _n(tokens["median"]),
                   help=f"n = {tokens['n']} successful of {tokens['turns']} turns")
    cols[1].metric("Tokens spent per success", _n(tokens["spent_per_success"]),
                   help="All tokens of the period (failed and refused turns too) ÷ successful tasks")
    cols[2].metric("Numbers traced", _pct(traced["traced_rate"]),
                   help=f"{traced['numbers']} number(s) in {traced['answers']} checked answer(s)")
    cols[3].metric("Answers with an untraced number", _pct(traced["answers_with_untraced"]),
                   help="Their numbers not found in the sources are marked in the answer.")
    st.caption("A successful task is a finished turn that cites a passage or a SQL result and is not a refusal.")
    rejected = rejections(records)
    if rejected:
        st.markdown("**Guardrail decisions by filter and severity**")
        st.caption("Turns with a decision of each filter, by its action (blocked > withheld > redacted > flagged), "
                   "as a share of all turns in the period.")
        st.dataframe(pd.DataFrame(rejected).rename(columns={"filter": "Filter", "severity": "Severity",
                                                            "turns": "Turns", "rate": "Share of turns"}),
                     hide_index=True, width="stretch", key="monitoring.rejections",
                     column_config={"Share of turns": st.column_config.NumberColumn(format="percent")})
    drift_section(records, sampler)


def drift_section(records: list[dict[str, Any]], sampler: AnswerSampler | None) -> None:
    """Per model digest: length, refusal, citation and numbers-traced rates and the answer-embedding shift."""
    rows, _ = drift(records)
    shifts = embedding_shifts(rows, sampler) if sampler is not None else {}
    rows, warnings = drift(records, shifts)
    for warning in warnings:
        st.warning("Output drift — " + warning, icon=":material/trending_up:")
    if len(rows) < 2 and not warnings:
        return
    st.markdown("**Per model version (digest)**")
    sample = sampler.per_digest if sampler is not None else 0
    st.caption("Median answer length, refusal, citation and numbers-traced rates of each digest's finished turns; "
               f"*answer shift* is the cosine between the centroid of a digest's answers (its newest {sample}, "
               "refusals left out, embedded by the app's own embedder) and the previous digest's; *baseline* is the "
               "same between two halves of the previous digest's answers (how much they vary among themselves). "
               f"More than {SHIFT_MARGIN:.2f} below the baseline, the answers say something else than before.")
    frame = pd.DataFrame(rows)[["model", "digest", "turns", "answer_chars", "refusal_rate", "citation_rate",
                                "traced_rate", "answer_shift", "shift_baseline", "first", "last"]]
    frame["digest"] = frame["digest"].str[:12]
    st.dataframe(frame, hide_index=True, width="stretch", key="monitoring.drift", column_config={
        **{c: st.column_config.NumberColumn(format="percent") for c in ("refusal_rate", "citation_rate",
                                                                       "traced_rate")},
        "answer_shift": st.column_config.NumberColumn("answer shift (cosine)", format="%.3f"),
        "shift_baseline": st.column_config.NumberColumn("baseline (cosine)", format="%.3f")})


def rerun_flag(services: Services, runs: list[dict[str, Any]]) -> None:
    """Say when the model answering the chat is not the one the last evaluation run measured, and offer a run."""
    latest = services.records.search(kind="chat", limit=1)
    why = rerun_due(runs, latest[0] if latest else None)
    if not why:
        return
    st.info(why + " Run an evaluation set again to measure the hallucination rate of this model.",
            icon=":material/model_training:")
    actor = services.actor
    if actor is None or actor.may(EVALUATE):
        try:
            st.page_link(EVALUATION_PAGE, label="Run an evaluation set", icon=":material/rule:")
        except (StreamlitAPIException, KeyError):  # the page is not in this app's navigation
            st.caption("Open the Evaluation page, or run `python -m app eval run SET.jsonl`.")


def hallucination_chart(services: Services) -> None:
    """Hallucination rate and numbers-traced rate of the evaluation runs over time, per model."""
    runs = Evaluations(services).list_runs()
    series = hallucination_series(runs)
    st.markdown("**Hallucination rate (evaluation runs)**")
    st.caption("Per finished evaluation run: the share of answers not fully supported (a sentence no single cited "
               "passage backs, or a number not found in the sources), and the share of the answers' numbers that "
               "were found in their sources.")
    rerun_flag(services, runs)
    if not series:
        st.caption("No finished evaluation run with answers yet: run an evaluation set on the Evaluation page "
                   "(again whenever the model or its digest changes) to see the hallucination rate over time.")
        return
    frame = pd.DataFrame(series)
    frame["when"] = pd.to_datetime(frame["when"], utc=True, errors="coerce")
    names = {"hallucination_rate": "Answers not fully supported", "numbers_traced": "Numbers traced"}
    long = frame.dropna(subset=["when"]).melt(["when", "model", "digest", "set", "answers"], list(names),
                                              var_name="figure", value_name="share").dropna(subset=["share"])
    long["figure"] = long["figure"].map(names)
    st.altair_chart(
        alt.Chart(long).mark_line(point=True).encode(
            x=alt.X("when:T", title="Run finished (UTC)"),
            y=alt.Y("share:Q", title="Share", axis=alt.Axis(format="%")),
            color=alt.Color("model:N", title=None), strokeDash=alt.StrokeDash("figure:N", title=None),
            tooltip=["when:T", "model:N", "digest:N", "set:N", "answers:Q", "figure:N",
                     alt.Tooltip("share:Q", format=".1%")],
        ),
        width="stretch",
    )  # fmt: skip
