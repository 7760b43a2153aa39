"""Cash loans by the actual day (issue 25 item 1, PRODUCT §13) and the cash sub-limit on the fixed line only
(item 2). Every figure is computed by the day: 10,000.00 at 0.03 %/day is 3.00 a day of interest."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, localcontext

import pytest
from django.db.models import Sum

from accounts.models import CreditAccount
from accounts.services import temporary_limit_grant
from cashloans.models import CashLoan, CashLoanPrepayment
from cashloans.selectors import cash_used
from cashloans.services import (
    cash_loan_draw, cash_loan_payout_fail, cash_loan_prepay, cash_loan_quote, cash_loan_settle, cash_loan_settlement_quote,
    cash_product_violations,
)
from core.errors import ApplicationError
from core.models import AuditEvent
from installments.cash_calc import cash_schedule, xirr
from installments.daily import run_through
from installments.models import Plan, ScheduleLine, Statement
from ledger.models import JournalEntry, JournalLine
from tests.factories_installments import SYSTEM, books_clean, money_snapshot, no_risk_checks, open_account  # noqa: F401

pytestmark = pytest.mark.django_db

D = Decimal
CARD = "6222020200112233445"


def day(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def go_to(s: str) -> None:
    run_through(day(s) - dt.timedelta(days=1))


def balance(code: str) -> Decimal:
    t = JournalLine.objects.filter(ledger_account_id=code).aggregate(d=Sum("debit"), c=Sum("credit"))
    return (t["d"] or D("0")) - (t["c"] or D("0"))


def draw(account, amount="10000.00", tenor=12, purpose="travel"):
    return cash_loan_draw(account=account, amount=D(amount), tenor=tenor, card_number=CARD, purpose=purpose, actor=SYSTEM)


def fresh(account) -> CreditAccount:
    return CreditAccount.objects.get(pk=account.pk)


@pytest.fixture
def account(business_date):
    business_date("2026-01-05")
    return open_account(limit="20000.00", opened_on=day("2026-01-01"))


# --- interest by the day -----------------------------------------------------------------------------------


def test_a_loan_drawn_on_the_31st_pays_10_days_for_its_first_period_not_30(account, business_date):
    business_date("2026-01-31")  # bill day 1: first statement 1 Feb, due 10 Feb — 10 days
    loan = draw(account, "10000.00", 3)
    lines = list(loan.plan.lines.order_by("period").values_list("due_date", "principal", "fee"))
    assert lines == [(day("2026-02-10"), D("3342.33"), D("30.00")),  # 10,000.00 × 0.03 % × 10 days (was 90.00)
                     (day("2026-03-10"), D("3316.41"), D("55.92")),  # 6,657.67 × 0.03 % × 28 days
                     (day("2026-04-10"), D("3341.26"), D("31.07"))]  # 3,341.26 × 0.03 % × 31 days
    assert (loan.installment, loan.last_installment, loan.total_interest) == (D("3372.33"), D("3372.33"), D("116.99"))
    # The APR is the one the real dates give (the old 30-day convention cost 18.3 % against 11.35 % disclosed).
    assert (loan.apr_nominal_pct, loan.apr_effective_pct) == (D("10.91"), D("11.53"))
    books_clean()


def test_the_disclosed_apr_is_the_irr_of_the_real_cash_flow_dates(account):
    q = cash_loan_quote(account=account, amount=D("10000.00"), tenor=12)
    s = q.schedule
    x = s.apr.daily_irr
    with localcontext() as ctx:
        ctx.prec = 50
        npv = sum(line.total / (1 + x) ** (line.due_date - day("2026-01-05")).days for line in s.lines) - s.principal
        assert abs(npv) < D("1e-15")  # the dated cash flows discount back to the principal at the disclosed rate
        assert s.apr.nominal_pct == (x * 365 * 100).quantize(D("0.01"))
    assert (s.apr.nominal_pct, s.apr.effective_pct) == (D("10.90"), D("11.52"))
    # A payment a day later costs less a year: the dates, not the period count, make the APR.
    late = xirr(D("100.00"), day("2026-01-01"), [(day("2026-02-01"), D("101.00"))])
    later = xirr(D("100.00"), day("2026-01-01"), [(day("2026-02-02"), D("101.00"))])
    assert late.nominal_pct > later.nominal_pct


@pytest.mark.parametrize(("rate", "ok"), [("0.000657", True), ("0.000658", False), ("0.000666", False)],
                         ids=["highest-accepted-23.98", "24.02", "old-highest-0.0666"])
def test_the_ceiling_is_checked_on_the_real_apr_and_the_highest_rate_stays_under_it(rate, ok):
    problems = cash_product_violations(daily_rate=D(rate), tenors=[3, 6, 12], apr_ceiling=D("0.24"),
                                       min_amount=D("500"), max_amount=D("20000"))
    assert (problems == {}) is ok
    if ok:  # the worst case: the smallest amount, the shortest first period, drawn on 31 Jan
        for amount, tenor in (("500.00", 3), ("500.00", 12), ("20000.00", 3)):
            s = cash_schedule(D(amount), tenor, D(rate), drawn_on=day("2026-01-31"),
                              due_dates=[day("2026-02-10"), day("2026-03-10"), day("2026-04-10"), day("2026-05-10"),
                                         day("2026-06-10"), day("2026-07-10"), day("2026-08-10"), day("2026-09-10"),
                                         day("2026-10-10"), day("2026-11-10"), day("2026-12-10"),
                                         day("2027-01-10")][:tenor])
            assert s.apr.nominal <= D("0.24")
        assert cash_schedule(D("500.00"), 3, D(rate), drawn_on=day("2026-01-31"), due_dates=[
            day("2026-02-10"), day("2026-03-10"), day("2026-04-10")]).apr.nominal_pct == D("23.80")


def test_early_repayment_after_billing_pays_interest_to_the_day_not_the_billed_month(account, business_date):
    loan = draw(account)
    go_to("2026-02-05")  # the 1 Feb statement billed period 1: 36 days, 108.00
    line1 = loan.plan.lines.get(period=1)
    assert (line1.billed_on, line1.fee) == (day("2026-02-01"), D("108.00"))
    q = cash_loan_settlement_quote(loan=loan)
    # 31 days used (5 Jan → 5 Feb) × 3.00 = 93.00, not the billed 108.00
    assert (q.quote.remaining_principal, q.quote.billed_unpaid, q.total) == (D("9223.31"), D("869.69"), D("10093.00"))
    rep = cash_loan_settle(loan=loan, actor=SYSTEM)
    assert rep.amount == D("10093.00")
    line1.refresh_from_db()
    assert (line1.fee_paid, line1.fee_waived, line1.status) == (D("93.00"), D("15.00"), "closed")
    assert (balance("4300"), balance("1210"), balance("1200")) == (D("-93.00"), 0, 0)
    assert fresh(account).used_amount == D("0.00")
    books_clean()


# --- partial prepayment -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "installment", "periods", "first", "last", "interest"), [
    ("lower", D("620.46"), 12, (D("3531.36"), D("89.10")), (D("614.77"), D("5.72")), D("445.55")),
    ("shorten", D("884.69"), 9, (D("3795.59"), D("89.10")), (D("243.27"), D("2.19")), D("322.98")),
], ids=["lower-the-installment", "shorten-the-term"])
def test_partial_prepayment_re_amortises_by_the_day(account, business_date, mode, installment, periods, first, last,
                                                   interest):
    loan = draw(account)
    business_date("2026-01-20")
    prepayment = cash_loan_prepay(loan=loan, amount=D("3000.00"), mode=mode, actor=SYSTEM, external_ref="pp-1")
    # 15 days accrued on 10,000.00 = 45.00, due with the next installment; 7,000.00 left from 20 Jan
    assert (prepayment.accrued_interest, prepayment.balance_after, prepayment.installment_after,
            prepayment.periods_after) == (D("45.00"), D("7000.00"), installment, periods)
    lines = list(loan.plan.lines.order_by("period"))
    assert len(lines) == periods
    assert (lines[0].principal, lines[0].fee, lines[0].principal_paid) == (*first, D("3000.00"))
    assert (lines[-1].principal, lines[-1].fee) == last  # 89.10 = 45.00 accrued + 7,000.00 × 0.03 % × 21 days
    assert sum(line.principal for line in lines) == D("10000.00")
    loan.refresh_from_db()
    loan.plan.refresh_from_db()
    assert (loan.installment, loan.total_interest, loan.plan.total_fee) == (installment, interest, interest)
    assert fresh(account).used_amount == D("7000.00") and cash_used(account_id=account.pk) == D("7000.00")
    assert balance("1200") == D("7000.00")
    books_clean()
    go_to("2026-02-02")  # the next statement bills the re-amortised installment
    line1 = ScheduleLine.objects.get(pk=lines[0].pk)
    assert (line1.status, line1.principal_open + line1.fee_open) == ("due", installment)
    statement = Statement.objects.get(account=account, bill_date=day("2026-02-01"))
    # the statement adds up: installment 3,000.00 + the new one, less the 3,000.00 prepayment received in the cycle
    assert (statement.payments_amount, statement.closing_balance) == (D("3000.00"), installment)


def test_prepayment_refusals_change_nothing(account, business_date):
    loan = draw(account)
    business_date("2026-01-20")
    before = money_snapshot(), list(ScheduleLine.objects.values_list("principal", "fee"))
    for kwargs, code in (({"amount": D("10000.00"), "mode": "lower"}, "prepayment_covers_loan"),
                         ({"amount": D("100.00"), "mode": "sideways"}, "invalid_prepayment_mode")):
        with pytest.raises(ApplicationError) as exc:
            cash_loan_prepay(loan=loan, actor=SYSTEM, **kwargs)
        assert exc.value.code == code
    go_to("2026-02-02")  # period 1 billed and unpaid: pay the bill first
    before = money_snapshot(), list(ScheduleLine.objects.values_list("principal", "fee"))
    with pytest.raises(ApplicationError) as exc:
        cash_loan_prepay(loan=loan, amount=D("100.00"), mode="lower", actor=SYSTEM)
    assert exc.value.code == "cash_loan_billed_unpaid"
    assert (money_snapshot(), list(ScheduleLine.objects.values_list("principal", "fee"))) == before
    assert not CashLoanPrepayment.objects.exists()


# --- purpose and payout ------------------------------------------------------------------------------------


def test_a_loan_purpose_is_required_from_the_choices(account):
    before = money_snapshot()
    for bad in ("", "casino"):
        with pytest.raises(ApplicationError) as exc:
            draw(account, purpose=bad)
        assert exc.value.code == "invalid_loan_purpose"
    assert money_snapshot() == before and not CashLoan.objects.exists()
    assert draw(account, purpose="education").purpose == "education"


def test_a_failed_payout_reverses_the_drawdown(account):
    loan = draw(account, "6000.00", 6)
    assert (fresh(account).used_amount, balance("1200"), balance("1000")) == (D("6000.00"), D("6000.00"), D("-6000.00"))

    loan = cash_loan_payout_fail(loan=loan, reason="card closed (bank code 54)", actor=SYSTEM)

    loan.plan.refresh_from_db()
    assert (loan.payout, loan.payout_failed_on, loan.plan.status) == ("failed", day("2026-01-05"), Plan.Status.REVERSED)
    assert not ScheduleLine.objects.filter(plan=loan.plan, status__in=ScheduleLine.OPEN).exists()
    assert (fresh(account).used_amount, balance("1200"), balance("1000")) == (D("0.00"), 0, 0)
    assert cash_used(account_id=account.pk) == D("0.00")
    assert JournalEntry.objects.filter(kind="reversal", source=f"cash_loan:{loan.reference}").count() == 1
    assert AuditEvent.objects.filter(action="cash_loan_payout_fail").count() == 1
    draw(account, "10000.00", 12)  # the whole cash sub-limit is back
    books_clean()
    with pytest.raises(ApplicationError) as exc:
        cash_loan_payout_fail(loan=loan, reason="again", actor=SYSTEM)
    assert exc.value.code == "payout_already_failed"


def test_a_payout_failure_reported_after_billing_is_refused_and_changes_nothing(account):
    loan = draw(account, "6000.00", 6)
    go_to("2026-02-02")
    before = money_snapshot()
    with pytest.raises(ApplicationError) as exc:
        cash_loan_payout_fail(loan=loan, reason="late report", actor=SYSTEM)
    assert exc.value.code == "payout_reversal_too_late"
    assert money_snapshot() == before and CashLoan.objects.get().payout == "sent"


def test_the_payout_failure_path_of_the_api(account):
    from tests.factories_api import api_for

    http = api_for()[0]
    created = http.post("/api/v1/cash-loans/", {"account": account.reference, "amount": "3000.00", "tenor": 3,
                                                "card_number": CARD, "purpose": "health"},
                        format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert created.status_code == 201, created.json()
    failed = http.post(f"/api/v1/cash-loans/{created.json()['id']}/payout-failed/", {"reason": "account frozen"},
                       format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert failed.status_code == 200, failed.json()
    assert (failed.json()["payout"], failed.json()["status"], failed.json()["cash_available"]) == (
        "failed", "reversed", "10000.00")
    assert fresh(account).used_amount == D("0.00")


# --- the cash sub-limit is a share of the fixed line (item 2) ------------------------------------------------


def test_a_temporary_limit_never_becomes_cash(account):
    temporary_limit_grant(account=account, amount=D("10000.00"), starts_on=day("2026-01-05"), ends_on=day("2026-01-09"),
                          actor=SYSTEM, reason="618", campaign="618")
    before = money_snapshot()
    with pytest.raises(ApplicationError) as exc:
        draw(account, "15000.00", 12)  # 50 % of 20,000.00 fixed = 10,000.00; the 10,000.00 campaign limit is for purchases
    assert (exc.value.code, exc.value.details["cash_available"]) == ("insufficient_cash_limit", "10000.00")
    assert money_snapshot() == before and not CashLoan.objects.exists()
    q = cash_loan_quote(account=account, amount=D("10000.00"), tenor=12)
    assert q.schedule.principal == D("10000.00")
    draw(account, "10000.00", 12)
    from tests.factories_api import api_for

    acc = api_for()[0].get(f"/api/v1/accounts/{account.reference}/").json()
    assert (acc["cash_limit"], acc["cash_used"], acc["cash_available"]) == ("10000.00", "10000.00", "0.00")


def test_the_prepayment_path_of_the_api(account, business_date):
    from tests.factories_api import api_for

    http = api_for()[0]
    created = http.post("/api/v1/cash-loans/", {"account": account.reference, "amount": "10000.00", "tenor": 12,
                                                "card_number": CARD, "purpose": "home"},
                        format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert created.status_code == 201, created.json()
    business_date("2026-01-20")
    answer = http.post(f"/api/v1/cash-loans/{created.json()['id']}/prepayments/", {"amount": "3000.00", "mode": "lower"},
                       format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert answer.status_code == 201, answer.json()
    assert {k: answer.json()[k] for k in ("amount", "accrued_interest", "balance_after", "installment_after",
                                          "periods_after")} == {
        "amount": "3000.00", "accrued_interest": "45.00", "balance_after": "7000.00", "installment_after": "620.46",
        "periods_after": 12}
    refused = http.post(f"/api/v1/cash-loans/{created.json()['id']}/prepayments/", {"amount": "7000.00", "mode": "lower"},
                        format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "prepayment_covers_loan")
