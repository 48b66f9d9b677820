"""Evaluation page: run a question set with a model, see the scores, the history and how two runs compare."""

import streamlit as st

from app.errors import AssistantError
from app.evaluation.service import Evaluations
from app.ui.common import get_services, show_error
from app.ui.evaluation import KEY_RUN, KEY_SHOWN, history_frame, run_form, show_comparison, show_run

services = get_services()
evals = Evaluations(services)
st.title("Evaluation")
st.caption(
    "Score retrieval (hit@k, MRR), SQL (execution accuracy) and answers (faithfulness, relevance, "
    "context recall, correctness) on a JSONL set; every run is kept for comparison."
)

with st.expander("New run", expanded=not evals.list_runs()):
    run_form(services, evals)

runs = evals.list_runs()
if not runs:
    st.info("No runs yet. Choose a set and a model above and press **Run evaluation**.")
    st.stop()

ids = [r["id"] for r in runs]
labels = {r["id"]: f"{r['id']} · {r['set_name']} · {r['model']} · {r['started_at']}" for r in runs}
shown = st.session_state.get(KEY_RUN) if st.session_state.get(KEY_RUN) in ids else ids[0]
chosen = st.selectbox("Run", ids, index=ids.index(shown), format_func=labels.get, key=KEY_SHOWN)
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
    left, right = st.columns(2)
    # By default: the newest run against the previous run of the same set (what the regression check uses).
    previous = evals.get_run(ids[0])["previous_id"]
    default_a = ids.index(previous) if previous in ids else 1
    run_a = left.selectbox("Run A (before)", ids, index=default_a, format_func=labels.get, key="evaluation.compare_a")
    run_b = right.selectbox("Run B (after)", ids, index=0, format_func=labels.get, key="evaluation.compare_b")
    if run_a == run_b:
        st.info("Pick two different runs.")
    else:
        show_comparison(evals.compare(run_a, run_b))
