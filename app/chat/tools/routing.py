"""The deterministic router: which tools a question needs, from its words and the conversation's files.

Used when the model has no reliable tool calling (small embedded models) and as the fallback
when its calls are unusable. It is a rule set over generic cues — no rule names a benchmark question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.chat.tools.specs import (
    DESCRIBE_IMAGE,
    READ_TRANSCRIPT,
    RUN_SQL,
    SEARCH_DOCUMENTS,
    Resources,
    ToolCall,
)

# Words that ask for a computation over rows.
_DATA_STRONG = re.compile(
    r"\b(how many|how much|number of|count|total|sum|average|avg|mean|median|maximum|minimum|highest|lowest|"
    r"largest|smallest|biggest|top \d+|bottom \d+|rank(ed|ing)?|percent(age)?|share of|ratio|per (year|month|"
    r"day|week|quarter|customer|product|region|country|category|person|user)|group(ed)? by|sorted by|"
    r"order(ed)? by|most|least|fewest|greater than|less than|more than|at least|between \d|"
    r"in (19|20)\d\d|rows?|records?|table|column|dataset|spreadsheet|csv|sql|query)\b"
)
_AGGREGATE = re.compile(r"\b(how many|how much|number of|count|total|sum|average|avg|mean|median|maximum|minimum)\b")
_DATA_WEAK = re.compile(r"\b(which|list|show|each|every|per|by|compare|trend|growth|values?|data)\b")
# Words that ask for text: definitions, explanations, what a document says.
_DOC_CUES = re.compile(
    r"\b(what (is|are|does|do) (a |an |the )?\w+ (mean|means|defined)|what is meant|define[ds]?|definition|meaning|"
    r"explain|explanation|why|according to|policy|policies|clause|contract|report|manual|guide|document|"
    r"pdf|page|section|chapter|says?|said|mention(s|ed)?|describe[sd]?|how (do|does|can|to|should)|"
    r"terms?|conditions?|recommend(s|ed|ation)?)\b"
)
_DOC_WEAK = re.compile(r"\b(what (is|are|was|were)|who)\b")  # also how data questions start
_IMAGE_CUES = re.compile(r"\b(image|picture|photo|chart|graph|screenshot|scan(ned)?|figure|diagram|slide|receipt)s?\b")
_AUDIO_CUES = re.compile(r"\b(recording|audio|meeting|call|voice|said|says|speaker|transcript|minute|podcast)s?\b")
# A short question that leans on the previous one ("now only for 2023", "and for Europe?").
_FOLLOW_UP = re.compile(
    r"^(now|only|and|but|what about|how about|instead|same|also|just|exclude|excluding|include|including|"
    r"for|in|then|break (it|that) down|split)\b"
)
# Requests the model answers by itself: small talk and writing tasks (no search as a fallback).
_CHAT_ONLY = re.compile(r"^(hi|hello|hey|thanks|thank you|good (morning|afternoon|evening)|write|draft|translate|"
                        r"suggest|rephrase|rewrite|compose|brainstorm|proofread)\b")
# Column names found in almost any table: a question that uses one ("which year ...", "in which country ...") is no
# more about the user's tables than about a document; only a table-specific name (or an explicit cue) counts.
_GENERIC_COLUMNS = """id key code name title label description text note comment status type category value size age
sex gender date time year month week day hour quarter country city state area place location address""".split()
_GENERIC_WORDS = {*_GENERIC_COLUMNS, *(w + "s" for w in _GENERIC_COLUMNS), "data", "table", "the", "and", "for",
                  "with", "countries", "cities", "categories", "addresses"}
_STOPWORDS = set(
    "the and for with are was were what which who whom how many much does did have has had this that these those "
    "there their them they from into onto than then also only just all any each every per our your you can could "
    "would should will shall may might must not but its it's show list give tell find get made make sold number "
    "total count average sum most least more less top between during year years month months day days".split()
)
_WORD = re.compile(r"[a-z][a-z0-9]{2,}")


@dataclass
class PreviousTurn:
    """What the router needs to know about the conversation's last answered question."""

    question: str = ""
    tools: tuple[str, ...] = ()
    sql: str = ""


def route(question: str, resources: Resources, table_words: set[str], previous: PreviousTurn | None = None,
          force_documents: bool | None = None) -> list[ToolCall]:
    """Tool calls for a question. `table_words` are words of the table and column names in scope.

    `force_documents`: True always searches the documents, False never does, None decides by the question.
    """
    original = question
    text = " ".join(question.lower().split())
    calls: list[ToolCall] = []
    new_files = {f.kind for f in resources.files if f.new}

    sql_score = 0
    if resources.tables:
        sql_score = _data_score(text, table_words) + 2 * ("table" in new_files)
        if resources.documents and "table" not in new_files and not _names_tables(text, table_words):
            sql_score = min(sql_score, 1)  # "How many points does locator() wait for?" is about the documents
    doc_score = 0
    if resources.documents:
        doc_score += 2 * bool(_DOC_CUES.search(text)) + bool(_DOC_WEAK.search(text)) + 2 * ("pdf" in new_files)

    use_sql = sql_score >= 2
    if resources.tables and previous and RUN_SQL in previous.tools and _is_follow_up(text):
        # "now only for 2023" refines the previous query, even when it also names a column.
        use_sql = True
        question = follow_up_question(previous, question)
    parts = split_question(original)
    data_parts = [p for p in parts if _is_data_part(p.lower(), table_words)] if len(parts) > 1 else []
    text_parts = [p for p in parts if p not in data_parts]
    if data_parts and text_parts:
        doc_score += 2  # a compound question with a part the tables cannot answer
    if use_sql:
        # Each tool gets the part of a compound question it can answer ("How many ..., and what does X mean?").
        sql_question = " ".join(data_parts) if data_parts and text_parts else question
        calls.append(ToolCall(RUN_SQL, {"question": sql_question}, reason="data question"))

    if force_documents is True and resources.documents:
        use_docs = True
    elif force_documents is False:
        use_docs = False
    else:
        # Documents answer whatever the tables do not: searched when the question reads like a text question,
        # or when nothing else was picked (the relevance floor then decides whether anything matches).
        use_docs = resources.documents and (doc_score >= 2 or not (use_sql or _CHAT_ONLY.search(text)))
    if use_docs:
        asks_text = doc_score >= 2 or (doc_score >= 1 and not use_sql) or force_documents
        reason = "document question" if asks_text else "nothing else fits"
        query = " ".join(text_parts) if use_sql and data_parts and text_parts else original
        calls.append(ToolCall(SEARCH_DOCUMENTS, {"query": query}, reason=reason))

    # Earlier attachments are reread when the question points at them; this turn's are always read.
    only_files = _only_files_left(calls, resources)  # decided before the media calls below are added
    for stored in resources.images():
        if stored.new or _IMAGE_CUES.search(text) or only_files:
            calls.append(ToolCall(DESCRIBE_IMAGE, {"name": stored.name}))
    for stored in resources.recordings():
        if stored.new or _AUDIO_CUES.search(text) or only_files:
            calls.append(ToolCall(READ_TRANSCRIPT, {"name": stored.name}))
    return calls


def _data_score(text: str, table_words: set[str]) -> int:
    words = set(_WORD.findall(text))
    cues = 2 * bool(_DATA_STRONG.search(text)) + bool(_DATA_WEAK.search(text))
    named = len((words & table_words) - _GENERIC_WORDS) if table_words else 0
    # One table word alone ("a team email") is weak evidence; with a cue or a second name it is strong.
    return cues + (2 * named if (named >= 2 or cues) else named)


def _names_tables(text: str, table_words: set[str]) -> bool:
    # A year alone ("in 2004") is not a table-specific signal: manuals and reports are full of years; a year with
    # an aggregate ("the total in 2024") is.
    return bool((set(_WORD.findall(text)) & table_words) - _GENERIC_WORDS) or bool(
        re.search(r"\b(tables?|columns?|rows?|records?|dataset|spreadsheet|csv|sql)\b", text)) or bool(
        _AGGREGATE.search(text) and re.search(r"\b(19|20)\d\d\b", text))


def _is_data_part(text: str, table_words: set[str]) -> bool:
    # One part of a compound question: does it ask for rows (SQL) or for text (documents)? Ties go to text.
    words = set(_WORD.findall(text))
    text_score = 2 * bool(_DOC_CUES.search(text)) + bool(_DOC_WEAK.search(text))
    text_score += len({w for w in words if w not in _STOPWORDS and w not in table_words})
    return _data_score(text, table_words) > text_score


_SPLIT = re.compile(r"(?:[?;]\s+|,?\s+and\s+(?=(?:how|what|which|who|why|where|when|does|do|is|are|can)\b))",
                    re.IGNORECASE)


def split_question(question: str) -> list[str]:
    """A compound question in its parts: 'How many X?, and what does Y mean?' -> two questions."""
    parts = [p.strip(" ,") for p in _SPLIT.split(question) if p and p.strip(" ,")]
    return parts or [question]


def _is_follow_up(text: str) -> bool:
    return bool(_FOLLOW_UP.search(text)) or len(text.split()) <= 6


def _only_files_left(calls: list[ToolCall], resources: Resources) -> bool:
    # Nothing else fits the question and the conversation has media: the question is probably about them.
    return not calls and not resources.documents and not resources.tables


def follow_up_question(previous: PreviousTurn, question: str) -> str:
    """A follow-up rewritten to stand alone for the SQL writer, which sees no chat history."""
    sql = f" (answered with: {' '.join(previous.sql.split())})" if previous.sql else ""
    return f"Previous question: {previous.question}{sql}. Follow-up: {question}"


def table_vocabulary(tables: list[object]) -> set[str]:
    """Words of table and column names (split on underscores and case), for matching question words."""
    vocab: set[str] = set()
    for table in tables:
        names = [getattr(table, "name", "")] + [getattr(c, "name", "") for c in getattr(table, "columns", [])]
        for name in names:
            spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name)).replace("_", " ").lower()
            for word in _WORD.findall(spaced):
                vocab.add(word)
                if word.endswith("s") and len(word) > 3:
                    vocab.add(word[:-1])  # "sales" matches "sale"
                else:
                    vocab.add(word + "s")
    return vocab
