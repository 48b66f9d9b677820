"""The manifest a report carries (each cited record with its chain hash) and the check of a report against it.

The manifest also holds `content_sha256`: for HTML the sha256 of the file with the manifest's own text blanked,
for PDF the sha256 of the pages' text. An edit of an answer after export changes it; `verify_report_file` names it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import BadInputError
from storage.record_chain import content_hash
from storage.records import SqliteRecordStore

MANIFEST_FORMAT = "analyst-assistant-report/1"
MANIFEST_ID = "aa-manifest"
ATTACHMENT_NAME = "aa-manifest.json"
HTML_BLOCK = re.compile(r'(<script type="application/json" id="aa-manifest">)(.*?)(</script>)', re.S)


def chain_rows(records: SqliteRecordStore, record_ids: list[str]) -> dict[str, dict[str, Any]]:
    """id -> {"position", "hash", "content_hash"} of these records, read from the records file (read-only)."""
    found: dict[str, dict[str, Any]] = {}
    if not record_ids or not records.path.exists():
        return found
    con = sqlite3.connect(f"file:{records.path}?mode=ro", uri=True)
    try:
        for start in range(0, len(record_ids), 500):
            part = record_ids[start:start + 500]
            marks = ",".join("?" * len(part))
            for seq, rid, digest, body in con.execute(
                    f"SELECT seq, id, hash, body FROM records WHERE id IN ({marks})", part):
                found[rid] = {"position": seq, "hash": digest, "content_hash": content_hash(body)}
    finally:
        con.close()
    return found


def manifest(records: SqliteRecordStore, conversation_id: str, record_ids: list[str]) -> dict[str, Any]:
    """The manifest without its content hash (added once the report's text is fixed)."""
    rows = chain_rows(records, record_ids)
    return {"format": MANIFEST_FORMAT, "conversation_id": conversation_id,
            "records": [{"id": rid, **rows.get(rid, {"position": None, "hash": None, "content_hash": None})}
                        for rid in record_ids]}


def html_content_hash(page: str) -> str:
    """sha256 of an HTML report with its manifest's text left out."""
    return hashlib.sha256(HTML_BLOCK.sub(r"\1\3", page).encode("utf-8")).hexdigest()


def pdf_text_hash(data: bytes) -> str:
    """sha256 of the text of every page of a PDF report."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed_in_html(page: str, data: dict[str, Any]) -> str:
    """The page with the manifest (content hash included) in its JSON block."""
    data = {**data, "content_sha256": html_content_hash(page)}
    text = json.dumps(data, indent=1, sort_keys=True).replace("</", "<\\/")  # cannot close the script block
    return HTML_BLOCK.sub(lambda m: m.group(1) + text + m.group(3), page, count=1)


def embed_in_pdf(data: bytes, manifest_data: dict[str, Any]) -> bytes:
    """The PDF with the manifest (content hash of its pages' text included) attached as a JSON file."""
    from pypdf import PdfReader, PdfWriter

    full = {**manifest_data, "content_sha256": pdf_text_hash(data)}
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.add_attachment(ATTACHMENT_NAME, json.dumps(full, indent=1, sort_keys=True).encode("utf-8"))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@dataclass
class Verdict:
    """What checking a report found."""

    file: str
    records: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every cited record exists and is unaltered and the report's text is as exported."""
        return not self.problems


def read_manifest(path: Path) -> tuple[dict[str, Any], str]:
    """The manifest of a report file and the content hash recomputed from the file (BadInputError if none)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"{path} cannot be read ({exc.strerror or exc}).", "Give the path of a report file.") \
            from exc
    hint = "Give a report exported by `python -m app report` or the Chat page."
    if data.startswith(b"%PDF"):
        return _pdf_manifest(data, path, hint), pdf_text_hash(data)
    page = data.decode("utf-8", errors="replace")
    match = HTML_BLOCK.search(page)
    if match is None:
        raise BadInputError(f"{path} carries no report manifest (neither an HTML nor a PDF report).", hint)
    try:
        found = json.loads(match.group(2))
    except ValueError as exc:
        raise BadInputError(f"The manifest of {path} is not readable JSON: it was edited.", hint) from exc
    return _checked(found, path, hint), html_content_hash(page)


def _pdf_manifest(data: bytes, path: Path, hint: str) -> dict[str, Any]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        attachments = PdfReader(io.BytesIO(data)).attachments
        raw = attachments.get(ATTACHMENT_NAME)
    except (PdfReadError, ValueError, KeyError) as exc:
        raise BadInputError(f"{path} is not a readable PDF ({exc}).", hint) from exc
    if not raw:
        raise BadInputError(f"{path} carries no report manifest (no {ATTACHMENT_NAME} attached).", hint)
    try:
        return _checked(json.loads(raw[0]), path, hint)
    except ValueError as exc:
        raise BadInputError(f"The manifest attached to {path} is not readable JSON: it was edited.", hint) from exc


def _checked(found: object, path: Path, hint: str) -> dict[str, Any]:
    if not isinstance(found, dict) or found.get("format") != MANIFEST_FORMAT or not isinstance(
            found.get("records"), list):
        raise BadInputError(f"The manifest of {path} is not a report manifest this version reads.", hint)
    return found


def verify_report_file(path: Path, records: SqliteRecordStore) -> Verdict:
    """Check a report: its text unchanged, every cited record present with the same chain hash, the chain intact."""
    found, content = read_manifest(path)
    verdict = Verdict(str(path))
    if found.get("content_sha256") != content:
        verdict.problems.append("the report's text was changed after export (its content hash no longer matches "
                                "the manifest)")
    cited = [r for r in found["records"] if isinstance(r, dict)]
    verdict.records = len(cited)
    rows = chain_rows(records, [str(r.get("id")) for r in cited])
    for item in cited:
        rid = str(item.get("id"))
        row = rows.get(rid)
        if item.get("hash") is None:
            verdict.notes.append(f"record {rid} was not in the trail when the report was made")
        elif row is None:
            verdict.problems.append(f"record {rid} (position {item.get('position')}) is missing from the audit trail")
        elif row["hash"] != item.get("hash") or row["position"] != item.get("position"):
            verdict.problems.append(f"record {rid}: its chain hash or position differs from the report's "
                                    f"({str(item.get('hash'))[:12]}… at {item.get('position')}, now "
                                    f"{str(row['hash'])[:12]}… at {row['position']})")
        elif row["content_hash"] != item.get("content_hash"):
            verdict.problems.append(f"record {rid}: its content changed since the report was made (altered, or "
                                    "its personal data erased)")
    chain = records.verify_report()
    verdict.problems.extend(f"audit trail: {p}" for p in chain["problems"])
    verdict.notes.extend(chain["notes"])
    return verdict
