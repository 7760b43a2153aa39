"""Purchases, repayments, refunds, settlements, bill installments and terms: the rules and every refusal.
Each failure path asserts that nothing changed."""
import datetime as dt

import pytest

from accounts.models import CreditAccount
from accounts.services import account_close, account_freeze, temporary_limit_grant
from core.errors import ApplicationError, BusinessRuleError, ConflictError, ValidationError
from installments import hooks
from installments.calc import quote
from installments.daily import run_through
from installments.models import Plan, ProductTerms, Purchase, Statement, TenorRate
from installments.services import (
    PricingCeilingError, PurchaseDeclinedError, plan_settle, product_terms_update, purchase_authorize,
    purchase_refund, purchase_review_approve, purchase_review_decline, repayment_post, statement_install,
)
from installments.services.common import get_terms, next_bill_date
from ledger.models import JournalEntry, JournalLine
from tests.factories_installments import SYSTEM, D, baitiao, books_clean, money_snapshot, no_risk_checks, open_account  # noqa: F401

pytestmark = pytest.mark.django_db


def day(s):
    return dt.date.fromisoformat(s)


def buy(account, amount, order, tenor=None, **kw):
    return purchase_authorize(account=account, amount=D(amount), merchant_order_id=order, tenor=tenor, actor=SYSTEM, **kw)


def pay(account, amount, ref, **kw):
    return repayment_post(account=account, amount=D(amount), external_ref=ref, channel=kw.pop("channel", "wallet"),
                          actor=SYSTEM, **kw)


def unchanged(fn, code, *, exc=ApplicationError, allow=()):
    """Run ``fn`` expecting an error with ``code``; assert no money row changed (``allow``: tables that may)."""
    before = money_snapshot()
    with pytest.raises(exc) as info:
        fn()
    assert info.value.code == code, info.value
    after = money_snapshot()
    for table in before:
        if table not in allow:
            assert after[table] == before[table], table
    return info.value


@pytest.fixture
def account(business_date):
    business_date("2026-01-05")
    return open_account(limit="1000.00", opened_on=day("2026-01-01"), bill_day=10)


# -- cycles -------------------------------------------------------------------------------------


@pytest.mark.parametrize("on, bill_day, expected", [
    ("2026-01-09", 10, "2026-01-10"), ("2026-01-10", 10, "2026-02-10"), ("2026-01-11", 10, "2026-02-10"),
    ("2026-12-28", 28, "2027-01-28"), ("2026-12-27", 28, "2026-12-28"), ("2026-01-31", 1, "2026-02-01"),
], ids=["before-bill-date", "on-bill-date", "after-bill-date", "year-end", "day-before", "month-end"])
def test_purchase_posts_to_the_cycle_by_bill_day(on, bill_day, expected):
    assert next_bill_date(day(on), bill_day) == day(expected)


def test_approved_purchase_posts_uses_the_line_and_journals(account):
    p = buy(account, "300.00", "o-1", category="books")
    assert (p.status, p.posted_on, p.cycle_bill_date, p.is_replay) == ("approved", day("2026-01-05"), day("2026-01-10"), False)
    line = p.plan.lines.get()
    assert (line.is_revolving, line.principal, line.fee, line.due_date, line.status) == (True, D("300.00"), D("0.00"), day("2026-01-19"), "pending")
    assert CreditAccount.objects.get(pk=account.pk).used_amount == D("300.00")
    entry = JournalEntry.objects.get(source=f"purchase:{p.reference}")
    assert sorted(entry.lines.values_list("ledger_account_id", "debit", "credit")) == [
        ("1100", D("300.00"), D("0.00")), ("2000", D("0.00"), D("300.00"))]
    books_clean()


def test_purchase_installment_schedule_first_due_on_its_statement(account):
    p = buy(account, "1000.00", "o-1", tenor=3)
    lines = list(p.plan.lines.order_by("period"))
    assert [(ln.principal, ln.fee, ln.due_date) for ln in lines] == [
        (D("333.33"), D("6.00"), day("2026-01-19")), (D("333.33"), D("6.00"), day("2026-02-19")),
        (D("333.34"), D("6.00"), day("2026-03-19"))]
    assert (p.plan.apr_nominal_pct, p.plan.total_fee) == (quote(D("1000.00"), 3, D("0.006")).apr.nominal_pct, D("18.00"))


@pytest.mark.parametrize("tenor, payment, total_fee, nominal, effective", [
    (3, "2036.00", "108.00", "10.77", "11.32"), (6, "1036.00", "216.00", "12.24", "12.95"),
    (12, "530.00", "360.00", "10.90", "11.46"), (24, "280.00", "720.00", "11.13", "11.71"),
], ids=["3", "6", "12", "24"])
def test_worked_examples_of_product_section_5(business_date, tenor, payment, total_fee, nominal, effective):
    business_date("2026-01-05")
    account = open_account(limit="10000.00", opened_on=day("2026-01-01"))
    plan = buy(account, "6000.00", f"o-{tenor}", tenor=tenor).plan
    first = plan.lines.get(period=1)
    assert (first.principal + first.fee, plan.total_fee, plan.apr_nominal_pct, plan.apr_effective_pct) == (
        D(payment), D(total_fee), D(nominal), D(effective))
    assert sum(ln.principal for ln in plan.lines.all()) == D("6000.00")


def test_largest_amounts_split_exactly(business_date):
    from risk.models import RiskPolicy

    business_date("2026-01-05")
    RiskPolicy.objects.update_or_create(singleton=1, defaults={"max_limit": D("9999999999.99")})
    account = open_account(limit="9999999999.99", opened_on=day("2026-01-01"))
    plan = buy(account, "9999999999.99", "o-max", tenor=24).plan
    lines = list(plan.lines.order_by("period"))
    assert lines[0].principal == D("416666666.66") and lines[-1].principal == D("416666666.81")
    assert sum(ln.principal for ln in lines) == D("9999999999.99")
    assert plan.total_fee == 24 * D("50000000.00")
    books_clean()


def test_one_yuan_purchase_and_a_too_small_installment(account):
    """1.00 over 24 periods at 0.50 %: the fee rounds up to 0.01 (1 % a period), so this amount's APR by IRR
    is 20.94 %, nearly twice the product's 11.13 %. Under a 20 % ceiling the product is fine, this quote is not."""
    assert buy(account, "1.00", "o-1").status == "approved"
    product_terms_update(terms=get_terms(baitiao().pk), actor=SYSTEM, apr_ceiling=D("0.20"))
    q = quote(D("1.00"), 24, D("0.005"))
    assert (q.fee_per_period, q.apr.nominal_pct) == (D("0.01"), D("20.94"))
    err = unchanged(lambda: buy(account, "1.00", "o-2", tenor=24), "apr_above_ceiling")
    assert str(q.apr.nominal_pct) in err.message
    assert not Purchase.objects.filter(merchant_order_id="o-2").exists()
    assert buy(account, "600.00", "o-3", tenor=24).status == "approved"


def test_insufficient_limit_is_declined_recorded_and_changes_nothing_else(account):
    buy(account, "900.00", "o-1")
    err = unchanged(lambda: buy(account, "100.01", "o-2"), "insufficient_limit", exc=PurchaseDeclinedError,
                    allow=("purchases",))
    declined = Purchase.objects.get(merchant_order_id="o-2")
    assert (declined.status, declined.reason_codes, declined.posted_on) == ("declined", ["insufficient_limit"], None)
    assert err.details["purchase"] == declined.reference
    # the retried order gets the same answer, and nothing is recorded twice
    again = unchanged(lambda: buy(account, "100.01", "o-2"), "insufficient_limit", exc=PurchaseDeclinedError)
    assert again.details["replay"] is True
    assert buy(account, "100.00", "o-3").status == "approved"  # exactly the available amount
    books_clean()


def test_temporary_limit_counts_until_it_ends(account, business_date):
    temporary_limit_grant(account=account, amount=D("500.00"), starts_on=day("2026-01-05"), ends_on=day("2026-01-06"),
                          actor=SYSTEM, reason="618")
    assert buy(account, "1400.00", "o-1").status == "approved"
    business_date("2026-01-07")
    unchanged(lambda: buy(account, "1.00", "o-2"), "insufficient_limit", exc=PurchaseDeclinedError, allow=("purchases",))


def test_frozen_account_declines(account, staff):
    account_freeze(account=account, manual=True, actor=staff, reason="fraud check")
    unchanged(lambda: buy(account, "10.00", "o-1"), "account_not_active", exc=PurchaseDeclinedError, allow=("purchases",))


@pytest.mark.parametrize("tenor", [5, 0, 36, True])
def test_invalid_tenor_is_refused_and_not_recorded(account, tenor):
    unchanged(lambda: buy(account, "100.00", "o-1", tenor=tenor), "invalid_tenor", exc=BusinessRuleError)
    assert not Purchase.objects.exists()


def test_tenor_the_product_does_not_offer(account):
    TenorRate.objects.filter(terms__product=baitiao(), tenor=24).delete()
    unchanged(lambda: buy(account, "500.00", "o-1", tenor=24), "invalid_tenor", exc=BusinessRuleError)


@pytest.mark.parametrize("amount", ["0", "-1.00", "1.001", "abc", 1.5], ids=["zero", "negative", "sub-cent", "text", "float"])
def test_bad_amounts_are_refused(account, amount):
    unchanged(lambda: purchase_authorize(account=account, amount=amount, merchant_order_id="o-1", actor=SYSTEM),
              "invalid_amount", exc=ValidationError)


def test_retry_with_same_merchant_order_returns_the_first(account):
    p = buy(account, "200.00", "o-1")
    again = buy(account, "200.00", "o-1")
    assert (again.pk, again.is_replay) == (p.pk, True)
    assert CreditAccount.objects.get(pk=account.pk).used_amount == D("200.00")
    unchanged(lambda: buy(account, "250.00", "o-1"), "merchant_order_conflict")


def test_risk_hook_decline_review_and_officer_decisions(business_date, staff):
    business_date("2026-01-05")
    account = open_account(limit="5000.00", opened_on=day("2026-01-01"))
    hooks.register_purchase_check("big", lambda ctx: hooks.RiskDecision.review("amount_spike") if ctx.amount > 500
                                  else hooks.RiskDecision.approve())
    hooks.register_purchase_check("cat", lambda ctx: hooks.RiskDecision.decline("gift_card") if ctx.category == "gift_card"
                                  else hooks.RiskDecision.approve())
    with pytest.raises(PurchaseDeclinedError) as info:
        buy(account, "50.00", "o-gift", category="gift_card")
    assert info.value.code == "gift_card"
    held = buy(account, "600.00", "o-tv")
    assert (held.status, held.reason_codes) == ("held", ["amount_spike"])
    assert CreditAccount.objects.get(pk=account.pk).used_amount == D("0.00")
    approved = purchase_review_approve(purchase=held, actor=staff, note="called the customer")
    assert approved.status == "approved" and approved.reviewed_by_id == staff.user.pk
    assert CreditAccount.objects.get(pk=account.pk).used_amount == D("600.00")
    held2 = buy(account, "501.00", "o-tv2")
    unchanged(lambda: purchase_review_decline(purchase=held2, actor=staff, reason=""), "reason_required")
    assert purchase_review_decline(purchase=held2, actor=staff, reason="no answer").status == "declined"
    unchanged(lambda: purchase_review_approve(purchase=held2, actor=staff), "purchase_not_held")
    books_clean()


# -- repayments ------------------------------------------------------------------------------------


def test_repayment_reference_is_unique(account):
    buy(account, "300.00", "o-1")
    first = pay(account, "100.00", "bank-1")
    again = pay(account, "100.00", "bank-1")
    assert (again.pk, again.is_replay) == (first.pk, True)
    unchanged(lambda: pay(account, "120.00", "bank-1"), "external_ref_conflict", exc=ConflictError)
    other = open_account(limit="100.00")
    unchanged(lambda: pay(other, "100.00", "bank-1"), "external_ref_conflict", exc=ConflictError)
    books_clean()


@pytest.mark.parametrize("kwargs, code", [
    ({"channel": "pigeon"}, "invalid_channel"), ({"received_on": day("2026-01-06")}, "value_date_in_future"),
], ids=["channel", "future"])
def test_repayment_input_is_checked(account, kwargs, code):
    unchanged(lambda: pay(account, "10.00", "r-1", **kwargs), code, exc=ValidationError)


def test_repayment_on_closed_account_refused(account):
    account_close(account=account, actor=SYSTEM, reason="customer asked")
    unchanged(lambda: pay(account, "10.00", "r-1"), "account_closed")


def test_prepayment_before_any_bill_is_credit(account):
    buy(account, "300.00", "o-1")
    rep = pay(account, "300.00", "r-early")  # nothing billed yet: it waits as credit for the bill
    assert rep.to_credit_balance == D("300.00")
    run_through(day("2026-01-10"))
    st = Statement.objects.get(account=account)
    assert (st.credit_applied, st.closing_balance, st.status) == (D("300.00"), D("0.00"), "paid")
    assert CreditAccount.objects.get(pk=account.pk).credit_balance == D("0.00")
    books_clean()


# -- refunds ---------------------------------------------------------------------------------------


def test_refund_checks(account):
    p = buy(account, "300.00", "o-1")
    unchanged(lambda: purchase_refund(purchase=p, amount=D("300.01"), actor=SYSTEM, reason="r"), "refund_exceeds_purchase")
    unchanged(lambda: purchase_refund(purchase=p, amount=D("1.00"), actor=SYSTEM, reason=" "), "reason_required")
    with pytest.raises(PurchaseDeclinedError):
        buy(account, "5000.00", "o-2")
    declined = Purchase.objects.get(merchant_order_id="o-2")
    unchanged(lambda: purchase_refund(purchase=declined, amount=D("1.00"), actor=SYSTEM, reason="r"), "purchase_not_refundable")
    refund = purchase_refund(purchase=p, amount=D("100.00"), actor=SYSTEM, reason="one item back")
    assert (refund.principal_reduced, refund.excess) == (D("100.00"), D("0.00"))
    assert CreditAccount.objects.get(pk=account.pk).used_amount == D("200.00")
    unchanged(lambda: purchase_refund(purchase=p, amount=D("200.01"), actor=SYSTEM, reason="r"), "refund_exceeds_purchase")
    books_clean()


def test_refund_of_repaid_purchase_to_refund_payable(account):
    p = buy(account, "300.00", "o-1")
    run_through(day("2026-01-10"))
    pay(account, "300.00", "r-1")
    refund = purchase_refund(purchase=p, amount=D("300.00"), actor=SYSTEM, reason="returned", excess_to="refund_payable")
    assert (refund.principal_reduced, refund.excess) == (D("0.00"), D("300.00"))
    acc = CreditAccount.objects.get(pk=account.pk)
    assert (acc.used_amount, acc.credit_balance) == (D("0.00"), D("0.00"))
    assert JournalLine.objects.get(entry=refund.journal_entry, ledger_account_id="2200").credit == D("300.00")
    books_clean()


# -- settlement and bill installment refusals ----------------------------------------------------------


def test_settlement_refusals(account):
    revolving = buy(account, "100.00", "o-1").plan
    unchanged(lambda: plan_settle(plan=revolving, actor=SYSTEM), "plan_not_installment")
    plan = buy(account, "600.00", "o-2", tenor=3).plan
    plan_settle(plan=plan, actor=SYSTEM)
    unchanged(lambda: plan_settle(plan=Plan.objects.get(pk=plan.pk), actor=SYSTEM), "plan_not_active")


def test_bill_installment_refusals(account, business_date):
    buy(account, "150.00", "o-1")
    buy(account, "50.00", "o-2", tenor=3)
    run_through(day("2026-01-10"))
    st = Statement.objects.get(account=account)
    unchanged(lambda: statement_install(statement=st, tenor=6, amount=D("99.99"), actor=SYSTEM), "below_installment_minimum")
    unchanged(lambda: statement_install(statement=st, tenor=6, amount=D("150.01"), actor=SYSTEM), "amount_exceeds_revolving")
    unchanged(lambda: statement_install(statement=st, tenor=5, actor=SYSTEM), "invalid_tenor")
    business_date("2026-01-20")
    unchanged(lambda: statement_install(statement=st, tenor=6, actor=SYSTEM), "past_due_date")
    business_date("2026-01-11")
    plan = statement_install(statement=st, tenor=3, amount=D("100.00"), actor=SYSTEM)
    st.refresh_from_db()
    # 50.00 revolving left (10 % = 5.00) + the purchase installment 16.66 + 0.30 + the new plan's 33.33 + 0.60
    assert (st.revolving_due, st.minimum_payment) == (D("50.00"), D("5.00") + D("16.96") + D("33.93"))
    assert plan.lines.get(period=1).due_date == st.due_date
    books_clean()


# -- terms ---------------------------------------------------------------------------------------------


def test_terms_above_the_ceiling_are_refused_naming_tenor_and_rate(account):
    terms = get_terms(baitiao().pk)
    before = (ProductTerms.objects.values_list().get(pk=terms.pk), sorted(TenorRate.objects.values_list("tenor", "fee_rate")))
    with pytest.raises(PricingCeilingError) as info:
        product_terms_update(terms=terms, actor=SYSTEM, fee_rates={3: D("0.006"), 6: D("0.006"), 12: D("0.005"), 24: D("0.02")})
    assert "tenor 24" in info.value.message and "2 %" in info.value.message
    with pytest.raises(PricingCeilingError) as info:
        product_terms_update(terms=terms, actor=SYSTEM, late_fee_daily_rate=D("0.001"))
    assert "late fee" in info.value.message and "36.50" in info.value.message
    after = (ProductTerms.objects.values_list().get(pk=terms.pk), sorted(TenorRate.objects.values_list("tenor", "fee_rate")))
    assert after == before
    product_terms_update(terms=terms, actor=SYSTEM, apr_ceiling=D("0.45"), fee_rates={3: D("0.006"), 24: D("0.02")})
    assert get_terms(baitiao().pk).fee_rates() == {3: D("0.006000"), 24: D("0.020000")}
