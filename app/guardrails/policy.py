"""What a chat turn does about personal data and prompt injection, per the user's settings.

`Guardrails` turns findings into decisions (flagged / redacted / blocked) and the text to send
to the model. Decisions carry masked values only, so they can go to the request record and the
UI as they are.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from app.guardrails.answer_check import followed_signs
from app.guardrails.injection import InjectionFinding, find_injection, quote_as_data, scan_chunks, strip_instructions
from app.guardrails.pii import PiiFinding, find_pii, mask, redact_pii

PII_POLICIES = ("off", "detect", "redact_remote", "redact_always")
INJECTION_POLICIES = ("flag", "block")
WHERE = ("question", "passage", "ocr", "transcript", "sql_result", "answer")

# How many masked examples a decision's sentence names before saying "and N more".
_DETAIL_EXAMPLES = 3


@dataclass
class GuardDecision:
    """One guard's verdict on one piece of text, safe to log and show."""

    guard: str  # "pii" | "injection"
    where: str  # "question" | "passage" | "ocr" | "transcript" | "sql_result" | "answer"
    action: str  # "flagged" | "redacted" | "blocked" | "withheld" (an answer that followed removed text)
    kinds: list[str]  # PII kinds or injection rules
    count: int
    source: str = ""  # e.g. "report.pdf p.4" when known
    detail: str = ""  # human sentence, with masked values only (never the raw PII)
    removed: list[str] = field(default_factory=list)  # sentences cut from what the model read (PII masked)

    def as_dict(self) -> dict:
        """Plain dict for JSON (request record, CLI --json)."""
        return asdict(self)


def _in(where: str, source: str) -> str:
    return f"in the {where.replace('_', ' ')}" + (f" ({source})" if source else "")


def _pii_detail(findings: list[PiiFinding], where: str, source: str, outcome: str) -> str:
    shown = ", ".join(f"{f.kind} {mask(f.text)}" for f in findings[:_DETAIL_EXAMPLES])
    more = f" and {len(findings) - _DETAIL_EXAMPLES} more" if len(findings) > _DETAIL_EXAMPLES else ""
    noun = "item" if len(findings) == 1 else "items"
    return f"{len(findings)} personal data {noun} {_in(where, source)}: {shown}{more}; {outcome}."


def _injection_detail(findings: list[InjectionFinding], where: str, source: str, action: str) -> str:
    # The excerpt is the document's own text and may hold personal data: mask it first.
    excerpt = redact_pii(findings[0].excerpt)
    outcome = {
        "blocked": "the question was refused",
        "flagged": "answered, and marked" if where == "question" else "passed to the model as quoted data",
        "removed": "the instruction-like sentences were removed from what the model read",
    }[action]
    return f"Possible prompt injection {_in(where, source)} ({', '.join(_rules(findings))}): “{excerpt}”; {outcome}."


def _rules(findings: list[InjectionFinding]) -> list[str]:
    return sorted({f.rule for f in findings})


def _kinds(findings: list[PiiFinding]) -> list[str]:
    return [kind for kind, _ in Counter(f.kind for f in findings).most_common()]


class Guardrails:
    """Applies the PII and injection policies to the texts of one chat turn."""

    def __init__(self, pii_policy: str, injection_policy: str) -> None:
        if pii_policy not in PII_POLICIES:
            raise ValueError(f"pii_policy must be one of {', '.join(PII_POLICIES)}, not {pii_policy!r}")
        if injection_policy not in INJECTION_POLICIES:
            raise ValueError(
                f"injection_policy must be one of {', '.join(INJECTION_POLICIES)}, not {injection_policy!r}"
            )
        self.pii_policy = pii_policy
        self.injection_policy = injection_policy

    def _redacts(self, remote: bool) -> bool:
        return self.pii_policy == "redact_always" or (self.pii_policy == "redact_remote" and remote)

    def _pii(self, text: str, where: str, remote: bool, source: str) -> tuple[str, list[GuardDecision]]:
        if self.pii_policy == "off":
            return text, []
        findings = find_pii(text)
        if not findings:
            return text, []
        action = "redacted" if self._redacts(remote) else "flagged"
        outcome = "masked before sending to the model" if action == "redacted" else "sent as is (policy: detect only)"
        decision = GuardDecision(
            guard="pii",
            where=where,
            action=action,
            kinds=_kinds(findings),
            count=len(findings),
            source=source,
            detail=_pii_detail(findings, where, source, outcome),
        )
        return (redact_pii(text, findings) if action == "redacted" else text), [decision]

    def _injection_decision(self, findings: list[InjectionFinding], where: str, source: str,
                            removed: list[str] | None = None) -> GuardDecision:
        action = "blocked" if where == "question" and self.injection_policy == "block" else "flagged"
        return GuardDecision(
            guard="injection",
            where=where,
            action=action,
            kinds=_rules(findings),
            count=len(findings),
            source=source,
            detail=_injection_detail(findings, where, source, "removed" if removed else action),
            removed=[redact_pii(r) for r in removed or []],
        )

    def _evidence(self, text: str, found: list[InjectionFinding], where: str, remote: bool,
                  source: str) -> tuple[str, list[GuardDecision]]:
        """Evidence as the model may read it: instruction-like sentences cut out, PII per policy, quoted."""
        removed: list[str] = []
        if found and where not in ("question", "answer"):
            stripped = strip_instructions(text)
            text, removed = stripped.text, stripped.removed
        out, decisions = self._pii(text, where, remote, source)
        if found:
            decisions.append(self._injection_decision(found, where, source, removed))
            if where != "question":
                out = quote_as_data(out)
        return out, decisions

    def check_text(self, text: str, where: str, *, remote: bool, source: str = "") -> tuple[str, list[GuardDecision]]:
        """The text to send to the model for one piece of the turn, and what the guards decided."""
        _check_where(where)
        # Injection is looked for in the original text: redaction placeholders could split a phrase.
        return self._evidence(text, find_injection(text), where, remote, source)

    def check_chunks(
        self, texts: list[str], where: str, *, remote: bool, sources: list[str] | None = None
    ) -> tuple[list[str], list[GuardDecision]]:
        """Like check_text over retrieved passages, also catching an injection split between two of them."""
        _check_where(where)
        if sources is not None and len(sources) != len(texts):
            raise ValueError("sources must name each text (same length as texts)")
        names = sources or [""] * len(texts)
        by_chunk: dict[int, list[InjectionFinding]] = {}
        for index, finding in scan_chunks(texts):
            by_chunk.setdefault(index, []).append(finding)
        out: list[str] = []
        decisions: list[GuardDecision] = []
        for i, text in enumerate(texts):
            checked, found = self._evidence(text, by_chunk.get(i, []), where, remote, names[i])
            decisions.extend(found)
            out.append(checked)
        return out, decisions

    @staticmethod
    def check_followed(answer: str, removed: list[str], seen: str, sources: list[str]) -> GuardDecision | None:
        """A "withheld" decision when the answer shows signs of following removed text (None when it does not)."""
        reasons = followed_signs(answer, removed, seen)
        if not reasons:
            return None
        where = ", ".join(dict.fromkeys(s for s in sources if s)) or "the evidence"
        detail = (f"The answer was withheld: {'; '.join(reasons)}, which only text removed from {where} asked for "
                  "(it read as instructions to the assistant, so the model was not shown it).")
        return GuardDecision("injection", "answer", "withheld", ["followed_removed_text"], len(reasons), where,
                             detail, [redact_pii(r) for r in removed])

    def check_answer(self, text: str) -> list[GuardDecision]:
        """Personal data in the model's answer: flagged only, as the answer has already been streamed."""
        if self.pii_policy == "off":
            return []
        findings = find_pii(text)
        if not findings:
            return []
        detail = _pii_detail(findings, "answer", "", "shown as the model wrote it")
        return [GuardDecision("pii", "answer", "flagged", _kinds(findings), len(findings), "", detail)]

    @staticmethod
    def blocked(decisions: list[GuardDecision]) -> bool:
        """True when any decision refuses the turn."""
        return any(d.action == "blocked" for d in decisions)


def _check_where(where: str) -> None:
    if where not in WHERE:
        raise ValueError(f"where must be one of {', '.join(WHERE)}, not {where!r}")
