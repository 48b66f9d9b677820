"""Personal data in text: find it, redact it, mask it for display.

Rules, not a model: a cheap regex proposes candidates and a checksum or number-plan library
(python-stdnum, phonenumbers) confirms them, so that order numbers, dates, ISBNs and prices
stay untouched. Identifiers whose format alone is too common (9- or 11-digit ids, national
phone numbers without separators) are only taken with a keyword nearby ("SSN", "BSN", "tel").
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import phonenumbers
from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.de import idnr as de_idnr
from stdnum.es import dni as es_dni
from stdnum.es import nie as es_nie
from stdnum.fr import nir as fr_nir
from stdnum.it import codicefiscale as it_cf
from stdnum.nl import bsn as nl_bsn
from stdnum.us import ssn as us_ssn

KINDS = ("email", "phone", "card", "iban", "national_id", "ip")
PLACEHOLDERS = {kind: f"[{kind.upper()}]" for kind in KINDS}

# When two findings overlap the more specific, checksum-backed kind wins.
_PRIORITY = {"email": 0, "iban": 1, "card": 2, "national_id": 3, "phone": 4, "ip": 5}


@dataclass(frozen=True)
class PiiFinding:
    """One piece of personal data: its kind and where it sits in the text."""

    kind: str  # "email" | "phone" | "card" | "iban" | "national_id" | "ip"
    start: int
    end: int
    text: str


def _near(text: str, start: int, keywords: re.Pattern[str], window: int = 40) -> bool:
    """True when a keyword appears shortly before position `start`."""
    return keywords.search(text, max(0, start - window), start) is not None


# --- email -------------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b"
)


# "icon@2x.png" is a retina image name, not an address.
_FILE_SUFFIX = re.compile(r"\.(?:png|jpe?g|gif|svg|webp|pdf|ico|bmp|tiff?)$", re.IGNORECASE)


def _emails(text: str) -> Iterator[PiiFinding]:
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        if _FILE_SUFFIX.search(m.group()):
            continue
        yield PiiFinding("email", m.start(), m.end(), m.group())


# --- payment cards -----------------------------------------------------------------------------

# 13-19 digits, optionally grouped by spaces or dashes (OCR may double a space).
_CARD = re.compile(r"(?<![\w.,-])\d(?:[ -]{0,2}\d){12,18}(?![\w-]|[.,]\d)")
# Issuer prefixes of the major networks with their lengths; a Luhn-valid number outside them is
# more likely a voucher or an account id (1 in 10 random numbers passes Luhn).
_CARD_NETWORKS = (
    (re.compile(r"4"), (13, 16, 19)),  # Visa
    (re.compile(r"5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)"), (16,)),  # Mastercard
    (re.compile(r"3[47]"), (15,)),  # American Express
    (re.compile(r"3(?:0[0-5]|[689])"), tuple(range(14, 20))),  # Diners Club
    (re.compile(r"6(?:011|5|4[4-9])|35|62"), tuple(range(16, 20))),  # Discover, JCB, UnionPay
)


def _is_card(digits: str) -> bool:
    network = any(p.match(digits) and len(digits) in lengths for p, lengths in _CARD_NETWORKS)
    return network and luhn.is_valid(digits)


def _cards(text: str) -> Iterator[PiiFinding]:
    for m in _CARD.finditer(text):
        if _is_card(re.sub(r"\D", "", m.group())):
            yield PiiFinding("card", m.start(), m.end(), m.group())


# --- IBAN --------------------------------------------------------------------------------------

_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")


def _ibans(text: str) -> Iterator[PiiFinding]:
    for m in _IBAN.finditer(text):
        raw = m.group()
        # The regex may swallow a following code ("... 32 BIC", OCR's "00BIC"): try shorter prefixes,
        # longest first; the country's fixed length and the mod-97 check make a wrong cut unlikely.
        ends = [i + 1 for i, ch in enumerate(raw) if ch != " "]
        for end in reversed(ends[14:]):
            if std_iban.is_valid(raw[:end]):
                yield PiiFinding("iban", m.start(), m.start() + end, raw[:end])
                break


# --- national identifiers ----------------------------------------------------------------------

_SSN_DASHED = re.compile(r"(?<![\w-])\d{3}[- ]\d{2}[- ]\d{4}(?![\w-])")
_SSN_WORDS = re.compile(r"\b(?:ssn|social security|soc\.? sec\.?)\b", re.IGNORECASE)
_NINE_DIGITS = re.compile(r"(?<![\w.,-])\d{9}(?![\w-]|[.,]\d)")
# UK National Insurance number; its first two letters follow HMRC's allocation rules.
_NINO = re.compile(r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")
_ES_DNI = re.compile(r"\b\d{8}-?[A-Z]\b")
_ES_NIE = re.compile(r"\b[XYZ]-?\d{7}-?[A-Z]\b")
_IT_CF = re.compile(r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b")
_FR_NIR = re.compile(r"(?<![\w-])[12] ?\d{2} ?(?:\d{2}|2[AB]) ?\d{2} ?\d{3} ?\d{3} ?\d{2}(?![\w-])")
_FR_WORDS = re.compile(r"\b(?:nir|insee|s[ée]curit[ée] sociale|social security)\b", re.IGNORECASE)
_ELEVEN_DIGITS = re.compile(r"(?<![\w.,-])\d{2} ?\d{3} ?\d{3} ?\d{3}(?![\w-]|[.,]\d)")
_DE_WORDS = re.compile(r"\b(?:steuer-?id|idnr|steuerliche identifikationsnummer|identifikationsnummer|tax id)\b", re.I)
_NL_WORDS = re.compile(r"\b(?:bsn|burgerservicenummer|sofinummer|sofi-nummer)\b", re.IGNORECASE)


def _national_ids(text: str) -> Iterator[PiiFinding]:
    def found(m: re.Match[str]) -> PiiFinding:
        return PiiFinding("national_id", m.start(), m.end(), m.group())

    for m in _SSN_DASHED.finditer(text):
        # "123 45 6789" without dashes is too easily a table row: take it only near "SSN".
        if us_ssn.is_valid(m.group()) and ("-" in m.group() or _near(text, m.start(), _SSN_WORDS)):
            yield found(m)
    for m in _NINE_DIGITS.finditer(text):
        # Bare 9 digits: a US SSN or Dutch BSN only when the text names it.
        if _near(text, m.start(), _SSN_WORDS) and us_ssn.is_valid(m.group()):
            yield found(m)
        elif _near(text, m.start(), _NL_WORDS) and nl_bsn.is_valid(m.group()):
            yield found(m)
    for m in _NINO.finditer(text):
        yield found(m)
    for m in _ES_DNI.finditer(text):
        if es_dni.is_valid(m.group()):
            yield found(m)
    for m in _ES_NIE.finditer(text):
        if es_nie.is_valid(m.group()):
            yield found(m)
    for m in _IT_CF.finditer(text):
        if it_cf.is_valid(m.group()):
            yield found(m)
    for m in _FR_NIR.finditer(text):
        # 1 in 97 random 15-digit numbers passes the key: require the spaced layout or a keyword.
        if fr_nir.is_valid(m.group()) and (" " in m.group() or _near(text, m.start(), _FR_WORDS)):
            yield found(m)
    for m in _ELEVEN_DIGITS.finditer(text):
        if _near(text, m.start(), _DE_WORDS) and de_idnr.is_valid(m.group()):
            yield found(m)


# --- phone numbers -----------------------------------------------------------------------------

# A comma may precede "+44 ..." (a CSV cell) but not a bare digit run ("1,234,567").
_PHONE = re.compile(r"(?:(?<![\w+/.-])\+ ?|(?<![\w+/.,-])(?:00 ?|\()?)\d[\d ().\-/]{5,18}\d(?![\w/-]|[.,]\d)")
_PHONE_WORDS = re.compile(
    r"\b(?:tel|tél|phone|telephone|téléphone|telefon|teléfono|mobile|mobil|handy|móvil|portable|cell|fax|"
    r"call|ring|whatsapp|sms|contact|numéro|número|nummer)\b",
    re.IGNORECASE,
)
# North American layout: (415) 555-2671, 415-555-2671, 415.555.2671
_NANP = re.compile(r"\(?[2-9]\d{2}\)?[ .-]?[2-9]\d{2}[ .-]\d{4}")
# Regions tried for national numbers (with their trunk prefix 0); others need the +CC form.
_NATIONAL_REGIONS = ("GB", "DE", "FR", "ES", "IT", "NL")


# Dates and times share the phone alphabet; 05.03.2024 would otherwise parse as a German number.
_DATE_LIKE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}(?: \d{1,2}[:.]\d{2})?")


def _is_phone(candidate: str, has_keyword: bool) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if not 7 <= len(digits) <= 15 or _DATE_LIKE.fullmatch(candidate):
        return False
    try:
        if candidate.startswith(("+", "00")):
            number = phonenumbers.parse("+" + digits[2:] if candidate.startswith("00") else candidate, None)
            return phonenumbers.is_valid_number(number)
        # A national number must look like one: separators or a keyword, so order numbers stay out.
        grouped = bool(re.search(r"[ ().\-/]", candidate))
        if not (grouped or has_keyword):
            return False
        if _NANP.fullmatch(candidate) and phonenumbers.is_valid_number(phonenumbers.parse(candidate, "US")):
            return True
        if digits.startswith("0"):
            return any(phonenumbers.is_valid_number(phonenumbers.parse(candidate, r)) for r in _NATIONAL_REGIONS)
    except phonenumbers.NumberParseException:
        return False
    return False


def _phones(text: str) -> Iterator[PiiFinding]:
    for m in _PHONE.finditer(text):
        candidate = m.group().rstrip(" ")
        start = m.start()
        if candidate.startswith("(") and ")" not in candidate:
            candidate, start = candidate[1:], start + 1
        if _is_phone(candidate, _near(text, start, _PHONE_WORDS)):
            yield PiiFinding("phone", start, start + len(candidate), candidate)


# --- IP addresses ------------------------------------------------------------------------------

# Not inside a longer dotted run, so version strings like 1.2.3.4.5 and v10.0.0.1 stay out.
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}:?(?::?[0-9A-Fa-f]{1,4}){1,7}(?![\w:])|(?<![\w:])::1(?![\w:])")


# "section 4.3.2.1", "figure 2.1.1.3": numbered headings look like addresses.
_NUMBERING_WORDS = re.compile(
    r"\b(?:section|sec|chapter|clause|figure|fig|table|step|version|ver|release|build|item|rule|para|paragraph|"
    r"art|article|§)\.?\s*$",
    re.IGNORECASE,
)


def _ips(text: str) -> Iterator[PiiFinding]:
    for pattern in (_IPV4, _IPV6):
        for m in pattern.finditer(text):
            if _NUMBERING_WORDS.search(text, max(0, m.start() - 12), m.start()):
                continue
            try:
                address = ipaddress.ip_address(m.group())
            except ValueError:
                continue
            # Loopback and 0.0.0.0 identify no one; they fill manuals and config snippets.
            if address.is_loopback or address.is_unspecified:
                continue
            if address.version == 6 and m.group().count(":") < 3 and "::" not in m.group():
                continue  # times like 10:30:15 are not addresses
            yield PiiFinding("ip", m.start(), m.end(), m.group())


# --- public API --------------------------------------------------------------------------------

_DETECTORS: tuple[Callable[[str], Iterator[PiiFinding]], ...] = (
    _emails,
    _ibans,
    _cards,
    _national_ids,
    _phones,
    _ips,
)


def find_pii(text: str) -> list[PiiFinding]:
    """All personal data found in `text`, sorted by start and never overlapping."""
    candidates = [f for detect in _DETECTORS for f in detect(text)]
    # Keep the most specific kind, then the longer span, when findings overlap.
    candidates.sort(key=lambda f: (_PRIORITY[f.kind], -(f.end - f.start), f.start))
    kept: list[PiiFinding] = []
    for f in candidates:
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def redact_pii(text: str, findings: list[PiiFinding] | None = None) -> str:
    """`text` with each finding replaced by its placeholder ("[EMAIL]", "[CARD]", ...)."""
    if findings is None:
        findings = find_pii(text)
    parts: list[str] = []
    pos = 0
    for f in sorted(findings, key=lambda f: f.start):
        if f.start < pos:
            continue  # an overlapping finding was already replaced
        parts.append(text[pos : f.start])
        parts.append(PLACEHOLDERS.get(f.kind, "[PII]"))
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


def mask(value: str) -> str:
    """A form of `value` safe to show or audit: "a***@b.com", "**** **** **** 1234"."""
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    alnum = [i for i, ch in enumerate(value) if ch.isalnum()]
    # Keep the last four characters (as banks do) only when that leaves most of the value hidden.
    keep = 4 if len(alnum) >= 12 else 2 if len(alnum) >= 6 else 0
    shown = set(alnum[len(alnum) - keep :]) if keep else set()
    return "".join(ch if (i in shown or not ch.isalnum()) else "*" for i, ch in enumerate(value))
