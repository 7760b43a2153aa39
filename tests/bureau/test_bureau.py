"""Credit-bureau reporting (PRODUCT §6, §11; issue 16 item 2): the monthly file written by the close of
the month's first business day, the pre-notice before a customer's first negative data (withheld
until the notice has been sent for the lead time), re-issues with corrections, downloads by role."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.urls import reverse

from bureau import services
from bureau.layout import ID_TYPE_RESIDENT_CARD
from bureau.models import BureauFile, BureauPolicy, BureauRecord, Classification
from bureau.selectors import classify
from core.audit import AuditEvent
from debt_collection import gateway
from installments.models import Charge
from installments.services import purchase_authorize, repayment_post
from notices.models import Notice
from notices.services import notices_send_due
from tests.factories_installments import SYSTEM, books_clean, no_risk_checks, open_account  # noqa: F401
from tests.factories_staff import role_user

SH = ZoneInfo("Asia/Shanghai")
D = Decimal


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def at(text: str, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(day(text), dt.time.fromisoformat(hhmm), tzinfo=SH)


def cob_through(until: str) -> None:
    call_command("cob", through=until, no_progress=True, stdout=io.StringIO())


@pytest.fixture
def outbox(settings):
    settings.REMINDER_GATEWAY_BACKENDS = {c: "debt_collection.gateway.MemoryBackend" for c in ("sms", "email", "in_app")}
    gateway.MemoryBackend.outbox = []
    return gateway.MemoryBackend.outbox


@pytest.fixture
def portfolio(business_date, outbox):
    """Opened 2026-01-01. ``good`` pays in full; ``late`` (bill day 1) never pays and is overdue when
    2026-02-13 closes; ``fresh`` (bill day 15) buys after its January bill, is overdue when 2026-02-27
    closes, so its notice (2026-02-28) is too recent for the 2026-03-01 file; ``idle`` never buys."""
    accounts = {name: open_account(limit="10000.00", bill_day=bill_day, opened_on=day("2026-01-01"))
                for name, bill_day in (("good", 1), ("late", 1), ("fresh", 15), ("idle", 1))}
    for name in ("good", "late"):
        purchase_authorize(account=accounts[name], amount=D("1000.00"), merchant_order_id=f"{name}-1", actor=SYSTEM)
    cob_through("2026-01-19")
    purchase_authorize(account=accounts["fresh"], amount=D("500.00"), merchant_order_id="fresh-1", actor=SYSTEM)
    cob_through("2026-02-04")
    repayment_post(account=accounts["good"], amount=D("1000.00"), external_ref="good-pay", channel="bank_transfer",
                   actor=SYSTEM)
    cob_through("2026-02-13")
    notices_send_due(now=at("2026-02-14", "09:00"))
    cob_through("2026-02-27")
    notices_send_due(now=at("2026-02-28", "09:00"))
    cob_through("2026-03-01")
    return accounts


def lines_of(bureau_file: BureauFile) -> list[list[str]]:
    return [line.split(",") for line in bureau_file.content.splitlines()]


@pytest.mark.parametrize("dpd,written_off,expected", [
    (0, False, Classification.NORMAL), (1, False, Classification.SPECIAL_MENTION),
    (90, False, Classification.SPECIAL_MENTION), (91, False, Classification.SUBSTANDARD),
    (180, False, Classification.SUBSTANDARD), (181, False, Classification.DOUBTFUL),
    (360, False, Classification.DOUBTFUL), (361, False, Classification.LOSS), (0, True, Classification.LOSS),
], ids=lambda v: str(v))
def test_five_level_classification_by_dpd(db, dpd, written_off, expected):
    assert classify(dpd=dpd, written_off=written_off, policy=BureauPolicy()) == expected


def test_the_first_business_day_of_the_month_writes_last_months_file(portfolio):
    acc = portfolio
    january, bureau_file = BureauFile.objects.order_by("period")  # the first close (2026-01-05) had no December
    assert (january.period, january.as_of, january.record_count) == (day("2026-01-01"), day("2026-02-01"), 4)
    assert (bureau_file.period, bureau_file.version, bureau_file.as_of, bureau_file.status) == (
        day("2026-02-01"), 1, day("2026-03-01"), "current")
    assert bureau_file.file_name == "BACKOFFICE0001_202602_v1.csv"
    late_fees = sum(c.amount for c in Charge.objects.filter(account=acc["late"], kind="late_fee"))
    assert late_fees == D("9.50")  # 0.05 % of 1,000.00 a day for DPD 1–19 (due 2026-02-10)
    late = acc["late"].customer
    acc["late"].refresh_from_db()
    cut_limit = f"{acc['late'].fixed_limit:.2f}"  # the Monday limit review cut the overdue account's line
    assert cut_limit != "10000.00"
    rows = lines_of(bureau_file)
    assert rows[0] == ["H", "BACKOFFICE0001", "202602", "1", "20260301", "3"]
    by_ref = {row[1]: row for row in rows[1:-1]}
    # PRODUCT §13: February as frozen at the close of 2026-02-28 (DPD 18, 18 days of late fees), not at the
    # close of 2026-03-01 when the file is written; 24-month history: not open before January, January
    # normal, February M1.
    assert by_ref[acc["late"].reference] == [
        "A", acc["late"].reference, late.name, ID_TYPE_RESIDENT_CARD, late.id_number, "20260101",
        cut_limit, "1009.00", "1009.00", "18", "F", "2", "R1", "/" * 22 + "N1", "0"]
    assert by_ref[acc["good"].reference][6:] == ["10000.00", "0.00", "0.00", "0", "N", "1", "R1", "/" * 22 + "NN", "0"]
    assert by_ref[acc["idle"].reference][6:] == ["10000.00", "0.00", "0.00", "0", "N", "1", "R1", "/" * 22 + "NN", "0"]
    # ``fresh`` is past due but its notice went out yesterday: its negative data waits (not in the file).
    assert acc["fresh"].reference not in by_ref
    assert rows[-1] == ["T", "3", "1009.00", "1009.00"]
    fresh = BureauRecord.objects.get(file=bureau_file, account=acc["fresh"])
    assert (fresh.withheld, fresh.negative, fresh.dpd, fresh.classification) == (True, False, 4, "2")
    assert fresh.withheld_reason == "pre-notice sent on 2026-02-28: reportable from 2026-03-07 (7-day lead time)"
    assert (bureau_file.record_count, bureau_file.negative_count, bureau_file.withheld_count) == (3, 1, 1)
    assert BureauRecord.objects.filter(file=bureau_file).count() == 4
    books_clean()


def test_the_pre_notice_goes_out_once_from_0800_through_the_gateway(portfolio, outbox):
    acc = portfolio
    notices = {n.account_id: n for n in Notice.objects.filter(kind="bureau_pre_notice")}
    assert set(notices) == {acc["late"].pk, acc["fresh"].pk}
    late = notices[acc["late"].pk]
    assert (late.for_date, late.status, late.sent_on, late.channel, late.recipient) == (
        day("2026-02-13"), "sent", day("2026-02-14"), "sms", acc["late"].customer.mobile)
    assert late.sent_at == at("2026-02-14", "09:00")
    pre_notices = [m for m in outbox if "征信业管理条例" in m.body]
    assert [m.recipient for m in pre_notices] == [acc["late"].customer.mobile, acc["fresh"].customer.mobile]
    assert acc["late"].reference in pre_notices[0].body
    # The close of business never queues a second one, and sending again sends no second pre-notice.
    assert services.bureau_notices_queue(on=day("2026-03-01")) == 0
    notices_send_due(now=at("2026-03-02", "09:00"))
    assert len([m for m in outbox if "征信业管理条例" in m.body]) == 2


def test_the_pre_notice_step_queues_a_chunks_accounts_only(portfolio):
    """Close of business runs the step per chunk of accounts (fanned out over the workers): a chunk queues
    its own accounts' pre-notices and no other's."""
    acc = portfolio
    Notice.objects.filter(kind="bureau_pre_notice").delete()
    late, fresh = acc["late"].pk, acc["fresh"].pk
    others = [acc["good"].pk, acc["idle"].pk]
    assert services.bureau_notices_queue(on=day("2026-03-01"), account_ids=others) == 0
    assert services.bureau_notices_queue(on=day("2026-03-01"), account_ids=range(late, late + 1)) == 1
    assert set(Notice.objects.filter(kind="bureau_pre_notice").values_list("account_id", flat=True)) == {late}
    assert services.bureau_notices_queue(on=day("2026-03-01"), account_ids=[fresh, *others]) == 1
    assert services.bureau_notices_queue(on=day("2026-03-01")) == 0


def test_a_rerun_of_the_day_writes_no_second_file(portfolio):
    assert services.bureau_file_step(on=day("2026-03-01")) == 0
    assert services.bureau_file_step(on=day("2026-03-15")) == 0
    assert BureauFile.objects.count() == 2


def test_a_reissue_corrects_what_changed_and_supersedes_the_first_version(portfolio):
    acc = portfolio
    first = BureauFile.objects.get(period=day("2026-02-01"))
    BureauPolicy.objects.filter(pk=1).update(notice_lead_days=0)  # the notice has now been sent long enough
    officer = role_user("Credit officer")
    with pytest.raises(Exception) as refused:
        services.bureau_file_reissue(bureau_file=first, actor=SYSTEM, reason=" ")
    assert getattr(refused.value, "code", "") == "reason_required"
    assert BureauFile.objects.count() == 2

    from core.actors import Actor

    second = services.bureau_file_reissue(bureau_file=first, actor=Actor.staff(officer), reason="notice lead time")
    first.refresh_from_db()
    assert (first.status, second.status, second.version, second.as_of) == ("superseded", "current", 2,
                                                                            day("2026-03-01"))
    rows = {row[1]: row for row in lines_of(second)[1:-1]}
    assert rows[acc["fresh"].reference][0] == "C" and rows[acc["fresh"].reference][9:12] == ["4", "F", "2"]
    assert [rows[acc[name].reference][0] for name in ("late", "good", "idle")] == ["A", "A", "A"]
    assert (second.record_count, second.withheld_count, second.corrected_count) == (4, 0, 1)
    assert AuditEvent.objects.filter(action="bureau_file.reissued", object_id=str(second.pk),
                                     actor=officer, reason="notice lead time").exists()
    with pytest.raises(Exception) as again:
        services.bureau_file_reissue(bureau_file=first, actor=Actor.staff(officer), reason="again")
    assert getattr(again.value, "code", "") == "bureau_file_superseded"
    assert BureauFile.objects.count() == 3


@pytest.mark.parametrize("role,can_view,can_download,can_reissue", [
    ("Credit officer", True, True, True),
    ("Risk analyst", True, False, False),
    ("Auditor", True, False, False),
    ("Finance", False, False, False),
    ("Collector", False, False, False),
    ("Administrator", True, False, False),
], ids=lambda v: str(v))
def test_bureau_screens_by_role(business_date, client, role, can_view, can_download, can_reissue):
    open_account(opened_on=day("2026-01-01"))
    bureau_file = services.bureau_file_generate(on=day("2026-02-01"))
    user = role_user(role)
    client.force_login(user)
    changelist = reverse("admin:bureau_bureaufile_changelist")
    assert client.get(changelist).status_code == (200 if can_view else 403)
    download = reverse("admin:bureau_bureaufile_download", args=[bureau_file.pk])
    response = client.post(download, {"reason": "monthly submission"})
    if can_download:
        assert response.status_code == 200 and response["Content-Disposition"].endswith('_v1.csv"')
        assert response.content.decode() == bureau_file.content
        assert AuditEvent.objects.filter(action="bureau_file.downloaded", actor=user,
                                         reason="monthly submission").count() == 1
        assert client.post(download, {"reason": ""}).status_code == 200  # the form again, nothing sent
        assert AuditEvent.objects.filter(action="bureau_file.downloaded").count() == 1
    else:
        assert response.status_code == 403
        assert not AuditEvent.objects.filter(action="bureau_file.downloaded").exists()
    # The re-issue action, posted by hand.
    client.post(changelist, {"action": "reissue", "_selected_action": [bureau_file.pk], "_form_action_apply": "1",
                             "reason": "by hand"})
    assert BureauFile.objects.count() == (2 if can_reissue else 1)
    # Files and records are written by services only.
    assert client.get(reverse("admin:bureau_bureaufile_change", args=[bureau_file.pk])).status_code == (
        200 if can_view else 403)
    assert client.post(reverse("admin:bureau_bureaufile_delete", args=[bureau_file.pk]), {"post": "yes"}).status_code == 403
    assert BureauFile.objects.filter(pk=bureau_file.pk).exists()
