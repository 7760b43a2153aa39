"""Cash loans (issue 16 item 3): the equal-installment arithmetic and its APR, the drawdown within the
line and the cash sub-limit, the engine carrying the loan (statement, overdue, late fee, repayment,
write-off) on the cash loans' own ledger accounts, and early repayment with interest accrued to date."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.db.models import Sum
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import CreditAccount
from accounts.services import account_freeze
from cashloans.models import CashLoan, CashLoanProduct
from cashloans.selectors import cash_used
from cashloans.services import (
    cash_loan_draw, cash_loan_quote, cash_loan_settle, cash_loan_settlement_quote, cash_product_save,
    cash_product_violations, mask_card,
)
from core.errors import ApplicationError
from installments.calc import CalcInputError
from installments.cash_calc import accrued_interest, cash_schedule, product_cash_apr
from installments.daily import run_through
from installments.models import Charge, Plan, ScheduleLine, Statement
from installments.services import purchase_authorize, repayment_post
from approvals.services import approval_approve
from installments.services.controls import write_off_submit
from ledger.models import JournalEntry, JournalLine
from tests.factories_installments import SYSTEM, baitiao, books_clean, money_snapshot, no_risk_checks, open_account  # noqa: F401
from tests.factories_staff import role_user

D = Decimal
CARD = "6222 0202 0011 2233 445"


def day(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def go_to(s: str) -> None:
    run_through(day(s) - dt.timedelta(days=1))


def balance(code: str) -> Decimal:
    t = JournalLine.objects.filter(ledger_account_id=code).aggregate(d=Sum("debit"), c=Sum("credit"))
    return (t["d"] or D("0")) - (t["c"] or D("0"))


# --- the arithmetic ------------------------------------------------------------------------------


# Issue 25 changed the convention: interest by the actual day (it was daily × 30 a month) and the APR is
# the XIRR of the real dates; these figures were recomputed (the old 882.88 / 10.80 % are gone).
DUES_12 = [dt.date(2026, 2, 10) + relativedelta(months=k) for k in range(12)]  # drawn 2026-01-05, bill day 1


def monthly_dues(tenor: int) -> list:
    return DUES_12[:tenor]


def test_worked_example_10000_over_12_months_at_003_pct_a_day():
    s = cash_schedule(D("10000.00"), 12, D("0.0003"), drawn_on=day("2026-01-05"), due_dates=DUES_12)
    assert s.monthly_rate == D("0.0090")
    assert (s.installment, s.last_installment, s.total_interest, s.total_payable) == (
        D("884.69"), D("884.66"), D("616.25"), D("10616.25"))
    assert (s.apr.nominal_pct, s.apr.effective_pct) == (D("10.90"), D("11.52"))
    first, last = s.lines[0], s.lines[-1]
    assert (first.days, first.principal, first.interest, first.balance_after) == (36, D("776.69"), D("108.00"), D("9223.31"))
    assert (last.days, last.principal, last.interest, last.balance_after) == (31, D("876.51"), D("8.15"), D("0.00"))
    assert all(line.total == D("884.69") for line in s.lines[:-1])


@pytest.mark.parametrize(("amount", "tenor", "installment", "last", "interest"), [
    ("10000.00", 3, "3398.56", "3398.56", "195.68"),
    ("10000.00", 6, "1722.28", "1722.30", "333.70"),
], ids=["3m", "6m"])
def test_other_tenors_to_the_cent(amount, tenor, installment, last, interest):
    s = cash_schedule(D(amount), tenor, D("0.0003"), drawn_on=day("2026-01-05"), due_dates=monthly_dues(tenor))
    assert (s.installment, s.last_installment, s.total_interest) == (D(installment), D(last), D(interest))


@settings(max_examples=150, deadline=None)
@given(per_period=st.integers(min_value=100, max_value=1_000_000), extra=st.integers(min_value=0, max_value=99),
       tenor=st.sampled_from([1, 3, 6, 12]), daily=st.integers(min_value=0, max_value=999),
       lead=st.integers(min_value=1, max_value=40))
def test_schedule_always_repays_the_principal_exactly(per_period, extra, tenor, daily, lead):
    """At least 1.00 a period (a product lends 500.00 at the least); first periods of 1 to 40 days."""
    principal = D(per_period * tenor + extra) / 100
    s = cash_schedule(principal, tenor, D(daily) / 1_000_000, drawn_on=day("2026-02-10") - dt.timedelta(days=lead),
                      due_dates=monthly_dues(tenor))
    assert sum(line.principal for line in s.lines) == principal
    assert s.lines[-1].balance_after == 0
    assert all(line.principal >= 0 and line.interest >= 0 for line in s.lines)
    assert all(line.total == s.installment for line in s.lines[:-1])


@pytest.mark.parametrize("bad", [
    (10000.0, 12, D("0.0003")), (D("10000.001"), 12, D("0.0003")), (D("0"), 12, D("0.0003")),
    (D("100.00"), 0, D("0.0003")), (D("100.00"), 3, D("0.02")), (D("100.00"), 3, D("-0.0001")),
], ids=["float", "fraction-of-cent", "zero", "tenor-0", "rate-2pct-a-day", "negative-rate"])
def test_bad_input_is_refused(bad):
    with pytest.raises(CalcInputError):
        cash_schedule(*bad, drawn_on=day("2026-01-05"), due_dates=DUES_12[:3])


def test_rate_zero_and_product_apr():
    assert cash_schedule(D("1000.00"), 3, D("0"), drawn_on=day("2026-01-05"), due_dates=DUES_12[:3]).last_installment == D("333.34")
    # the highest APR a daily rate can charge: 365 × the rate (issue 25; it was 12 × 30 × the rate)
    assert (product_cash_apr(D("0.0003")).nominal_pct, product_cash_apr(D("0.0003")).effective_pct) == (D("10.95"), D("11.57"))
    assert product_cash_apr(D("0.0007")).nominal_pct == D("25.55")


def test_accrued_interest_by_the_day():
    assert accrued_interest(D("10000.00"), D("0.0003"), day("2026-01-05"), day("2026-01-20")) == D("45.00")
    assert accrued_interest(D("10000.00"), D("0.0003"), day("2026-01-05"), day("2026-01-05")) == D("0.00")
    assert accrued_interest(D("10000.00"), D("0.0003"), day("2026-01-05"), day("2026-03-05"), cap=D("90.00")) == D("90.00")


@pytest.mark.parametrize(("rate", "ceiling", "ok"), [
    ("0.000300", "0.24", True), ("0.000657", "0.24", True), ("0.000658", "0.24", False), ("0.000666", "0.24", False),
    ("0.000700", "0.24", False), ("0.000300", "0.10", False),
], ids=["default", "just-below-24", "just-above-24", "old-max-0.0666", "25.55pct", "low-ceiling"])
def test_apr_ceiling_at_product_validation(rate, ceiling, ok):
    problems = cash_product_violations(daily_rate=D(rate), tenors=[3, 6, 12], apr_ceiling=D(ceiling),
                                       min_amount=D("500"), max_amount=D("20000"))
    assert (problems == {}) is ok
    if not ok:
        assert "ceiling" in problems["daily_rate"]


def test_product_validation_of_tenors_and_amounts():
    problems = cash_product_violations(daily_rate=D("0.0003"), tenors=[3, 24, 3], apr_ceiling=D("0.24"),
                                       min_amount=D("900"), max_amount=D("800"))
    assert set(problems) == {"tenors", "max_amount"}


def test_mask_card_keeps_only_the_last_four():
    assert mask_card(CARD) == "**** **** **** 3445"
    for bad in ("1234", "6222-0202-0011-2233", "62220202001122334455667"):
        with pytest.raises(ApplicationError) as exc:
            mask_card(bad)
        assert exc.value.code == "invalid_card_number"


# --- drawdown ------------------------------------------------------------------------------------


pytestmark = pytest.mark.django_db


@pytest.fixture
def account(business_date):
    business_date("2026-01-05")
    return open_account(limit="20000.00", opened_on=day("2026-01-01"))


def draw(account, amount="10000.00", tenor=12, card=CARD):
    return cash_loan_draw(account=account, amount=D(amount), tenor=tenor, card_number=card, purpose="travel", actor=SYSTEM)


def fresh(account) -> CreditAccount:
    return CreditAccount.objects.get(pk=account.pk)


def test_product_save_refuses_an_apr_above_the_ceiling_and_keeps_the_old_numbers(account, staff):
    product = CashLoanProduct.objects.get(product=baitiao())
    product.daily_rate = D("0.000700")
    with pytest.raises(ApplicationError) as exc:
        cash_product_save(product=product, actor=staff)
    assert exc.value.code == "invalid_cash_product"
    assert CashLoanProduct.objects.get(pk=product.pk).daily_rate == D("0.000300")
    product.daily_rate = D("0.000500")
    cash_product_save(product=product, actor=staff)
    assert CashLoanProduct.objects.get(pk=product.pk).daily_rate == D("0.000500")


def test_drawdown_creates_a_cash_plan_on_the_engine_and_posts_its_own_accounts(account):
    loan = draw(account)
    assert (loan.amount, loan.tenor, loan.installment, loan.last_installment, loan.total_interest) == (
        D("10000.00"), 12, D("884.69"), D("884.66"), D("616.25"))
    assert (loan.apr_nominal_pct, loan.apr_effective_pct, loan.card_masked) == (D("10.90"), D("11.52"), "**** **** **** 3445")
    assert CARD.replace(" ", "") not in str(CashLoan.objects.filter(pk=loan.pk).values().first())
    plan = loan.plan
    assert (plan.kind, plan.principal, plan.tenor, plan.fee_rate, plan.total_fee) == (
        "cash_loan", D("10000.00"), 12, D("0.009"), D("616.25"))
    lines = list(plan.lines.order_by("period"))
    assert [(ln.period, ln.due_date, ln.principal, ln.fee) for ln in lines[:2]] == [
        (1, day("2026-02-10"), D("776.69"), D("108.00")), (2, day("2026-03-10"), D("807.21"), D("77.48"))]
    assert lines[-1].due_date == day("2027-01-10")
    acc = fresh(account)
    assert acc.used_amount == D("10000.00")
    assert (loan.available_after, loan.cash_available_after) == (D("10000.00"), D("0.00"))
    entry = JournalEntry.objects.get(kind="cash_loan")
    assert sorted(entry.lines.values_list("ledger_account_id", "debit", "credit")) == [
        ("1000", D("0.00"), D("10000.00")), ("1200", D("10000.00"), D("0.00"))]
    assert balance("1100") == 0
    books_clean()


def test_cash_sub_limit_is_half_the_line_and_counts_only_cash(account):
    draw(account, "6000.00", 6)
    assert cash_used(account_id=account.pk) == D("6000.00")
    with pytest.raises(ApplicationError) as exc:
        draw(account, "4000.01", 3)
    assert exc.value.code == "insufficient_cash_limit"
    assert exc.value.details["cash_available"] == "4000.00"
    draw(account, "4000.00", 3)
    assert fresh(account).used_amount == D("10000.00")
    purchase_authorize(account=account, amount=D("9000.00"), merchant_order_id="o-1", actor=SYSTEM)  # the line is shared
    books_clean()


def test_a_drawdown_never_exceeds_the_line_left_after_purchases(account):
    purchase_authorize(account=account, amount=D("15000.00"), merchant_order_id="o-1", actor=SYSTEM)
    before = money_snapshot()
    with pytest.raises(ApplicationError) as exc:
        draw(account, "6000.00")
    assert (exc.value.code, exc.value.details["available"]) == ("insufficient_limit", "5000.00")
    assert money_snapshot() == before
    assert not CashLoan.objects.exists()


@pytest.mark.parametrize(("amount", "tenor", "card", "code"), [
    ("499.99", 12, CARD, "cash_amount_out_of_range"),
    ("20000.01", 12, CARD, "cash_amount_out_of_range"),
    ("1000.00", 24, CARD, "invalid_tenor"),
    ("1000.00", 12, "12345", "invalid_card_number"),
    ("0.00", 12, CARD, "invalid_amount"),
], ids=["below-min", "above-max", "tenor-24", "bad-card", "zero"])
def test_bad_input_refused_with_a_clear_code_and_nothing_changed(account, amount, tenor, card, code):
    before = money_snapshot()
    with pytest.raises(ApplicationError) as exc:
        draw(account, amount, tenor, card)
    assert exc.value.code == code
    assert money_snapshot() == before and not CashLoan.objects.exists()


def test_frozen_account_and_inactive_product_refused(account, staff):
    account_freeze(account=account, manual=True, actor=staff, reason="check")
    with pytest.raises(ApplicationError) as exc:
        draw(account)
    assert exc.value.code == "account_not_active"
    CashLoanProduct.objects.filter(product=baitiao()).update(is_active=False)
    with pytest.raises(ApplicationError) as exc:
        draw(open_account(limit="20000.00"))
    assert exc.value.code == "cash_loan_not_offered"
    assert not CashLoan.objects.exists()


def test_quote_matches_the_drawdown(account):
    q = cash_loan_quote(account=account, amount=D("10000.00"), tenor=12)
    assert (q.schedule.installment, q.due_dates[0], q.due_dates[-1]) == (D("884.69"), day("2026-02-10"), day("2027-01-10"))
    assert not CashLoan.objects.exists()


# --- the engine carries it -------------------------------------------------------------------------


def test_installment_billed_on_the_statement_goes_overdue_bears_a_late_fee_and_is_repaid(account):
    draw(account)
    go_to("2026-02-02")
    st = Statement.objects.get(account=account, bill_date=day("2026-02-01"))
    assert (st.due_date, st.installments_due, st.minimum_payment) == (day("2026-02-10"), D("884.69"), D("884.69"))
    line = ScheduleLine.objects.get(plan__kind="cash_loan", period=1)
    assert (line.status, line.statement_id) == ("due", st.pk)
    assert (balance("1210"), balance("4300"), balance("1110"), balance("4000")) == (D("108.00"), D("-108.00"), 0, 0)
    assert fresh(account).used_amount == D("10108.00")
    books_clean()
    go_to("2026-02-14")  # due Feb 10, grace through Feb 13: overdue
    acc = fresh(account)
    assert (acc.dpd, acc.bucket, acc.status) == (3, "M1", "frozen")
    late = Charge.objects.get(account=account, kind="late_fee")
    assert (late.days, late.base_amount, late.amount) == (3, D("884.69"), D("1.32"))  # 3 × 0.44 (rounded per day)
    line.refresh_from_db()
    assert (line.status, line.overdue_from) == ("overdue", day("2026-02-10"))
    repayment_post(account=account, amount=D("886.01"), external_ref="r-1", channel="bank_transfer", actor=SYSTEM)
    line.refresh_from_db()
    assert (line.status, line.principal_paid, line.fee_paid) == ("closed", D("776.69"), D("108.00"))
    assert (balance("1200"), balance("1210"), balance("1100")) == (D("9223.31"), 0, 0)
    go_to("2026-02-16")
    acc = fresh(account)
    assert (acc.dpd, acc.status, acc.used_amount) == (0, "active", D("9223.31"))
    assert cash_used(account_id=account.pk) == D("9223.31")
    books_clean()


def test_write_off_of_a_cash_loan_credits_its_own_accounts(account, staff):
    draw(account, "5000.00", 3)
    purchase_authorize(account=account, amount=D("1000.00"), merchant_order_id="o-1", actor=SYSTEM)
    go_to("2026-02-20")
    assert fresh(account).dpd > 0
    # A write-off by hand always waits for a second manager (issue 23): the maker asks, another approves.
    request = write_off_submit(account=account, actor=staff, reason="fraud confirmed").request
    approval_approve(approval=request, user=role_user("Collections manager", "manager2"))
    assert (balance("1200"), balance("1210"), balance("1100"), balance("1110")) == (0, 0, 0, 0)
    wo_lines = dict(JournalEntry.objects.get(kind="write_off").lines.filter(credit__gt=0)
                    .values_list("ledger_account_id", "credit"))
    assert wo_lines["1200"] == D("5000.00") and wo_lines["1100"] == D("1000.00")
    assert wo_lines["1210"] == cash_schedule(D("5000.00"), 3, D("0.0003"), drawn_on=day("2026-01-05"),
                                            due_dates=DUES_12[:3]).lines[0].interest
    assert Plan.objects.get(kind="cash_loan").status == "written_off"
    books_clean()


def test_close_of_business_write_off_at_dpd_180_splits_cash_and_purchase(account):
    draw(account, "3000.00", 3)
    purchase_authorize(account=account, amount=D("1000.00"), merchant_order_id="o-1", actor=SYSTEM)
    go_to("2026-08-12")  # due Feb 10: DPD 180 on Aug 9
    entry = JournalEntry.objects.get(kind="write_off")
    credits = dict(entry.lines.filter(credit__gt=0).values_list("ledger_account_id", "credit"))
    assert credits["1200"] == D("3000.00") and credits["1100"] == D("1000.00")
    interest_billed = sum(cash_schedule(D("3000.00"), 3, D("0.0003"), drawn_on=day("2026-01-05"),
                                        due_dates=DUES_12[:3]).lines[k].interest for k in range(3))
    assert credits["1210"] == interest_billed
    assert "1110" not in credits
    assert (balance("1200"), balance("1210"), balance("1100"), balance("1110")) == (0, 0, 0, 0)
    books_clean()


# --- early repayment -------------------------------------------------------------------------------


def test_early_repayment_charges_interest_accrued_to_date_only(account, business_date):
    loan = draw(account)
    business_date("2026-01-20")
    q = cash_loan_settlement_quote(loan=loan)
    assert (q.quote.remaining_principal, q.quote.billed_unpaid, q.quote.fee, q.total) == (
        D("10000.00"), D("0.00"), D("45.00"), D("10045.00"))
    assert q.future_fees_waived == D("616.25") - D("45.00")
    rep = cash_loan_settle(loan=loan, actor=SYSTEM)
    assert rep.amount == D("10045.00")
    loan.plan.refresh_from_db()
    assert loan.plan.status == "settled"
    assert fresh(account).used_amount == D("0.00")
    assert (balance("1200"), balance("1210"), balance("4300")) == (0, 0, D("-45.00"))
    line1 = loan.plan.lines.get(period=1)
    assert (line1.fee_paid, line1.fee_waived) == (D("45.00"), D("63.00"))  # 36 days scheduled, 15 used
    books_clean()


def test_early_repayment_after_the_first_installment_counts_from_its_due_date(account, business_date):
    loan = draw(account)
    go_to("2026-02-05")
    repayment_post(account=account, amount=D("884.69"), external_ref="r-1", channel="bank_transfer", actor=SYSTEM)
    go_to("2026-02-20")
    q = cash_loan_settlement_quote(loan=loan)
    # 9,223.31 outstanding × 0.03 % × 10 days (Feb 10 → Feb 20) = 27.67 (period 2's 77.48 less 18 unused days' 49.81)
    assert (q.quote.remaining_principal, q.quote.fee, q.total) == (D("9223.31"), D("27.67"), D("9250.98"))
    cash_loan_settle(loan=loan, actor=SYSTEM)
    assert fresh(account).used_amount == D("0.00")
    assert balance("4300") == D("-135.67")
    books_clean()


def test_same_day_repayment_costs_no_interest(account):
    loan = draw(account)
    assert cash_loan_settlement_quote(loan=loan).total == D("10000.00")
    cash_loan_settle(loan=loan, actor=SYSTEM)
    assert (fresh(account).used_amount, balance("4300"), balance("1200")) == (D("0.00"), 0, 0)
    books_clean()


def test_reversing_an_early_repayment_reopens_the_loan_exactly(account, business_date, staff):
    from installments.services import repayment_reverse

    loan = draw(account)
    business_date("2026-01-20")
    before_lines = sorted(loan.plan.lines.values_list("period", "fee", "fee_paid", "fee_waived", "principal_paid"))
    rep = cash_loan_settle(loan=loan, actor=SYSTEM)
    repayment_reverse(repayment=rep, actor=staff, reason="bounced")
    loan.plan.refresh_from_db()
    assert loan.plan.status == "active"
    assert sorted(loan.plan.lines.values_list("period", "fee", "fee_paid", "fee_waived", "principal_paid")) == before_lines
    assert fresh(account).used_amount == D("10000.00")
    assert (balance("1200"), balance("1210"), balance("4300")) == (D("10000.00"), 0, 0)
    books_clean()


# --- one account's cash sub-limit ------------------------------------------------------------------


def test_a_credit_officer_override_replaces_the_share_and_is_audited(account, staff):
    from cashloans.services import account_cash_limit_set
    from core.models import AuditEvent

    account_cash_limit_set(account=account, cash_limit=D("2000.00"), actor=staff, reason="cash-out risk")
    with pytest.raises(ApplicationError) as exc:
        draw(account, "2000.01", 3)
    assert (exc.value.code, exc.value.details["cash_available"]) == ("insufficient_cash_limit", "2000.00")
    draw(account, "2000.00", 3)
    account_cash_limit_set(account=account, cash_limit=D("50000.00"), actor=staff, reason="trusted")  # capped at the line
    with pytest.raises(ApplicationError) as exc:
        draw(account, "18000.01", 12)
    assert exc.value.code == "insufficient_limit"  # the line (18,000.00 left) binds before the capped cash limit
    draw(account, "18000.00", 12)
    assert fresh(account).used_amount == D("20000.00")
    event = AuditEvent.objects.filter(action="cash_limit_set").order_by("id").last()
    assert (event.old, event.new, event.reason) == ("2000.00", "50000.00", "trusted")
    books_clean()


@pytest.mark.parametrize(("value", "reason", "code"), [
    (D("-1.00"), "x", "invalid_amount"), (D("1.001"), "x", "invalid_amount"), (D("100.00"), " ", "reason_required"),
], ids=["negative", "fraction-of-cent", "no-reason"])
def test_override_refuses_bad_input_and_changes_nothing(account, staff, value, reason, code):
    from cashloans.models import AccountCashLimit
    from cashloans.services import account_cash_limit_set

    with pytest.raises(ApplicationError) as exc:
        account_cash_limit_set(account=account, cash_limit=value, actor=staff, reason=reason)
    assert exc.value.code == code and not AccountCashLimit.objects.exists()


def test_override_of_zero_stops_cash_and_the_account_api_shows_it(account, staff):
    from cashloans.selectors import cash_limits_view
    from cashloans.services import account_cash_limit_set

    account_cash_limit_set(account=account, cash_limit=D("0"), actor=staff, reason="no cash")
    with pytest.raises(ApplicationError) as exc:
        draw(account, "500.00", 3)
    assert exc.value.code == "insufficient_cash_limit"
    assert cash_limits_view(fresh(account), D("20000.00"), D("20000.00")) == {
        "cash_limit": D("0.00"), "cash_used": D("0.00"), "cash_available": D("0.00")}


def test_privacy_export_and_full_anonymisation_cover_cash_loans(account):
    from cashloans.apps import cash_loans_anonymise
    from privacy.registry import get_provider

    loan = draw(account)
    provider = get_provider("cashloans")
    assert {"cashloans.cashloan", "cashloans.accountcashlimit"} <= provider.covered_models()
    assert cash_loans_anonymise(account.customer, retained=True) == 0
    assert CashLoan.objects.get(pk=loan.pk).card_masked == "**** **** **** 3445"
    assert cash_loans_anonymise(account.customer, retained=False) == 1
    assert CashLoan.objects.get(pk=loan.pk).card_masked == "**** **** **** ****"
