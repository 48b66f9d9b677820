"""Personal data in request records: masked at rest, optionally sealed, erasable on request.

Every text of a record body (question, prompt, answer, citations, tool steps, SQL, errors ...) is searched with
the guardrails' PII detection; each value found is replaced by its type and a keyed fingerprint,
"[EMAIL:3f2a9c1b]": the same value gives the same fingerprint, so two records about the same person can still be
linked, but the value cannot be read back or guessed without the personal-data key (storage.keys).

With `record_personal_data = "mask_and_encrypt"` the raw values are also kept, encrypted under that key, in the
body's `sealed_pii` ({token: ciphertext}); `reveal` decrypts them for someone holding the key.

`erase` is the GDPR erasure of one record: fingerprints become bare types ("[EMAIL]"), sealed values are dropped
and any value still in clear (records written before masking) is replaced too.
Who acted (user, backend, model, status, ids, hashes) is not personal data of the data subject and stays.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from app.guardrails.pii import PiiFinding, find_pii
from storage.keys import RecordKeys

MODES = ("mask", "mask_and_encrypt")
SEALED = "sealed_pii"
TOKEN = re.compile(r"\[(EMAIL|PHONE|CARD|IBAN|NATIONAL_ID|IP):([0-9a-f]{8})\]")
# Keys whose values are identities of the actor, ids, hashes or stamps: never searched (nor changed).
_KEEP = frozenset({"id", "ts", "kind", "user", "backend", "model", "status", "conversation_id", "message_id",
                   "model_digest", "sha256", "doc_id", "chunk_id", "hash", SEALED, "role", "tool_mode"})
_KEEP_SUFFIXES = ("_id", "_sha256", "_hash", "_digest", "_s")


def _kept(key: str) -> bool:
    return key in _KEEP or key.endswith(_KEEP_SUFFIXES)


def _normal(finding: PiiFinding) -> str:
    # The same value written differently ("4111 1111 ..." / "4111-1111-...", case of an address) links.
    if finding.kind in ("email", "ip"):
        return finding.text.strip().lower()
    return re.sub(r"[^0-9A-Za-z]", "", finding.text).upper()


def _walk(value: Any, text: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return text(value)
    if isinstance(value, list):
        return [_walk(v, text) for v in value]
    if isinstance(value, dict):
        return {k: (v if _kept(str(k)) else _walk(v, text)) for k, v in value.items()}
    return value


class RecordPrivacy:
    """Masks (and with the opt-in mode seals) personal data in record bodies; erases it on request."""

    def __init__(self, keys: RecordKeys, mode: str | Callable[[], str] = "mask") -> None:
        self.keys = keys
        self._mode = mode

    @property
    def mode(self) -> str:
        """'mask' or 'mask_and_encrypt' (read when a record is written: a settings change applies at once)."""
        mode = self._mode() if callable(self._mode) else self._mode
        if mode not in MODES:
            raise ValueError(f"record_personal_data must be one of {', '.join(MODES)}, not {mode!r}")
        return mode

    def token(self, finding: PiiFinding) -> str:
        """"[EMAIL:3f2a9c1b]": the type and the keyed fingerprint of one value."""
        return f"[{finding.kind.upper()}:{self.keys.fingerprint(finding.kind, _normal(finding))}]"

    def mask_record(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """`body` with every personal data value replaced by its token (and sealed, in the opt-in mode)."""
        seal = self.mode == "mask_and_encrypt"
        sealed: dict[str, str] = {}

        def text(value: str) -> str:
            findings = find_pii(value)
            if not findings:
                return value
            parts, pos = [], 0
            for f in findings:
                token = self.token(f)
                if seal and token not in sealed:
                    sealed[token] = self.keys.seal(f.text)
                parts += [value[pos:f.start], token]
                pos = f.end
            return "".join(parts) + value[pos:]

        masked = _walk(body, text)
        if sealed:
            masked[SEALED] = {**(body.get(SEALED) or {}), **sealed}
        return masked

    def erase(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """`body` without personal data: tokens lose their fingerprint, sealed values go, clear values are
        replaced by their type. Returns the new body and how many values were erased."""
        erased = 0

        def text(value: str) -> str:
            nonlocal erased
            value, n = TOKEN.subn(lambda m: f"[{m.group(1)}]", value)
            findings = find_pii(value)
            erased += n + len(findings)
            for f in reversed(findings):
                value = value[: f.start] + f"[{f.kind.upper()}]" + value[f.end :]
            return value

        cleaned = _walk(body, text)
        erased += len(cleaned.pop(SEALED, None) or {})
        return cleaned, erased

    def reveal(self, body: dict[str, Any]) -> dict[str, str]:
        """The raw values sealed in a body, by token (empty when it was written in 'mask' mode)."""
        return {token: self.keys.unseal(cipher) for token, cipher in (body.get(SEALED) or {}).items()}
