"""Cash loans on PostgreSQL with real threads (issue 16): simultaneous drawdowns never exceed the cash
sub-limit, and a drawdown racing purchases never exceeds the line."""
from decimal import Decimal

import pytest

from accounts.models import CreditAccount
from cashloans.models import CashLoan
from cashloans.selectors import cash_used
from cashloans.services import cash_loan_draw
from installments.services import purchase_authorize
from tests.factories_installments import SYSTEM, books_clean, no_risk_checks, open_account  # noqa: F401
from tests.installments.test_engine_concurrency import _run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
CARD = "6222020200112233445"


def test_simultaneous_drawdowns_never_exceed_the_cash_sub_limit(business_date):
    business_date("2026-01-05")
    account = open_account(limit="20000.00")  # cash sub-limit 10,000.00
    results, errors = _run_threads(8, lambda i: cash_loan_draw(
        account=account, amount=Decimal("3000.00"), tenor=6, card_number=CARD, purpose="travel", actor=SYSTEM))
    assert len(results) == 3 and sorted(errors) == ["insufficient_cash_limit"] * 5
    assert CashLoan.objects.filter(account=account).count() == 3
    assert cash_used(account_id=account.pk) == Decimal("9000.00")
    assert CreditAccount.objects.get(pk=account.pk).used_amount == Decimal("9000.00")
    books_clean()


def test_drawdowns_racing_purchases_never_exceed_the_line(business_date):
    business_date("2026-01-05")
    account = open_account(limit="10000.00")  # cash sub-limit 5,000.00

    def work(i):
        if i % 2:
            return purchase_authorize(account=account, amount=Decimal("2000.00"), merchant_order_id=f"o-{i}", actor=SYSTEM)
        return cash_loan_draw(account=account, amount=Decimal("2000.00"), tenor=3, card_number=CARD, purpose="travel", actor=SYSTEM)

    results, errors = _run_threads(10, work)
    used = CreditAccount.objects.get(pk=account.pk).used_amount
    assert used <= Decimal("10000.00") and cash_used(account_id=account.pk) <= Decimal("5000.00")
    assert used == Decimal("2000.00") * (len([r for r in results if getattr(r, "status", "approved") == "approved"]))
    books_clean()
