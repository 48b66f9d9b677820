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
from tests.fixtures.paths import ENTRY

PASSWORD = "correct horse battery"
R_ANSWERS = [
    "Use median(x) to get the middle value of a numeric vector [1].",
    "read.csv() reads a comma-separated file into a data frame [1].",
    "lm(y ~ x) fits a linear model; summary() shows its coefficients [1].",
    "Set na.rm = TRUE so that mean() ignores missing values [1].",
    "The apply family runs a function over the rows or columns of a matrix [1].",
    "factor() turns a character vector into a categorical variable with levels [1].",
    "str() shows the structure of an R object, one line per component [1].",
    "merge() joins two data frames on their common columns [1].",
    "summary() prints the minimum, quartiles, mean and maximum of a vector [1].",
    "paste() joins strings with a space; paste0() joins them with no separator [1].",
]
OFF_TOPIC = [
    "Bake the cake at 180 degrees for forty minutes [1].", "Tomorrow will be sunny with light winds [1].",
    "Football is played by two teams of eleven players [1].", "Paris is the capital of France [1].",
    "A haiku has three lines of five, seven and five syllables [1].", "Dolphins use echolocation to hunt [1].",
    "The Great Wall of China is thousands of kilometres long [1].", "Coffee beans are roasted before brewing [1].",
    "The Sicilian defence is a popular chess opening [1].", "Mount Everest is the highest mountain on Earth [1].",
]


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
    assert _turns(aud) == "22"
    (warning,) = [w.value for w in aud.warning if "drift" in w.value]
    assert "digest bbbbbbbbbbbb differs from aaaaaaaaaaaa" in warning and "what the answers say" in warning
    assert any("No evaluation run has scored answers yet" in i.value for i in aud.info)
    aud.selectbox(key="monitoring.user").set_value("bob").run()
    assert not aud.exception and _turns(aud) == "12"
    aud.selectbox(key="monitoring.user").set_value(None)
    aud.selectbox(key="monitoring.workspace").set_value("private-ann").run()
    assert not aud.exception and _turns(aud) == "10"


def test_an_analyst_sees_only_their_own_turns_without_filters(signed_in_records):
    ann = _monitoring_as("ann")
    assert _turns(ann) == "10"
    keys = {s.key for s in ann.selectbox}
    assert "monitoring.user" not in keys and "monitoring.workspace" not in keys
