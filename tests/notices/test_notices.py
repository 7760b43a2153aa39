"""Customer notices (issue 16 item 1; PRODUCT §3 "customers are notified of every change"): the close of
business queues one notice per event — line opened, limit raised or cut with the reason, temporary limit
granted or about to expire, statement issued, plan created or settled — sent through the reminder
gateway from 08:00, on a channel the customer has not opted out of, retried on failure, never twice."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.services import limit_change_submit, temporary_limit_grant  # a person: through the gate (issue 23)
from debt_collection import gateway
from debt_collection.models import ChannelPreference
from installments.models import Plan
from installments.services import plan_settle, purchase_authorize
from notices.models import Notice, NoticeTemplate
from notices.services import notices_queue, notices_send_due
from tests.factories_installments import SYSTEM, no_risk_checks, open_account  # noqa: F401
from tests.factories_staff import role_user

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


def kinds(**filters) -> list[tuple[str, str]]:
    return sorted(Notice.objects.filter(**filters).values_list("kind", "account__reference"))


def test_every_change_of_the_day_is_told_once(business_date, outbox, staff):
    account = open_account(limit="10000.00", bill_day=1, opened_on=day("2026-01-01"))
    other = open_account(limit="8000.00", bill_day=1, opened_on=day("2026-01-01"))
    limit_change_submit(account=account, new_limit=D("12000.00"), actor=staff, reason="good repayment record")
    limit_change_submit(account=other, new_limit=D("6000.00"), actor=staff, reason="income not verified")
    other.customer.__class__.objects.filter(pk=other.customer_id).update(language="en")  # issue 25: written in English
    temporary_limit_grant(account=account, amount=D("2000.00"), starts_on=day("2026-01-05"), ends_on=day("2026-01-08"),
                          actor=SYSTEM, reason="new-year campaign", campaign="new year")
    purchase_authorize(account=account, amount=D("600.00"), merchant_order_id="p-1", tenor=3, actor=SYSTEM)

    assert notices_queue(on=day("2026-01-05")) == 7
    ref, other_ref = account.reference, other.reference
    assert kinds() == sorted([
        ("limit_granted", ref), ("limit_granted", other_ref), ("limit_raised", ref), ("limit_cut", other_ref),
        ("temporary_granted", ref), ("temporary_expiring", ref), ("plan_created", ref)])
    cut = Notice.objects.get(kind="limit_cut")
    assert (cut.channel, cut.recipient, cut.status, cut.for_date, cut.scheduled_for) == (
        "sms", other.customer.mobile, "queued", day("2026-01-05"), at("2026-01-06", "08:00"))
    assert "¥8000.00" in cut.body and "¥6000.00" in cut.body and "income not verified" in cut.body
    plan = Plan.objects.get()
    created = Notice.objects.get(kind="plan_created")
    # issue 25: in the customer's language (Chinese by default), no English inside
    assert f"年化利率（IRR）{plan.apr_effective_pct}%" in created.body and "3 期分期" in created.body
    assert "APR" not in created.body
    # A second run of the same day tells nothing twice.
    assert notices_queue(on=day("2026-01-05")) == 0

    # Sent from 08:00 the next morning, not before.
    assert notices_send_due(now=at("2026-01-06", "07:59")) == {}
    assert notices_send_due(now=at("2026-01-06", "08:00")) == {"sent": 7}
    assert sorted(m.recipient for m in outbox) == sorted([account.customer.mobile] * 5 + [other.customer.mobile] * 2)
    assert notices_send_due(now=at("2026-01-06", "09:00")) == {}
    assert len(outbox) == 7

    # The statement on the bill day, and the plan settled early.
    call_command("cob", through="2026-02-01", no_progress=True, stdout=io.StringIO())
    assert kinds(for_date=day("2026-02-01")) == [("statement_issued", ref)]
    statement_notice = Notice.objects.get(kind="statement_issued")
    assert "还款日 2026-02-10" in statement_notice.body
    plan_settle(plan=plan, actor=SYSTEM, external_ref="settle-1")
    plan.refresh_from_db()
    notices_queue(on=plan.closed_on)
    assert Notice.objects.filter(kind="plan_settled", account=account).count() == 1


def test_opt_outs_quiet_hours_retries_and_switched_off_kinds(business_date, outbox, settings):
    account = open_account()
    ChannelPreference.objects.create(customer=account.customer, channel="sms", opted_out=True)
    NoticeTemplate.objects.create(kind="limit_granted", subject="s", body="b", is_active=False)
    temporary_limit_grant(account=account, amount=D("500.00"), starts_on=day("2026-01-05"), ends_on=day("2026-01-31"),
                          actor=SYSTEM, reason="campaign", campaign="c")
    assert notices_queue(on=day("2026-01-05")) == 2
    off = Notice.objects.get(kind="limit_granted")
    assert (off.status, off.status_reason) == ("suppressed", "this kind of notice is switched off")
    notice = Notice.objects.get(kind="temporary_granted")
    assert (notice.channel, notice.recipient) == ("in_app", account.customer.reference)  # no SMS, no e-mail on file

    settings.REMINDER_GATEWAY_BACKENDS = {"in_app": "tests.notices.test_notices.Down"}
    assert notices_send_due(now=at("2026-01-06", "08:00")) == {"failed": 1}
    notice.refresh_from_db()
    assert (notice.status, notice.attempts, notice.scheduled_for) == ("failed", 1, at("2026-01-06", "08:30"))
    assert "provider down" in notice.last_error and outbox == []
    settings.REMINDER_GATEWAY_BACKENDS = {"in_app": "debt_collection.gateway.MemoryBackend"}
    # A retry that comes due in quiet hours waits for the morning.
    Notice.objects.filter(pk=notice.pk).update(scheduled_for=at("2026-01-06", "22:30"))
    assert notices_send_due(now=at("2026-01-06", "23:00")) == {"failed": 1}
    notice.refresh_from_db()
    assert (notice.attempts, notice.scheduled_for) == (1, at("2026-01-07", "08:00"))
    assert notices_send_due(now=at("2026-01-07", "08:05")) == {"sent": 1}
    notice.refresh_from_db()
    assert (notice.status, notice.sent_on, notice.attempts) == ("sent", day("2026-01-05"), 2)
    assert [m.recipient for m in outbox] == [account.customer.reference]
    assert Notice.objects.get(pk=off.pk).status == "suppressed"


class Down(gateway.BaseBackend):
    def send(self, message):
        raise gateway.TransientGatewayError("provider down")


@pytest.mark.parametrize("role,can_view,can_edit_wording", [
    ("Credit officer", True, False), ("Administrator", True, True), ("Auditor", True, False),
    ("Collector", False, False), ("Finance", False, False),
], ids=lambda v: str(v))
def test_notice_screens_by_role(business_date, client, role, can_view, can_edit_wording):
    open_account()
    notices_queue(on=day("2026-01-05"))
    notice = Notice.objects.get()
    client.force_login(role_user(role))
    assert client.get(reverse("admin:notices_notice_changelist")).status_code == (200 if can_view else 403)
    assert client.post(reverse("admin:notices_notice_change", args=[notice.pk]), {"body": "x"}).status_code in (
        (200, 403) if can_view else (403,))
    assert client.post(reverse("admin:notices_notice_delete", args=[notice.pk]), {"post": "yes"}).status_code == 403
    assert Notice.objects.get().body == notice.body
    add = reverse("admin:notices_noticetemplate_add")
    broken = client.post(add, {"kind": "limit_cut", "subject": "s", "body": "{% if %}", "is_active": "on"})
    if can_edit_wording:
        assert broken.status_code == 200 and "does not compile" in broken.content.decode()
        ok = client.post(add, {"kind": "limit_cut", "subject": "额度调整", "body": "新额度 {{ new_limit }}",
                               "is_active": "on"})
        assert ok.status_code == 302 and NoticeTemplate.objects.get().body == "新额度 {{ new_limit }}"
    else:
        assert broken.status_code == 403 and not NoticeTemplate.objects.exists()


def test_what_the_customer_was_told_is_in_their_timeline(business_date, outbox, staff):
    from staff.timeline import timeline_for

    account = open_account(limit="10000.00")
    limit_change_submit(account=account, new_limit=D("9000.00"), actor=staff, reason="utilisation review")
    notices_queue(on=day("2026-01-05"))
    notices_send_due(now=at("2026-01-06", "08:00"))
    told = [e for e in timeline_for(accounts=[account]) if e.category == "notice"]
    assert sorted(e.summary for e in told) == ["Credit line opened by sms: Sent", "Limit cut by sms: Sent"]
    assert {e.at for e in told} == {at("2026-01-06", "08:00")}


def test_the_day_tells_about_changes_since_the_previous_close_only(business_date, outbox, staff):
    from accounts.models import LimitChange
    from cob.models import CobRun

    account = open_account(limit="10000.00")
    account.customer.__class__.objects.filter(pk=account.customer_id).update(language="en")  # staff reasons in English
    call_command("cob", through="2026-01-06", no_progress=True, stdout=io.StringIO())
    assert Notice.objects.filter(kind="limit_granted").count() == 1  # told by the close of 2026-01-05
    closed = CobRun.objects.get(business_date=day("2026-01-06")).finished_at
    limit_change_submit(account=account, new_limit=D("9000.00"), actor=staff, reason="before the close")
    LimitChange.objects.filter(new_limit=D("9000.00")).update(created_at=closed - dt.timedelta(seconds=1))
    limit_change_submit(account=account, new_limit=D("8000.00"), actor=staff, reason="during the day")
    # The close of 2026-01-07 tells about the day's change; one older than the previous close is not this day's.
    assert notices_queue(on=day("2026-01-07")) == 1
    told = Notice.objects.get(kind="limit_cut")  # only one: the change before the close is not told
    assert "during the day" in told.body and "before the close" not in told.body
