"""Monitoring with sign-in, through AppTest: an auditor filters the figures per user and workspace, an analyst sees
only their own turns and no filters; with the answers of a new model digest about something else, the drift warning
names it, and the page asks for a new evaluation run when the chat's model changed since the last one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.container import build_access
from app.settings import load_settings
from storage.records import SqliteRecordStore
from tests.fixtures.drift_answers import OFF_TOPIC, R_ANSWERS
from tests.fixtures.paths import ENTRY

PASSWORD = "correct horse battery"


@pytest.fixture()
def signed_in_records(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """auth=password, an analyst, another analyst and an auditor; turns of ann (private) and bob (team)."""
    monkeypatch.setenv("ANALYST_AUTH", "password")
    directory = build_access(load_settings())
    for name, role in (("ann", "analyst"), ("bob", "analyst"), ("aud", "auditor")):
        directory.accounts.add(name, role, PASSWORD, by="test")
    store = SqliteRecordStore(data_dir / "records.sqlite")
    now = datetime.now(UTC)
    turns = [("ann", "private-ann", "a" * 64, a) for a in R_ANSWERS]
    turns += [("bob", "team", "b" * 64, a) for a in OFF_TOPIC] + [("bob", "team", "b" * 64, OFF_TOPIC[0])] * 2
    for i, (user, workspace, digest, answer) in enumerate(turns):
        store.append("chat", {"ts": (now - timedelta(minutes=60 - i)).isoformat(timespec="milliseconds"),
                              "user": user, "workspace": workspace, "model": "qwen2.5-coder-1.5b",
                              "model_digest": digest, "question": f"Q{i}", "answer": answer, "status": "ok",
                              "total_s": 1.0, "ttft_s": 0.1, "load_s": 0.0, "tokens_in": 100, "tokens_out": 20,
                              "citations": [{"n": 1, "page": 3}], "guardrails": [], "not_in_documents": False})
    return data_dir


def _monitoring_as(name: str) -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=90).run()
    at.text_input(key="access.name").set_value(name)
    at.text_input(key="access.password").set_value(PASSWORD)
    at.button[0].click().run()
    at.switch_page("../pages/monitoring.py").run()
    assert not at.exception
    return at


def _turns(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label == "Turns")


def test_an_auditor_filters_per_user_and_workspace_and_sees_drift_and_the_rerun_offer(signed_in_records):
    aud = _monitoring_as("aud")
    assert _turns(aud) == "26"
    (warning,) = [w.value for w in aud.warning if "drift" in w.value]
    assert "digest bbbbbbbbbbbb differs from aaaaaaaaaaaa" in warning and "what the answers say" in warning
    assert any("No evaluation run has scored answers yet" in i.value for i in aud.info)
    aud.selectbox(key="monitoring.user").set_value("bob").run()
    assert not aud.exception and _turns(aud) == "14"
    aud.selectbox(key="monitoring.user").set_value(None)
    aud.selectbox(key="monitoring.workspace").set_value("private-ann").run()
    assert not aud.exception and _turns(aud) == "12"


def test_an_analyst_sees_only_their_own_turns_without_filters(signed_in_records):
    ann = _monitoring_as("ann")
    assert _turns(ann) == "12"
    keys = {s.key for s in ann.selectbox}
    assert "monitoring.user" not in keys and "monitoring.workspace" not in keys
