"""Which API scopes move money or change limits, and who may ask for and approve them (PRODUCT §12,
issue 23). One place: the service, the permission check, the approvals kinds, the tests and
``docs/sod-identity.md`` all read these tables.

A **money-moving scope** lets a client move money (purchases, refunds, repayments, cash loans,
early settlements, bill installments, insurance cancellations that refund premiums) or open and size
credit lines (applications). It takes effect only when a second person approves it:

* the **requester** (the maker) is a person who manages API clients (``integrations.change_apiclient``:
  the administrator role; a superuser too). A system actor never asks for one.
* the **approver** (the checker) is another person who holds the scope's ``approver_permission``
  *through a role group* (``approver_roles``) and who does not manage API clients: neither the maker,
  nor an administrator, nor a superuser (who holds every permission) ever approves one, whatever
  groups they are in. So an administrator never grants a money-moving scope alone.

The other scopes (reads, quotes, the agency's case work) are granted at once by whoever manages
clients. A scope registered later that is in neither table fails ``tests/test_sod_identity.py``
until it is classified here."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MoneyScope:
    scope: str
    approver_permission: str  # "app_label.codename", held through a role group
    approver_roles: tuple[str, ...]  # staff role keys (staff.roles) whose group grants that permission
    why: str

    @property
    def kind(self) -> str:
        """The approvals kind of a request for this scope."""
        return f"{KIND_PREFIX}{self.scope}"


KIND_PREFIX = "integrations.api_scope."
#: Making, changing and revoking clients, asking for money-moving scopes (the administrator role).
REQUEST_PERMISSION = "integrations.change_apiclient"
REQUESTER_ROLES = ("administrator",)

MONEY_MOVING_SCOPES: dict[str, MoneyScope] = {
    s.scope: s
    for s in (
        MoneyScope("applications:write", "accounts.add_creditaccount", ("credit_officer",),
                   "opens customers and credit lines and sets their limits"),
        MoneyScope("purchases:write", "staff.import_storefrontorderimport", ("finance",),
                   "posts purchases on credit: the customer owes, the merchant is paid"),
        MoneyScope("refunds:write", "installments.refund_purchase", ("finance",),
                   "refunds purchases: money back to the customer's account"),
        MoneyScope("installments:write", "installments.install_statement", ("finance",),
                   "turns a bill into a fee-bearing installment plan"),
        MoneyScope("settlements:write", "installments.settle_plan", ("finance",),
                   "settles installment plans early (fees waived or charged)"),
        MoneyScope("repayments:write", "installments.post_repayment", ("finance",),
                   "posts repayments: clears what the customer owes"),
        MoneyScope("cash_loans:write", "ledger.add_journalentry", ("finance",),
                   "pays cash loans out to a bank card within the credit line"),
        MoneyScope("insurance:write", "insurance.cancel_policy", ("finance",),
                   "cancels insurance policies (premiums refunded in the cooling-off period)"),
    )
}

#: Scopes that move no money and change no limit: granted at once by whoever manages clients.
PLAIN_SCOPES: dict[str, str] = {
    "accounts:read": "reads",
    "statements:read": "reads",
    "quotes:read": "prices plans and settlements; nothing is posted",
    "insurance:read": "reads",
    "agency": "a collection agency reads its cases and records contacts and promises; no money moves",
}


#: The audit trail's events of API clients and their credentials (action → what it records).
AUDIT_EVENTS: dict[str, str] = {
    "api_client_create": "a client made (plain scopes in force; money-moving ones listed as waiting)",
    "api_client_update": "a client's plain scopes or throttle rate changed",
    "api_client_revoke": "a client and all its tokens switched off",
    "api_token_issue": "a token issued (its secret shown once to the issuer)",  # nosec B105
    "api_token_rotate": "a token replaced by a new one (the old one stops at once)",  # nosec B105
    "api_token_revoke": "a token revoked",  # nosec B105
    "api_scope_request": "a money-moving scope asked for (an approval request waits)",
    "api_scope_approve": "a money-moving scope approved by a second person and in force",
    "api_scope_withdraw": "a scope still waiting withdrawn by removing it from the client",
    "api_scope_revoke": "a money-moving scope in force removed (at once: taking a power away needs no second person)",
    "api_money_call": "a call a money-moving scope allowed: client, token and its issuer, who asked, who approved",
}


def is_money_moving(scope: str) -> bool:
    return scope in MONEY_MOVING_SCOPES


def money_scope(scope: str) -> MoneyScope:
    return MONEY_MOVING_SCOPES[scope]
