"""The Monitoring page's answer-quality section through AppTest: tokens per successful task, numbers traced,
guardrail decisions by filter and severity, and a drift warning when a model's new digest answers differently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from storage.records import SqliteRecordStore

ENTRY = str(Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py")


@pytest.fixture()
def data_dir(tmp_path, monkeypatch) -> Path:
    data = tmp_path / "data"
    for name, value in {"ANALYST_DATA_DIR": str(data), "ANALYST_MODELS_DIR": str(tmp_path / "models"),
                        "ANALYST_BACKEND": "embedded", "ANALYST_OLLAMA_HOST": "http://127.0.0.1:9"}.items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    yield data
    st.cache_resource.clear()


def _turn(i: int, digest: str, **extra) -> dict:
    return {"ts": (datetime.now(UTC) - timedelta(minutes=60 - i)).isoformat(timespec="milliseconds"), "user": "ann",
            "model": "qwen2.5-coder-1.5b", "model_digest": digest, "question": f"Q{i}", "answer": "Use median() [1].",
            "status": "ok", "total_s": 1.0, "ttft_s": 0.1, "load_s": 0.0, "tokens_in": 100, "tokens_out": 20,
            "citations": [{"n": 1, "page": 3}], "tools": [{"name": "search_documents", "seconds": 0.1}],
            "guardrails": [], "flagged": False, "not_in_documents": False, **extra}


def test_monitoring_shows_answer_quality_and_warns_of_drift(data_dir):
    store = SqliteRecordStore(data_dir / "records.sqlite")
    for i in range(10):
        store.append("chat", _turn(i, "a" * 64, numbers_total=2, numbers_untraced=0))
    for i in range(10, 22):
        refused = i % 2 == 0
        store.append("chat", _turn(i, "b" * 64, numbers_total=2, numbers_untraced=1,
                                   **({"answer": "I could not find this in your documents.", "citations": [],
                                       "not_in_documents": True} if refused else {})))
    store.append("chat", _turn(22, "b" * 64, status="blocked", citations=[],
                               guardrails=[{"guard": "injection", "action": "blocked"}]))

    at = AppTest.from_file(ENTRY, default_timeout=60)
    at.switch_page("../pages/monitoring.py")
    at.run()

    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Tokens per successful task (median)"] == "120"
    assert metrics["Numbers traced"] == "72.7%"  # 22 checked answers, 44 numbers, 12 not found
    assert metrics["Answers with an untraced number"] == "54.5%"
    frames = [d.value for d in at.dataframe]
    rejected = next(f for f in frames if "Severity" in f.columns)
    assert list(zip(rejected["Filter"], rejected["Severity"], strict=True)) == [("injection", "blocked")]
    (warning,) = [w.value for w in at.warning if "drift" in w.value]
    assert "refusal rate 0% → 50%" in warning and "bbbbbbbbbbbb" in warning
    drift = next(f for f in frames if "digest" in f.columns)
    assert list(drift["turns"]) == [10, 12]
