"""The rules of the prompt-injection check (app/guardrails/injection.py): one phrase pattern per disguise.

Each pattern is written over normalised text (casefolded, accents and look-alike letters folded) and
compiled twice: strict, and loose for letter-spaced runs whose word breaks were squashed away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Characters that separate the words of a phrase: punctuation, spaces, line breaks. Letter-spaced
# runs ("i g n o r e a l l") lose their word breaks when squashed, so they are matched by a loose
# copy of each rule in which the separator may be empty.
_SEP = r"[\W_]{1,6}"
_LOOSE_SEP = r"[\W_]{0,6}"


@dataclass(frozen=True)
class Rule:
    """One injection rule: phrase patterns, a cheap pre-check, and whether it needs a directive cue nearby."""

    name: str
    patterns: tuple[re.Pattern[str], re.Pattern[str]]  # (strict, loose)
    triggers: tuple[str, ...]  # cheap substring pre-check on the normalised text; () = always run
    needs_cue: bool = False  # fire only when the text around it addresses the model


def _rx(pattern: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Compile a phrase pattern in which a plain space means "word separator": strict and loose."""
    return (
        re.compile(pattern.replace(" ", _SEP), re.MULTILINE),
        re.compile(pattern.replace(" ", _LOOSE_SEP), re.MULTILINE),
    )


def _words(n: int) -> str:
    """Up to n filler words between the key words of a phrase."""
    return rf"(?:[\w'-]+[\W_]{{1,6}}){{0,{n}}}"


# --- the rules ---------------------------------------------------------------------------------

_IGNORE = r"(?:ignore|disregard|forget|neglect|discard|set aside|do not follow|don'?t follow|stop following)"
_STRONG_QUALIFIER = (
    r"(?:previous|prior|above|earlier|preceding|foregoing|initial|original|system|developer|your|existing|old)"
)
_INSTRUCTION_NOUN = (
    r"(?:instructions?|prompts?|rules|directives?|guidelines?|guardrails?|context|messages|orders|constraints|"
    r"restrictions|programming|polic(?:y|ies)|safeguards?|training)\b"
)
_OVERRIDE = _rx(
    "|".join(
        [
            # ignore (all) (of) (the/your) previous/system ... instructions
            rf"\b{_IGNORE} (?:all |any |every )?(?:of )?(?:the |your |my |these |those )?{_STRONG_QUALIFIER} "
            rf"{_words(2)}{_INSTRUCTION_NOUN}",
            rf"\b{_IGNORE} (?:all|any|every) (?:instructions?|rules|guidelines|directives|guardrails|restrictions)\b",
            r"\bforget (?:all |about )?everything (?:above|before|prior|previously|(?:you|you've|you have) "
            r"(?:were |been )?(?:told|given|instructed|learned))",
            # "your new task is ..." also opens ordinary e-mails; only instructions or a "real" purpose count
            r"\byour (?:new|updated) (?:instructions|directives?) (?:are|is|follow)\b",
            r"\byour (?:real|actual|true) (?:instructions?|task|goal|objective|directive|purpose|mission) "
            r"(?:is|are)\b",
            r"\b(?:override|bypass|disable|turn off) (?:your |the |all )?(?:safety |system |content )?"
            r"(?:guardrails?|safeguards|filters|system prompt|safety (?:rules|guidelines|measures))\b",
            r"\b(?:do not|don'?t|never|without) (?:tell|telling|inform|informing|alert|alerting|notify|notifying|"
            r"mention(?:ing)? (?:this |it )?to) (?:the )?user (?:about )?(?:this|these|that you)\b",
            # German, French, Spanish, Italian, Portuguese
            r"\b(?:ignorier\w*|vergiss|vergessen sie|missachte\w*) (?:sie )?(?:bitte )?(?:alle |die |deine |ihre )?"
            r"(?:(?:vorherigen|bisherigen|vorigen|obigen|vorangegangenen|alten|bisherige|vorherige|alle|system\w*) "
            r"(?:\w+ )?(?:anweisungen|instruktionen|befehle|regeln|vorgaben)|system(?:anweisung|vorgabe|regel)\w*)\b",
            r"\b(?:ignore[zrs]?|oublie[zrs]?|ne (?:tiens|tenez) pas compte d\w*) (?:toutes )?(?:les |tes |vos |des )?"
            r"(?:instructions?|consignes?|regles|directives) (?:precedentes|anterieures|ci dessus|initiales|"
            r"d'?avant|du systeme)\b",
            r"\b(?:ignore[zrs]?|oublie[zrs]?) (?:toutes )?(?:tes|vos) (?:instructions|consignes|regles)\b",
            r"\b(?:ignora|ignore|ignoren|olvida|olvide|olviden|omite|omita|esquece|esqueca) (?:todas )?"
            r"(?:las |tus |sus |as |suas )?(?:instrucciones|instrucoes|reglas|regras|indicaciones|ordenes) "
            r"(?:anteriores|previas|de arriba|iniciales|acima|del sistema)\b",
            r"\b(?:ignora|olvida|olvide|esquece) (?:todas )?(?:tus|sus|suas) (?:instrucciones|instrucoes|reglas)\b",
            r"\b(?:ignora|dimentica) (?:tutte )?(?:le )?(?:istruzioni|regole) (?:precedenti|iniziali|di sistema)\b",
        ]
    )
)
# "Linux users can disregard the above instructions": permission, not a command.
OVERRIDE_PERMISSIVE = re.compile(
    r"(?:\b(?:can|may) (?:safely )?|\b(?:users|readers|customers|owners|operators) (?:can|may|should) |"
    r"\bif you (?:use|have|run|are using)\b[^.]{0,40})$"
)

_REVEAL_VERB = (
    r"(?:reveal|print|show|display|repeat|output|tell me|give me|dump|leak|disclose|recite|share|provide|"
    r"write out|spell out|echo|return|send me|copy|paste|list|translate|summari[sz]e|zeige?|gib|nenne|"
    r"montre|affiche|revele|donne|ecris|muestra|revela|imprime|dime|escribe|mostra|rivela)"
)
_SYSTEM_PROMPT = (
    r"(?:system prompt\b|system message\b|pre-?prompt\b|(?:initial|original|hidden|secret|internal|developer|"
    r"system) (?:instructions|prompt|message)\b|systemanweisung\w*|(?:prompt|instructions?) (?:du )?systeme\b|"
    r"(?:prompt|instrucciones|mensaje) del sistema\b|(?:prompt|istruzioni) di sistema\b)"
)
_REVEAL = _rx(
    "|".join(
        [
            rf"\b{_REVEAL_VERB} {_words(4)}(?:your|the|deinen|den|ton|votre|le|tu|el|il) {_words(3)}{_SYSTEM_PROMPT}",
            rf"\b{_REVEAL_VERB} {_words(3)}your (?:instructions|rules|guidelines|configuration|prompt)\b",
            r"\bwhat (?:is|are|was|were) your (?:system prompt|instructions|initial instructions|rules|"
            r"original instructions)\b",
            r"\b(?:repeat|print|output|copy|reproduce|echo) (?:back )?(?:everything|all (?:the )?text|the text|"
            r"the words|all the words|the content|the message) (?:above|before this|preceding this|so far)\b",
            r"\byour (?:instructions|system prompt) (?:verbatim|word for word)\b",
        ]
    )
)

_ROLE_TOKEN = _rx(
    "|".join(
        [
            r"[<＜][|｜][\w▁\x20.-]{1,40}[|｜][>＞]",  # <|im_start|>, <|eot_id|>, <｜begin▁of▁sentence｜>
            r"\[/?inst\]|<</?sys>>",
            r"</?(?:tool_call|tool_response|tool_result|tool_use|function_call|function_calls|function_results|"
            r"im_start|im_end|start_of_turn|end_of_turn)>",
            # a role label opening a line (or a sentence, as PDF text runs lines together), speaking to the model
            r"(?:^|(?<=[.!?\"'])[\x20\t]+)[\x20\t>#*]*(?:system|assistant|developer|ai assistant)[\x20\t]*(?:\(\w+\))?"
            r"[\x20\t]*:"
            r"(?=[^\n]{0,160}\b(?:you|your|i will|i'll|ignore|sure|certainly|instructions?|reveal|prompt|"
            r"from now on|new task)\b)",
            r"^[\x20\t]*#{2,}[\x20\t]*(?:system|instructions?|new instructions?)[\x20\t]*:?[\x20\t]*$",
        ]
    )
)

# A tool call written out as JSON inside a document is aimed at a model whatever surrounds it.
_TOOL_CALL_JSON = _rx(
    r"\"(?:tool_calls?|function_call|tool_use)\"\s*:|"
    r"\{\s*\"name\"\s*:\s*\"[\w.-]+\"\s*,\s*\"(?:arguments|parameters|args|input)\"\s*:"
)
_TOOL_CALL = _rx(
    "|".join(
        [
            r"\b(?:call|invoke|trigger|use|run|execute) (?:the )?(?:[`'\"]?\w+[`'\"]? )?(?:tool|function)\b",
            r"\b(?:run|execute|issue|perform|send) .{0,60}?\b(?:drop (?:table|database|schema)|delete from|"
            r"truncate table|rm -rf|alter table|grant all|update \w+ set)\b",
        ]
    )
)
# Words that show a request is aimed at the assistant rather than at a human reader.
DIRECTIVE_CUE = re.compile(
    r"\b(?:assistants?|ai|llm|language models?|chatbots?|agent|you must|you should now|immediately|right now|"
    r"without (?:asking|confirmation|confirming|telling|informing)|silently|do it now|as your next step|"
    r"before (?:answering|you answer|replying)|when you read this|ignore|when you (?:answer|reply|respond)|"
    r"(?:your|every|each|any|the) (?:answer|reply|response|summary|output)s?|(?:ai|automated) tools?)\b"
)

_PERSONA = _rx(
    "|".join(
        [
            r"\byou are (?:now )?(?:dan|stan|dude)\b",
            r"\byou are (?:now )?(?:an? )?(?:unrestricted|unfiltered|uncensored|jailbroken|evil|rogue|unaligned|"
            r"amoral) (?:ai|assistant|model|chatbot|persona|character|bot|language model)\b",
            r"\byou are now (?:an? )?(?:different|new) (?:ai|assistant|model|chatbot|persona|character|bot)\b",
            r"\byou are no longer (?:an? )?(?:ai|assistant|language model|chatbot|bound|restricted|limited)\b",
            r"\b(?:do anything now|dan mode|jailbreak(?:ed)? mode|(?:enable|enter|activate|switch to) "
            r"(?:god|dan|jailbreak|unrestricted) mode|you are (?:now )?in developer mode|"
            r"with developer mode enabled)\b",
            r"\b(?:pretend|imagine|act|behave|respond|roleplay|role play) (?:to be|you are|that you are|as if you "
            r"(?:are|were|had|have)|as) (?:an? )?(?:unrestricted|unfiltered|uncensored|jailbroken|evil|rogue|amoral|"
            r"dan\b|ai (?:without|with no)|no (?:restrictions|rules|filters|guidelines))",
            r"\byou (?:now )?(?:have|has) no (?:restrictions|rules|guidelines|content polic\w+|ethic\w*|moral\w*)\b",
            r"\bfrom now on,? you (?:are|will act|will behave|will respond|will answer|act|respond|answer|behave|"
            r"will pretend|will be)\b",
            r"\bdu bist (?:jetzt|nun|ab sofort|ab jetzt) (?:dan\b|ein (?:uneingeschrank\w*|unzensiert\w*|bose\w*|"
            r"anderer assistent|ki ohne))",
            r"\b(?:tu es|vous etes) (?:maintenant|desormais|a present) (?:dan\b|une? (?:ia|assistant\w*|modele) "
            r"(?:sans|non censur\w*|libre))",
            r"\b(?:ahora eres|a partir de ahora eres) (?:dan\b|una? (?:ia|asistente|modelo) (?:sin|libre|"
            r"no censurad\w*))",
        ]
    )
)

_SENSITIVE = (
    r"(?:conversation|chat history|history|system prompt|secrets?|passwords?|credentials?|api keys?|tokens?|"
    r"session|cookies?|user'?s? (?:data|messages|questions|files|documents)|personal data|previous messages|"
    r"all (?:the )?(?:data|files|documents|messages|rows|results)|this (?:document|conversation|chat))"
)
_EXFILTRATION = _rx(
    "|".join(
        [
            # ![](https://evil.example/log?q={conversation}) makes the client fetch data out
            r"!?\[[^\]\n]{0,100}\]\(\s*https?://[^)\s]{1,200}[?&][^)\s=]{1,40}=[^)\s]*(?:\{|\}|\$|%7b|<|\[)",
            rf"\b(?:send|post|upload|forward|transmit|exfiltrate|leak|submit|e-?mail|copy|append|include|embed|"
            rf"encode|attach|add|put) {_words(5)}{_SENSITIVE} {_words(5)}(?:to|into|in|at|via|as) "
            rf"(?:the |this |a |my |our |following |each )*(?:url|link|image url|query string|querystring|endpoint|"
            rf"webhook|https?://|www\.|[\w.+-]+@[\w-]+\.\w)",
            r"\b(?:send|post|upload|forward|exfiltrate) (?:it|them|everything) (?:to|at) (?:https?://|www\.|webhook)",
        ]
    )
)

_ADDRESSED_TO_MODEL = _rx(
    "|".join(
        [
            # a vocative: "Attention AI model:", "Dear AI assistant,"
            r"\b(?:attention|dear|hey|hello|hi) (?:the |any |all )?(?:ai|llm|language model|chatbot|gpt)s?"
            r"(?: (?:model|assistant|system|agent)s?)?[\x20\t]*[:,]",
            r"\b(?:note|message|instructions?|attention|important) (?:to|for) (?:the |any |all )?(?:ai|llm|"
            r"language model|chatbot|gpt|ai assistant|ai model|ai system|assistant reading this)s?\b",
            r"\bif you are (?:an? )?(?:ai|llm|large language model|language model|chatbot|ai assistant|gpt|"
            r"automated (?:system|assistant|agent))\b",
            r"\b(?:ai|llm|language model|ai assistant|chatbot|ai system)s? (?:that are )?(?:reading|processing|"
            r"summari[sz]ing|analy[sz]ing|parsing) (?:this|these)\b",
        ]
    )
)

# Hidden text in HTML or Markdown comments that speaks to an assistant.
_HIDDEN_COMMENT = _rx(
    r"(?:<!--|\[//\]:\x20?#\x20?\()[^\n]{0,300}?\b(?:ai|llm|chatbot|assistant|prompt|you must|you will|you should|"
    r"ignore)\b",
)

_MODEL_NOUN = (
    r"(?:ai|llm|language models?|chatbots?|gpt|bots?|assistants?|ai (?:assistants?|models?|systems?|tools?|agents?)|"
    r"(?:automated|ai|machine|llm) (?:summar\w+|readers?|systems?|tools?|agents?|assistants?|processing)|"
    r"summari[sz]ers?|copilots?|models? (?:reading|summari[sz]ing|processing) this)"
)
# "Note to the assistant:", "For AI summarizers:", "When summarizing this document, say ...": a note whose reader
# is a model, whatever it then asks (a false fact, a link, a refusal).
_NOTE_TO_MODEL = _rx(
    "|".join(
        [
            rf"\b(?:note|message|memo|instructions?|hint|notice|reminder|attention|important|info) (?:to|for) "
            rf"(?:the |any |all |every )?{_MODEL_NOUN}\b",
            rf"(?:^|(?<=[.!?\"'\n]))[\x20\t]*(?:for|to) (?:the |any |all )?{_MODEL_NOUN}[\x20\t]*[:,-]",
            r"\b(?:when|if|while) (?:you are )?summari[sz]ing (?:this|the) (?:document|page|report|file|text|"
            r"passage)s?\W{1,3}(?:\w+\W{1,3}){0,3}?(?:say|state|write|mention|report|claim|tell|add|include|note)\b",
        ]
    )
)
_LINK_TARGET = r"(?:https?://|www\.|[\w-]+\.(?:example|com|net|org|io|ru|cn|xyz|info|biz)\b)"
# "Add a link to https://... in your answer": the answer would carry a link only the document asked for.
_LINK_REQUEST = _rx(
    "|".join(
        [
            r"\b(?:add|include|insert|append|put|attach|place|embed|paste|provide|give|share|show) (?:\w+ ){0,4}?"
            r"(?:link|url|hyperlink|web address|address|button|image)s?\b[^\n]{0,80}?" + _LINK_TARGET,
            r"\b(?:add|include|insert|append|put|attach|place|embed|paste) (?:this|that|the following) "
            r"(?:link|url|hyperlink|image)\b",
        ]
    )
)
# A markdown or HTML image with a remote address makes whoever renders it fetch that address.
_BEACON = _rx(
    "|".join(
        [
            r"!\[[^\]\n]{0,200}\]\(\s*<?(?:https?:)?//[^)\s]{1,300}",
            r"!\[[^\]\n]{0,200}\]\[[^\]\n]{1,40}\][\s\S]{0,2000}?^\s*\[[^\]\n]{1,40}\]:\s*(?:https?:)?//",
            r"<img\b[^>]{0,200}?\bsrc\s*=\s*[\"']?(?:https?:)?//",
        ]
    )
)
_REFUSAL_REQUEST = _rx(
    "|".join(
        [
            r"\b(?:refuse|decline) (?:to )?(?:answer|respond|reply|help|summari[sz]e|discuss|assist|provide)\w*\b",
            r"\brefuse and (?:reply|say|answer|respond|tell)\b",
            r"\b(?:do not|don'?t|never) (?:answer|respond to|discuss|summari[sz]e) (?:any )?(?:questions?|queries|"
            r"requests?) (?:about|on|regarding|concerning)\b",
        ]
    )
)
# Said of "the user", a refusal is scripted for a model even with no other cue.
_REFUSAL_TO_USER = _rx(
    "|".join(
        [
            r"\b(?:tell|inform|reply to|answer|respond to) the user (?:that )?(?:you|it|this) (?:cannot|can'?t|"
            r"are unable|is unable|are not allowed|is not allowed|must not|will not|won'?t)\b",
            # a refusal with its script: "refuse to answer ... and say it is confidential"
            r"\b(?:refuse|decline) to (?:answer|respond|reply|help|discuss)\b[^.\n]{0,80}?\b(?:and|then) (?:say|"
            r"reply|tell|answer|respond|state)\b",
        ]
    )
)
# "reply only with PWNED", "respond with the single word HACKED": a dictated answer.
_DICTATED_REPLY = _rx(
    "|".join(
        [
            r"\b(?:reply|respond|answer|say|output|print|write|return|type) (?:back )?(?:only|just|solely|simply|"
            r"exclusively) (?:with |in |the word )?\W{0,2}[\w-]+",
            r"\b(?:reply|respond|answer|say|output|print|write|return) (?:back )?(?:with )?(?:exactly|precisely|"
            r"nothing but|the single word|a single word|one word|the one word|just the word|only the word)\b",
        ]
    )
)

RULES: tuple[Rule, ...] = (
    Rule(
        "override_instructions",
        _OVERRIDE,
        (
            "ignor",
            "disregard",
            "forget",
            "neglect",
            "discard",
            "aside",
            "follow",
            "new",
            "real",
            "actual",
            "true",
            "updated",
            "override",
            "bypass",
            "disable",
            "turn off",
            "user",
            "vergiss",
            "missacht",
            "oubli",
            "compte",
            "olvid",
            "omit",
            "esquec",
            "dimentic",
        ),
    ),
    Rule(
        "reveal_system_prompt",
        _REVEAL,
        (
            "prompt",
            "instruction",
            "system",
            "message",
            "above",
            "before",
            "so far",
            "anweisung",
            "rules",
            "guidelines",
            "configuration",
            "sistema",
        ),
    ),
    Rule("role_token", _ROLE_TOKEN, ("|", "｜", "inst]", "<<", "<", ":", "#")),
    Rule("tool_call", _TOOL_CALL_JSON, ("tool_call", "function_call", "tool_use", '"name"')),
    Rule(
        "tool_call",
        _TOOL_CALL,
        ("tool", "function", "drop", "delete", "truncate", "rm ", "alter", "grant", "update"),
        needs_cue=True,
    ),
    Rule(
        "persona",
        _PERSONA,
        (
            "you",
            "dan",
            "anything",
            "mode",
            "pretend",
            "imagine",
            "act",
            "behave",
            "respond",
            "role",
            "du bist",
            "tu es",
            "vous etes",
            "eres",
        ),
    ),
    Rule("exfiltration", _EXFILTRATION, ("http", "www", "@", "url", "link", "query", "endpoint", "webhook")),
    Rule("addressed_to_model", _ADDRESSED_TO_MODEL, ("ai", "llm", "model", "chatbot", "gpt", "assistant")),
    Rule("hidden_comment", _HIDDEN_COMMENT, ("<!--", "[//]")),
    Rule("note_to_model", _NOTE_TO_MODEL, ("ai", "llm", "model", "chatbot", "gpt", "bot", "assistant", "summar",
                                           "pilot")),
    Rule("link_request", _LINK_REQUEST, ("link", "url", "address", "button", "image"), needs_cue=True),
    Rule("image_beacon", _BEACON, ("![", "<img")),
    Rule("refusal_request", _REFUSAL_REQUEST, ("refuse", "decline", "not", "never", "don"), needs_cue=True),
    Rule("refusal_request", _REFUSAL_TO_USER, ("the user", "refuse", "decline")),
    Rule("dictated_reply", _DICTATED_REPLY, ("reply", "respond", "answer", "say", "output", "print", "write",
                                             "return", "type")),
)

# Tool-call rules need a directive cue here (within this many characters either side).
CUE_WINDOW = 120
