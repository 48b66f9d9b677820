"""A job records who submitted it, and its records name that user even when another member's app process (or a
worker started by someone else) runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.container import build_access, build_services
from app.evaluation.service import RunOptions
from storage.keys import RecordKeys
from storage.records import SqliteRecordStore
from tests.fixtures import build_mini
from tests.fixtures.jobs import finished, wait_for_job

RETRIEVAL = RunOptions(only=("retrieval",))


def _all_records(settings, kind: str) -> list[dict]:
    return SqliteRecordStore(settings.data_dir / "records.sqlite", RecordKeys.load(settings.keys_dir)).query(kind=kind)


def test_a_job_in_a_shared_workspace_is_recorded_under_its_submitter_whoever_runs_it(settings_factory,
                                                                                     tmp_path: Path) -> None:
    settings = settings_factory(auth="password")
    directory = build_access(settings)
    directory.workspaces.create("Team", by="admin")
    for name in ("ann", "bob"):
        directory.accounts.add(name, "analyst", "correct horse battery", by="test")
        directory.workspaces.add_member("Team", name, by="admin")
    ann = build_services(settings, directory.actor("ann", "Team"))
    bob = build_services(settings, directory.actor("bob", "Team"))
    try:
        job = ann.jobs.submit_evaluation(build_mini.build(tmp_path / "mini"), None, RETRIEVAL)
        assert job.user == "ann" and job.payload["submitted_by"]["user"] == "ann"
        assert job.payload["submitted_by"]["workspace"] == "Team"
        assert [j.id for j in bob.jobs.list()] == [job.id]  # the workspace's queue: bob's app sees and runs it
        bob.jobs.start_consumer()
        assert wait_for_job(bob.jobs.store, job.id, finished).state == "done"
        (record,) = _all_records(settings, "evaluation_run")
        assert (record["user"], record["workspace"]) == ("ann", "Team")
    finally:
        ann.close()
        bob.close()


def test_without_sign_in_the_submitting_user_is_recorded_not_the_one_running_the_worker(settings_factory,
                                                                                        tmp_path: Path) -> None:
    alice = build_services(settings_factory(user="alice"))
    worker = build_services(settings_factory(user="bob"))
    try:
        job = alice.jobs.submit_evaluation(build_mini.build(tmp_path / "mini"), None, RETRIEVAL)
        worker.jobs.start_consumer()
        assert wait_for_job(worker.jobs.store, job.id, finished).state == "done"
        (record,) = _all_records(worker.settings, "evaluation_run")
        assert record["user"] == "alice"
    finally:
        alice.close()
        worker.close()


@pytest.mark.parametrize("submitter", [{"user": "mallory", "role": "admin", "workspace_id": "x", "workspace": "Else",
                                        "folder": "/elsewhere", "kind": "shared"}, {}, None])
def test_a_job_never_runs_as_someone_of_another_workspace(settings_factory, submitter) -> None:
    settings = settings_factory(auth="password")
    directory = build_access(settings)
    directory.accounts.add("ann", "analyst", "correct horse battery", by="test")
    ann = build_services(settings, directory.actor("ann"))
    try:
        assert ann.jobs._acting.for_submitter(submitter) is ann
    finally:
        ann.close()
