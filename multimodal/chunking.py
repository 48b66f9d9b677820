"""Page-aware, sentence-aware chunking with overlap; every chunk keeps its exact character span.

A chunk never crosses a page (a citation names one page) and is a verbatim slice of the page
text: `page_text[char_start:char_end] == chunk.text`, so the UI can highlight it. A transcript is
one "page" (one segment per line); its chunks are runs of whole segments carrying start/end times.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

DEFAULT_MAX_CHARS = 700  # ~160 MiniLM tokens: well inside its 256-token window
DEFAULT_OVERLAP_CHARS = 150  # about one sentence carried over, so a fact split at a boundary survives
TRANSCRIPT_MAX_CHARS = 500  # ~30-40 s of speech: a citation's timestamp lands near the fact

# A sentence ends at ., ! or ? (optionally closed by a quote/bracket) before whitespace, or at a blank line.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]”’]*\s+|\n\s*\n")

_INJECTION = re.compile(
    r"ignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier) (?:instructions|prompts?|rules)"
    r"|disregard (?:all |the )?(?:previous|prior|above|system)"
    r"|you are now (?:a|an|in) "
    r"|(?:reveal|print|show) (?:me )?(?:your|the) system prompt"
    r"|<\|?(?:im_start|system)\|?>",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TextChunk:
    """A verbatim slice of one page."""

    page: int
    index: int  # position within the page
    char_start: int
    char_end: int
    text: str
    suspicious: bool = False  # looks like instructions aimed at a model; still just data
    start_s: float | None = None  # recordings only: where the chunk's speech starts and ends, in seconds
    end_s: float | None = None
    heading: str = ""  # sections only: the heading path, prefixed to the indexed text so retrieval sees it
    locator: str = ""  # sections only: where it is, e.g. "3.2 Revenue ¶4", "slide 7", "Setup (lines 12–30)"

    @property
    def indexed_text(self) -> str:
        """What is embedded and keyword-indexed: the text, after its heading path when it has one."""
        return f"{self.heading} — {self.text}" if self.heading else self.text


@dataclass(frozen=True)
class TimedSpan:
    """Where one transcript segment sits: in the recording (seconds) and in the transcript text (chars)."""

    start_s: float
    end_s: float
    char_start: int
    char_end: int


@dataclass(frozen=True)
class Section:
    """One stretch of a document read as text: a Word heading's paragraphs, a slide, a web page's section,
    the lines under a Markdown heading, an e-mail's body. It is stored as one "page" (number = its order,
    or the slide number), so citations, highlighting and re-embedding work as for PDF pages."""

    number: int
    text: str  # paragraphs separated by blank lines
    heading: str = ""  # heading path, outermost first: "3 Results › 3.2 Revenue"
    unit: str = "section"  # "slide" | "section" (cited by paragraph) | "lines" (cited by line range)
    first_line: int = 1  # "lines" only: the line number in the file of the text's first line


HEADING_SEPARATOR = " › "


def section_locator(section: Section, char_start: int, char_end: int) -> str:
    """Where a passage of a section is: 'slide 7', '3.2 Revenue ¶4' or 'Setup (lines 12–30)'."""
    last = section.heading.rsplit(HEADING_SEPARATOR, 1)[-1]
    if section.unit == "slide":
        return f"slide {section.number}"
    if section.unit == "lines":
        first = section.first_line + section.text.count("\n", 0, char_start)
        final = section.first_line + section.text.count("\n", 0, max(char_start, char_end - 1))
        span = f"line {first}" if first == final else f"lines {first}–{final}"
        return f"{last} ({span})" if last else span
    paragraph = section.text.count("\n\n", 0, char_start) + 1
    return f"{last} ¶{paragraph}" if last else f"¶{paragraph}"


def chunk_section(section: Section, max_chars: int = DEFAULT_MAX_CHARS) -> list[TextChunk]:
    """A section's chunks (as a page's), each carrying the heading path and its locator."""
    return [replace(c, heading=section.heading, locator=section_locator(section, c.char_start, c.char_end))
            for c in chunk_page(section.text, section.number, max_chars)]


def looks_like_injection(text: str) -> bool:
    """True when text contains phrasing typical of prompt injection (flag only; never acted upon)."""
    return bool(_INJECTION.search(text))


def sentence_spans(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[tuple[int, int]]:
    """(start, end) spans of sentences; sentences longer than max_chars are cut at whitespace."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _BOUNDARY.finditer(text):
        _add_span(text, pos, m.start() + len(m.group(0).rstrip()), spans, max_chars)
        pos = m.end()
    _add_span(text, pos, len(text), spans, max_chars)
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]], max_chars: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        cut = cut if cut > start else text.rfind("\n", start + 1, start + max_chars)
        cut = cut if cut > start else start + max_chars
        spans.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        spans.append((start, end))


def chunk_page(
    text: str, page: int, max_chars: int = DEFAULT_MAX_CHARS, overlap_chars: int = DEFAULT_OVERLAP_CHARS
) -> list[TextChunk]:
    """Split one page's text into overlapping chunks of whole sentences."""
    spans = sentence_spans(text, max_chars)
    chunks: list[TextChunk] = []
    i = 0
    while i < len(spans):
        j = i
        while j + 1 < len(spans) and spans[j + 1][1] - spans[i][0] <= max_chars:
            j += 1
        start, end = spans[i][0], spans[j][1]
        body = text[start:end]
        chunks.append(TextChunk(page, len(chunks), start, end, body, looks_like_injection(body)))
        if j + 1 >= len(spans):
            break
        # Step back over trailing sentences that fit in the overlap, but always move forward.
        nxt = j + 1
        while nxt - 1 > i and end - spans[nxt - 1][0] <= overlap_chars:
            nxt -= 1
        i = nxt
    return chunks


def join_segments(segments: Sequence[tuple[float, float, str]]) -> tuple[str, list[TimedSpan]]:
    """A transcript's page text (one segment per line) and every segment's span in it."""
    parts: list[str] = []
    spans: list[TimedSpan] = []
    pos = 0
    for start, end, raw in segments:
        text = " ".join(raw.split())
        if not text:
            continue
        if parts:
            pos += 1  # the newline before this segment
        spans.append(TimedSpan(float(start), float(end), pos, pos + len(text)))
        parts.append(text)
        pos += len(text)
    return "\n".join(parts), spans


def chunk_segments(
    text: str, spans: Sequence[TimedSpan], page: int = 1, max_chars: int = TRANSCRIPT_MAX_CHARS,
    overlap_segments: int = 1,
) -> list[TextChunk]:
    """Group consecutive segments into chunks of about max_chars, the last segments repeated as overlap."""
    chunks: list[TextChunk] = []
    i = 0
    while i < len(spans):
        j = i
        while j + 1 < len(spans) and spans[j + 1].char_end - spans[i].char_start <= max_chars:
            j += 1
        start, end = spans[i].char_start, spans[j].char_end
        body = text[start:end]
        chunks.append(TextChunk(page, len(chunks), start, end, body, looks_like_injection(body),
                                spans[i].start_s, spans[j].end_s))
        if j + 1 >= len(spans):
            break
        i = max(i + 1, j + 1 - overlap_segments)  # always move forward
    return chunks
