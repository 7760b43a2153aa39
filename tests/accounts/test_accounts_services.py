"""Credit lines: limits, temporary limits, freeze rules, bill day, logs (PRODUCT §3, §4)."""
import datetime as dt
from decimal import Decimal

import pytest

from accounts import selectors, services
from accounts.models import CreditAccount, LimitChange, StatusChange, TemporaryLimit
from core.errors import BusinessRuleError, ConflictError, ValidationError
from tests.factories import CreditAccountFactory, CreditProductFactory, CustomerFactory

D = Decimal


def snapshot(account):
    account.refresh_from_db()
    return (
        account.fixed_limit, account.used_amount, account.status, account.freeze_reason, account.bill_day,
        LimitChange.objects.filter(account=account).count(), StatusChange.objects.filter(account=account).count(),
        TemporaryLimit.objects.filter(account=account).count(),
    )


@pytest.fixture
def account(business_date):
    return CreditAccountFactory(fixed_limit=D("10000.00"), opened_on=dt.date(2025, 6, 1))


def test_account_open_logs_the_initial_limit(business_date, system):
    account = services.account_open(
        customer=CustomerFactory(), product=CreditProductFactory(), fixed_limit=D("5000"), actor=system, bill_day=15
    )
    assert (account.fixed_limit, account.bill_day, account.opened_on) == (D("5000.00"), 15, dt.date(2026, 1, 5))
    change = account.limit_changes.get()
    assert (change.old_limit, change.new_limit, change.actor_rule, change.actor_id) == (D("0"), D("5000.00"), "test", None)


@pytest.mark.parametrize("bill_day", [0, 29])
def test_account_open_refuses_bad_bill_day(business_date, system, bill_day):
    with pytest.raises(ValidationError):
        services.account_open(customer=CustomerFactory(), product=CreditProductFactory(), fixed_limit=D("1"), actor=system, bill_day=bill_day)
    assert CreditAccount.objects.count() == 0


def test_second_account_for_same_product_is_a_conflict(account, system):
    before = snapshot(account)
    with pytest.raises(ConflictError):
        services.account_open(customer=account.customer, product=account.product, fixed_limit=D("1"), actor=system)
    assert CreditAccount.objects.count() == 1 and snapshot(account) == before


def test_available_is_fixed_plus_active_temporary_minus_used(account, staff, business_date):
    CreditAccount.objects.filter(pk=account.pk).update(used_amount=D("2500.00"))
    account.refresh_from_db()
    services.temporary_limit_submit(
        account=account, amount=D("3000"), starts_on=dt.date(2026, 1, 10), ends_on=dt.date(2026, 1, 20), actor=staff,
        reason="Double 11", campaign="1111",
    )
    assert selectors.account_available(account=account) == D("7500.00")  # not started yet
    assert selectors.account_available(account=account, on=dt.date(2026, 1, 10)) == D("10500.00")
    assert selectors.account_available(account=account, on=dt.date(2026, 1, 20)) == D("10500.00")
    assert selectors.account_available(account=account, on=dt.date(2026, 1, 21)) == D("7500.00")
    business_date("2026-01-21")
    assert services.temporary_limits_expire(on=dt.date(2026, 1, 21)) == 1
    assert services.temporary_limits_expire(on=dt.date(2026, 1, 21)) == 0
    assert TemporaryLimit.objects.get().status == TemporaryLimit.Status.EXPIRED


def test_available_never_shown_negative(account):
    CreditAccount.objects.filter(pk=account.pk).update(used_amount=D("12000.00"))
    account.refresh_from_db()
    assert selectors.account_available(account=account) == D("0.00")


def test_change_fixed_limit_logs_and_audits(account, staff):
    services.limit_change_submit(account=account, new_limit=D("15000"), actor=staff, reason="review")
    account.refresh_from_db()
    assert account.fixed_limit == D("15000.00")
    change = account.limit_changes.get()
    assert (change.old_limit, change.new_limit, change.reason, change.actor) == (D("10000.00"), D("15000.00"), "review", staff.user)
    from core.models import AuditEvent

    assert AuditEvent.objects.filter(action="limit_change", object_id=str(account.pk)).count() == 1


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"new_limit": D("-1"), "reason": "x"}, ValidationError),
        ({"new_limit": D("1000"), "reason": " "}, ValidationError),
        ({"new_limit": D("10000"), "reason": "same"}, BusinessRuleError),
        ({"new_limit": "abc", "reason": "x"}, ValidationError),
    ],
    ids=["negative", "no-reason", "unchanged", "not-a-number"],
)
def test_change_fixed_limit_refusals_change_nothing(account, staff, kwargs, error):
    before = snapshot(account)
    with pytest.raises(error):
        services.limit_change_submit(account=account, actor=staff, **kwargs)
    assert snapshot(account) == before


@pytest.mark.parametrize(
    "amount, starts, ends",
    [(D("0"), "2026-01-05", "2026-01-06"), (D("100"), "2026-01-06", "2026-01-05"), (D("100"), "2025-12-01", "2026-01-04")],
    ids=["zero", "ends-before-start", "ended-in-past"],
)
def test_temporary_limit_refusals_change_nothing(account, staff, amount, starts, ends):
    before = snapshot(account)
    with pytest.raises(ValidationError):
        services.temporary_limit_submit(
            account=account, amount=amount, starts_on=dt.date.fromisoformat(starts), ends_on=dt.date.fromisoformat(ends),
            actor=staff, reason="x",
        )
    assert snapshot(account) == before


def test_overdue_freeze_lifts_automatically(account, system):
    services.account_freeze(account=account, manual=False, actor=system, reason="overdue")
    account.refresh_from_db()
    assert (account.status, account.freeze_reason) == ("frozen", "overdue")
    services.account_unfreeze(account=account, manual=False, actor=system, reason="cured")
    account.refresh_from_db()
    assert (account.status, account.freeze_reason) == ("active", "")
    assert list(account.status_changes.order_by("id").values_list("new_status", "new_freeze_reason")) == [
        ("frozen", "overdue"), ("active", ""),
    ]


def test_manual_freeze_is_not_lifted_by_the_automatic_unfreeze(account, system, staff):
    services.account_freeze(account=account, manual=True, actor=staff, reason="fraud suspicion")
    before = snapshot(account)
    with pytest.raises(BusinessRuleError) as err:
        services.account_unfreeze(account=account, manual=False, actor=system, reason="cured")
    assert err.value.code == "manual_freeze"
    assert snapshot(account) == before
    # an overdue freeze never replaces the manual one
    with pytest.raises(BusinessRuleError):
        services.account_freeze(account=account, manual=False, actor=system, reason="overdue")
    assert snapshot(account) == before
    services.account_unfreeze(account=account, manual=True, actor=staff, reason="cleared")
    account.refresh_from_db()
    assert account.status == "active"


def test_manual_freeze_takes_over_an_overdue_freeze(account, system, staff):
    services.account_freeze(account=account, manual=False, actor=system, reason="overdue")
    services.account_freeze(account=account, manual=True, actor=staff, reason="investigation")
    account.refresh_from_db()
    assert account.freeze_reason == "manual"
    with pytest.raises(BusinessRuleError):
        services.account_unfreeze(account=account, manual=False, actor=system, reason="cured")


def test_staff_cannot_lift_an_overdue_freeze_while_past_due(account, system, staff):
    services.account_freeze(account=account, manual=False, actor=system, reason="overdue")
    CreditAccount.objects.filter(pk=account.pk).update(dpd=5)
    before = snapshot(account)
    with pytest.raises(BusinessRuleError) as err:
        services.account_unfreeze(account=account, manual=True, actor=staff, reason="please")
    assert err.value.code == "overdue_freeze" and snapshot(account) == before


def test_close_requires_zero_balance(account, staff):
    CreditAccount.objects.filter(pk=account.pk).update(used_amount=D("1.00"))
    before = snapshot(account)
    with pytest.raises(BusinessRuleError):
        services.account_close(account=account, actor=staff, reason="customer request")
    assert snapshot(account) == before
    CreditAccount.objects.filter(pk=account.pk).update(used_amount=D("0"))
    services.account_close(account=account, actor=staff, reason="customer request")
    account.refresh_from_db()
    assert (account.status, account.closed_on) == ("closed", dt.date(2026, 1, 5))
    with pytest.raises(BusinessRuleError):
        services.account_freeze(account=account, manual=True, actor=staff, reason="x")


def test_bill_day_rules(business_date, staff):
    account = CreditAccountFactory(opened_on=dt.date(2025, 12, 1), bill_day=1)
    with pytest.raises(BusinessRuleError) as err:
        services.account_change_bill_day(account=account, bill_day=15, actor=staff)
    assert err.value.code == "bill_day_too_early"
    business_date("2026-03-01")
    CreditAccount.objects.filter(pk=account.pk).update(dpd=3)
    with pytest.raises(BusinessRuleError) as err:
        services.account_change_bill_day(account=account, bill_day=15, actor=staff)
    assert err.value.code == "bill_day_overdue"
    CreditAccount.objects.filter(pk=account.pk).update(dpd=0)
    services.account_change_bill_day(account=account, bill_day=15, actor=staff)
    account.refresh_from_db()
    assert (account.bill_day, account.bill_day_changed_on) == (15, dt.date(2026, 3, 1))
    business_date("2026-08-31")
    with pytest.raises(BusinessRuleError) as err:
        services.account_change_bill_day(account=account, bill_day=20, actor=staff)
    assert err.value.code == "bill_day_changed_recently"
    assert CreditAccount.objects.get(pk=account.pk).bill_day == 15
    business_date("2026-09-01")
    services.account_change_bill_day(account=account, bill_day=20, actor=staff)
    assert CreditAccount.objects.get(pk=account.pk).bill_day == 20
    with pytest.raises(ValidationError):
        services.account_change_bill_day(account=account, bill_day=29, actor=staff)


def test_database_refuses_broken_invariants(account):
    from django.db import IntegrityError, transaction

    for update in ({"fixed_limit": D("-1")}, {"used_amount": D("-0.01")}, {"bill_day": 29}, {"status": "frozen"}):
        with pytest.raises(IntegrityError), transaction.atomic():
            CreditAccount.objects.filter(pk=account.pk).update(**update)
