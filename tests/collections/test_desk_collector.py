"""The collector's desk (issue 26 items 3 and 7): the day list (own cases only, exact counts and amounts),
click-to-call (the reveal logged once, refused with nothing logged for anyone but the assigned
collector), the call's outcome in one step through the contact rules, call scripts per bucket with the
case's figures, the SMS payment link through the gateway (opt-outs honoured) and the demo desk."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from core import business_date as clock
from core.errors import ApplicationError, BusinessRuleError, PermissionDeniedError
from core.models import AuditEvent
from debt_collection import gateway, services
from debt_collection.models import CallScript, ChannelPreference, CollectionCase, ContactAttempt, PromiseToPay
from debt_collection.selectors import collector_day
from debt_collection.telephony import LoggingDialler
from installments.models import Statement
from privacy.models import PiiAccessLog
from tests.factories_collections import (
    AgencyFactory,
    CaseFactory,
    CollectorFactory,
    at,
    collector_user,
    manager_user,
    overdue_account,
)

DAY = dt.date(2026, 1, 5)
TODAY_URL = "admin:collections_today"


def case_url(case):
    return reverse("admin:collections_collectioncase_change", args=[case.pk])


def call_url(case):
    return reverse("admin:collections_collectioncase_call", args=[case.pk])


def link_url(case):
    return reverse("admin:collections_collectioncase_payment_link", args=[case.pk])


@pytest.fixture
def clock_at(monkeypatch):
    """Set the wall clock (Asia/Shanghai) on DAY: ``clock_at("12:00")``."""
    def _set(hhmm: str, day: dt.date = DAY):
        monkeypatch.setattr(clock, "now_local", lambda: at(day, hhmm))
    _set("12:00")
    return _set


@pytest.fixture(autouse=True)
def outboxes(settings):
    settings.REMINDER_GATEWAY_BACKENDS = {"sms": "debt_collection.gateway.MemoryBackend"}
    settings.COLLECTIONS_DIALLER = "debt_collection.telephony.LoggingDialler"
    settings.COLLECTIONS_PAYMENT_LINK_BASE = "https://pay.example.com/baitiao/"
    gateway.MemoryBackend.outbox.clear()
    LoggingDialler.calls.clear()
    yield
    gateway.MemoryBackend.outbox.clear()
    LoggingDialler.calls.clear()


@pytest.fixture
def desk(business_date):
    """alice's desk on DAY and bob's (which alice must never see)."""
    alice = CollectorFactory(user__username="alice", queues=("M1", "M2", "M3"))
    bob = CollectorFactory(user__username="bob", queues=("M1",))
    contacted = at(DAY - dt.timedelta(days=1), "10:00")
    due = CaseFactory(collector=alice, account=overdue_account(bucket="M1", dpd=5),
                      amount_overdue=Decimal("1234.56"), last_contact_at=contacted)
    broken = CaseFactory(collector=alice, account=overdue_account(bucket="M2", dpd=40),
                         amount_overdue=Decimal("2000.00"), last_contact_at=contacted)
    callback = CaseFactory(collector=alice, account=overdue_account(bucket="M3", dpd=70),
                           amount_overdue=Decimal("5000.00"), balance=Decimal("9000.00"), last_contact_at=contacted)
    never = CaseFactory(collector=alice, account=overdue_account(bucket="M1", dpd=12), amount_overdue=Decimal("300.00"))
    PromiseToPay.objects.create(case=due, amount=Decimal("600.00"), made_on=DAY - dt.timedelta(days=2),
                                promised_on=DAY, user=alice.user)
    PromiseToPay.objects.create(case=broken, amount=Decimal("700.00"), made_on=DAY - dt.timedelta(days=3),
                                promised_on=DAY - dt.timedelta(days=1), status="broken",
                                evaluated_on=DAY - dt.timedelta(days=1), user=alice.user)
    ContactAttempt.objects.create(case=callback, customer=callback.customer, channel="voice", outcome="reached",
                                  occurred_at=contacted, callback_at=at(DAY, "15:30"), user=alice.user,
                                  note="call back after work")
    # not today's: a call-back tomorrow, a promise due tomorrow (on the case already listed)
    ContactAttempt.objects.create(case=never, customer=never.customer, channel="sms", outcome="reached",
                                  occurred_at=contacted, callback_at=at(DAY + dt.timedelta(days=1), "10:00"),
                                  user=bob.user)
    never.last_contact_at = None
    never.save(update_fields=["last_contact_at"])
    # bob's: a promise due today, a call-back today, never contacted — none of it on alice's day
    bobs = CaseFactory(collector=bob, amount_overdue=Decimal("999.00"))
    PromiseToPay.objects.create(case=bobs, amount=Decimal("99.00"), made_on=DAY, promised_on=DAY, user=bob.user)
    ContactAttempt.objects.create(case=bobs, customer=bobs.customer, channel="voice", outcome="reached",
                                  occurred_at=contacted, callback_at=at(DAY, "11:00"), user=bob.user)
    # a closed case of alice's former holding, with a promise due today: not open, not listed
    return {"alice": alice, "bob": bob, "due": due, "broken": broken, "callback": callback, "never": never,
            "bobs": bobs}


def counts_on_page(body: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', body)}


# --- 1. Today's list --------------------------------------------------------------------------------------


def test_the_day_list_shows_the_collectors_own_work_with_exact_counts_and_amounts(client, desk,
                                                                                 django_assert_num_queries):
    client.force_login(collector_user(desk["alice"]))
    response = client.get(reverse(TODAY_URL))
    assert response.status_code == 200
    body = response.content.decode()
    assert counts_on_page(body) == {"promises_due": 1, "promises_broken": 1, "callbacks": 1, "never_contacted": 1,
                                    "open_cases": 4}
    for case in ("due", "broken", "callback", "never"):
        assert reverse("admin:collections_collectioncase_change", args=[desk[case].pk]) in body
    for text in ("¥1,234.56", "¥600.00", "M1 (DPD 1–30)", "¥2,000.00", "¥700.00", "M2 (DPD 31–60)",
                 "¥5,000.00", "M3 (DPD 61–90)", "15:30", "call back after work", "¥300.00"):
        assert text in body, text
    assert desk["bobs"].reference not in body and "¥999.00" not in body and "¥99.00" not in body
    # the service, exactly, in five queries
    with django_assert_num_queries(5):
        day = collector_day(collector=desk["alice"], on=DAY)
        [(p.case.customer.masked_name, p.case.amount_overdue) for p in day.promises_due + day.promises_broken]
        [(c.case.customer.masked_name, c.case.amount_overdue) for c in day.callbacks]
        [c.customer.masked_name for c in day.never_contacted]
    assert [p.case_id for p in day.promises_due] == [desk["due"].pk]
    assert [p.case_id for p in day.promises_broken] == [desk["broken"].pk]
    assert [(c.case_id, c.callback_at) for c in day.callbacks] == [(desk["callback"].pk, at(DAY, "15:30"))]
    assert [c.pk for c in day.never_contacted] == [desk["never"].pk]
    # tomorrow: the call-back of tomorrow; yesterday's broken promise is no longer "broken yesterday"
    tomorrow = collector_day(collector=desk["alice"], on=DAY + dt.timedelta(days=1))
    assert tomorrow.counts == {"promises_due": 0, "promises_broken": 0, "callbacks": 1, "never_contacted": 1,
                               "open_cases": 4}


def test_a_collector_cannot_ask_for_another_collectors_day_but_a_manager_can(client, desk):
    client.force_login(collector_user(desk["alice"]))
    body = client.get(reverse(TODAY_URL), {"collector": desk["bob"].pk}).content.decode()
    assert desk["bobs"].reference not in body and counts_on_page(body)["open_cases"] == 4
    client.force_login(manager_user())
    body = client.get(reverse(TODAY_URL), {"collector": desk["bob"].pk}).content.decode()
    assert counts_on_page(body) == {"promises_due": 1, "promises_broken": 0, "callbacks": 1, "never_contacted": 1,
                                    "open_cases": 1}
    assert desk["bobs"].reference in body and "¥999.00" in body and desk["due"].reference not in body


def test_the_home_page_shows_the_collectors_day_and_the_list_links_to_it(client, desk):
    client.force_login(collector_user(desk["alice"]))
    home = client.get(reverse("admin:index")).content.decode()
    assert 'id="collector-day"' in home and reverse(TODAY_URL) in home and "1 promise due today" in home
    assert reverse(TODAY_URL) in client.get(reverse("admin:collections_collectioncase_changelist")).content.decode()


# --- 2. Click-to-call and the call's outcome in one step -------------------------------------------------


def test_call_reveals_the_number_logs_it_once_and_dials(client, desk, clock_at):
    case = desk["due"]
    user = collector_user(desk["alice"])
    client.force_login(user)
    page = client.get(case_url(case)).content.decode()
    assert case.customer.mobile not in page and call_url(case) in page
    assert PiiAccessLog.objects.count() == 0
    response = client.post(call_url(case))
    assert response.status_code == 200
    body = response.content.decode()
    assert f'href="tel:{case.customer.mobile}"' in body and f">{case.customer.mobile}<" in body
    log = PiiAccessLog.objects.get()
    assert (log.user_id, log.customer_id, log.channel, log.fields) == (
        user.pk, case.customer_id, "collector_call", ["mobile"])
    assert case.reference in log.reason
    assert AuditEvent.objects.filter(action="case_call_start", object_id=str(case.pk)).count() == 1
    assert [(c.number, c.case_reference, c.collector_username) for c in LoggingDialler.calls] == [
        (case.customer.mobile, case.reference, "alice")]
    assert ContactAttempt.objects.filter(case=case).count() == 0  # the outcome is recorded by the collector


@pytest.mark.parametrize("who", ["other_collector", "manager"])
def test_call_is_refused_to_anyone_but_the_assigned_collector_and_nothing_is_logged(client, desk, clock_at, who):
    user = collector_user(desk["bob"]) if who == "other_collector" else manager_user()
    client.force_login(user)
    response = client.post(call_url(desk["due"]))
    assert response.status_code == 403
    assert desk["due"].customer.mobile not in response.content.decode()
    assert PiiAccessLog.objects.count() == 0 and LoggingDialler.calls == []
    assert not AuditEvent.objects.filter(action="case_call_start").exists()
    with pytest.raises(PermissionDeniedError):
        services.case_call_start(case=desk["due"], user=user)
    assert PiiAccessLog.objects.count() == 0


def test_a_call_in_quiet_hours_or_over_the_daily_voice_limit_is_refused_before_the_reveal(client, desk, clock_at):
    case = desk["due"]
    client.force_login(collector_user(desk["alice"]))
    clock_at("22:00")
    response = client.post(call_url(case), follow=True)
    body = response.content.decode()
    assert "quiet hours" in body and "22:00–08:00" in body and f"tel:{case.customer.mobile}" not in body
    clock_at("12:00")
    for hhmm in ("09:00", "10:00", "11:00"):
        ContactAttempt.objects.create(case=case, customer=case.customer, channel="voice", outcome="reached",
                                      occurred_at=at(DAY, hhmm), user=desk["alice"].user)
    body = client.post(call_url(case), follow=True).content.decode()
    assert "at most 3 effective calls with a debtor a day" in body and f"tel:{case.customer.mobile}" not in body
    assert PiiAccessLog.objects.count() == 0 and LoggingDialler.calls == []


def outcome_post(**overrides):
    data = {"call-outcome": "reached", "call-note": "", "_call_outcome": "1"}
    data.update(overrides)
    return data


def test_the_call_outcome_is_recorded_in_one_step(client, desk, clock_at, business_date):
    case = desk["callback"]
    client.force_login(collector_user(desk["alice"]))
    response = client.post(case_url(case), outcome_post(**{
        "call-outcome": "promise_to_pay", "call-note": "will pay Friday", "call-promise_amount": "1500.00",
        "call-promise_date": "2026-01-09", "call-callback_at": "2026-01-06T10:00"}))
    assert response.status_code == 302
    contact = ContactAttempt.objects.filter(case=case).latest("pk")
    assert (contact.channel, contact.direction, contact.party, contact.outcome, contact.note, contact.occurred_at,
            contact.callback_at, contact.user_id) == (
        "voice", "outbound", "debtor", "promise_to_pay", "will pay Friday", at(DAY, "12:00"), at("2026-01-06", "10:00"),
        desk["alice"].user_id)
    assert ContactAttempt.objects.filter(case=case).count() == 2  # the fixture's call and this one
    promise = PromiseToPay.objects.get(case=case)
    assert (promise.amount, promise.made_on, promise.promised_on, promise.status, promise.contact_id) == (
        Decimal("1500.00"), DAY, dt.date(2026, 1, 9), "pending", contact.pk)
    case.refresh_from_db()
    assert case.last_contact_at == at(DAY, "12:00")
    # tomorrow's day list has the call-back
    business_date(DAY + dt.timedelta(days=1))
    tomorrow = collector_day(collector=desk["alice"], on=DAY + dt.timedelta(days=1))
    assert sorted(c.case_id for c in tomorrow.callbacks) == sorted([case.pk, desk["never"].pk])


def test_a_promise_amount_without_the_promise_outcome_records_nothing(client, desk, clock_at):
    client.force_login(collector_user(desk["alice"]))
    before = ContactAttempt.objects.count()
    response = client.post(case_url(desk["never"]), outcome_post(**{"call-promise_amount": "100.00",
                                                                    "call-promise_date": "2026-01-07"}))
    assert response.status_code == 200 and "Promise to pay" in response.content.decode()
    assert ContactAttempt.objects.count() == before and not PromiseToPay.objects.filter(case=desk["never"]).exists()


@pytest.mark.parametrize("case_key, post, rule_text", [
    ("never", {"call-callback_at": "2026-01-05T23:00"}, "quiet hours"),
    ("due", {}, "at most 3 effective calls with a debtor a day"),
], ids=["call-back-in-quiet-hours", "fourth-effective-call"])
def test_a_contact_rule_refusal_says_the_rule_and_records_nothing(client, desk, clock_at, case_key, post, rule_text):
    case = desk[case_key]
    if case_key == "due":
        for hhmm in ("09:00", "10:00", "11:00"):
            ContactAttempt.objects.create(case=case, customer=case.customer, channel="voice", outcome="reached",
                                          occurred_at=at(DAY, hhmm), user=desk["alice"].user)
    client.force_login(collector_user(desk["alice"]))
    contacts, promises = ContactAttempt.objects.count(), PromiseToPay.objects.count()
    case.refresh_from_db()
    last_contact = case.last_contact_at
    response = client.post(case_url(case), outcome_post(**post))
    assert response.status_code == 200
    body = response.content.decode()
    assert rule_text in body and "Nothing was recorded" in body
    assert (ContactAttempt.objects.count(), PromiseToPay.objects.count()) == (contacts, promises)
    case.refresh_from_db()
    assert case.last_contact_at == last_contact


def test_the_refusal_reads_in_chinese(client, desk, clock_at):
    client.force_login(collector_user(desk["alice"]))
    response = client.post(case_url(desk["never"]), outcome_post(**{"call-callback_at": "2026-01-05T23:00"}),
                           HTTP_ACCEPT_LANGUAGE="zh-hans")
    body = response.content.decode()
    assert "免打扰时段" in body and "未记录任何内容" in body


# --- 3. Call scripts per bucket ---------------------------------------------------------------------------


def test_call_scripts_per_bucket_are_filled_in_with_the_cases_figures(client, business_date, clock_at):
    alice = CollectorFactory(user__username="alice", user__first_name="Alice", queues=("M1", "M2", "M5"))
    m1 = CaseFactory(collector=alice, account=overdue_account(bucket="M1", dpd=7), amount_overdue=Decimal("1234.56"))
    m2 = CaseFactory(collector=alice, account=overdue_account(bucket="M2", dpd=38), amount_overdue=Decimal("2468.00"))
    m5 = CaseFactory(collector=alice, account=overdue_account(bucket="M5", dpd=130), amount_overdue=Decimal("8000.10"))
    Statement.objects.create(account=m1.account, bill_date=dt.date(2025, 12, 20), due_date=dt.date(2025, 12, 29),
                             period_start=dt.date(2025, 11, 20), status="overdue")
    client.force_login(collector_user(alice))
    body = client.get(case_url(m1)).content.decode()
    assert "M1 early reminder" in body and "2025-12-29" in body and "7 days overdue" in body
    assert "¥1,234.56 is past due" in body and "This is Alice from" in body
    body = client.get(case_url(m2)).content.decode()
    assert "M2 follow-up" in body and "¥2,468.00 is past due" in body and "(38 days)" in body
    body = client.get(case_url(m5)).content.decode()  # M5 has no script: the M3 one serves M3+
    assert "M3+ seriously overdue" in body and "¥8,000.10 is past due" in body and "(130 days)" in body
    zh = client.get(case_url(m5), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "M3+ 严重逾期" in zh and "逾期金额 ¥8,000.10" in zh and "已逾期 130 天" in zh
    # the scripts are data: a manager's edit is what the collector reads
    script = CallScript.objects.get(bucket="M2", language="en")
    script.body = "Hi {{ customer_name }}, {{ amount_overdue }} since {{ due_date }} ({{ bucket }})."
    script.save()
    body = client.get(case_url(m2)).content.decode()
    assert f"Hi {m2.customer.masked_name}, ¥2,468.00 since — (M2 (DPD 31–60))." in body


def test_the_seeded_scripts_cover_m1_m2_and_m3_plus_in_both_languages(db):
    assert set(CallScript.objects.values_list("bucket", "language")) == {
        (b, lang) for b in ("M1", "M2", "M3") for lang in ("en", "zh-hans")}


# --- 4. The SMS payment link ------------------------------------------------------------------------------


def test_the_payment_link_goes_through_the_gateway_and_is_logged_as_a_contact(client, desk, clock_at):
    case = desk["due"]
    client.force_login(collector_user(desk["alice"]))
    response = client.post(link_url(case), follow=True)
    assert "Payment link sent by SMS" in response.content.decode()
    [message] = gateway.MemoryBackend.outbox
    assert (message.channel, message.recipient) == ("sms", case.customer.mobile)
    url = re.search(r"https://pay\.example\.com/baitiao/(\S+)", message.body)
    assert url and "¥1,234.56" in message.body and case.account.reference in message.body
    assert services.payment_link_read(url.group(1)) == {"case": case.reference, "account": case.account.reference}
    contact = ContactAttempt.objects.get(case=case)
    assert (contact.channel, contact.outcome, contact.occurred_at, contact.user_id, contact.note) == (
        "sms", "reached", at(DAY, "12:00"), desk["alice"].user_id, "Payment link sent by SMS")
    assert message.idempotency_key == f"paylink-{contact.reference}"
    with pytest.raises(ApplicationError) as forged:
        services.payment_link_read(url.group(1)[:-2] + "xx")
    assert forged.value.code == "payment_link_invalid"


@pytest.mark.parametrize("refusal", ["opted_out", "quiet_hours", "other_collector"])
def test_no_payment_link_when_opted_out_in_quiet_hours_or_not_yours(client, desk, clock_at, refusal):
    case = desk["due"]
    user = collector_user(desk["alice"])
    if refusal == "opted_out":
        ChannelPreference.objects.create(customer=case.customer, channel="sms", opted_out=True, source="app")
    elif refusal == "quiet_hours":
        clock_at("07:59")
    else:
        user = collector_user(desk["bob"])
    client.force_login(user)
    response = client.post(link_url(case), follow=True)
    if refusal == "other_collector":
        assert response.status_code == 403
    else:
        body = response.content.decode()
        assert {"opted_out": "opted out of SMS", "quiet_hours": "quiet hours"}[refusal] in body
    assert gateway.MemoryBackend.outbox == [] and not ContactAttempt.objects.filter(case=case).exists()
    with pytest.raises((BusinessRuleError, PermissionDeniedError)):
        services.case_payment_link_send(case=case, author=services.Author.staff(user))
    assert gateway.MemoryBackend.outbox == [] and not ContactAttempt.objects.filter(case=case).exists()


def test_a_gateway_refusal_records_no_contact(desk, clock_at, settings):
    settings.REMINDER_GATEWAY_BACKENDS = {"sms": "tests.collections.test_desk_collector.RefusingBackend"}
    case = desk["due"]
    with pytest.raises(BusinessRuleError) as refused:
        services.case_payment_link_send(case=case, author=services.Author.staff(collector_user(desk["alice"])))
    assert refused.value.code == "gateway_refused" and not ContactAttempt.objects.filter(case=case).exists()


class RefusingBackend(gateway.BaseBackend):
    def send(self, message):
        raise gateway.PermanentGatewayError("number refused by the provider")


# --- 5. The demo desk ---------------------------------------------------------------------------------------


def test_the_demo_collector_gets_a_full_queue_across_buckets(business_date, monkeypatch):
    from debt_collection.demo import collector_desk_seed

    other = CollectorFactory(user__username="other", queues=("M1", "M2", "M3"))
    agency = AgencyFactory(queues=("M4", "M5"))
    for bucket, dpd in (("M1", 5), ("M1", 20), ("M2", 45), ("M2", 50), ("M3", 75), ("M5", 130)):
        CaseFactory(collector=other, account=overdue_account(bucket=bucket, dpd=dpd))
    for bucket, dpd in (("M1", 9), ("M4", 100)):
        CaseFactory(account=overdue_account(bucket=bucket, dpd=dpd))  # unassigned
    CaseFactory(agency=agency, account=overdue_account(bucket="M5", dpd=140))
    desk_collector = CollectorFactory(user__username="collector", queues=())
    stats = collector_desk_seed(collector=desk_collector, per_bucket=2)
    assert stats["by_bucket"] == {"M1": 2, "M2": 2, "M3": 1, "M5": 1}  # M3+: M3 and M5 (the agency keeps its case)
    day = collector_day(collector=desk_collector, on=DAY)
    assert day.counts["open_cases"] == 6 and day.counts["promises_due"] == 2 and day.counts["callbacks"] == 2
    assert all(p.promised_on == DAY and p.status == "pending" for p in day.promises_due)
    assert CollectionCase.objects.filter(agency=agency).count() == 1  # the agency's case was not needed


def test_the_promise_table_in_chinese_puts_each_date_under_its_own_heading(client, desk):
    """pgettext: the promise table's "By" (the promised date) is not the contact log's "By" (who)."""
    client.force_login(collector_user(desk["alice"]))
    body = client.get(case_url(desk["due"]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    promises = body[body.index("<h2>承诺还款</h2>"):]
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", promises[:promises.index("</thead>")])
    assert headers == ["登记日期", "金额", "承诺还款日", "状态", "已还金额", "登记人", ""]
    row = re.search(r"<tbody>\s*<tr><td>([^<]*)</td><td[^>]*>([^<]*)</td><td>([^<]*)</td>", promises)
    assert row.groups() == ("2026-01-03", "¥600.00", "2026-01-05")
    history = body[body.index("联系历史（该债务人的全部案件）"):]
    assert "<th>操作人</th>" in history[:history.index("</thead>")]
