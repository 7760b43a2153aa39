"""Concurrency on PostgreSQL with real threads, each on its own connection (PRODUCT §4, §6)."""
import threading
from decimal import Decimal

import pytest
from django.db import connection

from accounts.models import CreditAccount
from core.errors import ApplicationError
from installments.models import Purchase, Repayment
from installments.services import purchase_authorize, repayment_post
from tests.factories_installments import SYSTEM, books_clean, no_risk_checks, open_account  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _run_threads(n, target):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def worker(i):
        try:
            barrier.wait(timeout=10)
            results.append(target(i))
        except ApplicationError as exc:
            errors.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


def test_twenty_concurrent_purchases_never_exceed_the_limit(business_date):
    business_date("2026-01-05")
    account = open_account(limit="1000.00")
    results, errors = _run_threads(20, lambda i: purchase_authorize(
        account=account, amount=Decimal("100.00"), merchant_order_id=f"race-{i}", actor=SYSTEM))
    assert len(results) == 10 and all(p.status == "approved" for p in results)
    assert errors == ["insufficient_limit"] * 10
    assert Purchase.objects.filter(account=account, status="approved").count() == 10
    assert Purchase.objects.filter(account=account, status="declined").count() == 10
    assert CreditAccount.objects.get(pk=account.pk).used_amount == Decimal("1000.00")
    books_clean()


def test_same_repayment_reference_from_five_threads_posts_once(business_date):
    business_date("2026-01-05")
    account = open_account(limit="1000.00")
    purchase_authorize(account=account, amount=Decimal("500.00"), merchant_order_id="o-1", actor=SYSTEM)
    results, errors = _run_threads(5, lambda i: repayment_post(
        account=account, amount=Decimal("200.00"), external_ref="bank-ref-42", channel="bank_transfer", actor=SYSTEM))
    assert errors == []
    assert len({r.pk for r in results}) == 1
    assert sorted(r.is_replay for r in results) == [False, True, True, True, True]
    assert Repayment.objects.filter(external_ref="bank-ref-42").count() == 1
    acc = CreditAccount.objects.get(pk=account.pk)
    assert (acc.used_amount, acc.credit_balance) == (Decimal("500.00"), Decimal("200.00"))  # nothing billed yet: credit
    books_clean()


def test_same_merchant_order_from_five_threads_buys_once(business_date):
    business_date("2026-01-05")
    account = open_account(limit="1000.00")
    results, errors = _run_threads(5, lambda i: purchase_authorize(
        account=account, amount=Decimal("300.00"), merchant_order_id="dup", actor=SYSTEM))
    assert errors == [] and len({p.pk for p in results}) == 1
    assert CreditAccount.objects.get(pk=account.pk).used_amount == Decimal("300.00")
    books_clean()


def test_concurrent_purchases_by_account_reference_lock_the_row_and_compute_the_used_amount(business_date):
    """The API's path (issue 14): the account is found and locked by its reference in one query, and the
    used amount after a purchase is computed under that lock rather than read back — so each answer's
    available limit is exact and the line is never overdrawn, whatever the interleaving."""
    business_date("2026-01-05")
    account = open_account(limit="1000.00")
    results, errors = _run_threads(20, lambda i: purchase_authorize(
        account_reference=account.reference, amount=Decimal("100.00"), merchant_order_id=f"ref-race-{i}",
        actor=SYSTEM))
    assert len(results) == 10 and errors == ["insufficient_limit"] * 10
    # Each approval saw every earlier one: the available limits it answered are 900, 800, … 0, once each.
    assert sorted(p.available_after for p in results) == [Decimal(100 * k) for k in range(10)]
    assert CreditAccount.objects.get(pk=account.pk).used_amount == Decimal("1000.00")
    approved = results[0]
    again, errors = _run_threads(5, lambda i: purchase_authorize(
        account_reference=account.reference, amount=Decimal("100.00"), merchant_order_id=approved.merchant_order_id,
        actor=SYSTEM))
    assert errors == [] and {p.pk for p in again} == {approved.pk}
    assert all(p.is_replay for p in again)
    books_clean()
