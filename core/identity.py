"""Identity checks of PRODUCT §8: 18-digit resident ID number (GB 11643 check digit) and mobile."""
from __future__ import annotations

import datetime as dt
import re

from django.core.exceptions import ValidationError

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID_RE = re.compile(r"^[1-9]\d{16}[\dX]$")
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def id_check_digit(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def normalize_id_number(value: str) -> str:
    return (value or "").strip().upper()


def id_birth_date(value: str) -> dt.date:
    return dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))


def age_on(birth: dt.date, on: dt.date) -> int:
    """Age in whole years on ``on`` (a birthday counts from its day)."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def id_age_on(value: str, on: dt.date) -> int | None:
    """The holder's age on ``on`` from the birth date inside a valid ID number (GB 11643); None
    when ``value`` is not one (an anonymised customer keeps no ID number)."""
    value = normalize_id_number(value)
    try:
        validate_id_number(value)
    except ValidationError:
        return None
    return age_on(id_birth_date(value), on)


def validate_id_number(value: str) -> None:
    """Raise ``ValidationError`` (with a code) unless ``value`` is a valid 18-digit ID number."""
    value = normalize_id_number(value)
    if len(value) != 18:
        raise ValidationError("ID number must have 18 characters.", code="id_number_length")
    if not _ID_RE.match(value):
        raise ValidationError(
            "ID number must be 17 digits followed by a digit or X.", code="id_number_characters"
        )
    try:
        birth = id_birth_date(value)
    except ValueError:
        raise ValidationError("ID number holds an impossible birth date.", code="id_number_birth_date") from None
    if birth.year < 1800 or birth > dt.date.today():
        raise ValidationError("ID number holds an impossible birth date.", code="id_number_birth_date")
    if id_check_digit(value[:17]) != value[17]:
        raise ValidationError("ID number check digit is wrong.", code="id_number_check_digit")


def validate_mobile(value: str) -> None:
    if not _MOBILE_RE.match((value or "").strip()):
        raise ValidationError(
            "Mobile number must be 11 digits starting with 13–19 (1[3-9] + 9 digits).", code="mobile_invalid"
        )


def make_id_number(region: str, birth: dt.date, sequence: int) -> str:
    """Build a valid ID number (for demo data and tests)."""
    first17 = f"{region}{birth:%Y%m%d}{sequence % 1000:03d}"
    return first17 + id_check_digit(first17)
