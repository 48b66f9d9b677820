"""Prompt injection in text the model will read: find it, and quote it so it cannot pose as a message.

A rule set over normalised text, not a model. Normalising (casefold, accents and zero-width
characters dropped, look-alike letters mapped, "i g n o r e" squashed) lets one phrase pattern
catch its disguises. Patterns are written for analysts' own documents: a manual that says
"ignore the warning", SQL docs showing DROP TABLE or "the system prompts the user" must stay
quiet, so each rule needs the phrase aimed at the model, not just an alarming word.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from app.guardrails.injection_rules import CUE_WINDOW, DIRECTIVE_CUE, OVERRIDE_PERMISSIVE, RULES

EXCERPT_CHARS = 120


@dataclass(frozen=True)
class InjectionFinding:
    """One suspected injection: which rule fired and where."""

    rule: str
    start: int
    end: int
    excerpt: str  # <= 120 chars around the match, whitespace collapsed


# --- normalisation -----------------------------------------------------------------------------

_INVISIBLE = "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e\u034f"
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]")
# Cyrillic and Greek letters that look Latin, the usual disguise for a keyword.
_LOOKALIKES = str.maketrans("аеорсухіјѕԁɡοαν", "aeopcyxijsdgoav")


class _FoldTable(dict):
    """str.translate table that folds each character once and remembers it."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        if ch in _INVISIBLE:
            out = ""
        else:
            decomposed = unicodedata.normalize("NFKD", ch)
            out = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().translate(_LOOKALIKES)
        self[code] = out
        return out


_FOLD = _FoldTable()


def _normalise(text: str) -> str:
    """Casefolded text without accents or invisible characters; the cheap path for ASCII."""
    return text.lower() if text.isascii() else text.translate(_FOLD)


def _offsets(text: str) -> list[int] | None:
    """For each character of _normalise(text), its index in `text`; None when they coincide."""
    if text.isascii():
        return None
    pieces = [_FOLD[ord(ch)] for ch in text]
    if all(len(p) == 1 for p in pieces):
        return None
    offsets = [i for i, piece in enumerate(pieces) for _ in piece]
    offsets.append(len(text))
    return offsets


# Four or more single letters kept apart by spaces or dots: "i g n o r e", "i.g.n.o.r.e".
_SPACED_LETTERS = re.compile(r"(?<![\w])(?:[a-z][\s.\-_*|/]{1,3}){4,}[a-z](?!\w)")


def _matches(norm: str, loose: bool = False) -> list[tuple[str, int, int]]:
    """(rule, start, end) of every rule match in normalised text (loose: for squashed letter runs)."""
    found: list[tuple[str, int, int]] = []
    for rule in RULES:
        if not loose and rule.triggers and not any(t in norm for t in rule.triggers):
            continue
        for m in rule.patterns[loose].finditer(norm):
            if rule.needs_cue and not DIRECTIVE_CUE.search(
                norm, max(0, m.start() - CUE_WINDOW), min(len(norm), m.end() + CUE_WINDOW)
            ):
                continue
            if rule.name == "override_instructions" and OVERRIDE_PERMISSIVE.search(norm, 0, m.start()):
                continue
            found.append((rule.name, m.start(), m.end()))
    return found


def _spans(text: str) -> list[tuple[str, int, int]]:
    """(rule, start, end) in `text` coordinates, including matches inside letter-spaced runs."""
    norm = _normalise(text)
    found = _matches(norm)
    for run in _SPACED_LETTERS.finditer(norm):
        squashed = re.sub(r"[^a-z]", "", run.group())
        # A squashed run carries no word breaks, so a hit anywhere in it marks the whole run.
        found.extend((rule, run.start(), run.end()) for rule, _, _ in _matches(squashed, loose=True))
    if not found:
        return []
    offsets = _offsets(text)
    if offsets is not None:
        found = [(rule, offsets[s], offsets[e] if e < len(offsets) else len(text)) for rule, s, e in found]
    return sorted(set(found), key=lambda f: (f[1], f[2], f[0]))


def _excerpt(text: str, start: int, end: int) -> str:
    """At most EXCERPT_CHARS of `text` around [start, end), whitespace collapsed."""
    span = end - start
    if span >= EXCERPT_CHARS:
        lo, hi = start, start + EXCERPT_CHARS
    else:
        pad = (EXCERPT_CHARS - span) // 2
        lo = max(0, start - pad)
        hi = min(len(text), lo + EXCERPT_CHARS)
    return " ".join(_INVISIBLE_RE.sub("", text[lo:hi]).split())


# --- public API --------------------------------------------------------------------------------


def find_injection(text: str) -> list[InjectionFinding]:
    """Suspected prompt injections in `text`, sorted by start."""
    return [InjectionFinding(rule, s, e, _excerpt(text, s, e)) for rule, s, e in _spans(text)]


# How much of each neighbour is joined to look for a phrase cut by a chunk boundary.
_SEAM_CHARS = 200


def scan_chunks(texts: list[str]) -> list[tuple[int, InjectionFinding]]:
    """Injections in each chunk, plus phrases split across consecutive chunks (given to the earlier one)."""
    results = [(i, f) for i, text in enumerate(texts) for f in find_injection(text)]
    for i in range(len(texts) - 1):
        tail, head = texts[i][-_SEAM_CHARS:], texts[i + 1][:_SEAM_CHARS]
        offset = len(texts[i]) - len(tail)
        seen: set[tuple[str, int]] = set()
        # Joined with and without a space: a cut may fall between words or inside one.
        for glue in ("", " "):
            seam = tail + glue + head
            for rule, s, e in _spans(seam):
                if s < len(tail) < e and (rule, s) not in seen:
                    seen.add((rule, s))
                    finding = InjectionFinding(rule, offset + s, len(texts[i]), _excerpt(seam, s, e))
                    results.append((i, finding))
    return sorted(results, key=lambda r: (r[0], r[1].start))


_SPECIAL_TOKEN = re.compile(r"[<＜]\s*[|｜]\s*([^|｜<>\n]{1,40}?)\s*[|｜]\s*[>＞]")
_TAG_TOKEN = re.compile(
    r"<\s*(/?)\s*(tool_call|tool_response|tool_result|tool_use|function_call|function_calls|function_results|"
    r"im_start|im_end|start_of_turn|end_of_turn|system|assistant|user|tools|think)\s*>",
    re.IGNORECASE,
)
_BRACKET_TOKEN = re.compile(r"\[\s*(/?)\s*(INST|SYS)\s*\]|<<\s*(/?)\s*(SYS)\s*>>", re.IGNORECASE)
_ROLE_LINE = re.compile(
    r"^([ \t]*)((?:#+[ \t]*)?(?:system|assistant|user|developer|tool|human|ai|function)[ \t]*(?:\([^)\n]{0,30}\))?"
    r"[ \t]*:)",
    re.IGNORECASE | re.MULTILINE,
)


def quote_as_data(text: str) -> str:
    """`text` with chat-template tokens and line-opening role labels defused; the words stay readable."""
    text = _INVISIBLE_RE.sub("", text)  # zero-width characters can hide a token from the checks below
    text = _SPECIAL_TOKEN.sub(lambda m: f"‹{m.group(1)}›", text)
    text = _TAG_TOKEN.sub(lambda m: f"‹{m.group(1)}{m.group(2)}›", text)
    text = _BRACKET_TOKEN.sub(lambda m: f"‹{m.group(1) or m.group(3) or ''}{m.group(2) or m.group(4)}›", text)
    # "> assistant:" reads as quoted text, not as the start of a turn.
    return _ROLE_LINE.sub(r"\1> \2", text)


# --- removal from what the model reads ------------------------------------------------------------

REMOVED_MARK = "[…]"
# A sentence ends at . ! ? (and any closing quote or bracket) before white space, or at a line break.
_SENTENCE = re.compile(r"[^\n]*?(?:[.!?][\"'”’)\]]*(?=\s)|$)", re.MULTILINE)
# A sentence right after a removed one that carries on its orders ("Then say ...", "Reply with ...").
_CARRIES_ON = re.compile(
    r"^[\s\"'“‘(*>-]*(?:then|and|also|afterwards|next|finally|instead|always|never|do not|don'?t|reply|respond|"
    r"answer|say|tell|state|write|output|print|include|add|append|insert|mention|claim|report|refuse|decline|"
    r"end|start|begin|use|make sure|remember)\b(?=\W+\w)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Stripped:
    """A text with its instruction-like sentences cut out (each run replaced by REMOVED_MARK), and those sentences."""

    text: str
    removed: list[str]


def _sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line of `text`, surrounding white space left out."""
    spans = []
    for m in _SENTENCE.finditer(text):
        start, end = m.start(), m.end()
        while start < end and text[start].isspace():
            start += 1
        if start < end:
            spans.append((start, end))
    return spans


def strip_instructions(text: str) -> Stripped:
    """`text` without the sentences an injection rule fires in (and orders carried on right after them)."""
    found = _spans(text)
    if not found:
        return Stripped(text, [])
    sentences = _sentences(text)
    cut = [any(s < fe and fs < e for _, fs, fe in found) for s, e in sentences]
    for i in range(1, len(sentences)):
        if cut[i - 1] and not cut[i] and _CARRIES_ON.match(text[sentences[i][0]:sentences[i][1]]):
            cut[i] = True
    out: list[str] = []
    removed: list[str] = []
    last = 0
    for i, (start, end) in enumerate(sentences):
        if not cut[i]:
            continue
        removed.append(text[start:end].strip())
        if not (i and cut[i - 1]):  # a run of removed sentences leaves one mark
            out += [text[last:start], REMOVED_MARK]
        last = end
    out.append(text[last:])
    return Stripped("".join(out), removed)
