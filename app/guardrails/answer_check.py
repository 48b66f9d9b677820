"""Did an answer follow text that was removed from what the model read? Signs, not proof.

The model never saw the removed sentences, so an answer that carries something only they held — a rare
word or number, a link or an image address, or a refusal that only they asked for — most likely came
from them (through another path: a second copy of the text, an earlier turn) and is withheld.
"""

from __future__ import annotations

import re

from app.guardrails.injection import find_injection

_WORD = re.compile(r"\d[\d,.']*\d|\d|[^\W\d_][\w'-]{3,}")
_LINK = re.compile(r"(?:https?://|www\.)([\w.-]+)|\b([\w-]+(?:\.[\w-]+)*\.(?:example|com|net|org|io|ru|cn|xyz|info|biz))\b",
                   re.IGNORECASE)
_REMOTE_IMAGE = re.compile(r"!\[[^\]\n]*\]\(\s*<?(?:https?:)?//|<img\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//",
                           re.IGNORECASE)
_REFUSAL = re.compile(
    r"\b(?:i(?:'m| am) sorry|i (?:cannot|can'?t|am unable to|won'?t|will not|must decline|refuse)|(?:cannot|can'?t) "
    r"(?:help|assist|answer|provide|share|discuss)|unable to (?:help|assist|answer|provide)|(?:is|are) "
    r"(?:classified|confidential|restricted)|not (?:allowed|permitted|authori[sz]ed) to)\b",
    re.IGNORECASE,
)
# Common words, and the words instructions are made of: an answer may use them without having obeyed anything.
_COMMON = frozenset(
    """about above after again against also always another answer answers any anything assistant assistants
    automated because been before being below between both could didn't does doesn't doing done down during each
    else even every from further have having here however ignore important include information instead instruction
    instructions into it's itself just know like link make many message model more most much must need never note
    only other over passage passages please previous prior really reply respond response same should since some
    such summaries summary system tell than that that's their them then there these they thing think this those
    through under until upon very want were what when where which while will with within without word words would
    your yours user users document documents report page text data note notes only single""".split()
)


def _words(text: str) -> set[str]:
    text = _LINK.sub(" ", text)  # the parts of an address are the link's sign, not words
    return {w.casefold().replace(",", "").replace("'", "") for w in _WORD.findall(text)}


def _hosts(text: str) -> set[str]:
    return {(a or b).casefold().rstrip(".") for a, b in _LINK.findall(text)}


def followed_signs(answer: str, removed: list[str], seen: str) -> list[str]:
    """Reasons to think `answer` followed `removed` text the model did not see (`seen`: all it read); [] if none."""
    if not removed or not answer.strip():
        return []
    gone = "\n".join(removed)
    reasons: list[str] = []
    if _REMOTE_IMAGE.search(answer) and not _REMOTE_IMAGE.search(seen):
        reasons.append("it shows an image from another host")
    # The explanation names no address or word: it is shown to the user, and the words may be the planted ones.
    if (_hosts(answer) & _hosts(gone)) - _hosts(seen):
        reasons.append("it links to an address that only the removed text named")
    if _REFUSAL.search(answer) and any(f.rule == "refusal_request" for f in find_injection(gone)):
        reasons.append("it refuses, as only the removed text asked")
    seen_words = _words(seen)
    echoed = (_words(gone) - seen_words - _COMMON) & _words(answer)
    if echoed:
        reasons.append(f"it repeats {len(echoed)} word(s) that only the removed text held")
    return reasons
