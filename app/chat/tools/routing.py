"""The deterministic router: which tools a question needs, from its words and the conversation's files.

Used when the model has no reliable tool calling (small embedded models) and as the fallback
when its calls are unusable. It is a rule set over generic cues — no rule names a benchmark question.
"""

from __future__ import annotations

import itertools
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
# Column names found in almost any table, and everyday words that schemas split into ("flight_number" -> "number",
# "is_available" -> "available"): a question that uses one ("which year ...", "the number of elements", "the colors of
# a plot") is no more about the user's tables than about a document; only a table-specific name (or an explicit
# cue) counts.
_GENERIC_COLUMNS = """id key code name title label description text note comment status type category value size age
sex gender date time year month week day hour quarter country city state area place location address number file
length level version mode model format source index field option result output input flag element object default
color colour first last min max weight width height depth start end open closed created updated new old available
special direct extra other main""".split()
_GENERIC_WORDS = {*_GENERIC_COLUMNS, *(w + "s" for w in _GENERIC_COLUMNS), "data", "table", "the", "and", "for",
                  "with", "countries", "cities", "categories", "addresses", "indexes", "indices"}
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
    A plain set of words (no table names or phrases known) is taken as such.
    """
    if not isinstance(table_words, TableWords):
        table_words = TableWords(set(table_words))
    original = question
    text = " ".join(question.lower().split())
    calls: list[ToolCall] = []
    new_files = {f.kind for f in resources.files if f.new}

    doc_score = 0
    if resources.documents:
        doc_score += 2 * bool(_DOC_CUES.search(text)) + bool(_DOC_WEAK.search(text)) + 2 * ("pdf" in new_files)

    if not resources.tables:
        use_sql = False
    elif resources.documents and "table" not in new_files:
        # Documents compete for the question: SQL only on evidence that a part of it asks about the data.
        use_sql = any(asks_for_data(part.lower(), table_words) for part in split_question(text))
    else:
        use_sql = _data_score(text, table_words) + 2 * ("table" in new_files) >= 2
    if resources.tables and previous and RUN_SQL in previous.tools and _is_follow_up(text):
        # "now only for 2023" refines the previous query, even when it also names a column.
        use_sql = True
        question = follow_up_question(previous, question)
    parts = split_question(original)
    data_parts = [p for p in parts if asks_for_data(p.lower(), table_words)] if len(parts) > 1 else []
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


class TableWords(set[str]):
    """Words of the table and column names in scope, plus what marks a mention of the data rather than an
    ordinary word that happens to be a column name: whole table names, and names of several words as phrases."""

    def __init__(self, words: set[str] | None = None, tables: set[str] | None = None,
                 phrases: set[str] | None = None) -> None:
        super().__init__(words or ())
        self.tables = tables or set()  # single-word table names ("customers", "taxi"), singular and plural
        self.phrases = phrases or set()  # runs of 2+ words of a snake_case/CamelCase name ("type of payment")


def table_vocabulary(tables: list[object]) -> TableWords:
    """Words of table and column names (split on underscores and case), for matching question words."""
    vocab = TableWords()
    for table in tables:
        names = [getattr(table, "name", "")] + [getattr(c, "name", "") for c in getattr(table, "columns", [])]
        for position, name in enumerate(names):
            spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name)).replace("_", " ").lower()
            words = _WORD.findall(spaced)
            for word in words:
                vocab.update(_forms(word))
            if position == 0 and len(words) == 1 and words == spaced.split():
                vocab.tables.update(_forms(words[0]))
            vocab.phrases.update(_phrases(spaced.split()))
    return vocab


def _forms(word: str) -> set[str]:
    if word.endswith("s") and len(word) > 2:
        return {word, word[:-1]}  # "sales" matches "sale", "pcs" matches "pc"
    return {word, word + "s", *([word + "es"] if word.endswith(("s", "x", "ch", "sh")) else [])}


_LINKING = {"of", "to", "in", "on", "at", "by", "for", "is", "the", "and", "a", "an", "or", "no", "per", "from"}


def _phrases(tokens: list[str]) -> set[str]:
    # Every run of two or more words that does not start or end on a linking word ("type of payment", "due date",
    # "customer id"; not "type of"), with the last word singular and plural.
    found: set[str] = set()
    for start in range(len(tokens)):
        for end in range(start + 2, len(tokens) + 1):
            run = tokens[start:end]
            if run[0] not in _LINKING and run[-1] not in _LINKING:
                found.update(" ".join(run[:-1] + [form]) for form in _forms(run[-1]))
    return found


# --- Does a question (or one part of it) ask about the data? ------------------------------------------------
# With documents and tables both in scope, ordinary words collide: a manual speaks of the "number of elements", the
# "colors of a plot", "a package", while a schema has flight_number, color and flight_package. Sharing a word with a
# column is no evidence; a question asks about the data when it asks for a computation, a listing or a choice OF
# something the tables hold ("how many customers", "the average price", "which airline"), names a table or a
# several-word column name with such an intent, or refers to the database explicitly.
_INTENT = re.compile(
    r"\b(how many|how much|number of|count(s|ed)?( of)?|total|sum|average|avg|mean|median|maximum|minimum|max|min|"
    r"highest|lowest|largest|smallest|biggest|cheapest|most|least|fewest|top \d+|bottom \d+|per|for each|in each|"
    r"of each|group(ed)? by|sort(ed)? by|order(ed)? by|rank(ed)? by)\b")
_CHOICE = re.compile(r"\b(which|what)\b")  # "which airline ...": a choice among rows, with a table named
_LISTING = re.compile(r"^(list|show|display|find|select|get|return|give|print|fetch|count|sum)\b")
_COMPARISON = re.compile(r"\b((more|less|fewer|greater|higher|lower|longer|shorter|cheaper) than|above|below|over|"
                         r"under|at least|at most|between) \$?\d")
# "the table" alone is not explicit: manuals have tables too ("the rows of the table read.table() returns").
_EXPLICIT = re.compile(r"\b(in|from|of) (the|this|my|our) (database|db|spreadsheet)\b|\b(in|from) (my|our) tables?\b|"
                       r"\bsql\b|\bcolumns? (named|called)\b")
_CODE = re.compile(r"[a-z0-9_.]\(|\[\[|<-|\w=")  # locator(), Lst[[1]], x <- 1, type= : a manual's syntax
_FILLERS = {"a", "an", "of", "to", "in", "on", "is", "different", "distinct", "unique", "single", "individual"}
_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # "user-defined" stays one word: no column called "user" in it


def asks_for_data(text: str, table_words: TableWords) -> bool:
    """Whether a lower-cased question (or one part of it) asks about the tables, not about the documents."""
    tokens = _TOKEN.findall(text.replace("_", " "))
    named = {t for t in tokens if t in table_words} - _GENERIC_WORDS - _STOPWORDS
    strong = named & table_words.tables
    strong |= {" ".join(tokens[i:i + n]) for n in (2, 3, 4) for i in range(len(tokens))} & table_words.phrases
    if _EXPLICIT.search(text):
        return True
    listing = bool(_LISTING.search(text))
    # A table named together with another word of the schema ("EMEA revenue according to the q3 report", the table
    # q3_report_p2_t1 having a Revenue column) asks for its data whatever the wording.
    other_names = named - {w for mention in strong for w in mention.split()}
    if strong and (listing or other_names or _COMPARISON.search(text) or _asks_of(text, _INTENT, named)
                   or _asks_of(text, _CHOICE, named, span=1)):
        return True
    if _DOC_CUES.search(text) or _CODE.search(text):
        return False  # "how does the policy define revenue?", "how many points does locator() wait for?"
    # A year alone ("in 2004") is no sign of the tables (manuals are full of years); a year with a total is.
    year_total = bool(_AGGREGATE.search(text) and re.search(r"\b(19|20)\d\d\b", text))
    return (listing and bool(named)) or _asks_of(text, _INTENT, named) or year_total


def _asks_of(text: str, intent: re.Pattern[str], named: set[str], span: int = 2) -> bool:
    # The thing the intent asks for is a word of the tables: "how many orders", "the average ticket price", "the
    # highest PC price", "revenue per region"; not "how many points does locator() ...", "how many arguments can
    # the user pass". The thing = the first `span` words after the intent, past leading small and generic words
    # ("the number of units"), up to the next small word.
    small = _FILLERS | _STOPWORDS
    for match in intent.finditer(text):
        following = _TOKEN.findall(text[match.end():].replace("_", " "))
        start = next((i for i, t in enumerate(following) if t not in small and t not in _GENERIC_WORDS), None)
        if start is None:
            continue
        thing = list(itertools.takewhile(lambda t: t not in small, following[start:start + span]))
        if set(thing) & named:
            return True
    return False
