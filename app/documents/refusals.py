"""The fixed sentences a document answer uses when the documents do not hold the answer, and how a refusal
the model wrote in its own words is recognised.

Kept below chat, audit and evaluation so that all three recognise the same refusal."""

import re

NOT_IN_DOCUMENTS = "I could not find this in your documents."
MODEL_SAYS_NOT_FOUND = "The documents do not say."

_SOURCE = r"(?:(?:provided|given|above|numbered|quoted|retrieved|your|these|the)\s+){0,2}(?:documents?|passages?|" \
          r"texts?|context|sources?|manual|excerpts?|information provided|materials?)"
_DENY = r"(?:do|does|did) not|don't|doesn't|didn't|cannot|can't|fail to"
_SAY = r"(?:say|contain|mention|provide|include|specify|state|describe|explain|answer|cover|discuss|address|give|" \
       r"have|offer|tell)"
# What small models write instead of the exact sentence: "The passages do not mention X.", "There is no information
# about X in the documents.", "I could not find ...", "X is not mentioned in the provided passages."
_REFUSAL = re.compile(
    rf"^\W*(?:sorry,?\s+|unfortunately,?\s+|based on the [\w ]+?,\s+)?(?:"
    rf"{_SOURCE}\s+(?:{_DENY})\s+{_SAY}"
    rf"|(?:there is|there's|there are)\s+no\s+(?:information|mention|details?|answer|data|reference)"
    rf"|no\s+(?:information|mention|answer)\s+(?:about|on|of|regarding|is|was)"
    rf"|i\s+(?:could not|couldn't|cannot|can't|was unable to|am unable to|am not able to)\s+(?:find|answer|locate)"
    rf"|(?:the answer|this|that|it)\s+(?:is not|isn't)\s+(?:in|found in|mentioned in|covered)"
    rf"|.{{0,80}}?\b(?:is|are)\s+not\s+(?:mentioned|stated|specified|found|covered|provided|given|described|"
    rf"discussed|addressed)\s+in\s+{_SOURCE}"
    rf")",
    re.IGNORECASE,
)
_MARKER = re.compile(r"\[\d{1,2}(?:\s*[,;]\s*\d{1,2})*\]")
_GOES_ON = re.compile(r"[,;]\s*(?:but|however|although|yet)\b|\b(?:but|however)\s*,", re.IGNORECASE)
_FIRST_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def is_refusal(answer: str) -> bool:
    """True when the answer says the documents do not hold the answer, in the app's words or the model's own.

    The refusal must open the answer and the answer must not go on to answer from a passage: "The documents
    do not say why, but [2] shows how ..." is a partial answer, not a refusal."""
    text = " ".join((answer or "").split())
    if not text:
        return False
    first, *rest = _FIRST_SENTENCE.split(text, maxsplit=1)
    if not _REFUSAL.match(first) or _GOES_ON.search(first):
        return False
    return not (rest and _MARKER.search(rest[0]))


def marker_only(answer: str) -> bool:
    """True when the answer is nothing but citation markers ("[2]"), which small models sometimes write."""
    text = (answer or "").strip()
    return bool(text) and bool(_MARKER.search(text)) and not _MARKER.sub("", text).strip(" .,;:\n")
