"""Notices that tell the truth (issue 25 item 5): none for a revolving purchase, a cash loan's installments
with their interest and APR, every text in the customer's language, credit balances worded as such,
notices past their relevance expire instead of going out late, insurance notices."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from accounts.models import Customer
from accounts.services import account_change_fixed_limit
from approvals.services import approval_reject
from cashloans.services import cash_loan_draw
from core.actors import Actor
from core.business_date import set_business_date
from debt_collection import gateway
from installments.daily import run_through
from installments.services import purchase_authorize, repayment_post
from insurance.services import claim_submit, policy_cancel
from notices.models import Notice
from notices.services import notices_queue, notices_send_due
from tests.factories_installments import SYSTEM, no_risk_checks, open_account  # noqa: F401
from tests.factories_insurance import ensure_insurance_data

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
D = Decimal


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def at(text: str, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(day(text), dt.time.fromisoformat(hhmm), tzinfo=SH)


@pytest.fixture
def outbox(settings):
    settings.REMINDER_GATEWAY_BACKENDS = {c: "debt_collection.gateway.MemoryBackend" for c in ("sms", "email", "in_app")}
    gateway.MemoryBackend.outbox = []
    return gateway.MemoryBackend.outbox


@pytest.fixture(autouse=True)
def _start(db):
    ensure_insurance_data()
    set_business_date(day("2026-01-05"))


def english(customer) -> None:
    Customer.objects.filter(pk=customer.pk).update(language="en")


def latin_words(notice: Notice) -> list[str]:
    """English words in a text, leaving out the account reference and the masked name."""
    text = notice.body.replace(notice.account.reference, "")
    text = re.sub(r"^\S+?[*]+\S*?，", "", text)
    return re.findall(r"[A-Za-z]{2,}", text)


def test_a_revolving_purchase_and_its_payment_tell_nothing_an_installment_plan_does(outbox):
    account = open_account(limit="10000.00", opened_on=day("2026-01-01"))
    purchase_authorize(account=account, amount=D("300.00"), merchant_order_id="r-1", actor=SYSTEM)
    purchase_authorize(account=account, amount=D("600.00"), merchant_order_id="i-1", tenor=3, actor=SYSTEM)
    notices_queue(on=day("2026-01-05"))
    created = Notice.objects.filter(kind="plan_created")
    assert created.count() == 1 and "3 期分期" in created.get().body and "1 期分期" not in created.get().body
    run_through(day("2026-02-02"))
    set_business_date(day("2026-02-02"))
    repayment_post(account=account, amount=D("300.00") + D("200.00") + D("3.60"), external_ref="p-1",
                   channel="bank_transfer", actor=SYSTEM)  # the revolving purchase paid in full, "分期已结清" must not follow
    notices_queue(on=day("2026-02-02"))
    assert not Notice.objects.filter(kind="plan_settled").exists()
    assert not Notice.objects.filter(body__contains="年化利率（IRR）0.00%").exists()


def test_a_cash_loan_notice_states_each_installment_its_interest_and_the_apr(outbox):
    account = open_account(limit="20000.00", opened_on=day("2026-01-01"))
    other = open_account(limit="20000.00", opened_on=day("2026-01-01"))
    english(other.customer)
    for acc in (account, other):
        cash_loan_draw(account=acc, amount=D("10000.00"), tenor=12, card_number="6222020200112233445", purpose="travel",
                       actor=SYSTEM)
    notices_queue(on=day("2026-01-05"))
    zh = Notice.objects.get(kind="cash_loan_drawn", account=account)
    assert "借款 ¥10000.00，分 12 期还款，年化利率（IRR）10.90%" in zh.body and "合计 ¥616.25" in zh.body
    assert "第1期 2026-02-10 应还 ¥884.69（含利息 ¥108.00）" in zh.body
    assert "第2期 2026-03-10 应还 ¥884.69（含利息 ¥77.48）" in zh.body
    assert "第12期 2027-01-10 应还 ¥884.66（含利息 ¥8.15）" in zh.body
    assert "手续费" not in zh.body and not Notice.objects.filter(kind="plan_created").exists()
    en = Notice.objects.get(kind="cash_loan_drawn", account=other)
    assert "APR (IRR) of 10.90%" in en.body and "1) 2026-02-10 ¥884.69 (interest ¥108.00)" in en.body
    assert not re.search(r"[\u4e00-\u9fff]", en.body)


def test_a_limit_cut_reason_is_in_the_customers_language(outbox, staff):
    account = open_account(limit="10000.00", opened_on=day("2026-01-01"))
    other = open_account(limit="10000.00", opened_on=day("2026-01-01"))
    english(other.customer)
    for acc in (account, other):
        account_change_fixed_limit(account=acc, new_limit=D("8000.00"), actor=Actor.system("limit_review:overdue@rules"),
                                   reason="limit review 2026-01-05: went overdue: limit cut by 20 %")
    notices_queue(on=day("2026-01-05"))
    zh = Notice.objects.get(kind="limit_cut", account=account)
    assert "原因：账户出现逾期" in zh.body and latin_words(zh) == []  # no "went overdue" inside the Chinese SMS
    assert latin_words(Notice.objects.get(kind="limit_granted", account=account)) == []
    en = Notice.objects.get(kind="limit_cut", account=other)
    assert "Reason: your account went overdue." in en.body


def test_a_credit_balance_is_worded_as_such(outbox):
    account = open_account(limit="10000.00", opened_on=day("2026-01-01"))
    purchase_authorize(account=account, amount=D("1000.00"), merchant_order_id="r-1", actor=SYSTEM)
    run_through(day("2026-02-02"))
    set_business_date(day("2026-02-02"))
    repayment_post(account=account, amount=D("1500.00"), external_ref="p-1", channel="bank_transfer", actor=SYSTEM)
    run_through(day("2026-03-01"))
    notices_queue(on=day("2026-03-01"))
    notice = Notice.objects.get(kind="statement_issued", for_date=day("2026-03-01"))
    assert "¥-" not in notice.body
    assert "无需还款：您有溢缴款（贷方余额）¥500.00，将自动抵扣下期账单。" in notice.body


def test_a_notice_past_its_relevance_expires_instead_of_going_out_late(outbox):
    account = open_account(limit="10000.00", opened_on=day("2026-01-01"))
    purchase_authorize(account=account, amount=D("600.00"), merchant_order_id="i-1", tenor=3, actor=SYSTEM)
    notices_queue(on=day("2026-01-05"))
    assert set(Notice.objects.values_list("kind", "expires_on")) == {
        ("limit_granted", day("2026-01-19")), ("plan_created", day("2026-01-12"))}
    set_business_date(day("2026-01-13"))  # the gateway was down for a week: the plan notice is stale now

    outcome = notices_send_due(now=at("2026-01-13", "09:00"))

    assert outcome == {"expired": 1, "sent": 1}
    stale = Notice.objects.get(kind="plan_created")
    assert (stale.status, stale.status_reason, stale.sent_at) == ("expired", "no longer relevant on 2026-01-13", None)
    assert len(outbox) == 1 and "额度已开通" in outbox[0].subject


def test_insurance_sold_cancelled_and_claim_outcomes_are_told(outbox, django_user_model):
    from django.contrib.auth.models import Permission

    def person(name):
        user = django_user_model.objects.create_user(name, is_staff=True)
        user.user_permissions.add(Permission.objects.get(codename="pay_claim"))
        return django_user_model.objects.get(pk=user.pk)

    maker, checker = person("maker"), person("checker")
    account = open_account(limit="20000.00", opened_on=day("2026-01-01"))
    first = purchase_authorize(account=account, amount=D("6000.00"), merchant_order_id="o-1", tenor=12, actor=SYSTEM,
                               add_ons=("insurance",)).plan.insurance_policy
    second = purchase_authorize(account=account, amount=D("1200.00"), merchant_order_id="o-2", tenor=3, actor=SYSTEM,
                                add_ons=("insurance",)).plan.insurance_policy
    notices_queue(on=day("2026-01-05"))
    sold = Notice.objects.get(kind="insurance_sold", event_key=f"policy:{first.pk}")
    assert "每期保费 ¥6.00，共 12 期；2026-01-20 前退保可全额退还保费" in sold.body

    set_business_date(day("2026-01-06"))
    policy_cancel(policy=second, actor=SYSTEM, reason="changed their mind")
    claim, submitted = claim_submit(policy=first, reason="unemployment", event_date=day("2026-01-06"), note="letter",
                                    actor=Actor.staff(maker))
    approval_reject(approval=submitted.request, user=checker, note="no evidence")
    notices_queue(on=day("2026-01-06"))
    cancelled = Notice.objects.get(kind="insurance_cancelled")
    assert "信用保险已于 2026-01-06 终止" in cancelled.body and cancelled.event_key == f"policy:{second.pk}"
    rejected = Notice.objects.get(kind="claim_decided")
    assert "未获批准" in rejected.body

    set_business_date(day("2026-01-07"))
    claim, submitted = claim_submit(policy=first, reason="unemployment", event_date=day("2026-01-06"), note="new letter",
                                    actor=Actor.staff(maker))
    from approvals.services import approval_approve

    approval_approve(approval=submitted.request, user=checker)
    notices_queue(on=day("2026-01-07"))
    paid = Notice.objects.get(kind="claim_decided", event_key=f"claim:{claim.pk}")
    assert "已赔付，保险公司已代为结清分期 ¥6000.00" in paid.body
