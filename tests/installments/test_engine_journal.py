"""The journal: an unbalanced entry cannot be saved; every entry the engine posts balances (hypothesis)."""
import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.business_date import get_business_date, set_business_date
from core.errors import ApplicationError
from installments.daily import run_day
from installments.models import Plan, Purchase, Repayment
from installments.services import (
    plan_settle, purchase_authorize, purchase_refund, repayment_post, repayment_reverse, statement_install,
)
from installments.models import Statement
from ledger.models import JournalEntry, JournalLine
from ledger.services import Cr, Dr, UnbalancedEntryError, journal_post
from tests.factories_installments import SYSTEM, books_clean, no_risk_checks, open_account  # noqa: F401

pytestmark = pytest.mark.django_db


def test_unbalanced_entry_is_refused_and_nothing_saved(business_date):
    before = (JournalEntry.objects.count(), JournalLine.objects.count())
    with pytest.raises(UnbalancedEntryError):
        journal_post(kind="repayment", on=dt.date(2026, 1, 5), legs=[Dr("1000", Decimal("10.00")), Cr("1100", Decimal("9.99"))])
    with pytest.raises(UnbalancedEntryError):
        journal_post(kind="repayment", on=dt.date(2026, 1, 5), legs=[Dr("1000", Decimal("-1.00")), Cr("1100", Decimal("-1.00"))])
    assert (JournalEntry.objects.count(), JournalLine.objects.count()) == before


def test_the_database_refuses_unbalanced_totals_and_two_sided_lines(business_date):
    with pytest.raises(IntegrityError), transaction.atomic():
        JournalEntry.objects.create(kind="repayment", posted_on=dt.date(2026, 1, 5), total_debit=Decimal("1"), total_credit=Decimal("2"))
    entry = JournalEntry.objects.create(kind="repayment", posted_on=dt.date(2026, 1, 5))
    with pytest.raises(IntegrityError), transaction.atomic():
        JournalLine.objects.create(entry=entry, ledger_account_id="1000", debit=Decimal("1"), credit=Decimal("1"))
    with pytest.raises(IntegrityError), transaction.atomic():
        JournalLine.objects.create(entry=entry, ledger_account_id="1000", debit=Decimal("0"), credit=Decimal("0"))


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("3000.00"), places=2)
operation = st.one_of(
    st.tuples(st.just("buy"), amounts, st.sampled_from([None, None, 3, 6, 12, 24])),
    st.tuples(st.just("pay"), amounts, st.none()),
    st.tuples(st.just("refund"), st.integers(0, 9), st.integers(1, 100)),
    st.tuples(st.just("days"), st.integers(1, 40), st.none()),
    st.tuples(st.just("install"), st.sampled_from([3, 6]), st.none()),
    st.tuples(st.just("settle"), st.integers(0, 9), st.none()),
    st.tuples(st.just("reverse"), st.integers(0, 9), st.none()),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(operation, min_size=3, max_size=14))
def test_every_entry_balances_and_the_books_prove(business_date, ops):
    set_business_date(dt.date(2026, 1, 5))
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    n = 0
    for kind, a, b in ops:
        n += 1
        try:
            if kind == "buy":
                purchase_authorize(account=account, amount=a, merchant_order_id=f"h-{account.pk}-{n}", tenor=b, actor=SYSTEM)
            elif kind == "pay":
                repayment_post(account=account, amount=a, external_ref=f"h-{account.pk}-{n}", channel="wallet", actor=SYSTEM)
            elif kind == "refund":
                purchases = list(Purchase.objects.filter(account=account, status="approved").order_by("id"))
                if purchases:
                    p = purchases[a % len(purchases)]
                    left = p.amount - p.refunded_amount
                    if left > 0:
                        amount = max((left * b / 100).quantize(Decimal("0.01")), Decimal("0.01"))
                        purchase_refund(purchase=p, amount=min(amount, left), actor=SYSTEM, reason="hypothesis")
            elif kind == "days":  # close ``a`` days for this account only (the chunked path of the steps)
                for _ in range(a):
                    today = get_business_date()
                    run_day(today, account_ids=[account.pk])
                    set_business_date(today + dt.timedelta(days=1))
            elif kind == "install":
                st_ = Statement.objects.filter(account=account).order_by("-bill_date").first()
                if st_:
                    statement_install(statement=st_, tenor=a, actor=SYSTEM)
            elif kind == "settle":
                plans = list(Plan.objects.filter(account=account, status="active").exclude(kind="revolving").order_by("id"))
                if plans:
                    plan_settle(plan=plans[a % len(plans)], actor=SYSTEM)
            elif kind == "reverse":
                reps = list(Repayment.objects.filter(account=account, status="posted").order_by("id"))
                if reps:
                    repayment_reverse(repayment=reps[a % len(reps)], actor=SYSTEM, reason="hypothesis")
        except ApplicationError:
            pass  # refusals are fine; they must leave the books clean too
    for entry in JournalEntry.objects.prefetch_related("lines"):
        lines = list(entry.lines.all())
        assert sum(line.debit for line in lines) == sum(line.credit for line in lines) == entry.total_debit == entry.total_credit
    books_clean()


def test_check_books_command_prints_a_summary_and_fails_on_a_breach(business_date, capsys):
    from django.core.management import call_command

    from accounts.models import CreditAccount

    account = open_account(limit="1000.00")
    purchase_authorize(account=account, amount=Decimal("250.00"), merchant_order_id="o-1", actor=SYSTEM)
    call_command("check_books")
    out = capsys.readouterr().out
    assert "Books are clean: 0 breaches." in out and "1100" in out and "¥250.00" in out
    CreditAccount.objects.filter(pk=account.pk).update(used_amount=Decimal("249.99"))
    with pytest.raises(SystemExit) as exc:
        call_command("check_books")
    assert exc.value.code == 1
    out = capsys.readouterr().out
    assert "used_amount = unpaid principal + billed unpaid charges" in out and "expected 250.00 got 249.99" in out
