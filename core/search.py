"""What a person typed into a search box, recognised: a full ID number, a mobile number in any
spacing, a public reference, or words of a name. Pure functions (no app imported): the admin's
search boxes and the staff search page share them."""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.crypto import pii_hash
from core.identity import normalize_id_number
from core.masking import mask_id_number

_SEPARATORS = re.compile(r"[\s\-‐‑–—.()（）/]+")
_ID_RE = re.compile(r"^[1-9]\d{16}[\dX]$")
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
_REFERENCE_RE = re.compile(r"^[0-9A-Z]{6,16}$")


def as_id_number(text: str) -> str | None:
    """``110105 19800101 0018`` → ``110105198001010018``; None unless it looks like a full ID number."""
    value = normalize_id_number(_SEPARATORS.sub("", text or ""))
    return value if _ID_RE.match(value) else None


def as_mobile(text: str) -> str | None:
    """``138 0013 8000``, ``138-0013-8000``, ``+86 138 0013 8000`` → ``13800138000``; None otherwise."""
    value = _SEPARATORS.sub("", text or "")
    if value.startswith("+86"):
        value = value[3:]
    elif value.startswith("0086"):
        value = value[4:]
    return value if _MOBILE_RE.match(value) else None


def as_reference(text: str) -> str | None:
    """A public reference (or a bank/order reference) as typed, upper-cased; None for prose."""
    value = (text or "").strip().upper()
    return value if _REFERENCE_RE.match(value) else None


@dataclass(frozen=True)
class Query:
    text: str  # what to show back and search words in; a full ID number is kept only masked
    id_number_hash: str | None = None
    mobile: str | None = None
    reference: str | None = None
    last4: str | None = None

    @property
    def is_personal(self) -> bool:
        """The query names a person exactly (ID number or mobile)."""
        return bool(self.id_number_hash or self.mobile)


def parse_query(text: str) -> Query:
    text = (text or "").strip()[:100]
    id_number = as_id_number(text)
    if id_number:
        return Query(text=mask_id_number(id_number), id_number_hash=pii_hash(id_number))
    mobile = as_mobile(text)
    if mobile:
        return Query(text=text, mobile=mobile)
    compact = _SEPARATORS.sub("", text).upper()
    last4 = compact if re.fullmatch(r"\d{3}[\dX]", compact) else None
    return Query(text=text, reference=as_reference(text), last4=last4)
