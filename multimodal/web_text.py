"""HTML pages, Markdown/plain text files and e-mails (.eml) read as sections.

HTML is parsed with BeautifulSoup and the standard library's parser: scripts, styles, iframes, objects
and forms are dropped before any text is taken, nothing is executed or fetched, and only text leaves this
module (whoever shows it escapes it). Text files have their encoding sniffed; Markdown and
reStructuredText headings make sections cited by heading and line range. E-mails are read with the
standard library: headers and body as one section, attachments handed back to be added on their own.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from app.errors import BadInputError
from multimodal.chunking import Section
from multimodal.kinds import detect_encoding
from multimodal.sectioned import (
    MAX_SECTIONS,
    MAX_TABLE_ROWS,
    MAX_TEXT_BYTES,
    SectionBuilder,
    SectionedDocument,
    cap_tables,
)

LINES_PER_SECTION = 200  # text without headings is cited by line range in sections this long
MAX_ATTACHMENTS = 20  # an e-mail with more attachments than this adds the first ones and says so
MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024  # ... and at most this many bytes of them
_DROPPED_TAGS = ("script", "style", "iframe", "frame", "frameset", "object", "embed", "noscript", "template",
                 "svg", "canvas", "form", "button", "select", "nav", "head")
_BLOCKS = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "table", "dt", "dd", "caption")
_ATX = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_UNDERLINE = re.compile(r"^(=+|-+|~+|\^+|\*+)\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


class TextDocumentError(BadInputError):
    """A text, HTML or e-mail file that cannot be read as given."""


def read_text_file(path: Path, name: str = "") -> tuple[str, list[str]]:
    """A text file's content (encoding sniffed, at most MAX_TEXT_BYTES) and warnings."""
    name = name or Path(path).name
    with Path(path).open("rb") as fh:
        data = fh.read(MAX_TEXT_BYTES + 1)
    if not data.strip():
        raise TextDocumentError(f"{name} is empty.", "Choose a file with some text in it.")
    warnings = []
    if len(data) > MAX_TEXT_BYTES:
        data = data[:MAX_TEXT_BYTES]
        warnings.append(f"{name} is larger than {MAX_TEXT_BYTES >> 20} MB: only its first "
                        f"{MAX_TEXT_BYTES >> 20} MB were read.")
    encoding = detect_encoding(data[:64 * 1024])
    text = data.decode(encoding, errors="replace").lstrip("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n"), warnings


# ---- Markdown and plain text -------------------------------------------------------------------------------


def read_plain(path: Path, name: str = "") -> SectionedDocument:
    """Markdown, reStructuredText or plain text as sections under their headings, cited by line range."""
    name = name or Path(path).name
    text, warnings = read_text_file(path, name)
    doc = sections_of_text(text)
    doc.warnings.extend(warnings)
    if len(doc.sections) > MAX_SECTIONS:
        doc.sections = doc.sections[:MAX_SECTIONS]
        doc.warnings.append(f"{name} was cut at {MAX_SECTIONS:,} sections.")
    return doc


def sections_of_text(text: str) -> SectionedDocument:
    """Sections of a text: a Markdown (#) or underlined heading starts one; long runs are cut every 200 lines."""
    lines = text.split("\n")
    builder = SectionBuilder("lines")
    in_fence, run, n = False, 0, 0
    while n < len(lines):
        line, number = lines[n], n + 1
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _heading_at(lines, n)
        if heading is not None:
            level, title, used = heading
            builder.heading(level, title, line=number + used)
            n, run = n + used, 0
            continue
        if line.strip() or run:  # blank lines before a section's first line are not part of it
            if run >= LINES_PER_SECTION:
                builder.flush()
                run = 0
            builder.paragraph(line, line=number)
            run += 1
        n += 1
    builder.flush()
    return SectionedDocument("text", builder.sections)


def _heading_at(lines: list[str], n: int) -> tuple[int, str, int] | None:
    """(level, title, lines used) when a heading starts at line n."""
    atx = _ATX.match(lines[n])
    if atx:
        return len(atx.group(1)), atx.group(2), 1
    if n + 1 < len(lines) and lines[n].strip() and not lines[n].startswith((" ", "\t", "|", "-", "*")):
        under = lines[n + 1].strip()
        if _UNDERLINE.match(under) and len(under) >= max(3, len(lines[n].strip()) - 2):
            return (1 if under[0] == "=" else 2), lines[n].strip(), 2
    return None


# ---- HTML ----------------------------------------------------------------------------------------------------


def read_html(path: Path, name: str = "") -> SectionedDocument:
    """An HTML page's visible text as sections under its headings, and its tables; nothing in it runs."""
    name = name or Path(path).name
    text, warnings = read_text_file(path, name)
    doc = sections_of_html(text)
    doc.warnings.extend(warnings)
    cap_tables(doc, name)
    return doc


def sections_of_html(markup: str) -> SectionedDocument:
    """Sections and tables of HTML markup (scripts, styles, iframes and forms dropped unread)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    title = " ".join(soup.title.get_text().split()) if soup.title else ""
    for tag in soup.find_all(_DROPPED_TAGS):
        tag.decompose()
    builder = SectionBuilder("section")
    for element in soup.find_all(_BLOCKS):
        if element.find_parent(_BLOCKS) is not None:
            continue  # taken with its block (a <p> inside a <li>, a cell's paragraph)
        if element.name == "table":
            rows, merged = _html_rows(element)
            builder.table(rows, "merged cells" if merged else "")
        elif element.name[0] == "h" and element.name[1:].isdigit():
            builder.heading(int(element.name[1:]), element.get_text(" ", strip=True))
        else:
            words = " ".join(element.get_text(" ", strip=True).split())
            if words:
                builder.paragraph(("• " if element.name == "li" else "") + words)
    builder.flush()
    if not builder.sections:  # text straight in <body>, without block elements
        body = soup.body or soup
        text = "\n\n".join(" ".join(line.split()) for line in body.get_text("\n").split("\n") if line.strip())
        builder.sections = [Section(1, text)] if text else []
    return SectionedDocument("html", builder.sections, title, tables=builder.tables)


def _html_rows(table: Any) -> tuple[list[list[str]], bool]:
    rows: list[list[str]] = []
    merged = False
    for tr in table.find_all("tr")[:MAX_TABLE_ROWS]:
        if tr.find_parent("table") is not table:
            continue  # a nested table's rows belong to it
        cells = tr.find_all(["th", "td"], recursive=False)
        merged = merged or any(str(c.get("colspan", "1")) != "1" or str(c.get("rowspan", "1")) != "1"
                               for c in cells)
        rows.append([" ".join(c.get_text(" ", strip=True).split()) for c in cells])
    return rows, merged


# ---- e-mail ----------------------------------------------------------------------------------------------------


def read_email(path: Path, name: str = "") -> SectionedDocument:
    """An e-mail's headers and body as one section under its subject; attachments returned, capped."""
    name = name or Path(path).name
    raw = Path(path).read_bytes()
    if not raw.strip():
        raise TextDocumentError(f"{name} is empty.", "Save the e-mail again (as .eml) and add it.")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    if not isinstance(message, EmailMessage) or not message.keys():
        raise TextDocumentError(f"{name} is not an e-mail (no headers found).",
                                "Save the message from your mail program as .eml and add that file.")
    subject = " ".join(str(message.get("subject", "") or "").split())
    headers = [f"{h}: {' '.join(str(message[h]).split())}" for h in ("From", "To", "Cc", "Date", "Subject")
               if message.get(h)]
    body, tables, method = _email_body(message)
    text = "\n\n".join(["\n".join(headers), *body])
    doc = SectionedDocument("email", [Section(1, text, subject)], subject, str(message.get("from", "") or ""),
                            tables=tables, method=method)
    _collect_attachments(message, doc, name)
    cap_tables(doc, name)
    return doc


def _email_body(message: EmailMessage) -> tuple[list[str], list[Any], str]:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return [], [], "text"
    content = part.get_content() if isinstance(part, EmailMessage) else ""
    if part.get_content_subtype() == "html":
        page = sections_of_html(str(content))
        return [s.text for s in page.sections], page.tables, "html"
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", str(content).replace("\r\n", "\n")) if p.strip()]
    return paragraphs, [], "text"


def _collect_attachments(message: EmailMessage, doc: SectionedDocument, name: str) -> None:
    total, skipped = 0, 0
    for number, part in enumerate(message.iter_attachments(), start=1):
        payload = part.get_payload(decode=True) if isinstance(part, EmailMessage) else None
        if not isinstance(payload, bytes) or not payload:
            continue
        if len(doc.attachments) >= MAX_ATTACHMENTS or total + len(payload) > MAX_ATTACHMENT_BYTES:
            skipped += 1
            continue
        filename = Path(part.get_filename() or f"attachment-{number}").name or f"attachment-{number}"
        doc.attachments.append((filename, payload))
        total += len(payload)
    if skipped:
        doc.warnings.append(f"{name} has {skipped} more attachment(s) than are added (at most {MAX_ATTACHMENTS}, "
                            f"{MAX_ATTACHMENT_BYTES >> 20} MB): save those from your mail program and add them.")
