"""Two analysts in two private workspaces and one shared workspace: every read path (search, SQL, tables list,
documents list, conversations, attachments, evaluation runs, audit query) returns only what the caller may see;
a viewer calling upload directly is refused (and recorded); deleting a workspace deletes its data only."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.access.roles import PermissionDenied
from app.container import Services
from app.errors import AssistantError
from app.evaluation.service import STORE_FILE
from app.evaluation.store import EvaluationStore
from storage.attachments import AttachmentStore
from storage.records import SqliteRecordStore
from tests.fixtures.paths import ROOT
from tests.fixtures.people import team_of

SALES = ROOT / "tests" / "fixtures" / "tables" / "sales.csv"
ANN_NOTE = b"# Ann's plans\n\nThe codeword for the merger is PELICAN. Ann keeps it private.\n"
BOB_NOTE = b"# Bob's plans\n\nThe codeword for the audit is WALRUS. Bob keeps it private.\n"


@pytest.fixture()
def people(settings_factory):
    """ann and bob (analysts, private workspaces), Team (shared: ann and vic the viewer), aud the auditor."""
    yield from team_of(settings_factory(auth="password"),
                       {"ann": "analyst", "bob": "analyst", "vic": "viewer", "aud": "auditor"},
                       ("ann", "vic"), default_workspace=None)


def _load(services: Services, path: Path, name: str, tmp: Path) -> None:
    copy = tmp / f"{name}.csv"
    copy.write_bytes(path.read_bytes())
    services.tables.load_file(copy)


def test_each_read_path_returns_only_the_callers_workspace(people, tmp_path):
    settings, _directory, services = people
    ann, bob, team = services("ann"), services("bob"), services("ann", "Team")
    assert ann.documents.ingest_bytes(ANN_NOTE, "ann_plans.md").status == "indexed"
    assert bob.documents.ingest_bytes(BOB_NOTE, "bob_plans.md").status == "indexed"
    _load(ann, SALES, "ann_sales", tmp_path)
    _load(team, SALES, "team_sales", tmp_path)
    ann_chat = ann.conversations.create("Ann's budget")
    team.conversations.create("Team chat")
    kept = AttachmentStore.in_data_dir(ann.settings.data_dir).keep(b"ann's attachment")
    EvaluationStore(ann.settings.data_dir / STORE_FILE).start_run("ann-set", "x.jsonl", "0" * 64, "m", [], {}, [])

    # Documents: list and search.
    assert [d.name for d in bob.documents.list_documents()] == ["bob_plans.md"]
    assert all("PELICAN" not in p.text for p in bob.documents.search("merger codeword PELICAN"))
    assert any("PELICAN" in p.text for p in ann.documents.search("merger codeword PELICAN"))
    assert team.documents.list_documents() == []
    # Tables: list and SQL.
    assert "ann_sales" in {t.name for t in ann.tables.tables()}
    assert "ann_sales" not in {t.name for t in bob.tables.tables()} | {t.name for t in team.tables.tables()}
    assert {t.name for t in team.tables.tables()} == {"team_sales"}
    refused = bob.run_sql(bob.tables, "SELECT count(*) FROM ann_sales", raw=True, origin="test")
    assert refused.error and "ann_sales" in refused.error and not refused.rows
    assert ann.run_sql(ann.tables, "SELECT count(*) FROM ann_sales", raw=True, origin="test").rows[0][0] > 0
    # Conversations, attachments, evaluation runs.
    assert [c.title for c in bob.conversations.list()] == []
    assert [c.title for c in team.conversations.list()] == ["Team chat"]
    assert ann_chat.id in {c.id for c in ann.conversations.list()}
    assert AttachmentStore.in_data_dir(bob.settings.data_dir).path(kept.sha256) is None
    assert EvaluationStore(bob.settings.data_dir / STORE_FILE).list_runs() == []
    # Audit: bob's records are bob's; ann's carry her workspace; bob cannot open one of hers by id.
    bob_seen = bob.records.search(kind=None, limit=500)
    assert bob_seen and {r["user"] for r in bob_seen} == {"bob"}
    team.run_sql(team.tables, "SELECT count(*) FROM team_sales", raw=True, origin="test")
    every = SqliteRecordStore(settings.data_dir / "records.sqlite").query(kind="sql", limit=50)
    ann_sql = next(r for r in every if r.get("user") == "ann")
    assert bob.records.get(ann_sql["id"]) is None
    assert bob.records.distinct("user", kind=None) == ["bob"]
    assert bob.records.count_matching(kind=None, user="ann") == 0
    auditor = services("aud")
    assert {"ann", "bob"} <= {r["user"] for r in auditor.records.search(kind=None, limit=500)}
    assert {r["workspace"] for r in auditor.records.search(kind="sql", limit=50)} == {"private-ann", "private-bob",
                                                                                      "Team"}
    assert [r["sql"] for r in auditor.records.search(kind="sql", workspace="Team")] == [
        "SELECT count(*) FROM team_sales"]


def test_a_viewer_calling_upload_directly_is_refused_and_recorded(people):
    settings, _directory, services = people
    vic = services("vic")
    assert vic.actor is not None and vic.actor.workspace == "Team"  # a viewer starts in a shared workspace
    with pytest.raises(PermissionDenied, match="viewer"):
        vic.documents.ingest_bytes(ANN_NOTE, "sneaky.md")
    with pytest.raises(PermissionDenied):
        vic.tables.load_file(SALES)
    with pytest.raises(PermissionDenied):
        vic.delete_document("anything")
    assert vic.documents.list_documents() == []  # reading is allowed
    refused = SqliteRecordStore(settings.data_dir / "records.sqlite").query(kind="permission_denied", limit=10)
    assert len(refused) == 3 and {r["user"] for r in refused} == {"vic"}
    assert {r["workspace"] for r in refused} == {"Team"}


def test_naming_another_users_workspace_is_refused(people):
    _settings, directory, services = people
    services("ann")  # her private workspace exists from her first use on
    with pytest.raises(PermissionDenied, match="not a member"):
        services("bob", "private-ann")
    with pytest.raises(PermissionDenied, match="not a member"):
        services("bob", "Team")
    assert directory.store.workspace("private-ann") is not None


def test_deleting_a_workspace_deletes_its_folder_and_nothing_else(people, tmp_path):
    _settings, directory, services = people
    ann, team = services("ann"), services("ann", "Team")
    _load(ann, SALES, "ann_sales", tmp_path)
    _load(team, SALES, "team_sales", tmp_path)
    folder = team.settings.data_dir
    team.close()
    directory.workspaces.delete("Team", by="admin")
    assert not folder.exists()
    assert "ann_sales" in {t.name for t in ann.tables.tables()}
    with pytest.raises(AssistantError, match="not a member of a workspace named .Team."):
        directory.actor("ann", "Team")


def test_members_of_one_workspace_share_its_services_but_not_their_rights(people):
    _settings, _directory, services = people
    vic = services("vic")  # the viewer's session opens Team first (as in the app, where sessions share a pool)
    ann = services("ann", "Team")
    ann.share_pool(vic)
    assert ann.documents.ingest_bytes(ANN_NOTE, "team_plans.md").status == "indexed"
    assert [d.name for d in vic.documents.list_documents()] == ["team_plans.md"]  # one library, read by both
    with pytest.raises(PermissionDenied):
        vic.documents.ingest_bytes(BOB_NOTE, "sneaky.md")


def test_settings_are_saved_in_the_root_by_an_admin_only(people):
    settings, directory, services = people
    directory.accounts.add("ada", "admin", "correct horse battery", by="test")
    admin = services("ada", "Team")
    updated = admin.apply_settings({"temperature": 0.7})
    assert updated.temperature == 0.7 and updated.data_dir == admin.actor.folder  # still works in Team
    assert '"temperature": 0.7' in (settings.data_dir / "settings.json").read_text()
    assert not (admin.actor.folder / "settings.json").exists()
    with pytest.raises(PermissionDenied, match="manage users, workspaces and settings"):
        services("ann").apply_settings({"temperature": 0.1})
