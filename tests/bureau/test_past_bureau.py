"""Issue 24 items 4 and 5 (PRODUCT §13): the credit-bureau month is a frozen snapshot — the month's highest
DPD and worst status, a 24-month history, cash loans as their own accounts — a re-issue adds only corrections
from events valued in that month, withheld negative data says why and escalates, disputes are answered in
20 days, negative data is dropped 5 years after it ended."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from bureau import services
from bureau.models import (
    BureauCorrection, BureauDispute, BureauFile, BureauPolicy, BureauRecord, BureauSnapshot, DelinquencyDay,
    PreNoticeLetter,
)
from bureau.selectors import bureau_alerts, disputes_overdue
from cashloans.services import cash_loan_draw
from core.actors import Actor
from core.audit import AuditEvent
from core.business_date import set_business_date
from debt_collection import gateway
from installments.services import purchase_authorize, repayment_post
from notices.models import Notice, NoticeTemplate
from notices.services import notices_send_due
from tests.factories_installments import SYSTEM, no_risk_checks, open_account  # noqa: F401
from tests.factories_staff import role_user

SH = ZoneInfo("Asia/Shanghai")
D = Decimal
CARD = "6222 0202 0011 2233 445"


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def at(text: str, hhmm: str = "09:00") -> dt.datetime:
    return dt.datetime.combine(day(text), dt.time.fromisoformat(hhmm), tzinfo=SH)


def cob_through(until: str) -> None:
    call_command("cob", through=until, no_progress=True, stdout=io.StringIO())


def rows_of(bureau_file: BureauFile) -> dict[str, list[str]]:
    return {line.split(",")[1]: line.split(",") for line in bureau_file.content.splitlines()[1:-1]}


@pytest.fixture
def outbox(settings):
    settings.REMINDER_GATEWAY_BACKENDS = {c: "debt_collection.gateway.MemoryBackend" for c in ("sms", "email", "in_app")}
    gateway.MemoryBackend.outbox = []
    return gateway.MemoryBackend.outbox


@pytest.fixture
def february(business_date, outbox):
    """Opened 2026-01-01, bill day 1, each buys 1,000.00 on 2026-01-05 (billed 02-01, due 02-10, overdue when
    02-13 closes, pre-notice sent 02-14) except ``current`` (buys on 02-02: billed 03-01, due 03-10, overdue in
    March) and ``loan`` (draws a 3,000.00 cash loan, buys nothing). ``cured`` pays everything on 02-16.
    February's file is written at the close of 03-01 from the snapshot of the close of 02-28."""
    names = ("stays", "backvalued", "march_payer", "cured", "current", "loan")
    acc = {n: open_account(limit="10000.00", bill_day=1, opened_on=day("2026-01-01")) for n in names}
    for n in ("stays", "backvalued", "march_payer", "cured"):
        purchase_authorize(account=acc[n], amount=D("1000.00"), merchant_order_id=f"{n}-1", actor=SYSTEM)
    acc["cash"] = cash_loan_draw(account=acc["loan"], amount=D("3000.00"), tenor=3, card_number=CARD, purpose="travel",
                                 actor=SYSTEM)
    cob_through("2026-02-01")
    purchase_authorize(account=acc["current"], amount=D("1000.00"), merchant_order_id="current-1", actor=SYSTEM)
    cob_through("2026-02-13")
    notices_send_due(now=at("2026-02-14"))
    cob_through("2026-02-15")
    repayment_post(account=acc["cured"], amount=D("1010.00"), external_ref="cured-pay", channel="wallet", actor=SYSTEM)
    cob_through("2026-03-01")
    return acc


def test_february_frozen_then_reissued_on_0320_changes_only_what_back_valued_events_changed(february):
    acc = february
    v1 = BureauFile.objects.get(period=day("2026-02-01"))
    assert (v1.version, v1.as_of) == (1, day("2026-03-01"))
    snap_taken = set(BureauSnapshot.objects.filter(period=day("2026-02-01")).values_list("taken_on", flat=True))
    assert snap_taken == {day("2026-02-28")}
    first = rows_of(v1)
    # Later events: a bank file dated 02-20 posted on 03-03 (back-valued into February), a payment on 03-05,
    # ``current`` goes overdue in March.
    cob_through("2026-03-02")
    repayment_post(account=acc["backvalued"], amount=D("1010.00"), external_ref="bank-file-0220",
                   channel="bank_file", received_on=day("2026-02-20"), actor=SYSTEM)
    cob_through("2026-03-04")
    repayment_post(account=acc["march_payer"], amount=D("1020.00"), external_ref="pay-0305", channel="wallet",
                   actor=SYSTEM)
    cob_through("2026-03-19")
    acc["current"].refresh_from_db()
    assert acc["current"].dpd > 0  # overdue in March
    officer = role_user("Credit officer")
    v2 = services.bureau_file_reissue(bureau_file=v1, actor=Actor.staff(officer), reason="bank file of 02-20")
    second = rows_of(v2)
    ref = {n: acc[n].reference for n in ("stays", "backvalued", "march_payer", "cured", "current", "loan")}
    # Unchanged: DPD 18 stays 18, the 03-05 payer stays delinquent in February, ``current`` stays current.
    for name in ("stays", "march_payer", "current", "cured", "loan"):
        assert second[ref[name]] == first[ref[name]], name
    assert second[ref["stays"]][7:12] == ["1009.00", "1009.00", "18", "F", "2"]
    assert second[ref["march_payer"]][7:12] == ["1009.00", "1009.00", "18", "F", "2"]
    assert second[ref["current"]][7:12] == ["1000.00", "0.00", "0", "N", "1"]
    # Corrected: the back-valued account's February, from its re-judged February days only.
    assert first[ref["backvalued"]][:12] == ["A", *first[ref["backvalued"]][1:7], "1009.00", "1009.00", "18", "F", "2"]
    assert second[ref["backvalued"]][0] == "C"
    assert second[ref["backvalued"]][7:] == ["0.00", "0.00", "9", "F", "2", "R1", "/" * 22 + "N1", "0"]
    record = BureauRecord.objects.get(file=v2, subject_ref=ref["backvalued"])
    payment = acc["backvalued"].repayments.get()
    assert record.correction_cause == (
        "payment bank-file-0220 of 1010.00 value-dated 2026-02-20, posted 2026-03-03")
    correction = BureauCorrection.objects.get()
    assert (correction.event_key, correction.found_on) == (f"repayment:{payment.reference}", day("2026-03-19"))
    assert correction.old == {"balance": "1009.00", "overdue_amount": "1009.00", "dpd": 18, "status": "F",
                              "classification": "2"}
    assert (v2.version, v2.as_of, v2.corrected_count, v2.record_count) == (2, day("2026-03-19"), 1, 7)
    # A re-issue of a re-issue finds nothing new: the same figures, nothing marked corrected.
    v3 = services.bureau_file_reissue(bureau_file=v2, actor=Actor.staff(officer), reason="again")
    assert v3.corrected_count == 0 and BureauCorrection.objects.count() == 1
    assert [r[7:12] for r in rows_of(v3).values()] == [r[7:12] for r in second.values()]


def test_a_delinquency_cured_within_the_month_reports_the_months_highest_dpd(february):
    acc = february
    rows = rows_of(BureauFile.objects.get(period=day("2026-02-01")))
    acc["cured"].refresh_from_db()
    assert acc["cured"].dpd == 0
    # Overdue from the close of 02-13 (DPD 3), paid on 02-16: the highest DPD of February is 5 (02-15).
    assert rows[acc["cured"].reference][7:] == ["0.00", "0.00", "5", "F", "2", "R1", "/" * 22 + "N1", "0"]
    assert list(DelinquencyDay.objects.filter(subject_ref=acc["cured"].reference).values_list("on_date", "dpd")) == [
        (day("2026-02-13"), 3), (day("2026-02-14"), 4), (day("2026-02-15"), 5)]


def test_a_cash_loan_is_its_own_account_in_the_file(february):
    acc = february
    rows = rows_of(BureauFile.objects.get(period=day("2026-02-01")))
    loan, line = acc["cash"], acc["loan"]
    # The loan: its own account (D1), opened on its drawdown, its amount as the limit; its first installment
    # (due 02-10, with 36 days of interest by the day) unpaid: overdue with the late fees (only the loan is past
    # due, so they are the loan's).
    assert rows[loan.reference][5:] == ["20260105", "3000.00", "3041.58", "1028.75", "18", "F", "2", "D1",
                                        "/" * 22 + "N1", "0"]
    # The credit line: nothing owed on it, frozen (the account is overdue) under the line the review cut (once in
    # the episode, PRODUCT §13: 10,000.00 → 7,000.00).
    assert rows[line.reference][5:] == ["20260101", "7000.00", "0.00", "0.00", "0", "F", "1", "R1", "/" * 22 + "NN", "0"]
    snap = BureauSnapshot.objects.get(period=day("2026-02-01"), subject_ref=loan.reference)
    assert (snap.cash_loan_id, snap.subject_kind, snap.account_id) == (loan.pk, "D1", line.pk)


# --- withheld, escalation -------------------------------------------------------------------------------


@pytest.fixture
def overdue_account(business_date, outbox):
    account = open_account(limit="10000.00", bill_day=1, opened_on=day("2026-01-01"))
    purchase_authorize(account=account, amount=D("1000.00"), merchant_order_id="o-1", actor=SYSTEM)
    return account


def test_a_pre_notice_that_cannot_be_sent_escalates_to_another_channel_then_a_letter(overdue_account, settings):
    account = overdue_account
    account.customer.email = "buyer@example.com"  # SMS, then e-mail, then in-app, then a letter
    account.customer.save(update_fields=["email"])
    settings.REMINDER_GATEWAY_BACKENDS = {"sms": "tests.bureau.test_past_bureau.DownBackend",
                                          "email": "tests.bureau.test_past_bureau.DownBackend",
                                          "in_app": "tests.bureau.test_past_bureau.DownBackend"}
    cob_through("2026-02-13")
    notice = Notice.objects.get(kind="bureau_pre_notice")
    for k in range(5):  # the sender is down: five tries, 30 minutes apart
        notices_send_due(now=at("2026-02-14") + dt.timedelta(minutes=30 * k))
    notice.refresh_from_db()
    assert (notice.status, notice.attempts, notice.channel) == ("failed", 5, "sms")
    cob_through("2026-02-14")  # escalates to e-mail
    email = Notice.objects.get(kind="bureau_pre_notice", channel="email")
    assert (email.status, email.event_key, email.status_reason) == (
        "queued", f"account:{account.pk}:email", "escalated from sms: sms failed 5 time(s): TransientGatewayError: down")
    for k in range(5):
        notices_send_due(now=at("2026-02-15") + dt.timedelta(minutes=30 * k))
    cob_through("2026-02-15")  # then in-app
    in_app = Notice.objects.get(kind="bureau_pre_notice", channel="in_app")
    for k in range(5):
        notices_send_due(now=at("2026-02-16") + dt.timedelta(minutes=30 * k))
    in_app.refresh_from_db()
    assert in_app.status == "failed"
    cob_through("2026-02-16")  # no channel left: a letter
    letter = PreNoticeLetter.objects.get()
    assert (letter.status, letter.queued_on, letter.notice_id) == ("queued", day("2026-02-16"), in_app.pk)
    assert account.reference in letter.body and "征信业管理条例" in letter.body
    assert bureau_alerts(on=day("2026-02-17")) == [
        "1 credit-bureau pre-notice letter(s) to print and mark sent: negative data is withheld until then.",
        "3 credit-bureau pre-notice(s) could not be sent and were escalated."]
    from cob.models import CobStepRun

    lines = dict(CobStepRun.objects.filter(run__business_date__in=[day("2026-02-14"), day("2026-02-15"),
                                                                    day("2026-02-16")], name="bureau.pre_notice_escalations")
                 .values_list("run__business_date", "rows"))
    assert lines == {day("2026-02-14"): 1, day("2026-02-15"): 1, day("2026-02-16"): 1}
    cob_through("2026-02-17")
    assert PreNoticeLetter.objects.count() == 1  # a re-run of the ladder escalates nothing twice
    cob_through("2026-02-28")
    # February is withheld with the reason, then staff post the letter; the lead time passes; the re-issue reports it.
    cob_through("2026-03-01")
    v1 = BureauFile.objects.get(period=day("2026-02-01"))
    record = BureauRecord.objects.get(file=v1, account=account)
    assert (record.withheld, record.negative, record.dpd) == (True, False, 18)
    assert record.withheld_reason == "pre-notice letter queued on 2026-02-16, not marked sent yet"
    assert v1.record_count == 0 and v1.withheld_count == 1
    clerk = role_user("Credit officer")
    services.pre_notice_letter_mark_sent(letter=letter, actor=Actor.staff(clerk))
    letter.refresh_from_db()
    assert (letter.status, letter.sent_on, letter.marked_by) == ("sent", day("2026-03-02"), clerk)
    cob_through("2026-03-09")
    v2 = services.bureau_file_reissue(bureau_file=v1, actor=Actor.staff(clerk), reason="letter sent")
    row = rows_of(v2)[account.reference]
    assert row[0] == "C" and row[7:12] == ["1009.00", "1009.00", "18", "F", "2"]
    assert BureauRecord.objects.get(file=v2, account=account).correction_cause == "pre-notice lead time passed"


class DownBackend(gateway.BaseBackend):
    def send(self, message):
        raise gateway.TransientGatewayError("down")


def test_wording_switched_off_goes_straight_to_a_letter_and_the_month_says_why(overdue_account):
    NoticeTemplate.objects.create(kind="bureau_pre_notice", subject="x", body="x", is_active=False)
    cob_through("2026-02-13")
    notice = Notice.objects.get(kind="bureau_pre_notice")
    assert (notice.status, notice.status_reason) == ("suppressed", "this kind of notice is switched off")
    cob_through("2026-02-14")
    letter = PreNoticeLetter.objects.get()
    # The same close that queued (and suppressed) the notice queues the letter.
    assert (letter.reason, letter.queued_on) == ("this kind of notice is switched off", day("2026-02-13"))
    assert not Notice.objects.filter(kind="bureau_pre_notice", channel="email").exists()
    assert AuditEvent.objects.filter(action="bureau_pre_notice.letter_queued", object_id=str(letter.pk)).count() == 1
    cob_through("2026-03-01")
    record = BureauRecord.objects.get(file__period=day("2026-02-01"))
    assert (record.withheld, record.negative, record.dpd, record.withheld_reason) == (
        True, False, 18, "pre-notice letter queued on 2026-02-13, not marked sent yet")


def test_pre_notice_withdraw_suppresses_the_queued_notice_and_its_escalations(overdue_account):
    account = overdue_account
    cob_through("2026-02-13")
    notice = services.pre_notice_withdraw(account=account, reason="value-dated payment of 02-12")
    assert (notice.status, notice.status_reason, notice.event_key) == (
        "suppressed", "withdrawn: value-dated payment of 02-12", f"withdrawn:{notice.pk}")
    assert services.pre_notice_withdraw(account=account, reason="again") is None
    assert AuditEvent.objects.filter(action="bureau_pre_notice.withdrawn").count() == 1
    # Still overdue: the next close queues a pre-notice of its own (the key was freed).
    cob_through("2026-02-14")
    assert Notice.objects.filter(kind="bureau_pre_notice", event_key=f"account:{account.pk}", status="queued").count() == 1


# --- disputes, retention ------------------------------------------------------------------------------------


def _snapshot(account, period: str, *, dpd: int, negative: bool, balance="0.00") -> BureauSnapshot:
    return BureauSnapshot.objects.create(
        period=day(period), account=account, subject_ref=account.reference, taken_on=day(period),
        credit_limit=D("10000.00"), balance=D(balance), overdue_amount=D(balance) if negative else D("0.00"), dpd=dpd,
        account_status="F" if negative else "N", classification="2" if negative else "1",
        history="/" * 23 + ("1" if negative else "N"), negative=negative)


def test_dispute_lifecycle_flag_deadline_answer_and_overdue_list(business_date):
    account = open_account(opened_on=day("2026-01-01"))
    snap = _snapshot(account, "2026-02-01", dpd=18, negative=True, balance="1009.00")
    officer = role_user("Credit officer")
    set_business_date(day("2026-03-10"))
    dispute = services.bureau_dispute_open(snapshot=snap, claim="I paid on 02-09 at the bank counter",
                                           actor=Actor.staff(officer))
    snap.refresh_from_db()
    assert (snap.disputed, dispute.received_on, dispute.answer_due_on, dispute.status) == (
        True, day("2026-03-10"), day("2026-03-30"), "open")
    assert list(disputes_overdue(on=day("2026-03-30"))) == []
    assert list(disputes_overdue(on=day("2026-03-31"))) == [dispute]
    assert bureau_alerts(on=day("2026-03-31")) == ["1 credit-bureau dispute(s) past their answer date."]
    with pytest.raises(Exception) as refused:
        services.bureau_dispute_answer(dispute=dispute, upheld=True, answer="bank receipt checked",
                                       actor=Actor.staff(officer))
    assert getattr(refused.value, "code", "") == "dispute_correction_required"
    dispute.refresh_from_db()
    assert dispute.status == "open" and not BureauCorrection.objects.exists()
    set_business_date(day("2026-03-20"))
    services.bureau_dispute_answer(dispute=dispute, upheld=True, answer="bank receipt of 02-09 checked",
                                   actor=Actor.staff(officer),
                                   corrected={"dpd": 0, "balance": "0", "overdue_amount": "0", "status": "N"})
    dispute.refresh_from_db()
    snap.refresh_from_db()
    assert (dispute.status, dispute.answered_on, snap.disputed) == ("upheld", day("2026-03-20"), False)
    correction = dispute.correction
    assert (correction.cause, correction.new) == (
        f"dispute {dispute.reference} upheld: bank receipt of 02-09 checked",
        {"balance": "0.00", "overdue_amount": "0.00", "dpd": 0, "status": "N", "classification": "1"})
    # A second dispute, rejected with its reason: no correction.
    other = services.bureau_dispute_open(snapshot=snap, claim="the limit was wrong", actor=Actor.staff(officer))
    services.bureau_dispute_answer(dispute=other, upheld=False, answer="the limit was 10,000.00 all month",
                                   actor=Actor.staff(officer))
    other.refresh_from_db()
    assert (other.status, other.answer, other.correction) == ("rejected", "the limit was 10,000.00 all month", None)
    assert BureauCorrection.objects.count() == 1 and BureauDispute.objects.filter(status="open").count() == 0


def test_negative_data_is_dropped_five_years_after_it_ended(business_date):
    account = open_account(opened_on=day("2020-01-01"))
    bad = _snapshot(account, "2020-03-01", dpd=40, negative=True, balance="500.00")
    _snapshot(account, "2020-04-01", dpd=0, negative=False)  # cured: the delinquency ended in April 2020
    still = open_account(opened_on=day("2020-01-01"))
    _snapshot(still, "2020-03-01", dpd=40, negative=True, balance="500.00")  # never cured: kept
    DelinquencyDay.objects.create(account=account, subject_ref=account.reference, on_date=day("2020-03-15"), dpd=30,
                                  status="F")
    assert services.bureau_negative_purge(on=day("2025-03-31")) == 0
    assert BureauSnapshot.objects.count() == 3
    assert services.bureau_negative_purge(on=day("2025-04-01")) == 1
    assert not BureauSnapshot.objects.filter(pk=bad.pk).exists()
    assert BureauSnapshot.objects.filter(account=account).count() == 1
    assert BureauSnapshot.objects.filter(account=still).count() == 1
    assert not DelinquencyDay.objects.exists()
    assert services.bureau_negative_purge(on=day("2025-04-02")) == 0
    assert AuditEvent.objects.filter(action="bureau_negative.purged").count() == 1
    assert BureauPolicy.objects.get().negative_retention_years == 5


# --- the demo ------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_demo_delivers_its_notices_so_its_monthly_files_report_the_delinquent_accounts(business_date, settings,
                                                                                           tmp_path):
    """seed_demo replays its history through close of business faster than the beat that sends notices:
    it delivers each replayed morning's notices itself, so the pre-notices go out and the files report."""
    import random

    from installments import demo
    from tests.factories_installments import ensure_reference_data

    settings.VAR_DIR = tmp_path
    ensure_reference_data()
    start, end = day("2026-01-01"), day("2026-04-03")
    business_date(start)
    accounts = [open_account(limit="20000.00", opened_on=day("2025-12-01"), bill_day=1 + i) for i in range(6)]
    demo.seed(accounts=accounts, rng=random.Random(7), start=start, end=end)
    pre_notices = Notice.objects.filter(kind="bureau_pre_notice")
    assert pre_notices.exists()
    assert set(pre_notices.exclude(for_date=end - dt.timedelta(days=1)).values_list("status", flat=True)) == {"sent"}
    files = {f.period: f for f in BureauFile.objects.all()}
    assert sorted(files) == [day("2025-12-01"), day("2026-01-01"), day("2026-02-01"), day("2026-03-01")]
    assert sum(f.negative_count for f in files.values()) > 0
    for record in BureauRecord.objects.filter(withheld=True):
        assert record.withheld_reason
    assert (tmp_path / "demo-outbox" / "sms.jsonl").exists()
