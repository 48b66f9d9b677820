"""The Monitoring page: latency percentiles per step, speed, tokens and rates per model, and charts over time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from app.access.roles import SEE_ALL_RECORDS
from app.audit.drift import SAMPLE_PER_DIGEST, SHIFT_MARGIN, AnswerSampler
from app.audit.monitoring import STEP_LABELS, STEPS, display_errors, slim, summarise, timeseries
from app.container import Services
from app.ui.monitoring_quality import answer_quality, hallucination_chart

PERIODS = {
    "Last 24 hours": timedelta(hours=24),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "All time": None,
    "Date range": None,
}
GROUPS = {"Model": "model", "Backend": "backend", "User": "user"}
EMPTY = "No turns recorded yet — ask something on the Chat page."
DEFINITIONS = f"""
- **Latency** figures come from finished turns (status *ok*). *Total* is the whole turn (model load and tools
  included); *time to first token* runs from the request to the model until its first token; *generation* is
  total − load − tool time − time to first token. Tool steps (retrieval, SQL, transcription, OCR / vision) are
  summed per turn and cover only the turns that used them.
- **Tokens/s** = output tokens ÷ generation time.
- **Percentiles** interpolate between the closest ranks; with few turns (see *n*) p95 and p99 sit near the maximum.
- **Rates** are shares of all turns: errors (failed turns, also those whose answer the page could not draw),
  guardrail rejections (*blocked*), turns a guardrail flagged. *Not in documents* is the share of turns that
  searched the documents and answered that they hold nothing.
- **Tokens per successful task**: input + output tokens of the finished turns that answered with support (they cite
  a passage or a SQL result and are not "not in your documents"); *spent per success* divides the tokens of all
  turns, failed and refused ones included, by the number of successful ones.
- **Rejections** count the turns with a guardrail decision, per filter (pii, injection) and severity (the action:
  blocked > withheld > redacted > flagged).
- **Numbers traced**: of the numbers the checked answers state, the share found in their SQL results or cited
  passages; numbers not found are marked in the answer ("not found in the sources").
- **Drift**: per model digest (one build of the weights) the median answer length, refusal, citation and
  numbers-traced rates; the newest digest of a model is compared with the previous one (both with at least 10
  finished turns) and a warning names what moved (length by more than 30 %, a rate by more than 15 points, or
  what the answers say: the cosine between the centroids of the two digests' answer embeddings — the newest
  {SAMPLE_PER_DIGEST} finished answers of each, refusals left out, embedded by the app's own embedder — more than
  {SHIFT_MARGIN} below the cosine between two halves of the previous digest's answers).
- **Hallucination rate**: per finished evaluation run, the share of its answers not fully supported (a sentence
  no single cited passage backs, or a number not found in the sources), beside the share of the answers' numbers
  found in their sources; when the chat's model or its digest is not the one the last run measured, the page says
  so and offers a new run.
- **User and workspace** filters are shown to admins and auditors (sign-in on); everyone else sees their own turns.
- **Display errors** are parts of a page that could not be drawn (a message, a citation, a whole page); they are
  recorded as they happen and counted per turn of the period.
"""


def scope_filters(services: Services) -> dict[str, str | None]:
    """User and workspace filters, for those who read everyone's records (admins and auditors, sign-in on);
    others see their own records only, so there is nothing to choose."""
    actor = services.actor
    if actor is None or not actor.may(SEE_ALL_RECORDS):
        return {}
    store = services.records
    col1, col2 = st.columns(2)
    user = col1.selectbox("User", store.distinct("user"), index=None, placeholder="All users",
                          key="monitoring.user")
    workspace = col2.selectbox("Workspace", store.distinct("workspace"), index=None,
                               placeholder="All workspaces", key="monitoring.workspace")
    return {"user": user, "workspace": workspace}


def period(key: str = "monitoring.period") -> tuple[str | None, str | None, str]:
    """The period selector; returns (since, until, bucket) with ISO UTC bounds and "hour" or "day"."""
    col1, col2, col3 = st.columns([3, 2, 1])
    choice = col1.segmented_control("Period", list(PERIODS), default="Last 7 days", key=key) or "Last 7 days"
    now = datetime.now(UTC)
    since = until = None
    if choice == "Date range":
        days = col2.date_input(
            "Dates (UTC)", value=(date.today() - timedelta(days=6), date.today()), format="YYYY-MM-DD",
            key="monitoring.dates",
        )  # fmt: skip
        picked = tuple(days or ())
        since = picked[0].isoformat() if picked else None
        until = (picked[1] + timedelta(days=1)).isoformat() if len(picked) > 1 else None
        span = (picked[1] - picked[0]) if len(picked) > 1 else timedelta(days=30)
    elif (period := PERIODS[choice]) is not None:
        since = (now - period).isoformat(timespec="milliseconds")
        span = period
    else:
        span = timedelta(days=365)
    auto = "hour" if span <= timedelta(days=2) else "day"
    bucket = col3.selectbox("Chart by", ["hour", "day"], index=["hour", "day"].index(auto), key="monitoring.bucket")
    return since, until, bucket


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def overview(summary: dict[str, Any]) -> None:
    """Headline figures for every turn in the period."""
    latency = summary["latency"]
    cols = st.columns(6)
    cols[0].metric("Turns", f"{summary['turns']:,}")
    cols[1].metric("Median total", _s(latency["total"]["p50"]), help=f"n = {latency['total']['n']} finished turns")
    cols[2].metric("Median first token", _s(latency["ttft"]["p50"]), help=f"n = {latency['ttft']['n']}")
    speed = summary["tokens_per_s"]["p50"]
    cols[3].metric(
        "Median tokens/s", "—" if speed is None else f"{speed:.1f}", help=f"n = {summary['tokens_per_s']['n']}"
    )
    cols[4].metric("Error rate", _pct(summary["rates"]["error"]), help=f"{summary['errors']} error(s)")
    cols[5].metric("Flagged", _pct(summary["rates"]["flagged"]), help=f"{summary['flagged']} turn(s)")


def model_table(summaries: list[dict[str, Any]], label: str) -> None:
    """One row per group: counts, rates, speed and tokens."""
    rows = []
    for s in summaries:
        rates = s["rates"]
        rows.append(
            {
                label: s["group"],
                "Turns": s["turns"],
                "Errors": rates["error"],
                "Blocked": rates["blocked"],
                "Flagged": rates["flagged"],
                "Not in documents": rates["not_in_documents"],
                "Stopped": rates["stopped"],
                "Tokens/s p50": s["tokens_per_s"]["p50"],
                "Tokens in (mean)": s["tokens_in"]["mean"],
                "Tokens out (mean)": s["tokens_out"]["mean"],
                "Total p50": s["latency"]["total"]["p50"],
                "Total p95": s["latency"]["total"]["p95"],
            }
        )
    percent = {c: st.column_config.NumberColumn(c, format="percent") for c in
               ("Errors", "Blocked", "Flagged", "Not in documents", "Stopped")}  # fmt: skip
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            **percent,
            "Tokens/s p50": st.column_config.NumberColumn(format="%.1f"),
            "Tokens in (mean)": st.column_config.NumberColumn(format="%.0f"),
            "Tokens out (mean)": st.column_config.NumberColumn(format="%.0f"),
            "Total p50": st.column_config.NumberColumn(format="%.2f s"),
            "Total p95": st.column_config.NumberColumn(format="%.2f s"),
        },
        key="monitoring.groups",
    )


def latency_table(summaries: list[dict[str, Any]], label: str) -> None:
    """Percentiles per group and step (steps nobody used are left out)."""
    rows = [
        {label: s["group"], "Step": STEP_LABELS[step], "n": fig["n"], "p50": fig["p50"], "p95": fig["p95"],
         "p99": fig["p99"], "max": fig["max"]}
        for s in summaries
        for step in STEPS
        if (fig := s["latency"][step])["n"]
    ]  # fmt: skip
    if not rows:
        st.caption("No finished turn in this period: no latency to show.")
        return
    seconds = {c: st.column_config.NumberColumn(c, format="%.3f s") for c in ("p50", "p95", "p99", "max")}
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config=seconds,
                 key="monitoring.latency")  # fmt: skip


def charts(records: list[dict[str, Any]], bucket: str) -> None:
    """Latency, volume and rates over time."""
    frame = pd.DataFrame(timeseries(records, bucket))
    if frame.empty:
        return
    frame["start"] = pd.to_datetime(frame["start"])
    x = alt.X("start:T", title=f"{bucket.capitalize()} (UTC)")
    names = {"total_p50": "Total p50", "total_p95": "Total p95", "ttft_p50": "First token p50",
             "ttft_p95": "First token p95"}  # fmt: skip
    latency = frame.melt("start", list(names), var_name="series", value_name="seconds").dropna()
    latency["series"] = latency["series"].map(names)
    col1, col2 = st.columns(2)
    with col1:
        st.markdown("**Latency**")
        st.altair_chart(
            alt.Chart(latency).mark_line(point=True).encode(
                x=x, y=alt.Y("seconds:Q", title="Seconds"), color=alt.Color("series:N", title=None),
                tooltip=["start:T", "series:N", alt.Tooltip("seconds:Q", format=".2f")],
            ),
            width="stretch",
        )  # fmt: skip
    with col2:
        st.markdown("**Turns**")
        st.altair_chart(
            alt.Chart(frame).mark_bar().encode(x=x, y=alt.Y("turns:Q", title="Turns"),
                                               tooltip=["start:T", "turns:Q", "errors:Q"]),
            width="stretch",
        )  # fmt: skip
    rate_names = {"error_rate": "Errors", "flagged_rate": "Flagged", "blocked_rate": "Blocked"}
    rates = frame.melt("start", list(rate_names), var_name="rate", value_name="share").dropna()
    rates["rate"] = rates["rate"].map(rate_names)
    st.markdown("**Error and guardrail rates**")
    st.altair_chart(
        alt.Chart(rates).mark_line(point=True).encode(
            x=x, y=alt.Y("share:Q", title="Share of turns", axis=alt.Axis(format="%")),
            color=alt.Color("rate:N", title=None), tooltip=["start:T", "rate:N", alt.Tooltip("share:Q", format=".1%")],
        ),
        width="stretch",
    )  # fmt: skip


def display_error_panel(ui_errors: list[dict[str, Any]], turns: int) -> None:
    """How many parts of pages could not be drawn in the period, and the latest few with where and why."""
    figures = display_errors(ui_errors, turns)
    st.subheader("Display errors")
    cols = st.columns(3)
    cols[0].metric("Display errors", f"{figures['count']:,}", help="Parts of a page that could not be drawn.")
    cols[1].metric("Display errors per turn", _pct(figures["rate"]), help=f"{turns} turn(s) in this period")
    if not figures["count"]:
        st.caption("No part of a page failed to draw in this period.")
        return
    st.dataframe(
        pd.DataFrame(figures["latest"]).rename(columns={"ts": "When (UTC)", "where": "Where", "error": "Error",
                                                         "user": "User", "conversation_id": "Conversation"}),
        hide_index=True, width="stretch", key="monitoring.display_errors",
    )  # fmt: skip


def _slim_and_sample(bodies: Iterable[dict[str, Any]], sampler: AnswerSampler) -> Iterator[dict[str, Any]]:
    """One pass over the records: the slim row for the figures, the whole answer into the drift sample."""
    for body in bodies:
        sampler.add(body)
        yield slim(body)


def monitoring_page(services: Services) -> None:
    """The whole Monitoring page."""
    services.apply_retention(every_s=3600)  # a server may run for weeks: prune at most hourly
    st.title("Monitoring")
    st.caption("How fast and how well the assistant answers, per model, from the request records on this machine.")
    store = services.records
    # Display errors count too: a page that crashed before any turn finished is not "nothing recorded".
    if store.count_matching(kind="chat") == 0 and store.count_matching(kind="ui_error") == 0:
        st.info(EMPTY, icon=":material/monitoring:")
        return
    since, until, bucket = period()
    scope: dict[str, Any] = {"since": since, "until": until, **scope_filters(services)}
    group_label = st.radio("Group by", list(GROUPS), horizontal=True, key="monitoring.group")
    sampler = AnswerSampler()  # a bounded sample of whole answers for drift (the slim rows keep 80 characters)
    records = list(_slim_and_sample(store.iter_matching(kind="chat", **scope), sampler))
    ui_errors = list(store.iter_matching(kind="ui_error", **scope))
    if not records:
        if ui_errors:
            display_error_panel(ui_errors, 0)
        st.info("No turns in this period — choose a longer one.", icon=":material/event_busy:")
        return
    (overall,) = summarise(records, group_by=None)
    overview(overall)
    display_error_panel(ui_errors, overall["turns"])
    summaries = summarise(records, group_by=GROUPS[group_label])
    st.subheader(f"Per {group_label.lower()}")
    model_table(summaries, group_label)
    st.subheader("Latency percentiles")
    st.caption("Seconds per step; *n* is how many turns each figure rests on.")
    latency_table(summaries, group_label)
    answer_quality(records, sampler)
    hallucination_chart(services)
    st.subheader("Over time")
    charts(records, bucket)
    with st.expander("How these figures are computed"):
        st.markdown(DEFINITIONS)
