"""The scopes an API client may hold. A view names the scopes it needs (``required_scopes``); a token
grants the scopes of its client. Other apps add theirs in ``AppConfig.ready()`` with
:func:`register_scope` (the collections app registers nothing new: ``agency`` is here already)."""
from __future__ import annotations

_SCOPES: dict[str, str] = {}


def register_scope(code: str, description: str) -> None:
    code = code.strip()
    if not code or " " in code:
        raise ValueError(f"a scope code is one word, got {code!r}")
    existing = _SCOPES.get(code)
    if existing is not None and existing != description:
        raise ValueError(f"scope {code!r} is already registered with another description")
    _SCOPES[code] = description


def all_scopes() -> dict[str, str]:
    """Code → description, in registration order."""
    return dict(_SCOPES)


def is_scope(code: str) -> bool:
    return code in _SCOPES


def scope_choices() -> list[tuple[str, str]]:
    return [(code, f"{code} — {description}") for code, description in _SCOPES.items()]


APPLICATIONS_WRITE = "applications:write"
ACCOUNTS_READ = "accounts:read"
STATEMENTS_READ = "statements:read"
QUOTES_READ = "quotes:read"
PURCHASES_WRITE = "purchases:write"
REFUNDS_WRITE = "refunds:write"
INSTALLMENTS_WRITE = "installments:write"
SETTLEMENTS_WRITE = "settlements:write"
REPAYMENTS_WRITE = "repayments:write"
INSURANCE_READ = "insurance:read"
INSURANCE_WRITE = "insurance:write"
AGENCY = "agency"

for _code, _description in (
    (APPLICATIONS_WRITE, "Submit credit applications (opens customers and credit lines)"),
    (ACCOUNTS_READ, "Read accounts: limits, used, available, status, bill day"),
    (STATEMENTS_READ, "Read an account's statements"),
    (QUOTES_READ, "Price installment plans and early settlements (no money moves)"),
    (PURCHASES_WRITE, "Authorise and post purchases, with or without a purchase installment"),
    (REFUNDS_WRITE, "Refund purchases"),
    (INSTALLMENTS_WRITE, "Convert a statement into a bill installment"),
    (SETTLEMENTS_WRITE, "Settle installment plans early"),
    (REPAYMENTS_WRITE, "Post repayments"),
    (INSURANCE_READ, "Read consumer-credit insurance policies"),
    (INSURANCE_WRITE, "Cancel consumer-credit insurance policies"),
    (AGENCY, "Collection agency: work the cases assigned to the agency"),
):
    register_scope(_code, _description)
