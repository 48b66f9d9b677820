"""Guardrails for a chat turn: personal data (find, redact, mask) and prompt injection (find, quote as data)."""

from app.guardrails.injection import InjectionFinding, find_injection, quote_as_data, scan_chunks
from app.guardrails.pii import PiiFinding, find_pii, mask, redact_pii
from app.guardrails.policy import GuardDecision, Guardrails

__all__ = [
    "GuardDecision",
    "Guardrails",
    "InjectionFinding",
    "PiiFinding",
    "find_injection",
    "find_pii",
    "mask",
    "quote_as_data",
    "redact_pii",
    "scan_chunks",
]
