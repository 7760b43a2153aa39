"""Reads behind the customer and account pages (the 360° view): a header — masked identity, limit,
used, available, status, bucket — and one tab at a time (statements, plans with their schedules,
purchases, repayments, contacts and promises, collection cases, limit changes, the merged timeline).

Only the open tab is read, each through its app's selectors with a bounded page, so a page costs a
fixed number of queries whatever the customer's history. A tab the user's permissions do not cover is
not offered and not read."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from collections.abc import Sequence

from django.utils.translation import gettext_lazy as _

from accounts import selectors as account_selectors
from accounts.models import CreditAccount, Customer
from core.money import ZERO
from debt_collection import selectors as collection_selectors
from installments import selectors as engine_selectors
from staff import timeline


@dataclass(frozen=True)
class Tab:
    key: str
    label: Any
    permission: str  # app_label.codename the user needs to see the tab


TABS: tuple[Tab, ...] = (
    Tab("details", _("Details"), ""),
    Tab("timeline", _("Timeline"), ""),
    Tab("statements", _("Statements"), "installments.view_statement"),
    Tab("plans", _("Plans & schedules"), "installments.view_plan"),
    Tab("purchases", _("Purchases"), "installments.view_purchase"),
    Tab("repayments", _("Repayments"), "installments.view_repayment"),
    Tab("contacts", _("Contacts & promises"), "collections.view_contactattempt"),
    Tab("cases", _("Collection cases"), "collections.view_collectioncase"),
    Tab("limits", _("Limit changes"), "accounts.view_limitchange"),
)
TAB_KEYS = {t.key for t in TABS}


def tabs_for(user) -> list[Tab]:
    return [t for t in TABS if not t.permission or user.has_perm(t.permission)]


@dataclass
class AccountLine:
    """One account in the header."""

    account: CreditAccount
    temporary: Decimal
    total_limit: Decimal
    available: Decimal
    # filled in by the admin page: the account's page, its status badge, the user's buttons
    url: str = ""
    status_badge: str = ""
    buttons: list = field(default_factory=list)

    @classmethod
    def of(cls, account: CreditAccount) -> AccountLine:
        temporary = getattr(account, "temporary_total", None) or ZERO
        total = account.fixed_limit + temporary
        return cls(account=account, temporary=temporary, total_limit=total,
                   available=account_selectors.available_amount(account, total))


@dataclass
class Workspace:
    customer: Customer
    accounts: list[AccountLine]
    tab: str
    tabs: list[Tab]
    data: dict[str, Any] = field(default_factory=dict)


def workspace_for(*, user, customer: Customer, account: CreditAccount | None = None, tab: str = "details") -> Workspace:
    """The header and the data of ``tab`` for a customer page (every account of the customer) or an
    account page (``account`` only)."""
    lines = list(account_selectors.customer_accounts(customer=customer))
    if account is not None:
        lines = [a for a in lines if a.pk == account.pk]
    tabs = tabs_for(user)
    if tab not in {t.key for t in tabs}:
        tab = "details"
    ws = Workspace(customer=customer, accounts=[AccountLine.of(a) for a in lines], tab=tab, tabs=tabs)
    ws.data = tab_data(user=user, tab=tab, customer=customer, accounts=lines, customer_page=account is None)
    return ws


def tab_data(*, user, tab: str, customer: Customer, accounts: Sequence[CreditAccount], customer_page: bool) -> dict:
    ids = [a.pk for a in accounts]
    if tab == "timeline":
        entries = timeline.timeline_for(accounts=accounts, customer=customer if customer_page else None,
                                        include_audit=user.has_perm("core.view_auditevent"))
        return {"entries": entries, "limit": timeline.DEFAULT_LIMIT}
    if tab == "statements":
        return {"statements": list(engine_selectors.accounts_statements(account_ids=ids))}
    if tab == "plans":
        return {"plans": engine_selectors.accounts_plans_with_schedule(account_ids=ids)}
    if tab == "purchases":
        return {"purchases": list(engine_selectors.accounts_purchases(account_ids=ids))}
    if tab == "repayments":
        return {"repayments": engine_selectors.accounts_repayments(account_ids=ids)}
    if tab == "contacts":
        promises = (list(collection_selectors.accounts_promises(account_ids=ids))
                    if user.has_perm("collections.view_promisetopay") else [])
        return {"contacts": list(collection_selectors.customers_contacts(customer_ids=[customer.pk])),
                "promises": promises}
    if tab == "cases":
        cases = list(collection_selectors.accounts_cases(account_ids=ids))
        visible = set(collection_selectors.cases_visible_to(user).filter(pk__in=[c.pk for c in cases])
                      .values_list("pk", flat=True)) if cases else set()
        return {"cases": [(c, c.pk in visible) for c in cases]}
    if tab == "limits":
        return {"limit_changes": list(account_selectors.accounts_limit_changes(account_ids=ids)),
                "temporary_limits": list(account_selectors.accounts_temporary_limits(account_ids=ids))}
    return {}
