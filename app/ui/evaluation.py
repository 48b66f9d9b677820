"""The Evaluation page: pick a set and a model, run it as a background job with progress, show results, history
and comparisons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app.container import Services
from app.errors import AssistantError
from app.evaluation.metrics import COST_METRICS, QUALITY_METRICS
from app.evaluation.runner import KINDS
from app.evaluation.service import Evaluations, RunOptions, load_set
from app.llm.selector import embedded_choices
from app.ui.common import safe_markdown, show_error
from app.ui.evaluation_examples import examples_effect_section
from app.ui.evaluation_jobs import ended_run, running_evaluations, submit_run

KEY_RUN = "evaluation.run_id"
KEY_SHOWN = "evaluation.shown"
KEY_UPLOADED = "evaluation.uploaded"
AS_IN_SETTINGS = "As in Settings"
NO_MODEL_JUDGE = "None: sentence support and numbers traced"
SELF_JUDGE = "self"
_ROOT = Path(__file__).resolve().parents[2]


def evaluation_page(services: Services) -> None:
    """The whole Evaluation page: a new run, the run shown, the history and a comparison of two runs."""
    evals = Evaluations(services)
    st.title("Evaluation")
    st.caption(
        "Score retrieval (hit@k, MRR), SQL (execution accuracy) and answers (faithfulness, relevance, "
        "context recall, correctness) on a JSONL set; every run is kept for comparison."
    )
    if (ended := ended_run(services)) is not None:  # this session's background run ended: show its run
        st.session_state[KEY_RUN] = st.session_state[KEY_SHOWN] = ended
    with st.expander("New run", expanded=not evals.list_runs()):
        run_form(services, evals)
    running_evaluations(services)
    examples_effect_section(services, evals, model_options(services))
    runs = evals.list_runs()
    if not runs:
        st.info("No runs yet. Choose a set and a model above and press **Run evaluation**.")
        return
    ids = [r["id"] for r in runs]
    labels = {r["id"]: f"{r['id']} · {r['set_name']} · {r['model']} · {r['started_at']}" for r in runs}
    shown = st.session_state.get(KEY_RUN) if st.session_state.get(KEY_RUN) in ids else ids[0]
    chosen = st.selectbox("Run", ids, index=ids.index(shown), format_func=lambda i: labels[i], key=KEY_SHOWN)
    try:
        show_run(evals.get_run(chosen))
    except AssistantError as exc:
        show_error(exc)
    st.subheader("History")
    st.dataframe(history_frame(runs), hide_index=True, key="evaluation.history")
    st.subheader("Compare two runs")
    if len(runs) < 2:
        st.info("Run a set twice (e.g. with another model) to compare.")
    else:
        compare_picker(evals, ids, labels)


def compare_picker(evals: Evaluations, ids: list[int], labels: dict[int, str]) -> None:
    """Two run pickers (by default the newest run against the previous run of its set) and their comparison."""
    left, right = st.columns(2)
    # By default: the newest run against the previous run of the same set (what the regression check uses).
    previous = evals.get_run(ids[0])["previous_id"]
    default_a = ids.index(previous) if previous in ids else 1
    run_a = left.selectbox("Run A (before)", ids, index=default_a, format_func=lambda i: labels[i],
                           key="evaluation.compare_a")
    run_b = right.selectbox("Run B (after)", ids, index=0, format_func=lambda i: labels[i],
                            key="evaluation.compare_b")
    if run_a == run_b:
        st.info("Pick two different runs.")
    else:
        show_comparison(evals.compare(run_a, run_b))


def model_options(services: Services) -> dict[str, str | None]:
    """Label -> model spec: the settings' model, every embedded model, and the models Ollama has pulled."""
    options: dict[str, str | None] = {AS_IN_SETTINGS: None}
    embedded = embedded_choices(services.settings.embedded_model)  # test-only models only when configured
    options.update({f"{label} (embedded)": f"embedded:{key}" for key, label in embedded.items()})
    status = services.router.ollama_status()
    options.update({f"{name} (Ollama)": f"ollama:{name}" for name in status.models})
    return options


def _short(path: Path, evals: Evaluations) -> str:
    for base, tag in ((evals.sets_dir, "data dir"), (_ROOT, "bundled")):
        try:
            return f"{path.relative_to(base)} ({tag})"
        except ValueError:
            continue
    return str(path)


def pick_set(evals: Evaluations) -> Path | None:
    """An uploaded JSONL (kept in the data dir) or one of the known sets."""
    upload = st.file_uploader("Upload a set (JSONL)", type=["jsonl"], key="evaluation.upload")
    if upload is not None and st.session_state.get(KEY_UPLOADED) != upload.file_id:
        evals.save_upload(upload.name, upload.getvalue())
        st.session_state[KEY_UPLOADED] = upload.file_id  # save once: every click reruns the page
    sets = {_short(p, evals): p for p in evals.available_sets()}
    if not sets:
        st.info("No evaluation sets yet: upload a JSONL file of questions.")
        return None
    uploaded_label = next((label for label, p in sets.items() if upload and p.name == Path(upload.name).name), None)
    labels = list(sets)
    chosen = st.selectbox(
        "Set", labels, index=labels.index(uploaded_label) if uploaded_label else 0, key="evaluation.set"
    )
    return sets[chosen]


def run_form(services: Services, evals: Evaluations) -> None:
    """Set, model, metric groups and limit; Run queues the run as a background job (it goes on if the page is
    left; `running_evaluations` shows it)."""
    path = pick_set(evals)
    if path is None:
        return
    docs = st.text_input("Documents folder (empty: the set's folder)", key="evaluation.docs")
    try:
        eval_set = load_set(path, Path(docs) if docs.strip() else None)
    except AssistantError as exc:
        show_error(exc)
        return
    kinds = ", ".join(f"{n} {k}" for k, n in eval_set.kinds().items()) or "no usable items"
    st.caption(f"{kinds} · {len(eval_set.documents)} document(s) · sha256 {eval_set.sha256[:12]}")
    if eval_set.problems:
        with st.expander(f"{len(eval_set.problems)} line(s) skipped", expanded=True):
            st.dataframe(
                pd.DataFrame([{"line": p.line, "problem": p.message} for p in eval_set.problems]), hide_index=True
            )
    models = model_options(services)
    left, middle, right = st.columns([2, 2, 1])
    model_label = left.selectbox("Model", list(models), key="evaluation.model")
    only = middle.multiselect("Measure", list(KINDS), default=list(KINDS), key="evaluation.only")
    limit = right.number_input("Limit (0 = all)", min_value=0, value=0, step=1, key="evaluation.limit")
    judges = {NO_MODEL_JUDGE: None, "The model being evaluated": SELF_JUDGE, **{k: v for k, v in models.items() if v}}
    judge_label = left.selectbox(
        "Faithfulness judge", list(judges), key="evaluation.judge",
        help="Faithfulness is always checked sentence by sentence against the cited passages, with every number "
             "traced; a model judge is extra. Keep one judge for runs you want to compare: a model judging itself "
             "is lenient (the 1.5B rated 82 of 83 labelled answers faithful, 31 of the 32 unsupported ones "
             "included; the sentence check caught 27 of those 32).")
    if not st.button("Run evaluation", type="primary", disabled=not eval_set.items or not only, key="evaluation.run"):
        return
    judge = judges[judge_label]
    options = RunOptions(model=models[model_label], only=tuple(only), limit=int(limit) or None,
                         judge=None if judge in (None, SELF_JUDGE) else judge, self_judge=judge == SELF_JUDGE)
    submit_run(services, path, Path(docs) if docs.strip() else None, options)


def _metrics_frame(aggregates: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {"metric": label, "value": round(aggregates[name]["mean"], 3), "items": aggregates[name]["n"]}
        for name, (label, _) in QUALITY_METRICS.items()
        if name in aggregates
    ]
    rows += [
        {"metric": label, "value": aggregates[name]["value"], "items": aggregates[name]["n"]}
        for name, (label, _) in COST_METRICS.items()
        if name in aggregates
    ]
    return pd.DataFrame(rows, columns=["metric", "value", "items"])


def _items_frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for item in items:
        row = {"id": item["id"], "kind": item["kind"], "question": item["question"]}
        row.update({QUALITY_METRICS[k][0]: v for k, v in item["metrics"].items() if k in QUALITY_METRICS})
        detail = item.get("detail", {})
        row.update(
            {
                "answer / SQL": detail.get("answer") or detail.get("sql") or "",
                "seconds": item.get("total_s"),
                "error": item.get("error", ""),
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def show_run(run: dict[str, Any]) -> None:
    """Aggregate metrics, regression warnings, skipped lines and the per-item table of one run."""
    agg = run["aggregates"]
    st.subheader(safe_markdown(f"Run {run['id']}: {run['set_name']} · {run['model']}"))
    st.caption(safe_markdown(
        f"{run['status']} · {run['started_at']} → {run['finished_at'] or '…'} · {agg.get('items', 0)} item(s),"
        f" {agg.get('errors', 0)} error(s)" + (f" · {run['error']}" if run.get("error") else "")
    ))
    for warning in run.get("warnings", []):
        st.warning(safe_markdown(warning), icon=":material/trending_down:")
    st.dataframe(_metrics_frame(agg), hide_index=True, key=f"evaluation.metrics.{run['id']}")
    if run.get("problems"):
        st.caption(safe_markdown("Skipped lines: " + "; ".join(f"line {p['line']}: {p['message']}"
                                                            for p in run["problems"])))
    if run.get("items"):
        st.dataframe(_items_frame(run["items"]), hide_index=True, key=f"evaluation.items.{run['id']}")


def history_frame(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per stored run with its headline metrics."""
    rows = []
    for run in runs:
        row = {
            "run": run["id"],
            "started": run["started_at"],
            "set": run["set_name"],
            "model": run["model"],
            "status": run["status"],
            "items": run["aggregates"].get("items", 0),
        }
        row.update(
            {
                label: round(run["aggregates"][name]["mean"], 3)
                for name, (label, _) in QUALITY_METRICS.items()
                if name in run["aggregates"]
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _delta_styles(metrics: list[dict[str, Any]]) -> list[str]:
    """Green for better, red for worse: higher is better for scores, lower for seconds and tokens."""
    styles = []
    for m in metrics:
        delta = m["delta"] or 0
        better = delta > 0 if m["name"] in QUALITY_METRICS else delta < 0
        styles.append("" if not delta else ("color: #1a7f37" if better else "color: #cf222e"))
    return styles


def show_comparison(result: dict[str, Any]) -> None:
    """Side-by-side metrics with coloured deltas, warnings, what changed and which items changed."""
    a, b = result["a"], result["b"]
    if not result["same_set"]:
        st.info(safe_markdown(f"Different sets: {a['set_name']} vs {b['set_name']}; only shared metrics are "
                              "comparable."))
    for warning in result["warnings"]:
        st.warning(safe_markdown(warning), icon=":material/trending_down:")
    frame = pd.DataFrame(
        [
            {
                "metric": m["label"],
                f"run {a['id']}": m["a"],
                f"run {b['id']}": m["b"],
                "delta": m["delta"],
                "regression": "yes" if m["regressed"] else "",
            }
            for m in result["metrics"]
        ],
        columns=["metric", f"run {a['id']}", f"run {b['id']}", "delta", "regression"],
    )
    numeric = [f"run {a['id']}", f"run {b['id']}", "delta"]
    frame[numeric] = frame[numeric].apply(pd.to_numeric)  # None -> NaN, shown as "—"
    styles = _delta_styles(result["metrics"])
    styled = frame.style.apply(lambda _: styles, subset=["delta"]).format(precision=3, na_rep="—")
    st.dataframe(styled, hide_index=True, key="evaluation.compare.metrics")
    if result["settings_diff"]:
        st.markdown("**What changed**")
        st.dataframe(
            pd.DataFrame(
                [
                    {"setting": k, f"run {a['id']}": str(v[0]), f"run {b['id']}": str(v[1])}
                    for k, v in result["settings_diff"].items()
                ]
            ),
            hide_index=True,
        )
    else:
        st.caption("Same model and settings in both runs.")
    if result["items"]:
        st.markdown("**Changed items**")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "id": i["id"],
                        "question": i["question"],
                        **{QUALITY_METRICS[k][0]: v for k, v in i["changes"].items()},
                        "error": i["error_after"],
                    }
                    for i in result["items"]
                ]
            ),
            hide_index=True,
        )
